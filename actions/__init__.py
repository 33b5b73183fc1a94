"""Actions: every change to the hub's state, one ``do_<verb>_<noun>(…, *, actor)`` per mutation,
one module per noun. Each authorizes its actor, runs in one transaction and writes its own audit
row; views, API handlers, commands and tasks all call these and nothing else to write."""

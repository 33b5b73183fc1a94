"""Fake runtime servers: small real HTTP servers on 127.0.0.1 that speak each runtime's API.

Run one in a test thread (``with FakeLlamaCpp.serve(load_time=0.2) as fake: ...``) or as a
real child process (``python -m tests.fakes.llama_cpp --port N --load-time S``), which is
how the launcher tests start them.
"""

"""Usage metrics: live rates in Redis (``live``), per-minute rollups in PostgreSQL (``rollup``),
the Prometheus exposition (``prometheus``), worker liveness (``heartbeat``) and their tasks.

The package imports nothing itself: Celery's signal wiring imports ``heartbeat`` before Django
is set up, so each caller imports the module it needs.
"""

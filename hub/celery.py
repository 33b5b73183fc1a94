"""The Celery application: Redis broker, JSON only, late acks, one task at a time.

Lifecycle work that must run where a launched runtime lives goes to the queue
``hub.host.<host>``; everything else to ``hub``. ``manage.py up`` runs a worker on
both. Beat reconciles every ``HUB_RECONCILE_INTERVAL_S`` and checks health every
``HUB_HEALTH_INTERVAL_S``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

from django.conf import settings

# Celery liveness heartbeats (signal handlers); request ids into task headers and JSON logs.
import hub.logging
from runtimes.metrics.heartbeat import HEARTBEAT_INTERVAL_S

# A start may wait ``runtime.launch.ready_timeout_s`` (300 s by default) for readiness;
# the time limits sit above it, and the broker's visibility timeout above those, so a
# slow start is never delivered to a second worker while the first still runs it.
SOFT_TIME_LIMIT_S = 900
HARD_TIME_LIMIT_S = 960
VISIBILITY_TIMEOUT_S = 3600

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,  # redelivered; runtimes.tasks counts deliveries
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
    task_soft_time_limit=SOFT_TIME_LIMIT_S,
    task_time_limit=HARD_TIME_LIMIT_S,
    task_default_queue="hub",
    beat_schedule={
        "reconcile": {
            "task": "runtimes.reconcile_all",
            "schedule": settings.HUB_RECONCILE_INTERVAL_S,
            "options": {
                "queue": "hub",
                "expires": settings.HUB_RECONCILE_INTERVAL_S,
            },
        },
        "health": {
            "task": "runtimes.check_health_all",
            "schedule": settings.HUB_HEALTH_INTERVAL_S,
            "options": {"queue": "hub", "expires": settings.HUB_HEALTH_INTERVAL_S},
        },
        # ``expires``: a run that waited longer than one interval is dropped; the next one does its work.
        "aggregate-usage": {
            "task": "runtimes.aggregate_usage",
            "schedule": settings.HUB_USAGE_AGGREGATE_INTERVAL_S,
            "options": {"expires": settings.HUB_USAGE_AGGREGATE_INTERVAL_S},
        },
        "metrics-heartbeat": {
            "task": "runtimes.metrics_heartbeat",
            "schedule": HEARTBEAT_INTERVAL_S,
            "options": {"expires": HEARTBEAT_INTERVAL_S},
        },
    },
)
app.autodiscover_tasks()
app.autodiscover_tasks(["runtimes.metrics"])  # runtimes/metrics/tasks.py: usage rollups, heartbeats

# Scheduled every few seconds (and the per-asset tasks they fan out to): logged at DEBUG unless
# they fail, so INFO shows what changes (lifecycle transitions log themselves).
ROUTINE_TASKS = frozenset(
    {
        "runtimes.reconcile_all",
        "runtimes.reconcile_asset",
        "runtimes.check_health_all",
        "runtimes.check_asset_health",
        "runtimes.aggregate_usage",
        "runtimes.metrics_heartbeat",
    }
)
hub.logging.quiet_routine_tasks(ROUTINE_TASKS)

from typing import Any

from django.apps import AppConfig


class RuntimesConfig(AppConfig):
    name = "runtimes"
    verbose_name = "Runtimes"

    def ready(self) -> None:
        # Models are loaded only now. Every process, not just the web server: a Celery worker
        # that moves a runtime's state must tell the gateways to drop their cached target.
        from models_admin.signals import asset_retired
        from runtimes.gateway.cache import connect_signals
        from runtimes.hosts import heartbeat
        from runtimes.lifecycle import request_stop, strays

        connect_signals()
        strays.connect()  # a starting worker stops what its host left that now runs elsewhere
        heartbeat.connect()  # a Celery worker registers its host and heartbeats (no-op elsewhere)

        def stop_retired(sender: Any, asset_id: str, **kwargs: Any) -> None:
            request_stop(asset_id)

        asset_retired.connect(stop_retired, dispatch_uid="lifecycle-stop-retired", weak=False)

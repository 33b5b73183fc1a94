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
        from runtimes.lifecycle import request_stop

        connect_signals()

        def stop_retired(sender: Any, asset_id: str, **kwargs: Any) -> None:
            request_stop(asset_id)

        asset_retired.connect(stop_retired, dispatch_uid="lifecycle-stop-retired", weak=False)

from django.apps import AppConfig


class RuntimesConfig(AppConfig):
    name = "runtimes"
    verbose_name = "Runtimes"

    def ready(self) -> None:
        # Every process, not just the web server: a Celery worker that moves a runtime's state
        # must tell the gateways to drop their cached target for that model.
        from runtimes.gateway.cache import connect_signals
        from runtimes.hosts import heartbeat
        from runtimes.lifecycle import strays

        connect_signals()
        strays.connect()  # a starting worker stops what its host left that now runs elsewhere
        heartbeat.connect()  # a Celery worker registers its host and heartbeats (no-op elsewhere)

"""The OpenAI-compatible gateway (``/v1/``): a raw ASGI app mounted in ``hub/asgi.py``.

``gateway`` is the process's one instance: ``hub/asgi.py`` serves it and the API's
resolve / leases / usage endpoints share its caches, pools and invalidation listener.
"""

from runtimes.gateway.app import Gateway, GatewayConfig

gateway = Gateway()

__all__ = ["Gateway", "GatewayConfig", "gateway"]

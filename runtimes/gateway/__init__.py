"""The OpenAI-compatible gateway (``/v1/``): a raw ASGI app mounted in ``hub/asgi.py``.

``gateway`` is the process's one instance: ``hub/asgi.py`` serves it. It and the API's
resolve endpoint share one resolver (``resolver.py``): one cache, one wait per waking model.
"""

from runtimes.gateway.app import Gateway
from runtimes.gateway.config import GatewayConfig

gateway = Gateway()

__all__ = ["Gateway", "GatewayConfig", "gateway"]

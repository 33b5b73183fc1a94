"""The OpenAI-compatible gateway (``/v1/``): a raw ASGI app mounted in ``hub/asgi.py``."""

from runtimes.gateway.app import Gateway, GatewayConfig

__all__ = ["Gateway", "GatewayConfig"]

"""ASGI entry point: Hub-UI, the API and the gateway on one port (uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
application = get_asgi_application()

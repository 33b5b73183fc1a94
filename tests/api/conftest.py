"""The API tests share the gateway tests' live hub, fake runtimes and token fixtures."""

from tests.gateway.conftest import (  # noqa: F401  (pytest fixtures)
    hub,
    llama,
    make_live,
    make_token,
    tei,
    usage_events,
)

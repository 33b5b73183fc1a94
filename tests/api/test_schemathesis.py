"""Property-based checks of every API operation against /api/openapi.json (bounded for CI).

Runs in-process through the WSGI app (same test database transaction), authenticated
as a superuser's token holding every scope, with all of schemathesis's checks (every
built-in check is enabled unless configured off; none is), positive and negative data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from hub.wsgi import application

# Every check on, with one exception written down (and why) in the project's schemathesis.toml.
config = SchemathesisConfig.from_path(Path(__file__).resolve().parents[2] / "schemathesis.toml")
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application, config=config)


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """Like Django's test client: the test's transaction must survive each request's end."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def all_scopes_token(db: Any, make_user: Any, redis_client: Any, keep_connection: None) -> str:
    from actions.tokens import do_create_token
    from models_admin.audit import Actor
    from models_admin.models import TOKEN_SCOPES
    from tests.gateway.conftest import ensure_roles

    ensure_roles()
    owner = make_user(superuser=True)
    _, secret = do_create_token(owner, actor=Actor(user=owner, source="cli"), scopes=list(TOKEN_SCOPES))
    return str(secret)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case: Any, all_scopes_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {all_scopes_token}"})


# Stateful runs take their token from an auth provider (so checks know it was given, not
# generated); the test puts its fixture's token here.
workflow_schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application, config=config)
WORKFLOW_TOKEN: dict[str, str] = {}


@workflow_schema.auth()
class FixtureToken:
    def get(self, case: Any, ctx: Any) -> str:
        return WORKFLOW_TOKEN["secret"]

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def test_api_workflows_conform_to_the_schema(all_scopes_token: str) -> None:
    """Stateful: sequences of calls linked through the schema (create an asset, then read,
    update, wake it…), with the checks only sequences can make (what was created is there)."""
    WORKFLOW_TOKEN["secret"] = all_scopes_token
    workflow_schema.as_state_machine().run(
        settings=settings(
            max_examples=10,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )

"""Role and token changes take effect on the very next request, whichever process made them.

The hub (API and gateway) runs in this test process and caches token checks; the changes are
made by a separate ``manage.py`` process, as an admin would. No polling: the first request
after the change must already be refused. The caches' TTLs are raised here (starting a
process takes seconds), so only the hub's invalidation can explain a refusal.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import child_env
from tests.gateway.conftest import llm_document, post

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


@pytest.fixture(autouse=True)
def _long_token_caches(hub: Any, settings: Any) -> None:
    from runtimes.gateway import gateway

    settings.HUB_TOKEN_CACHE_S = 600.0
    deadline = time.monotonic() + 10  # a listener subscribing later would empty the caches itself
    while not gateway.invalidator.ready.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)


def manage(*args: str) -> None:
    """``manage.py`` in its own process (against the test database)."""
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(),
        check=True,
        timeout=120,
        capture_output=True,
    )


def get(hub: Any, path: str, secret: str) -> httpx.Response:
    return httpx.get(hub.url + path, headers={"Authorization": f"Bearer {secret}"}, timeout=30)


def mint(user: Any, scopes: list[str], **kwargs: Any) -> tuple[Any, str]:
    from actions.tokens import do_create_token
    from models_admin.audit import Actor

    return do_create_token(user, actor=Actor(user=user, source="cli"), scopes=scopes, **kwargs)


def test_a_demoted_approver_is_refused_on_the_next_request(hub: Any) -> None:
    from models_admin.models import RevisionStatus
    from tests.governance.factories import submitted_revision, user_with_role

    approver = user_with_role("approver")
    _, secret = mint(approver, ["read", "approve"])
    revision = submitted_revision()
    assert get(hub, f"/api/v1/revisions/{revision.pk}", secret).status_code == 200  # cached now

    manage("set_role", approver.username, "viewer")

    response = post(hub, f"/api/v1/revisions/{revision.pk}/approve", secret, {"digest": revision.digest})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "permission_denied"
    revision.refresh_from_db()
    assert revision.status == RevisionStatus.SUBMITTED


def test_a_token_revoked_by_another_process_is_refused_on_the_next_request(
    hub: Any, llama: Any, make_live: Any, make_user: Any
) -> None:
    make_live(llm_document("rev-revoked", llama.url))
    owner = make_user(superuser=True)
    token, secret = mint(owner, ["inference", "read"])
    assert post(hub, "/v1/chat/completions", secret, {"model": "rev-revoked", **CHAT}).status_code == 200
    assert get(hub, "/api/v1/assets", secret).status_code == 200

    manage("revoke_api_token", f"hub_{token.prefix}")
    served = llama.state.requests

    gateway = post(hub, "/v1/chat/completions", secret, {"model": "rev-revoked", **CHAT})
    assert gateway.status_code == 401
    assert gateway.json()["error"]["code"] == "invalid_api_key"
    assert llama.state.requests == served  # refused before anything was forwarded
    api = get(hub, "/api/v1/assets", secret)
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "invalid_api_key"


def test_a_revoked_token_learns_nothing_but_401_from_any_request(
    hub: Any, llama: Any, make_live: Any, make_user: Any
) -> None:
    """The gateway goes on with a token its cache knows and confirms it with the queue's answer;
    an error found before that (no such model, a bad body, a full queue) is confirmed first."""
    make_live(llm_document("rev-quiet", llama.url))
    owner = make_user(superuser=True)
    token, secret = mint(owner, ["inference"])
    assert post(hub, "/v1/chat/completions", secret, {"model": "rev-quiet", **CHAT}).status_code == 200

    manage("revoke_api_token", f"hub_{token.prefix}")

    for body in ({"model": "no-such-model", **CHAT}, {"model": "rev-quiet", "messages": "not a list"}, {}):
        response = post(hub, "/v1/chat/completions", secret, body)
        assert response.status_code == 401, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_an_expired_token_is_refused_on_the_next_request(
    hub: Any, llama: Any, make_live: Any, make_user: Any
) -> None:
    from django.utils import timezone

    make_live(llm_document("rev-expired", llama.url))
    owner = make_user(superuser=True)
    expires_at = timezone.now() + timedelta(seconds=3)
    _, secret = mint(owner, ["inference", "read"], expires_at=expires_at)
    assert post(hub, "/v1/chat/completions", secret, {"model": "rev-expired", **CHAT}).status_code == 200
    assert get(hub, "/api/v1/assets", secret).status_code == 200

    time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()) + 0.05)

    assert post(hub, "/v1/chat/completions", secret, {"model": "rev-expired", **CHAT}).status_code == 401
    assert get(hub, "/api/v1/assets", secret).status_code == 401


def test_a_demoted_admins_gateway_token_is_refused_on_the_next_request(hub: Any, make_user: Any) -> None:
    from tests.governance.factories import user_with_role

    admin = user_with_role("admin")
    _, secret = mint(admin, ["gateway"])
    body = {"asset_id": "nothing-here", "ttl_s": 30}
    assert post(hub, "/api/v1/gateway/leases", secret, body).status_code == 404  # through: no such model

    manage("set_role", admin.username, "editor")

    response = post(hub, "/api/v1/gateway/leases", secret, body)
    assert response.status_code == 403, response.text

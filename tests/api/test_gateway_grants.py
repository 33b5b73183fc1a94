"""The gateway endpoints' rules: a lease belongs to the token that took it, lease TTLs are capped,
and usage is accepted only for assets that exist, on interfaces they implement."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from actions.leases import do_release_lease
from actions.tokens import do_create_token
from models_admin.audit import Actor
from runtimes import leases
from runtimes.usage import USAGE_STREAM
from tests.governance.factories import asset_document, live_asset, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _redis(redis_client: Any) -> None:
    """Leases and usage live in the hub's Redis (flushed around each test)."""


def gateway_client() -> Client:
    admin = user_with_role("admin")
    _, secret = do_create_token(admin, actor=Actor(user=admin, source="cli"), scopes=["gateway"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def llm() -> str:
    doc = asset_document(policy={"max_concurrency": 1})
    assert doc["interface"] == "llm-runtime"
    return str(live_asset(doc).asset_id)


def take(client: Client, asset_id: str, ttl_s: float = 30) -> str:
    response = post(client, "/api/v1/gateway/leases", {"asset_id": asset_id, "ttl_s": ttl_s})
    assert response.status_code == 201, response.content.decode()
    return str(response.json()["lease_id"])


def test_another_token_can_neither_release_nor_renew_a_lease(llm: str) -> None:
    owner, other = gateway_client(), gateway_client()
    lease_id = take(owner, llm)
    released = other.delete(f"/api/v1/gateway/leases/{lease_id}")
    assert released.status_code == 403, released.content.decode()
    assert released.json()["error"]["code"] == "permission_denied"
    renewed = post(other, f"/api/v1/gateway/leases/{lease_id}/renew", {"ttl_s": 30})
    assert renewed.status_code == 403
    assert renewed.json()["error"]["code"] == "permission_denied"
    assert leases.active_counts([llm]) == {llm: 1}  # still held
    assert post(owner, "/api/v1/gateway/leases", {"asset_id": llm, "ttl_s": 30}).status_code == 429


def test_the_owning_token_renews_and_releases_its_lease(llm: str) -> None:
    owner = gateway_client()
    lease_id = take(owner, llm)
    renewed = post(owner, f"/api/v1/gateway/leases/{lease_id}/renew", {"ttl_s": 200})
    assert renewed.status_code == 200, renewed.content.decode()
    assert renewed.json()["asset_id"] == llm
    assert owner.delete(f"/api/v1/gateway/leases/{lease_id}").status_code == 204
    assert leases.active_counts([llm]) == {llm: 0}
    assert owner.delete(f"/api/v1/gateway/leases/{lease_id}").status_code == 204  # idempotent


def test_another_tokens_lease_is_released_by_an_admin_or_the_hub_itself(llm: str) -> None:
    owner = gateway_client()
    first = take(owner, llm)
    admin = user_with_role("admin")
    assert do_release_lease(first, actor=Actor(user=admin, source="ui"))
    second = take(owner, llm)
    editor = user_with_role("editor")
    with pytest.raises(leases.NotLeaseOwner):
        do_release_lease(second, actor=Actor(user=editor, source="ui"))
    assert do_release_lease(second, actor=Actor.system())
    assert leases.active_counts([llm]) == {llm: 0}


@pytest.mark.parametrize("ttl_s", [301, 3600])
def test_a_lease_ttl_over_the_cap_is_refused_naming_the_field(llm: str, ttl_s: float) -> None:
    client = gateway_client()
    response = post(client, "/api/v1/gateway/leases", {"asset_id": llm, "ttl_s": ttl_s})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "ttl_s"
    assert leases.active_counts([llm]) == {llm: 0}
    lease_id = take(client, llm, 300)
    renewed = post(client, f"/api/v1/gateway/leases/{lease_id}/renew", {"ttl_s": ttl_s})
    assert renewed.status_code == 422
    assert renewed.json()["error"]["field"] == "ttl_s"


def test_a_lease_is_renewable_up_to_the_cap(llm: str) -> None:
    client = gateway_client()
    lease_id = take(client, llm, 5)
    renewed = post(client, f"/api/v1/gateway/leases/{lease_id}/renew", {"ttl_s": 300})
    assert renewed.status_code == 200
    from datetime import datetime

    expires = datetime.fromisoformat(renewed.json()["expires_at"]).timestamp()
    assert 290 < expires - time.time() <= 301


def usage(asset_id: str, interface: str = "llm-runtime") -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "interface": interface,
        "started_at": time.time(),
        "duration_ms": 5,
        "status": 200,
    }


@pytest.mark.parametrize(
    ("event", "field", "code"),
    [
        (lambda llm: usage("no-such-asset"), "events.1.asset_id", "unknown_asset"),
        (lambda llm: usage(llm, "embedding-runtime"), "events.1.interface", "interface_not_implemented"),
        (lambda llm: usage(llm, "no-such-interface"), "events.1.interface", "interface_not_implemented"),
    ],
)
def test_usage_for_an_unknown_asset_or_interface_is_refused_whole(
    llm: str, redis_client: Any, event: Any, field: str, code: str
) -> None:
    body = {"events": [usage(llm), event(llm)]}
    response = post(gateway_client(), "/api/v1/gateway/usage", body)
    assert response.status_code == 422, response.content.decode()
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code
    assert redis_client.xlen(USAGE_STREAM) == 0  # nothing half-written, no series for garbage


def test_usage_for_a_real_asset_and_interface_is_accepted(llm: str, redis_client: Any) -> None:
    response = post(gateway_client(), "/api/v1/gateway/usage", {"events": [usage(llm), usage(llm)]})
    assert response.status_code == 202, response.content.decode()
    assert redis_client.xlen(USAGE_STREAM) == 2

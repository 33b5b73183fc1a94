"""Every way the gateway refuses a request: OpenAI-style status and body, nothing proxied."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest

from runtimes.leases import Leases
from tests.gateway.conftest import llm_document, post

pytestmark = pytest.mark.slow

CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def chat(hub: Any, token: str | None, model: str, **extra: Any) -> httpx.Response:
    return post(hub, "/v1/chat/completions", token, {"model": model, **CHAT, **extra})


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


def test_it_needs_a_token(hub: Any, llama: Any, make_live: Any) -> None:
    make_live(llm_document("err-auth", llama.url))
    assert_error(chat(hub, None, "err-auth"), 401, "invalid_api_key")
    assert_error(chat(hub, "hub_0000_bogus", "err-auth"), 401, "invalid_api_key")
    assert llama.state.requests == 0


def test_it_needs_the_inference_scope(hub: Any, llama: Any, make_live: Any, make_token: Any) -> None:
    make_live(llm_document("err-scope", llama.url))
    assert_error(chat(hub, make_token(("gateway", "read")), "err-scope"), 403, "permission_denied")


def test_a_revoked_token_stops_working_at_once(hub: Any, llama: Any, make_live: Any, make_user: Any) -> None:
    from actions.tokens import do_create_token, do_revoke_token
    from models_admin.audit import Actor

    make_live(llm_document("err-revoked", llama.url))
    owner = make_user(superuser=True)
    token, secret = do_create_token(owner, actor=Actor(user=owner, source="cli"), scopes=["inference"])
    assert chat(hub, secret, "err-revoked").status_code == 200
    do_revoke_token(token, actor=Actor(user=owner, source="cli"))
    deadline = time.monotonic() + 5
    while chat(hub, secret, "err-revoked").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # the invalidation travels through Redis pub/sub
    assert_error(chat(hub, secret, "err-revoked"), 401, "invalid_api_key")


def test_an_unknown_model_is_404(hub: Any, make_token: Any) -> None:
    assert_error(chat(hub, make_token(), "nobody-here"), 404, "model_not_found")


def test_an_unapproved_model_is_409(hub: Any, llama: Any, make_token: Any) -> None:
    from tests.governance.factories import submitted_revision

    submitted_revision(document=llm_document("err-draft", llama.url))
    assert_error(chat(hub, make_token(), "err-draft"), 409, "model_not_approved")


def test_a_retired_model_is_409(hub: Any, llama: Any, make_live: Any, make_token: Any) -> None:
    from actions.assets import do_retire_asset
    from models_admin.audit import Actor

    asset = make_live(llm_document("err-retired", llama.url))
    do_retire_asset(asset, actor=Actor.system())
    assert_error(chat(hub, make_token(), "err-retired"), 409, "model_retired")


def test_embeddings_on_a_chat_model_are_refused_not_proxied(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    make_live(llm_document("err-iface", llama.url))
    r = post(hub, "/v1/embeddings", make_token(), {"model": "err-iface", "input": "x"})
    assert_error(r, 409, "interface_not_implemented")
    assert llama.state.requests == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "err-body"}, "messages"),
        ({"model": "err-body", "messages": "hello"}, "messages"),
        ({"model": "err-body", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ],
)
def test_a_malformed_body_is_400_naming_the_field(hub: Any, make_token: Any, body: Any, field: str) -> None:
    error = assert_error(post(hub, "/v1/chat/completions", make_token(), body), 400, "invalid_request")
    assert error["param"] == field
    assert error["field"] == field


def test_a_body_that_is_not_json_is_400(hub: Any, make_token: Any) -> None:
    r = httpx.post(
        hub.url + "/v1/chat/completions",
        content=b"{nope",
        headers={"Authorization": f"Bearer {make_token()}"},
    )
    assert_error(r, 400, "invalid_request")


def test_an_unknown_route_is_404(hub: Any, make_token: Any) -> None:
    r = httpx.get(hub.url + "/v1/nothing", headers={"Authorization": f"Bearer {make_token()}"})
    assert_error(r, 404, "not_found")


def test_a_full_model_without_a_queue_is_429_with_retry_after(
    hub: Any, llama: Any, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    make_live(llm_document("err-full", llama.url, policy={"max_concurrency": 1, "max_queue": 0}))
    held = Leases(redis_client).acquire("err-full", 1, 30)
    assert held is not None
    r = chat(hub, make_token(), "err-full")
    error = assert_error(r, 429, "concurrency_limit")
    assert error["retryable"] is True
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert llama.state.requests == 0


def test_a_sleeping_model_is_woken_then_503_with_retry_after(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    from runtimes.models import RuntimeState

    make_live(llm_document("err-sleep", llama.url, lifecycle={"desired": "on-demand"}), state="sleeping")
    r = chat(hub, make_token(), "err-sleep")  # HUB_GATEWAY_WAKE_WAIT_S=1 in tests
    error = assert_error(r, 503, "model_loading")
    assert error["retryable"] is True
    assert int(r.headers["retry-after"]) >= 1
    assert RuntimeState.objects.get(asset__asset_id="err-sleep").state == "starting"


def test_a_model_that_wakes_within_the_wait_is_served(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    import threading

    from runtimes.models import RuntimeState

    make_live(llm_document("err-wakes", llama.url, lifecycle={"desired": "on-demand"}), state="starting")

    def come_up() -> None:
        time.sleep(0.3)
        RuntimeState.objects.filter(asset__asset_id="err-wakes").update(state="running", base_url=llama.url)

    threading.Thread(target=come_up).start()
    assert chat(hub, make_token(), "err-wakes").status_code == 200


def test_it_never_has_more_than_k_requests_in_flight_upstream(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    make_live(llm_document("err-k", llama.url, policy={"max_concurrency": 3}))
    llama.state.delay = 0.02
    token = make_token()

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:

            async def one() -> int:
                r = await client.post(
                    hub.url + "/v1/chat/completions",
                    json={"model": "err-k", **CHAT},
                    headers={"Authorization": f"Bearer {token}"},
                )
                return r.status_code

            return await asyncio.gather(*(one() for _ in range(200)))

    statuses = asyncio.run(run())
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) >= 3
    assert llama.state.max_inflight <= 3


def test_a_client_that_disconnects_frees_its_lease_and_cancels_upstream(
    hub: Any, llama: Any, make_live: Any, make_token: Any, redis_client: Any
) -> None:
    make_live(llm_document("err-gone", llama.url, policy={"max_concurrency": 1}))
    llama.state.chunk_delay = 0.5
    body = b'{"model": "err-gone", "stream": true, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}'
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {make_token()}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection(("127.0.0.1", hub.port))
    sock.sendall(request)
    assert b"200" in sock.recv(4096)  # the stream has started: the lease is held
    assert Leases(redis_client).active_counts(["err-gone"]) == {"err-gone": 1}
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if Leases(redis_client).active_counts(["err-gone"]) == {"err-gone": 0} and llama.state.inflight == 0:
            break
        time.sleep(0.05)
    assert Leases(redis_client).active_counts(["err-gone"]) == {"err-gone": 0}
    assert llama.state.inflight == 0

"""Resolve, leases and usage over HTTP (the hub served by uvicorn), with their error cases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.gateway.conftest import embedding_document, llm_document, post

pytestmark = pytest.mark.slow


def test_it_resolves_a_running_model(hub: Any, llama: Any, make_live: Any, make_token: Any) -> None:
    make_live(llm_document("res-llm", llama.url))
    r = post(
        hub,
        "/api/v1/gateway/resolve",
        make_token(("gateway",)),
        {"interface": "llm-runtime", "model": "res-llm"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "asset_id": "res-llm",
        "interface": "llm-runtime",
        "base_url": llama.url,
        "runtime_kind": "llama-cpp",
        "model": "fake-llama.gguf",
        "context_length": 4096,
        "max_concurrency": 4,
        "just_started": False,
    }


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unknown", 404, "model_not_found"),
        ("draft", 409, "model_not_approved"),
        ("wrong-interface", 409, "interface_not_implemented"),
        ("no-runtime", 409, "no_runtime"),
    ],
)
def test_resolve_refuses(
    hub: Any, llama: Any, make_live: Any, make_token: Any, case: str, status: int, code: str
) -> None:
    from tests.governance.factories import draft_revision

    model = f"res-{case}"
    interface = "llm-runtime"
    if case == "draft":
        draft_revision(document=llm_document(model, llama.url))
    elif case == "wrong-interface":
        make_live(llm_document(model, llama.url))
        interface = "embedding-runtime"
    elif case == "no-runtime":
        doc = llm_document(model, llama.url)
        del doc["runtime"]
        make_live(doc)
    r = post(
        hub, "/api/v1/gateway/resolve", make_token(("gateway",)), {"interface": interface, "model": model}
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["retryable"] is False


def test_resolve_needs_the_gateway_scope(hub: Any, llama: Any, make_live: Any, make_token: Any) -> None:
    make_live(llm_document("res-scope", llama.url))
    body = {"interface": "llm-runtime", "model": "res-scope"}
    assert post(hub, "/api/v1/gateway/resolve", None, body).status_code == 401
    assert post(hub, "/api/v1/gateway/resolve", "hub_nope_nope", body).status_code == 401
    r = post(hub, "/api/v1/gateway/resolve", make_token(("inference",)), body)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"


def test_resolve_names_the_invalid_field(hub: Any, make_token: Any) -> None:
    r = post(
        hub,
        "/api/v1/gateway/resolve",
        make_token(("gateway",)),
        {"interface": "llm-runtime", "model": "x", "wait_s": -1},
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "wait_s"


def test_leases_fill_up_and_free(hub: Any, llama: Any, make_live: Any, make_token: Any) -> None:
    make_live(llm_document("lease-llm", llama.url, policy={"max_concurrency": 1}))
    token = make_token(("gateway",))
    first = post(hub, "/api/v1/gateway/leases", token, {"asset_id": "lease-llm", "ttl_s": 30})
    assert first.status_code == 201, first.text
    lease_id = first.json()["lease_id"]
    full = post(hub, "/api/v1/gateway/leases", token, {"asset_id": "lease-llm", "ttl_s": 30})
    assert full.status_code == 429
    assert full.json()["error"]["code"] == "concurrency_limit"
    assert full.json()["error"]["retryable"] is True
    assert int(full.headers["retry-after"]) >= 1
    renewed = post(hub, f"/api/v1/gateway/leases/{lease_id}/renew", token, {"ttl_s": 60})
    assert renewed.status_code == 200
    assert renewed.json()["asset_id"] == "lease-llm"
    gone = httpx.delete(
        f"{hub.url}/api/v1/gateway/leases/{lease_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 204
    assert (
        post(hub, "/api/v1/gateway/leases", token, {"asset_id": "lease-llm", "ttl_s": 30}).status_code == 201
    )
    assert post(hub, f"/api/v1/gateway/leases/{lease_id}/renew", token, {"ttl_s": 60}).status_code == 404


def test_leases_of_unknown_or_unapproved_models_are_refused(hub: Any, make_token: Any) -> None:
    r = post(hub, "/api/v1/gateway/leases", make_token(("gateway",)), {"asset_id": "nobody", "ttl_s": 30})
    assert r.status_code == 404


def test_usage_goes_onto_the_stream(
    hub: Any, llama: Any, make_live: Any, make_token: Any, usage_events: Any
) -> None:
    make_live(llm_document("some-llm", llama.url))
    event = {
        "asset_id": "some-llm",
        "interface": "llm-runtime",
        "started_at": 1_700_000_000.5,
        "duration_ms": 12.5,
        "prompt_tokens": 3,
        "completion_tokens": 7,
        "input_count": 0,
        "status": 200,
    }
    r = post(hub, "/api/v1/gateway/usage", make_token(("gateway",)), {"events": [event, event]})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2}
    events = usage_events(expect=2)
    assert len(events) == 2
    assert events[0]["completion_tokens"] == "7"


def test_usage_refuses_huge_integers(hub: Any, make_token: Any) -> None:
    event = {
        "asset_id": "x",
        "interface": "llm-runtime",
        "started_at": 1,
        "duration_ms": 1,
        "status": 200,
        "prompt_tokens": 2**40,
    }
    r = post(hub, "/api/v1/gateway/usage", make_token(("gateway",)), {"events": [event]})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "events.0.prompt_tokens"


def test_embedding_model_resolves_for_its_interface(
    hub: Any, tei: Any, make_live: Any, make_token: Any
) -> None:
    make_live(embedding_document("res-emb", tei.url))
    r = post(
        hub,
        "/api/v1/gateway/resolve",
        make_token(("gateway",)),
        {"interface": "embedding-runtime", "model": "res-emb"},
    )
    assert r.status_code == 200
    assert r.json()["runtime_kind"] == "tei"

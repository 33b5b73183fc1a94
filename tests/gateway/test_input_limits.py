"""The gateway bounds what it reads: deep JSON and oversized bodies are 4xx JSON errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from runtimes.gateway import gateway
from tests.gateway.conftest import llm_document

pytestmark = pytest.mark.slow


def send(hub: Any, token: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return httpx.post(hub.url + "/v1/chat/completions", content=body, headers=headers, timeout=30)


def test_json_nested_100k_deep_is_a_400_not_a_recursion_error(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    make_live(llm_document("limits-deep", llama.url))
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (
        b'{"model": "limits-deep", "messages": ' + deep + b"}",
        deep,  # not even an object
    ):
        response = send(hub, make_token(), body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert "nested more than 64 levels deep" in error["message"]
    assert llama.state.requests == 0


def test_ordinary_nesting_still_goes_through(hub: Any, llama: Any, make_live: Any, make_token: Any) -> None:
    make_live(llm_document("limits-ok", llama.url))
    body = b'{"model": "limits-ok", "max_tokens": 2, "messages": [{"role": "user", "content": "[[[{{"}]}'
    assert send(hub, make_token(), body).status_code == 200


def test_a_body_over_the_limit_is_a_413_json_error(
    hub: Any, llama: Any, make_live: Any, make_token: Any, monkeypatch: Any
) -> None:
    make_live(llm_document("limits-big", llama.url))
    monkeypatch.setattr(gateway, "_config", dataclasses.replace(gateway.config, max_body_bytes=1000))
    content = "x" * 2000
    body = b'{"model": "limits-big", "messages": [{"role": "user", "content": "' + content.encode() + b'"}]}'
    response = send(hub, make_token(), body)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "larger than 1000 bytes" in error["message"]
    assert llama.state.requests == 0

"""The gateway bounds what it reads: deep JSON and oversized bodies are 4xx JSON errors."""

from __future__ import annotations

import dataclasses
import socket
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
        b"[" * 100_000,  # never closed: a parser recurses before it finds out
        b'{"model": "limits-deep", "messages": [' + b'{"a": ' * 100_000,
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


def raw_post(hub: Any, path: str, headers: str) -> bytes:
    """Send only a request head declaring a huge body; return what the server answers."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n{headers}\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data or len(data) < 200:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_the_web_app_answers_413_without_reading_a_body_declared_too_large(hub: Any, make_token: Any) -> None:
    token = make_token(("read", "write"))
    answer = raw_post(
        hub, "/api/v1/assets/import", f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer
    page = raw_post(hub, "/import/", "Content-Type: application/x-www-form-urlencoded\r\n")
    assert page.startswith(b"HTTP/1.1 413"), page[:200]

"""The gateway sends an upstream's API key, and only a key the rules allow.

A fake OpenAI-compatible API that refuses any request without its key stands behind the
real hub server; chat (plain and streamed) and embeddings go through ``/v1``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from runtimes.gateway import gateway
from tests.fakes.base import FakeRuntime
from tests.fakes.openai_api import FakeOpenAIApi
from tests.gateway.conftest import post

pytestmark = pytest.mark.slow

KEY = "sk-upstream-only"
CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3}


@pytest.fixture
def upstream() -> Iterator[FakeRuntime]:
    fake = FakeOpenAIApi.serve("--api-key", KEY, "--model", "gpt-fake", "--slots", "4")
    yield fake
    fake.stop()


def hosted(asset_id: str, base_url: str, **runtime: Any) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "display_name": asset_id,
        "version": "1.0.0",
        "interface": ["llm-runtime", "embedding-runtime"],
        "interface_version": "v1",
        "class": "model",
        "lifecycle": {"desired": "running"},
        "metadata": {"context_length": 4096, "embedding_dim": 8},
        "runtime": {
            "kind": "openai-compatible",
            "model": "gpt-fake",
            "base_url": base_url + "/v1",
            **runtime,
        },
    }


def test_chat_streamed_chat_and_embeddings_carry_the_key_from_a_secret_variable(
    hub: Any, upstream: FakeRuntime, make_live: Any, make_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_RUNTIME_SECRET_TEST_UPSTREAM", KEY)
    make_live(hosted("hosted-env", upstream.url, api_key_env="HUB_RUNTIME_SECRET_TEST_UPSTREAM"))
    token = make_token()

    plain = post(hub, "/v1/chat/completions", token, {"model": "hosted-env", **CHAT})
    assert plain.status_code == 200, plain.text
    assert plain.json()["choices"][0]["message"]["content"] == "tok0 tok1 tok2 "

    streamed = post(hub, "/v1/chat/completions", token, {"model": "hosted-env", "stream": True, **CHAT})
    assert streamed.status_code == 200, streamed.text
    events = [line[5:].strip() for line in streamed.text.splitlines() if line.startswith("data:")]
    assert events[-1] == "[DONE]"
    assert (
        "".join(
            json.loads(e)["choices"][0]["delta"].get("content") or ""
            for e in events[:-1]
            if json.loads(e)["choices"]
        )
        == "tok0 tok1 tok2 "
    )

    embedded = post(hub, "/v1/embeddings", token, {"model": "hosted-env", "input": ["a", "b"]})
    assert embedded.status_code == 200, embedded.text
    assert len(embedded.json()["data"]) == 2
    assert upstream.state.requests == 3  # all three reached the model: none was refused with 401


def test_a_key_file_under_the_secrets_directory_is_sent_and_a_rotated_one_is_picked_up(
    hub: Any,
    upstream: FakeRuntime,
    make_live: Any,
    make_token: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_file = tmp_path / "upstream-key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setattr(settings, "HUB_RUNTIME_SECRETS_DIR", str(tmp_path))  # for the validator
    monkeypatch.setattr(gateway.secrets, "secrets_dir", str(tmp_path))  # the running gateway's
    monkeypatch.setattr(gateway.secrets, "ttl_s", 0.5)
    make_live(hosted("hosted-file", upstream.url, api_key_file=str(key_file)))
    token = make_token()

    assert post(hub, "/v1/chat/completions", token, {"model": "hosted-file", **CHAT}).status_code == 200

    upstream.server.options.api_key = "sk-rotated"
    key_file.write_text("sk-rotated\n")
    time.sleep(0.6)  # the cache's ttl_s: a rotated file is used at the latest this long after
    rotated = post(hub, "/v1/chat/completions", token, {"model": "hosted-file", "stream": True, **CHAT})
    assert rotated.status_code == 200, rotated.text
    assert "[DONE]" in rotated.text


def test_a_live_document_naming_a_hub_setting_never_sends_it_upstream(
    hub: Any, make_live: Any, make_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upstream that would accept the hub's own secret: the hub must not offer it.
    fake = FakeOpenAIApi.serve("--api-key", settings.SECRET_KEY, "--model", "gpt-fake")
    try:
        monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)
        asset = make_live(hosted("hosted-stolen", fake.url))
        runtime = {**asset.live_spec["runtime"], "api_key_env": "SECRET_KEY"}  # stored before the rule held
        asset.live_spec = {**asset.live_spec, "runtime": runtime}
        asset.save()

        answer = post(hub, "/v1/chat/completions", make_token(), {"model": "hosted-stolen", **CHAT})
        assert answer.status_code == 502
        assert "Incorrect API key" in answer.text
        assert fake.state.requests == 0
    finally:
        fake.stop()

"""Every interface routed from its spec: completions, rerank, audio and moderation, through
the openai SDK (httpx for rerank, which the SDK has no call for)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models_admin import interfaces
from runtimes.gateway import routes
from tests.fakes.base import FakeRuntime
from tests.fakes.openai_api import FakeOpenAIApi
from tests.gateway.conftest import llm_document, post
from tests.gateway.test_openai_sdk import client

pytestmark = pytest.mark.slow


@pytest.fixture
def api() -> Iterator[FakeRuntime]:
    fake = FakeOpenAIApi.serve("--model", "gpt-fake", "--slots", "8")
    yield fake
    fake.stop()


def hosted(asset_id: str, url: str, interface: str) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "display_name": asset_id,
        "version": "1.0.0",
        "interface": interface,
        "interface_version": "v1",
        "class": "model",
        "lifecycle": {"desired": "running"},
        "runtime": {"kind": "openai-compatible", "model": "gpt-fake", "base_url": url + "/v1"},
    }


def rerank_document(asset_id: str, kind: str, url: str, model: str) -> dict[str, Any]:
    return {
        **hosted(asset_id, url, "rerank-runtime"),
        "runtime": {"kind": kind, "model": model, "base_url": url},
    }


def test_completions_plain_and_streamed(
    hub: Any, llama: Any, make_live: Any, make_token: Any, usage_events: Any
) -> None:
    make_live(llm_document("cmpl-llama", llama.url))
    sdk = client(hub, make_token())
    plain = sdk.completions.create(model="cmpl-llama", prompt="once upon", max_tokens=3)
    streamed = list(sdk.completions.create(model="cmpl-llama", prompt="once upon", max_tokens=3, stream=True))
    assert plain.choices[0].text == "tok0 tok1 tok2 "
    assert plain.model == "cmpl-llama"
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "tok0 tok1 tok2 "
    assert all(c.model == "cmpl-llama" for c in streamed)
    assert llama.state.bodies[-1]["model"] == "fake-llama.gguf"
    events = usage_events(2)
    assert [e["interface"] for e in events] == ["llm-runtime", "llm-runtime"]
    assert [e["completion_tokens"] for e in events] == ["3", "3"]


@pytest.mark.parametrize("kind", ["tei", "llama-cpp"])
def test_rerank_through_tei_and_llama_server(
    hub: Any, tei: Any, llama: Any, make_live: Any, make_token: Any, kind: str
) -> None:
    upstream = tei if kind == "tei" else llama
    model = "fake-embedder" if kind == "tei" else "fake-llama.gguf"
    make_live(rerank_document(f"rr-{kind}", kind, upstream.url, model))
    body = {
        "model": f"rr-{kind}",
        "query": "red apple",
        "documents": ["a green pear", "a red apple", {"text": "red wine"}],
        "top_n": 2,
    }
    answer = post(hub, "/v1/rerank", make_token(), body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert answer.json()["model"] == f"rr-{kind}"
    assert [r["index"] for r in results] == [1, 2]
    assert results[0]["relevance_score"] >= results[1]["relevance_score"]


def test_rerank_names_a_bad_field(hub: Any, tei: Any, make_live: Any, make_token: Any) -> None:
    make_live(rerank_document("rr-bad", "tei", tei.url, "fake-embedder"))
    answer = post(hub, "/v1/rerank", make_token(), {"model": "rr-bad", "query": "x", "documents": []})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "documents"


def test_moderations(hub: Any, api: FakeRuntime, make_live: Any, make_token: Any) -> None:
    make_live(hosted("mod-api", api.url, "moderation-runtime"))
    result = client(hub, make_token()).moderations.create(model="mod-api", input=["hello", "kill it"])
    assert [r.flagged for r in result.results] == [False, True]
    assert result.model == "mod-api"


def test_speech(hub: Any, api: FakeRuntime, make_live: Any, make_token: Any) -> None:
    make_live(hosted("tts-api", api.url, "tts-runtime"))
    audio = client(hub, make_token()).audio.speech.create(
        model="tts-api", voice="alloy", input="good morning"
    )
    assert audio.content == b"ID3FAKEgood morning|alloy"
    assert audio.response.headers["content-type"] == "audio/mpeg"


def test_transcriptions(hub: Any, api: FakeRuntime, make_live: Any, make_token: Any) -> None:
    make_live(hosted("stt-api", api.url, "speech-to-text-runtime"))
    clip = io.BytesIO(b"RIFF" + bytes(1000))
    clip.name = "clip.wav"
    text = client(hub, make_token()).audio.transcriptions.create(model="stt-api", file=clip, language="en")
    assert text.text == "transcribed 1004 bytes"


def test_a_transcription_needs_a_file(hub: Any, api: FakeRuntime, make_live: Any, make_token: Any) -> None:
    make_live(hosted("stt-nofile", api.url, "speech-to-text-runtime"))
    answer = httpx.post(
        hub.url + "/v1/audio/transcriptions",
        data={"model": "stt-nofile"},
        files={"other": ("x.txt", b"x")},
        headers={"Authorization": f"Bearer {make_token()}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "file"


def test_completions_on_a_runtime_that_has_none_is_a_404_naming_it(
    hub: Any, make_live: Any, make_token: Any
) -> None:
    from tests.fakes.ollama import FakeOllama

    fake = FakeOllama.serve()
    try:
        doc = llm_document("cmpl-ollama", fake.url)
        doc["runtime"] = {"kind": "ollama", "model": "llama3", "base_url": fake.url}
        make_live(doc)
        answer = post(hub, "/v1/completions", make_token(), {"model": "cmpl-ollama", "prompt": "x"})
    finally:
        fake.stop()
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "operation_not_served"
    assert "/v1/completions" in answer.json()["error"]["message"]


@pytest.fixture
def extra_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The interface specs plus files a test writes into the returned folder."""
    for spec in interfaces.SPEC_DIR.glob("*.yaml"):
        (tmp_path / spec.name).write_text(spec.read_text())
    monkeypatch.setattr(interfaces, "SPEC_DIR", tmp_path)
    interfaces.all_interfaces.cache_clear()
    routes.routes.cache_clear()
    yield tmp_path
    interfaces.all_interfaces.cache_clear()
    routes.routes.cache_clear()


SPEC = """interface: {name}
version: v1
group: Extra
model_type: extra
capability: {capability}
capabilities: [{operation}]
endpoint: {endpoint}
lifecycle_defaults: {{desired: running, auto_sleep_min: 0}}
"""


def test_a_new_spec_adds_its_route_and_one_nothing_serves_is_a_404_naming_it(
    hub: Any, tei: Any, make_live: Any, make_token: Any, extra_spec: Path
) -> None:
    (extra_spec / "70-similarity.yaml").write_text(
        SPEC.format(
            name="similarity-runtime", capability="rerank", operation="rerank", endpoint="/v1/similarity"
        )
    )
    (extra_spec / "80-vision.yaml").write_text(
        SPEC.format(name="vision-runtime", capability="vision", operation="describe", endpoint="/v1/vision")
    )
    doc = rerank_document("sim-tei", "tei", tei.url, "fake-embedder")
    doc["interface"] = "similarity-runtime"
    make_live(doc)
    token = make_token()
    body = {"model": "sim-tei", "query": "red", "documents": ["red", "blue"]}
    served = post(hub, "/v1/similarity", token, body)
    assert served.status_code == 200, served.text
    assert served.json()["results"][0]["index"] == 0
    unserved = post(hub, "/v1/vision", token, {"model": "sim-tei"})
    assert unserved.status_code == 404
    assert unserved.json()["error"]["code"] == "not_found"
    assert "vision-runtime" in unserved.json()["error"]["message"]

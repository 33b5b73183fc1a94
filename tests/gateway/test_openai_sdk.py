"""The official openai SDK against the gateway, with fake runtimes behind it."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import embedding_document, llm_document

pytestmark = pytest.mark.slow


def client(hub: Any, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=hub.url + "/v1", api_key=token, max_retries=0, timeout=30)


def test_it_chats(hub: Any, llama: Any, make_live: Any, make_token: Any, usage_events: Any) -> None:
    make_live(llm_document("chat-plain", llama.url))
    answer = client(hub, make_token()).chat.completions.create(
        model="chat-plain", messages=[{"role": "user", "content": "hello there"}], max_tokens=4
    )
    assert answer.choices[0].message.content == "tok0 tok1 tok2 tok3 "
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 4
    assert llama.state.bodies[-1]["model"] == "fake-llama.gguf"
    [event] = usage_events()
    assert event["asset_id"] == "chat-plain"
    assert event["interface"] == "llm-runtime"
    assert event["status"] == "200"
    assert event["completion_tokens"] == "4"
    assert int(event["prompt_tokens"]) == answer.usage.prompt_tokens


def test_it_streams_chat(hub: Any, llama: Any, make_live: Any, make_token: Any, usage_events: Any) -> None:
    make_live(llm_document("chat-stream", llama.url))
    stream = client(hub, make_token()).chat.completions.create(
        model="chat-stream", messages=[{"role": "user", "content": "hi"}], max_tokens=3, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok0 tok1 tok2 "
    # The hub asked upstream for usage itself; the client, who did not, gets no usage-only chunk.
    assert all(c.choices for c in chunks)
    assert llama.state.bodies[-1]["stream_options"] == {"include_usage": True}
    [event] = usage_events()
    assert event["completion_tokens"] == "3"
    assert int(event["prompt_tokens"]) > 0


def test_each_event_reaches_the_client_as_the_runtime_sends_it(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    """Events are relayed one for one as they arrive: the runtime sends the next only once the
    client has the previous one (a gateway that held any back would leave this test waiting)."""
    make_live(llm_document("chat-paced", llama.url))
    pace = threading.Semaphore(0)
    llama.state.extra["pace"] = pace
    body = {
        "model": "chat-paced",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {make_token()}"}
    seen = []
    with httpx.stream("POST", hub.url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as r:
        events = (line for line in r.iter_lines() if line.startswith("data: "))
        for _ in range(7):  # role, 3 tokens, finish, usage, [DONE]
            pace.release()
            seen.append(next(events))
        assert list(events) == []
    tokens = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in seen[1:4]]
    assert tokens == ["tok0 ", "tok1 ", "tok2 "]
    assert json.loads(seen[5][6:])["usage"]["completion_tokens"] == 3
    assert seen[-1] == "data: [DONE]"
    assert all(json.loads(e[6:])["model"] == "chat-paced" for e in seen[:-1])


def test_it_passes_usage_through_when_the_client_asks(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    make_live(llm_document("chat-usage", llama.url))
    stream = client(hub, make_token()).chat.completions.create(
        model="chat-usage",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    usages = [c.usage for c in stream if c.usage is not None]
    assert len(usages) == 1
    assert usages[0].completion_tokens == 2


def test_it_embeds_through_an_openai_speaking_runtime(
    hub: Any, llama: Any, make_live: Any, make_token: Any, usage_events: Any
) -> None:
    make_live(
        embedding_document(
            "embed-llama", llama.url, runtime={"kind": "llama-cpp", "model": "e.gguf", "base_url": llama.url}
        )
    )
    result = client(hub, make_token()).embeddings.create(model="embed-llama", input=["a b", "c"])
    assert [len(item.embedding) for item in result.data] == [8, 8]
    [event] = usage_events()
    assert event["interface"] == "embedding-runtime"
    assert event["input_count"] == "2"


def test_it_embeds_through_an_adapter_that_translates(
    hub: Any, tei: Any, make_live: Any, make_token: Any
) -> None:
    make_live(embedding_document("embed-tei", tei.url))
    result = client(hub, make_token()).embeddings.create(model="embed-tei", input="hello world")
    assert len(result.data) == 1
    assert len(result.data[0].embedding) == 8


def test_models_lists_only_the_assets_a_request_can_be_served_by(
    hub: Any, llama: Any, tei: Any, make_live: Any, make_token: Any, make_user: Any
) -> None:
    from actions.assets import do_retire_asset
    from models_admin.audit import Actor
    from tests.governance.factories import asset_document, draft_revision

    make_live(llm_document("listed-llm", llama.url))
    make_live(embedding_document("listed-embedder", tei.url), state="sleeping")
    make_live(llm_document("listed-never-started", llama.url), state=None)
    draft_revision(document=llm_document("unlisted-draft", llama.url))
    retired = make_live(llm_document("unlisted-retired", llama.url))
    do_retire_asset(retired, actor=Actor(user=make_user(superuser=True), source="cli"))
    make_live(asset_document("unlisted-no-runtime"), state=None)
    make_live(llm_document("unlisted-stopped", llama.url, lifecycle={"desired": "stopped"}), state="stopped")
    make_live(llm_document("unlisted-failed", llama.url), state="failed")

    models = {m.id: m for m in client(hub, make_token()).models.list()}

    assert set(models) == {"listed-llm", "listed-embedder", "listed-never-started"}
    llm = models["listed-llm"]
    assert llm.object == "model"
    assert llm.owned_by == "hub"
    assert llm.created > 0
    assert llm.model_extra == {
        "hub": {
            "display_name": "LLM listed-llm",
            "interfaces": ["llm-runtime"],
            "metadata": {"context_length": 4096},
        }
    }
    assert (models["listed-embedder"].model_extra or {})["hub"]["interfaces"] == ["embedding-runtime"]


def test_a_never_started_managed_model_an_operator_stopped_is_not_served_though_it_has_an_address(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    make_live(llm_document("stopped-here", llama.url, lifecycle={"desired": "stopped"}), state=None)
    openai_client = client(hub, make_token())
    assert "stopped-here" not in [m.id for m in openai_client.models.list()]
    served = llama.state.requests
    with pytest.raises(openai.ConflictError) as refused:
        openai_client.chat.completions.create(
            model="stopped-here", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert refused.value.code == "model_stopped"
    assert llama.state.requests == served
    # An external runtime the hub routes to but does not start is served whatever its desired state.
    external = {"kind": "openai-compatible", "model": "fake-llama.gguf", "base_url": llama.url + "/v1"}
    make_live(
        llm_document("external-here", llama.url, lifecycle={"desired": "stopped"}, runtime=external),
        state=None,
    )
    assert "external-here" in [m.id for m in openai_client.models.list()]
    answer = openai_client.chat.completions.create(
        model="external-here", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert answer.model == "external-here"


def test_a_chat_answer_names_the_asset_not_the_upstream_model(
    hub: Any, llama: Any, make_live: Any, make_token: Any
) -> None:
    make_live(llm_document("named-chat", llama.url))
    openai_client = client(hub, make_token())
    answer = openai_client.chat.completions.create(
        model="named-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    stream = openai_client.chat.completions.create(
        model="named-chat",
        messages=[{"role": "user", "content": 'say "model": "x"'}],
        max_tokens=3,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert llama.state.bodies[-1]["model"] == "fake-llama.gguf"  # the upstream still gets its own name
    assert answer.model == "named-chat"
    assert sum(bool(c.choices and c.choices[0].delta.content) for c in chunks) == 3
    assert any(c.usage is not None for c in chunks)
    assert {c.model for c in chunks} == {"named-chat"}


def test_an_embeddings_answer_names_the_asset_on_both_paths(
    hub: Any, llama: Any, tei: Any, make_live: Any, make_token: Any
) -> None:
    make_live(
        embedding_document(
            "named-embed-llama",
            llama.url,
            runtime={"kind": "llama-cpp", "model": "e.gguf", "base_url": llama.url},
        )
    )
    make_live(embedding_document("named-embed-tei", tei.url))
    openai_client = client(hub, make_token())

    proxied = openai_client.embeddings.create(model="named-embed-llama", input=["a b", "c"])
    translated = openai_client.embeddings.create(model="named-embed-tei", input="hello")

    assert proxied.model == "named-embed-llama"
    assert translated.model == "named-embed-tei"
    assert len(proxied.data) == 2
    assert len(translated.data) == 1


def test_an_ollama_chat_answer_names_the_asset_plain_and_streamed(
    hub: Any, make_live: Any, make_token: Any
) -> None:
    from tests.fakes.ollama import FakeOllama

    ollama = FakeOllama.serve("--models", "llama3.2:latest")
    try:
        make_live(
            llm_document(
                "named-ollama",
                ollama.url,
                runtime={"kind": "ollama", "model": "llama3.2", "base_url": ollama.url},
            )
        )
        openai_client = client(hub, make_token())
        answer = openai_client.chat.completions.create(
            model="named-ollama", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
        chunks = list(
            openai_client.chat.completions.create(
                model="named-ollama", messages=[{"role": "user", "content": "hi"}], max_tokens=2, stream=True
            )
        )
    finally:
        ollama.stop()

    assert answer.model == "named-ollama"
    assert answer.choices[0].message.content == "tok0 tok1 "
    assert chunks
    assert {c.model for c in chunks} == {"named-ollama"}

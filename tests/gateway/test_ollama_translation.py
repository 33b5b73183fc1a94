"""An Ollama model through ``/v1/chat/completions`` with tools, tool calls and images, plain
and streamed: what the SDK gets, and what Ollama's ``/api/chat`` was sent."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.base import FakeRuntime
from tests.fakes.ollama import FakeOllama
from tests.gateway.conftest import llm_document
from tests.gateway.test_openai_sdk import client

pytestmark = pytest.mark.slow

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture
def ollama(make_live: Any) -> Iterator[FakeRuntime]:
    fake = FakeOllama.serve("--models", "llama3.2:latest")
    runtime = {"kind": "ollama", "model": "llama3.2", "base_url": fake.url}
    make_live(llm_document("tools-ollama", fake.url, runtime=runtime))
    yield fake
    fake.stop()


def test_tools_go_through_and_a_tool_call_comes_back(hub: Any, ollama: FakeRuntime, make_token: Any) -> None:
    answer = client(hub, make_token()).chat.completions.create(
        model="tools-ollama", messages=[{"role": "user", "content": "weather in Paris?"}], tools=TOOLS
    )
    assert ollama.state.bodies[-1]["tools"] == TOOLS
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id


def test_a_streamed_tool_call_comes_back_as_deltas(hub: Any, ollama: FakeRuntime, make_token: Any) -> None:
    chunks = list(
        client(hub, make_token()).chat.completions.create(
            model="tools-ollama", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS, stream=True
        )
    )
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1
    assert calls[0].index == 0
    assert calls[0].function is not None
    assert calls[0].function.name == "weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_a_tool_call_history_and_an_image_reach_ollama_in_its_shape(
    hub: Any, ollama: FakeRuntime, make_token: Any
) -> None:
    picture = base64.b64encode(b"\x89PNG fake image").decode()
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{picture}"}},
            ],
        },
    ]
    answer = client(hub, make_token()).chat.completions.create(
        model="tools-ollama", messages=messages, max_tokens=2
    )
    assert answer.choices[0].message.content == "tok0 tok1 "
    sent = ollama.state.bodies[-1]["messages"]
    assert sent[1]["tool_calls"] == [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]
    assert sent[2] == {"role": "tool", "content": "sunny"}
    assert sent[3] == {"role": "user", "content": "and this?", "images": [picture]}


def test_an_image_link_ollama_cannot_fetch_is_a_400(hub: Any, ollama: FakeRuntime, make_token: Any) -> None:
    import openai

    messages: Any = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}}],
        }
    ]
    with pytest.raises(openai.BadRequestError) as raised:
        client(hub, make_token()).chat.completions.create(model="tools-ollama", messages=messages)
    assert "data: URLs" in str(raised.value)

"""OpenAI chat <-> Ollama ``/api/chat``: messages (text, images, tool calls) and answers.

OpenAI content parts become Ollama's ``content`` text plus ``images`` (base64, from
``data:`` URLs; Ollama fetches nothing); an assistant's ``tool_calls`` carry their
arguments as JSON text in OpenAI and as an object in Ollama; ``tools`` pass as they are.
Ollama's ``message.tool_calls`` come back as OpenAI ``tool_calls`` (plain, or as a streamed
delta) with ``finish_reason: tool_calls``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from runtimes.errors import InvalidRequest, UpstreamError
from runtimes.protocols.common import JSONObject, Usage
from runtimes.protocols.llm import ChatChunk


def text_of(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return "" if content is None else str(content)


def _images(content: Any) -> list[str]:
    images = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = str(image.get("url") if isinstance(image, dict) else image or "")
        if not url.startswith("data:") or "," not in url:
            raise InvalidRequest("messages: Ollama takes images as data: URLs (base64), not links")
        images.append(url.split(",", 1)[1])
    return images


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            raise InvalidRequest("messages: a tool call's arguments are not JSON") from None
    return raw or {}


def ollama_message(message: JSONObject) -> JSONObject:
    """One OpenAI chat message as Ollama reads it."""
    out: JSONObject = {k: v for k, v in message.items() if k not in ("content", "tool_calls", "tool_call_id")}
    content = message.get("content")
    out["content"] = text_of(content)
    images = _images(content)
    if images:
        out["images"] = images
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "function": {
                    "name": call["function"]["name"],
                    "arguments": _arguments(call["function"].get("arguments")),
                }
            }
            for call in message["tool_calls"]
            if isinstance(call, dict) and isinstance(call.get("function"), dict)
        ]
    if message.get("role") == "tool" and message.get("name"):
        out["tool_name"] = message["name"]
    return out


def openai_tool_calls(message: JSONObject, *, streamed: bool) -> list[JSONObject]:
    """Ollama's ``message.tool_calls`` in OpenAI's shape (with ``index`` when streamed)."""
    calls = []
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        arguments = function.get("arguments")
        out: JSONObject = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": str(function.get("name") or ""),
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
            },
        }
        calls.append({"index": i, **out} if streamed else out)
    return calls


def usage_of(payload: JSONObject) -> Usage:
    return Usage(int(payload.get("prompt_eval_count") or 0), int(payload.get("eval_count") or 0))


def tokens_per_second(payload: JSONObject) -> float | None:
    count, duration_ns = payload.get("eval_count"), payload.get("eval_duration")
    if not count or not duration_ns:
        return None
    return float(count) / (float(duration_ns) / 1e9)


def answer(payload: JSONObject, model: str) -> JSONObject:
    """A whole Ollama chat answer as an OpenAI ``chat.completion``."""
    message = payload.get("message") or {}
    reply: JSONObject = {"role": "assistant", "content": text_of(message.get("content"))}
    finish = payload.get("done_reason", "stop")
    calls = openai_tool_calls(message, streamed=False)
    if calls:
        reply["tool_calls"] = calls
        reply["content"] = reply["content"] or None
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": reply, "finish_reason": finish}],
        "usage": usage_of(payload).as_openai(),
    }


def sse(data: JSONObject) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


class Translation:
    """OpenAI chunks for one Ollama stream (same id and timestamp throughout): its ``LineParser``."""

    unfinished = "before done"

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.first = True
        self.called_tools = False

    def chunk(self, choices: list[JSONObject], **extra: Any) -> JSONObject:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def flush(self) -> list[ChatChunk]:
        return []  # every line is a whole event

    def feed(self, line: str) -> list[ChatChunk]:
        if not line.strip():
            return []
        upstream = line.encode()
        try:
            payload = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"/api/chat: line is not JSON: {line[:200]!r}") from exc
        if "error" in payload:
            raise UpstreamError(f"/api/chat: {payload['error']}")
        message = payload.get("message") or {}
        delta: JSONObject = {"content": text_of(message.get("content"))}
        calls = openai_tool_calls(message, streamed=True)
        if calls:
            delta["tool_calls"] = calls
            self.called_tools = True
        if self.first:
            delta["role"] = "assistant"
            self.first = False
        if not payload.get("done"):
            data = self.chunk([{"index": 0, "delta": delta, "finish_reason": None}])
            return [ChatChunk(sse=sse(data), upstream=upstream, data=data)]
        usage, tps = usage_of(payload), tokens_per_second(payload)
        reason = "tool_calls" if self.called_tools else payload.get("done_reason", "stop")
        finish = self.chunk([{"index": 0, "delta": delta, "finish_reason": reason}])
        chunks = [ChatChunk(sse=sse(finish), upstream=upstream, data=finish)]
        if self.include_usage:
            tail = self.chunk([], usage=usage.as_openai())
            chunks.append(
                ChatChunk(sse=sse(tail), upstream=b"", data=tail, usage=usage, tokens_per_second=tps)
            )
        else:
            chunks[0] = ChatChunk(
                sse=chunks[0].sse, upstream=upstream, data=finish, usage=usage, tokens_per_second=tps
            )
        chunks.append(ChatChunk(sse=b"data: [DONE]\n\n", upstream=b"", done=True))
        return chunks

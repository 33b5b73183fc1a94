"""The operations the gateway serves, by the name an interface spec gives them.

An interface spec routes each of its endpoints to an operation (``chat``, ``embeddings``,
``rerank``, ...: the names in its ``capabilities``). Each :class:`Operation` knows how its
request body is read (JSON, or a multipart upload), checks the fields (400 naming the
field), and serves the request through the target's adapter (``serve_llm``, ``serve_more``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtimes.gateway import serve_llm, serve_more
from runtimes.gateway.errors import BadRequest
from runtimes.gateway.formdata import FormBody, Part
from runtimes.gateway.forward import Serve
from runtimes.gateway.jsonbody import Body, RequestBody


def _json(raw: bytes, content_type: str | None, max_depth: int) -> Body:
    return RequestBody.parse(raw, max_depth=max_depth)


def _form(raw: bytes, content_type: str | None, max_depth: int) -> Body:
    return FormBody.parse(raw, content_type)


@dataclass(frozen=True)
class Operation:
    name: str
    check: Callable[[dict[str, Any]], int]  # raises BadRequest; returns the number of inputs
    serve: Serve
    parse: Callable[[bytes, str | None, int], Body] = _json
    streaming: bool = False  # "stream": true asks for SSE

    def streams(self, data: dict[str, Any]) -> bool:
        """Whether the answer is an SSE stream (decided by the request)."""
        return self.streaming and bool(data.get("stream"))


def _stream_flag(request: dict[str, Any]) -> None:
    if "stream" in request and not isinstance(request["stream"], bool):
        raise BadRequest("stream: must be true or false", field="stream")


def _check_chat(request: dict[str, Any]) -> int:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: a non-empty list of messages is required", field="messages")
    if not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages: every message must be an object", field="messages")
    _stream_flag(request)
    return 0


def _check_completion(request: dict[str, Any]) -> int:
    prompt = request.get("prompt")
    if not (isinstance(prompt, str) or (isinstance(prompt, list) and prompt)):
        raise BadRequest("prompt: a string or a non-empty list is required", field="prompt")
    _stream_flag(request)
    return 0


def _inputs(request: dict[str, Any]) -> int:
    inputs = request.get("input")
    if isinstance(inputs, str):
        return 1
    if isinstance(inputs, list) and inputs:
        return len(inputs)
    raise BadRequest("input: a string or a non-empty list is required", field="input")


def _check_rerank(request: dict[str, Any]) -> int:
    query = request.get("query")
    if not isinstance(query, str) or not query:
        raise BadRequest("query: a non-empty string is required", field="query")
    documents = request.get("documents")
    if not isinstance(documents, list) or not documents:
        raise BadRequest("documents: a non-empty list is required", field="documents")
    for document in documents:
        if not (
            isinstance(document, str)
            or (isinstance(document, dict) and isinstance(document.get("text"), str))
        ):
            raise BadRequest(
                "documents: each must be a string or an object with a 'text' string", field="documents"
            )
    top_n = request.get("top_n")
    if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
        raise BadRequest("top_n: must be a positive integer", field="top_n")
    return len(documents)


def _check_transcription(request: dict[str, Any]) -> int:
    if not isinstance(request.get("file"), Part):
        raise BadRequest("file: an audio file upload is required", field="file")
    return 1


def _check_speech(request: dict[str, Any]) -> int:
    text = request.get("input")
    if not isinstance(text, str) or not text:
        raise BadRequest("input: a non-empty string is required", field="input")
    if "voice" in request and not isinstance(request["voice"], str):
        raise BadRequest("voice: must be a string", field="voice")
    return 1


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("chat", _check_chat, serve_llm.chat, streaming=True),
        Operation("completion", _check_completion, serve_llm.completion, streaming=True),
        Operation("embeddings", _inputs, serve_llm.embeddings),
        Operation("rerank", _check_rerank, serve_more.rerank),
        Operation("transcription", _check_transcription, serve_more.transcription, parse=_form),
        Operation("speech", _check_speech, serve_more.speech),
        Operation("moderation", _inputs, serve_more.moderation),
    )
}

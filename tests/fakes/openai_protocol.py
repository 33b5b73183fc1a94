"""The OpenAI chat/embeddings endpoints as real servers answer them, for fakes to share."""

from __future__ import annotations

import json
import time
import uuid
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any, ClassVar

from tests.fakes.base import Crash, FakeHandler, prompt_tokens, vector, words


class OpenAIHandler(FakeHandler):
    """``/v1/models``, ``/v1/chat/completions`` (SSE) and ``/v1/embeddings``."""

    model_name: ClassVar[str] = "fake-model"
    default_max_tokens: ClassVar[int] = 8

    def served_model(self) -> str:
        return str(getattr(self.options, "model", None) or self.model_name)

    def loading_error(self) -> None:
        self.send_json(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})

    def check_model(self, body: dict[str, Any]) -> bool:
        """True if the request may proceed; answers the error itself otherwise."""
        if self.state.loading:
            self.loading_error()
            return False
        return True

    def model_card(self) -> dict[str, Any]:
        return {"id": self.served_model(), "object": "model", "created": 0, "owned_by": "fake"}

    def models(self) -> None:
        self.send_json(200, {"object": "list", "data": [self.model_card()]})

    def completion_extra(self, n_prompt: int, n_predicted: int) -> dict[str, Any]:
        """Extra top-level fields on the final answer (llama.cpp adds ``timings``)."""
        return {}

    def chat(self) -> None:
        body = self.read_json()
        if not self.check_model(body):
            return
        with self.state.inference(body):
            self.slow_down(crash=not body.get("stream"))
            n_prompt = prompt_tokens(body.get("messages") or [])
            tokens = words(min(int(body.get("max_tokens") or self.default_max_tokens), 8))
            usage = {
                "prompt_tokens": n_prompt,
                "completion_tokens": len(tokens),
                "total_tokens": n_prompt + len(tokens),
            }
            base = {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "created": int(time.time()),
                "model": body.get("model") or self.served_model(),
            }
            if not body.get("stream"):
                self.send_json(
                    200,
                    {
                        **base,
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "".join(tokens)},
                                "finish_reason": "length",
                            }
                        ],
                        "usage": usage,
                        **self.completion_extra(n_prompt, len(tokens)),
                    },
                )
                return
            self.start_stream("text/event-stream")
            chunk = {**base, "object": "chat.completion.chunk"}

            def event(payload: Any) -> None:
                pace = self.state.extra.get("pace")  # a test lets events out one by one
                if pace is not None:
                    pace.acquire(timeout=30)
                data = payload if isinstance(payload, str) else json.dumps(payload)
                self.write_chunk(f"data: {data}\n\n".encode())
                if self.state.chunk_delay:
                    time.sleep(self.state.chunk_delay)

            event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
            for i, token in enumerate(tokens):
                if self.state.crash and i == 1:
                    raise Crash  # mid-stream: the client has seen a chunk already
                event(
                    {**chunk, "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}
                )
            event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                event(
                    {**chunk, "choices": [], "usage": usage, **self.completion_extra(n_prompt, len(tokens))}
                )
            event("[DONE]")
            self.end_stream()

    def embeddings(self) -> None:
        body = self.read_json()
        if not self.check_model(body):
            return
        with self.state.inference(body):
            self.slow_down()
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
            dim = int(body.get("dimensions") or getattr(self.options, "dim", 8))
            n = sum(len(t.split()) for t in texts)
            self.send_json(
                200,
                {
                    "object": "list",
                    "model": body.get("model") or self.served_model(),
                    "data": [
                        {"object": "embedding", "index": i, "embedding": vector(t, dim)}
                        for i, t in enumerate(texts)
                    ],
                    "usage": {"prompt_tokens": n, "total_tokens": n},
                },
            )

    # The rest of the OpenAI surface, as OpenAI-compatible servers answer it.

    def completions(self) -> None:
        body = self.read_json()
        if not self.check_model(body):
            return
        with self.state.inference(body):
            self.slow_down()
            prompt = body.get("prompt")
            n_prompt = len(str(prompt).split()) + 1
            tokens = words(min(int(body.get("max_tokens") or self.default_max_tokens), 8))
            usage = {
                "prompt_tokens": n_prompt,
                "completion_tokens": len(tokens),
                "total_tokens": n_prompt + len(tokens),
            }
            base = {
                "id": f"cmpl-{uuid.uuid4().hex[:12]}",
                "created": int(time.time()),
                "model": body.get("model"),
            }
            if not body.get("stream"):
                choice = {"index": 0, "text": "".join(tokens), "finish_reason": "length", "logprobs": None}
                self.send_json(
                    200, {**base, "object": "text_completion", "choices": [choice], "usage": usage}
                )
                return
            self.start_stream("text/event-stream")
            for token in tokens:
                choice = {"index": 0, "text": token, "finish_reason": None, "logprobs": None}
                event = {**base, "object": "text_completion", "choices": [choice]}
                self.write_chunk(f"data: {json.dumps(event)}\n\n".encode())
            if (body.get("stream_options") or {}).get("include_usage"):
                self.write_chunk(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
            self.write_chunk(b"data: [DONE]\n\n")
            self.end_stream()

    def rerank_documents(self) -> None:
        """``POST /v1/rerank`` (llama-server ``--reranking``, vLLM, Jina style)."""
        body = self.read_json()
        if not self.check_model(body):
            return
        with self.state.inference(body):
            query = set(str(body.get("query", "")).lower().split())
            documents = [d["text"] if isinstance(d, dict) else d for d in body.get("documents") or []]
            results = [
                {"index": i, "relevance_score": len(query & set(str(d).lower().split())) / (1 + len(query))}
                for i, d in enumerate(documents)
            ]
            results.sort(key=lambda item: item["relevance_score"], reverse=True)
            if body.get("top_n"):
                results = results[: int(body["top_n"])]
            n = sum(len(str(d).split()) for d in documents)
            self.send_json(
                200,
                {
                    "model": body.get("model"),
                    "object": "list",
                    "usage": {"prompt_tokens": n, "total_tokens": n},
                    "results": results,
                },
            )

    def moderations(self) -> None:
        body = self.read_json()
        if not self.check_model(body):
            return
        with self.state.inference(body):
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
            results = [
                {
                    "flagged": "kill" in str(t).lower(),
                    "categories": {"violence": "kill" in str(t).lower()},
                    "category_scores": {"violence": 0.9 if "kill" in str(t).lower() else 0.01},
                }
                for t in texts
            ]
            self.send_json(200, {"id": "modr-fake", "model": body.get("model"), "results": results})

    def speech(self) -> None:
        body = self.read_json()
        if not self.check_model(body):
            return
        with self.state.inference(body):
            audio = b"ID3FAKE" + str(body.get("input", "")).encode() + b"|" + str(body.get("voice")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Content-Length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio)

    def transcriptions(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        header = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
        message = BytesParser(policy=default_policy).parsebytes(header + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (
                part.get_content() if part.get_filename() is None else part.get_payload(decode=True)
            )
        body = {"model": str(fields.get("model", "")).strip()}
        if not self.check_model(body):
            return
        with self.state.inference(body):
            audio = fields.get("file") or b""
            self.send_json(
                200, {"text": f"transcribed {len(audio)} bytes", "language": fields.get("language")}
            )

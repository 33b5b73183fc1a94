"""Fake Ollama: models on disk vs in memory, load/unload via ``keep_alive``, NDJSON chat."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from tests.fakes.base import FakeHandler, FakeRuntime, prompt_tokens, vector, words


def _now() -> str:
    return datetime.now(UTC).isoformat()


class OllamaHandler(FakeHandler):
    routes = {
        ("GET", "/api/version"): "version",
        ("GET", "/api/tags"): "tags",
        ("GET", "/api/ps"): "ps",
        ("POST", "/api/show"): "show",
        ("POST", "/api/generate"): "generate",
        ("POST", "/api/chat"): "chat",
        ("POST", "/api/embed"): "embed",
    }

    @property
    def known(self) -> list[str]:
        return [m if ":" in m else f"{m}:latest" for m in self.options.models.split(",")]

    @property
    def loaded(self) -> dict[str, Any]:
        loaded: dict[str, Any] = self.state.extra.setdefault("loaded", {})
        return loaded

    def resolve(self, name: str | None) -> str | None:
        tagged = (name or "") if ":" in (name or "") else f"{name}:latest"
        if tagged in self.known:
            return tagged
        self.send_json(404, {"error": f"model '{name}' not found"})
        return None

    def is_embedder(self, name: str) -> bool:
        return "embed" in name

    def load(self, name: str, keep_alive: Any) -> bool:
        """Load (taking ``load_time``) or unload; True if this call unloaded it."""
        if keep_alive in (0, "0", "0s"):
            self.loaded.pop(name, None)
            return True
        if name not in self.loaded:
            time.sleep(self.state.load_time)
            self.loaded[name] = {"keep_alive": keep_alive}
        return False

    def version(self) -> None:
        self.send_json(200, {"version": "0.6.0-fake"})

    def tags(self) -> None:
        models = [
            {
                "name": m,
                "model": m,
                "modified_at": _now(),
                "size": 1000,
                "digest": "0" * 64,
                "details": {"family": "fake", "parameter_size": "1B", "quantization_level": "Q4_K_M"},
            }
            for m in self.known
        ]
        self.send_json(200, {"models": models})

    def ps(self) -> None:
        models = [
            {
                "name": m,
                "model": m,
                "size": 1000,
                "digest": "0" * 64,
                "expires_at": "2318-01-01T00:00:00Z",
                "size_vram": 0,
                "context_length": self.options.ctx,
            }
            for m in self.loaded
        ]
        self.send_json(200, {"models": models})

    def show(self) -> None:
        name = self.resolve(self.read_json().get("model"))
        if name is None:
            return
        self.send_json(
            200,
            {
                "details": {"family": "fake", "format": "gguf"},
                "model_info": {"fake.context_length": 32768, "fake.embedding_length": self.options.dim},
                "capabilities": ["embedding"] if self.is_embedder(name) else ["completion"],
            },
        )

    def generate(self) -> None:
        body = self.read_json()
        name = self.resolve(body.get("model"))
        if name is None:
            return
        if self.is_embedder(name) and body.get("keep_alive") not in (0, "0"):
            self.send_json(400, {"error": f'"{name}" does not support generate'})
            return
        unloaded = self.load(name, body.get("keep_alive", "5m"))
        self.send_json(
            200,
            {
                "model": name,
                "created_at": _now(),
                "response": "",
                "done": True,
                "done_reason": "unload" if unloaded else "load",
            },
        )

    def chat(self) -> None:
        body = self.read_json()
        name = self.resolve(body.get("model"))
        if name is None:
            return
        self.load(name, body.get("keep_alive", "5m"))
        with self.state.inference(body):
            stream = body.get("stream", True)
            self.slow_down(crash=not stream)
            n_prompt = prompt_tokens(body.get("messages") or [])
            tokens = words(min(int((body.get("options") or {}).get("num_predict") or 8), 8))
            final: dict[str, Any] = {
                "model": name,
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "length",
                "total_duration": 1_000_000,
                "load_duration": 0,
                "prompt_eval_count": n_prompt,
                "prompt_eval_duration": 100_000,
                "eval_count": len(tokens),
                "eval_duration": len(tokens) * 20_000_000,
            }
            tools = body.get("tools") or []
            if tools:  # like a tool-calling model: call the first tool instead of answering
                name = tools[0]["function"]["name"]
                call = {"function": {"name": name, "arguments": {"city": "Paris"}}}
                final["done_reason"] = "stop"
                if not stream:
                    final["message"] = {"role": "assistant", "content": "", "tool_calls": [call]}
                    self.send_json(200, final)
                    return
                self.start_stream("application/x-ndjson")
                line = {"model": name, "created_at": _now(), "done": False}
                line["message"] = {"role": "assistant", "content": "", "tool_calls": [call]}
                self.write_chunk(json.dumps(line).encode() + b"\n")
                self.write_chunk(json.dumps(final).encode() + b"\n")
                self.end_stream()
                return
            if not stream:
                final["message"]["content"] = "".join(tokens)
                self.send_json(200, final)
                return
            self.start_stream("application/x-ndjson")
            for i, token in enumerate(tokens):
                if self.state.crash and i == 1:
                    self.crash_now()
                    return
                line = {
                    "model": name,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": token},
                    "done": False,
                }
                self.write_chunk(json.dumps(line).encode() + b"\n")
                if self.state.chunk_delay:
                    time.sleep(self.state.chunk_delay)
            self.write_chunk(json.dumps(final).encode() + b"\n")
            self.end_stream()

    def embed(self) -> None:
        body = self.read_json()
        name = self.resolve(body.get("model"))
        if name is None:
            return
        self.load(name, body.get("keep_alive", "5m"))
        with self.state.inference(body):
            self.slow_down()
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
            self.send_json(
                200,
                {
                    "model": name,
                    "embeddings": [vector(t, self.options.dim) for t in texts],
                    "total_duration": 1000,
                    "load_duration": 0,
                    "prompt_eval_count": sum(len(t.split()) for t in texts),
                },
            )


class FakeOllama(FakeRuntime):
    """python -m tests.fakes.ollama --port N --models a,b --load-time S."""

    handler = OllamaHandler

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument("--models", default="llama3.2:latest,nomic-embed-text:latest")
        parser.add_argument("--dim", type=int, default=8)
        parser.add_argument("--ctx", type=int, default=4096)
        return parser


if __name__ == "__main__":
    FakeOllama.main()

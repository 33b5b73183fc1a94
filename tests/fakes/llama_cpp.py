"""Fake llama.cpp ``llama-server``: 503 while loading, slots, ``timings``, SSE."""

from __future__ import annotations

import argparse
from typing import Any

from tests.fakes.base import FakeRuntime
from tests.fakes.openai_protocol import OpenAIHandler


class LlamaCppHandler(OpenAIHandler):
    routes = {
        ("GET", "/health"): "health",
        ("GET", "/props"): "props",
        ("GET", "/slots"): "slots",
        ("GET", "/v1/models"): "models",
        ("POST", "/v1/chat/completions"): "chat",
        ("POST", "/v1/embeddings"): "embeddings",
        ("POST", "/v1/completions"): "completions",
        ("POST", "/v1/rerank"): "rerank_documents",
    }

    def served_model(self) -> str:
        return str(self.options.model or "model.gguf")

    def health(self) -> None:
        if self.state.loading:
            self.loading_error()
        else:
            self.send_json(200, {"status": "ok"})

    def props(self) -> None:
        if self.state.loading:
            self.loading_error()
            return
        self.send_json(
            200,
            {
                "default_generation_settings": {"n_ctx": self.options.ctx_size, "params": {}},
                "total_slots": self.state.slots,
                "model_path": self.served_model(),
                "build_info": "b0-fake",
            },
        )

    def slots(self) -> None:
        busy = self.state.inflight
        self.send_json(
            200,
            [
                {"id": i, "n_ctx": self.options.ctx_size, "is_processing": i < busy}
                for i in range(self.state.slots)
            ],
        )

    def completion_extra(self, n_prompt: int, n_predicted: int) -> dict[str, Any]:
        predicted_ms = 10.0 * n_predicted
        return {
            "timings": {
                "prompt_n": n_prompt,
                "prompt_ms": 5.0,
                "prompt_per_second": n_prompt / 0.005,
                "predicted_n": n_predicted,
                "predicted_ms": predicted_ms,
                "predicted_per_token_ms": 10.0,
                "predicted_per_second": 100.0,
            }
        }

    def embeddings(self) -> None:
        if not self.options.embeddings:
            self.send_json(
                501,
                {
                    "error": {
                        "code": 501,
                        "message": "This server does not support embeddings. Start it with `--embeddings`",
                        "type": "not_supported_error",
                    }
                },
            )
            return
        super().embeddings()


class FakeLlamaCpp(FakeRuntime):
    """llama-server look-alike: python -m tests.fakes.llama_cpp -m FILE --port N."""

    handler = LlamaCppHandler

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument("-m", "--model", default="model.gguf")
        parser.add_argument("--embeddings", "--embedding", action="store_true")
        parser.add_argument("--pooling", default=None)
        parser.add_argument("-c", "--ctx-size", type=int, default=4096)
        parser.add_argument("--dim", type=int, default=8)
        parser.add_argument("-np", "--parallel", dest="slots", type=int, default=1)
        return parser


if __name__ == "__main__":
    FakeLlamaCpp.main()

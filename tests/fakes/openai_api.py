"""Fake hosted OpenAI-compatible API: bearer-key auth, ``/v1/models``, chat, embeddings.

``--prefix`` mounts the API elsewhere, as providers do (``/v1beta/openai``, ``/openai/v1``):
``{prefix}/models``, ``{prefix}/chat/completions``, ``{prefix}/embeddings``, and nothing
outside it (a client that drops or doubles the prefix gets a 404).
"""

from __future__ import annotations

import argparse
from typing import Any

from tests.fakes.base import FakeRuntime
from tests.fakes.openai_protocol import OpenAIHandler


class OpenAIApiHandler(OpenAIHandler):
    routes = {
        ("GET", "/v1/models"): "models",
        ("POST", "/v1/chat/completions"): "chat",
        ("POST", "/v1/embeddings"): "embeddings",
        ("POST", "/v1/completions"): "completions",
        ("POST", "/v1/rerank"): "rerank_documents",
        ("POST", "/v1/moderations"): "moderations",
        ("POST", "/v1/audio/speech"): "speech",
        ("POST", "/v1/audio/transcriptions"): "transcriptions",
    }

    def served_model(self) -> str:
        return str(self.options.model)

    @property
    def path_only(self) -> str:
        """The path as a route: ``{prefix}/x`` reads as ``/v1/x``; any other path matches none."""
        path = super().path_only
        prefix = str(self.options.prefix).rstrip("/")
        if path == "/_fake/stats":
            return path
        if path.startswith(prefix + "/"):
            return "/v1" + path[len(prefix) :]
        return f"{path} (outside the API root {prefix}/)"

    def _dispatch(self, method: str) -> None:
        key = self.options.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}" and self.path_only != "/_fake/stats":
            self.send_json(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        super()._dispatch(method)

    def check_model(self, body: dict[str, Any]) -> bool:
        if body.get("model") != self.served_model():
            self.send_json(
                404,
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist",
                        "code": "model_not_found",
                    }
                },
            )
            return False
        if self.state.inflight >= self.state.slots:
            self.send_json(
                429,
                {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                headers={"Retry-After": "2"},
            )
            return False
        return super().check_model(body)


class FakeOpenAIApi(FakeRuntime):
    """python -m tests.fakes.openai_api --api-key K --model M --port N."""

    handler = OpenAIApiHandler

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument("--api-key", default="")
        parser.add_argument("--model", default="gpt-fake")
        parser.add_argument("--dim", type=int, default=8)
        parser.add_argument("--prefix", default="/v1", help="where the API is mounted")
        return parser


if __name__ == "__main__":
    FakeOpenAIApi.main()

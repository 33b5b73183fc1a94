"""Fake Hugging Face TEI: ``/info``, ``/embed``, ``/rerank``, ``/v1/embeddings``.

Like TEI, ``/embed`` refuses more inputs than ``--max-client-batch-size`` with a 413
(TEI's validation error); ``/info`` reports that limit. The fake's default is small (4,
TEI's is 32) so that any test sending a few inputs crosses it.
"""

from __future__ import annotations

import argparse

from tests.fakes.base import FakeRuntime, vector
from tests.fakes.openai_protocol import OpenAIHandler


class TEIHandler(OpenAIHandler):
    routes = {
        ("GET", "/health"): "health",
        ("GET", "/info"): "info",
        ("POST", "/embed"): "embed",
        ("POST", "/rerank"): "rerank",
        ("POST", "/v1/embeddings"): "embeddings",
    }

    def served_model(self) -> str:
        return str(self.options.model_id)

    def unavailable(self) -> bool:
        if self.state.loading:
            self.send_json(503, {"error": "Model is loading", "error_type": "Unhealthy"})
            return True
        return False

    def health(self) -> None:
        if not self.unavailable():
            self.send_json(200, {})

    def info(self) -> None:
        with self.state.lock:  # counted, and an older TEI's /info without the limit on request
            self.state.extra["info_requests"] = self.state.extra.get("info_requests", 0) + 1
            limit = (
                {}
                if self.state.extra.get("info_without_batch_limit")
                else {"max_client_batch_size": self.options.max_client_batch_size}
            )
        model_type = (
            {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
            if self.options.reranker
            else {"embedding": {"pooling": "cls"}}
        )
        self.send_json(
            200,
            {
                "model_id": self.served_model(),
                "model_sha": None,
                "model_dtype": "float32",
                "model_type": model_type,
                "max_concurrent_requests": 512,
                "max_input_length": 512,
                "max_batch_tokens": 16384,
                "max_batch_requests": None,
                **limit,
                "auto_truncate": False,
                "tokenization_workers": 1,
                "version": "1.5.0-fake",
            },
        )

    def embed(self) -> None:
        if self.unavailable():
            return
        body = self.read_json()
        with self.state.inference(body):
            self.slow_down()
            inputs = body.get("inputs")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
            limit = self.options.max_client_batch_size
            if len(texts) > limit:
                self.send_json(
                    413,
                    {
                        "error": f"batch size {len(texts)} > maximum allowed batch size {limit}",
                        "error_type": "Validation",
                    },
                )
                return
            tokens = sum(len(t.split()) for t in texts)
            self.send_json(
                200,
                [vector(t, self.options.dim) for t in texts],
                headers={"x-compute-tokens": str(tokens), "x-compute-type": "cpu"},
            )

    def rerank(self) -> None:
        if self.unavailable():
            return
        body = self.read_json()
        with self.state.inference(body):
            self.slow_down()
            query_words = set(str(body.get("query", "")).lower().split())
            ranked = [
                {"index": i, "score": len(query_words & set(t.lower().split())) / (1 + len(query_words))}
                for i, t in enumerate(body.get("texts") or [])
            ]
            ranked.sort(key=lambda item: item["score"], reverse=True)
            self.send_json(200, ranked)


class FakeTEI(FakeRuntime):
    """text-embeddings-router look-alike: python -m tests.fakes.tei --model-id M --port N."""

    handler = TEIHandler

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument("--model-id", default="BAAI/bge-small-en-v1.5")
        parser.add_argument("--dim", type=int, default=8)
        parser.add_argument("--reranker", action="store_true")
        parser.add_argument("--max-client-batch-size", type=int, default=4)
        return parser


if __name__ == "__main__":
    FakeTEI.main()

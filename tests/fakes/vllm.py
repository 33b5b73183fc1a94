"""Fake vLLM OpenAI server: ``/health``, ``max_model_len``, sleep mode, ``/metrics``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from tests.fakes.base import FakeRuntime
from tests.fakes.openai_protocol import OpenAIHandler

SLEEP_PATHS = ("/is_sleeping", "/sleep", "/wake_up")
GATED = [False]  # a process (``python -m``) answers like vLLM; in-thread fakes keep sleep open


class VLLMHandler(OpenAIHandler):
    routes = {
        ("GET", "/health"): "health",
        ("GET", "/version"): "version",
        ("GET", "/v1/models"): "models",
        ("GET", "/metrics"): "metrics",
        ("GET", "/is_sleeping"): "is_sleeping",
        ("POST", "/sleep"): "sleep",
        ("POST", "/wake_up"): "wake_up",
        ("POST", "/v1/chat/completions"): "chat",
        ("POST", "/v1/embeddings"): "embeddings",
    }

    def served_model(self) -> str:
        return str(self.options.model or "fake/model")

    def _dispatch(self, method: str) -> None:
        # As vLLM: the sleep endpoints exist only in dev mode, and sleep needs the flag.
        if self.path_only in SLEEP_PATHS and GATED[0]:
            dev_mode = os.environ.get("VLLM_SERVER_DEV_MODE") == "1"
            if not dev_mode or (self.path_only == "/sleep" and not self.options.enable_sleep_mode):
                self.send_json(404, {"detail": "Not Found"})
                return
        super()._dispatch(method)

    def health(self) -> None:
        if self.state.loading:
            self.send_json(503, {"error": "loading"})
        else:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def version(self) -> None:
        self.send_json(200, {"version": "0.0.0-fake"})

    def model_card(self) -> dict[str, Any]:
        return {**super().model_card(), "root": self.served_model(), "max_model_len": 8192}

    def check_model(self, body: dict[str, Any]) -> bool:
        if not super().check_model(body):
            return False
        if body.get("model") != self.served_model():
            self.send_json(
                404,
                {"error": {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}},
            )
            return False
        if self.state.extra.get("sleeping"):
            self.send_json(503, {"error": {"message": "engine is sleeping", "code": 503}})
            return False
        return True

    def metrics(self) -> None:
        waiting = max(0, self.state.inflight - self.state.slots)
        running = self.state.inflight - waiting
        name = self.served_model()
        text = (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="{name}"}} {float(running)}\n'
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="{name}"}} {float(waiting)}\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def is_sleeping(self) -> None:
        self.send_json(200, {"is_sleeping": bool(self.state.extra.get("sleeping"))})

    def sleep(self) -> None:
        self.state.extra["sleeping"] = True
        self.state.extra["sleep_level"] = self.query.get("level", ["1"])[0]
        self.send_json(200, {})

    def wake_up(self) -> None:
        self.state.extra["sleeping"] = False
        self.send_json(200, {})


class FakeVLLM(FakeRuntime):
    """vllm serve look-alike: python -m tests.fakes.vllm serve MODEL --port N."""

    handler = VLLMHandler

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        parser.add_argument("serve", nargs="?")
        parser.add_argument("model", nargs="?", default="fake/model")
        parser.add_argument("--dim", type=int, default=8)
        parser.add_argument("--max-num-seqs", dest="slots", type=int, default=1)
        parser.add_argument("--enable-sleep-mode", action="store_true")
        return parser


if __name__ == "__main__":
    GATED[0] = True
    FakeVLLM.main()

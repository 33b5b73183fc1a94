"""vLLM's OpenAI-compatible server (``vllm serve MODEL``).

API: ``/health`` (200 once serving), ``/version``, ``/v1/models`` (with
``max_model_len``), ``/v1/chat/completions`` (SSE), ``/v1/completions``, ``/v1/embeddings``
and ``/v1/rerank`` (pooling models), ``/metrics`` (Prometheus; ``vllm:num_requests_waiting`` tells busy), and the
sleep mode endpoints ``POST /sleep?level=1``, ``POST /wake_up``, ``GET /is_sleeping``
(the server needs ``--enable-sleep-mode`` and ``VLLM_SERVER_DEV_MODE=1``, which a launched
process always gets). A launched vLLM sleeps in place and wakes with ``/wake_up``; a server
without sleep mode is stopped instead.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from runtimes.adapters._config import LaunchableConfig
from runtimes.adapters._launchable import LaunchableRuntime
from runtimes.adapters._openai import OpenAIChat, OpenAIEmbeddings
from runtimes.adapters._openai_more import OpenAICompletions, OpenAIRerank
from runtimes.errors import RuntimeAdapterError
from runtimes.protocols.managed import HealthReport, HealthState, RuntimeMetadata
from runtimes.protocols.provider import CredentialCheck, Reachability, ServedModel

_WAITING_METRIC = "vllm:num_requests_waiting"


class VLLMAdapter(OpenAIChat, OpenAIEmbeddings, OpenAICompletions, OpenAIRerank, LaunchableRuntime):
    kind: ClassVar[str] = "vllm"
    config_model = LaunchableConfig
    launch_env: ClassVar[dict[str, str]] = {"VLLM_SERVER_DEV_MODE": "1"}
    launch_flags: ClassVar[tuple[str, ...]] = ("--enable-sleep-mode",)

    def check_reachable(self) -> Reachability:
        try:
            version = self._get_json("/version", timeout=5.0).get("version")
        except RuntimeAdapterError as exc:
            return Reachability(False, str(exc))
        return Reachability(True, "up", version=None if version is None else str(version))

    def list_models(self) -> list[ServedModel]:
        payload = self._get_json("/v1/models")
        return [ServedModel(str(item["id"]), dict(item)) for item in payload.get("data", [])]

    def validate_credentials(self) -> CredentialCheck:
        return CredentialCheck(True, "no API key configured")

    def _model_card(self) -> dict[str, Any]:
        for model in self.list_models():
            if model.name == self.binding.model:
                return model.details
        return {}

    def context_length(self) -> int | None:
        try:
            max_len = self._model_card().get("max_model_len")
        except RuntimeAdapterError:
            return None
        return None if max_len is None else int(max_len)

    def is_sleeping(self) -> bool:
        """True when the server put its weights to sleep; False also when it has no sleep mode."""
        try:
            return bool(self._get_json("/is_sleeping", timeout=5.0).get("is_sleeping"))
        except RuntimeAdapterError:
            return False

    def is_ready(self) -> bool:
        return super().is_ready() and not self.is_sleeping()

    def wake(self) -> bool:
        if not self.is_sleeping():
            return False
        self._request("POST", "/wake_up")
        return True

    def sleep(self) -> None:
        """Level 1 sleep: offload weights, drop the KV cache; the process keeps its port.
        Without sleep mode the process is stopped."""
        if not self.sleep_in_place():
            self.stop()

    def sleep_in_place(self) -> bool:
        if not self._base_url:
            return False
        if self.is_sleeping():
            return True
        with contextlib.suppress(RuntimeAdapterError):  # 404: no sleep mode (no dev mode)
            self._request("POST", "/sleep", params={"level": 1})
        return self.is_sleeping()

    def busy_or_ok(self) -> HealthReport:
        if self.is_sleeping():
            return HealthReport(HealthState.DOWN, "sleeping")
        try:
            metrics = self._request("GET", "/metrics", timeout=5.0).text
        except RuntimeAdapterError:
            return HealthReport(HealthState.OK, "metrics not exposed")
        waiting = _gauge_sum(metrics, _WAITING_METRIC)
        if waiting:
            return HealthReport(HealthState.BUSY, f"{waiting:g} requests waiting for a slot")
        return HealthReport(HealthState.OK)

    def metadata(self) -> RuntimeMetadata:
        card = self._model_card()
        max_len = card.get("max_model_len")
        return RuntimeMetadata(
            kind=self.kind,
            model=self.binding.model,
            context_length=None if max_len is None else int(max_len),
            version=self.check_reachable().version,
            extra={"root": card.get("root"), "owned_by": card.get("owned_by")},
        )


def _gauge_sum(metrics: str, name: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total

"""llama.cpp's ``llama-server``: one GGUF per process, OpenAI chat and embeddings.

API: ``/health`` (503 while the model loads), ``/props`` (context size, slot count),
``/slots`` (which slots are processing; may be disabled), ``/v1/models``,
``/v1/chat/completions`` (SSE, with llama.cpp ``timings``), ``/v1/embeddings`` (needs
``--embeddings``), ``/v1/completions``, ``/v1/rerank`` (needs ``--reranking``). Launched as ``llama-server -m FILE ...`` plus ``--host/--port``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from runtimes.adapters._config import LaunchableConfig
from runtimes.adapters._launchable import LaunchableRuntime
from runtimes.adapters._openai import OpenAIChat, OpenAIEmbeddings
from runtimes.adapters._openai_more import OpenAICompletions, OpenAIRerank
from runtimes.errors import RuntimeAdapterError
from runtimes.protocols.common import JSONObject, Usage
from runtimes.protocols.managed import HealthReport, HealthState, RuntimeMetadata
from runtimes.protocols.provider import CredentialCheck, Reachability, ServedModel


class LlamaCppAdapter(OpenAIChat, OpenAIEmbeddings, OpenAICompletions, OpenAIRerank, LaunchableRuntime):
    kind: ClassVar[str] = "llama-cpp"
    config_model = LaunchableConfig
    model_file_flags: ClassVar[tuple[str, ...]] = ("-m", "--model")

    def tokens_per_second(self, payload: JSONObject) -> float | None:
        timings = payload.get("timings")
        if isinstance(timings, dict) and timings.get("predicted_per_second") is not None:
            return float(timings["predicted_per_second"])
        return None

    def usage_from(self, payload: JSONObject) -> Usage | None:
        usage = super().usage_from(payload)
        timings = payload.get("timings")
        if usage is None and isinstance(timings, dict) and "predicted_n" in timings:
            # Older servers report counts only in timings.
            return Usage(int(timings.get("prompt_n") or 0), int(timings["predicted_n"]))
        return usage

    def check_reachable(self) -> Reachability:
        status = self._status("/health")
        if status is None:
            return Reachability(False, f"{self._base_url or 'not started'}: unreachable")
        return Reachability(True, "ready" if status == 200 else f"/health answered {status}")

    def list_models(self) -> list[ServedModel]:
        payload = self._get_json("/v1/models")
        return [ServedModel(str(item["id"]), dict(item)) for item in payload.get("data", [])]

    def validate_credentials(self) -> CredentialCheck:
        return CredentialCheck(True, "llama-server needs no credentials")

    def props(self) -> dict[str, Any]:
        payload: dict[str, Any] = self._get_json("/props")
        return payload

    def context_length(self) -> int | None:
        try:
            settings = self.props().get("default_generation_settings") or {}
        except RuntimeAdapterError:
            return None
        n_ctx = settings.get("n_ctx")
        return None if n_ctx is None else int(n_ctx)

    def busy_or_ok(self) -> HealthReport:
        try:
            slots = self._get_json("/slots")
        except RuntimeAdapterError:
            return HealthReport(HealthState.OK, "slots not exposed")
        if isinstance(slots, list) and slots and all(s.get("is_processing") for s in slots):
            return HealthReport(HealthState.BUSY, f"all {len(slots)} slots processing")
        return HealthReport(HealthState.OK)

    def metadata(self) -> RuntimeMetadata:
        props = self.props()
        settings = props.get("default_generation_settings") or {}
        n_ctx = settings.get("n_ctx")
        return RuntimeMetadata(
            kind=self.kind,
            model=self.binding.model,
            context_length=None if n_ctx is None else int(n_ctx),
            max_concurrency=props.get("total_slots"),
            version=props.get("build_info"),
            extra={"model_path": props.get("model_path")},
        )

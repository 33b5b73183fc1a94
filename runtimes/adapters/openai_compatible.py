"""Any OpenAI-compatible API (hosted or self-run): every OpenAI endpoint, no lifecycle.

The API key comes from the ``HUB_RUNTIME_SECRET_*`` variable or the file under
``HUB_RUNTIME_SECRETS_DIR`` that the binding names (``runtimes.upstream``); it is never
stored in the catalog. It is read through ``secrets`` (cached there for its ``ttl_s``)
and sent as ``Authorization: Bearer`` on every request, the gateway's proxied ones
included (``auth_headers``).

``base_url`` names the API root, under which ``/chat/completions``, ``/embeddings`` and
``/models`` live: a base URL with a path is used as it is (``…/v1``,
``…/v1beta/openai``, ``…/openai/v1``); a bare host (``https://api.openai.com``) gets
``/v1``. See :func:`api_root`.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from runtimes.adapters._config import ExternalApiConfig
from runtimes.adapters._openai import OpenAIChat, OpenAIEmbeddings
from runtimes.adapters._openai_more import (
    OpenAICompletions,
    OpenAIModeration,
    OpenAIRerank,
    OpenAISpeech,
    OpenAITranscription,
)
from runtimes.binding import RuntimeBinding
from runtimes.errors import RuntimeAdapterError, UpstreamError
from runtimes.protocols.provider import CredentialCheck, Reachability, ServedModel
from runtimes.upstream import UpstreamSecrets


def api_root(base_url: str) -> str:
    """The URL that the API's paths (``/chat/completions`` …) are appended to.

    Providers mount the API under their own prefix (``/v1``, ``/v1beta/openai``,
    ``/openai/v1``), so any path the base URL carries is the root, kept as it is; a bare
    host gets ``/v1``, where the OpenAI API and self-run servers put it.
    """
    base = base_url.rstrip("/")
    return base if urlsplit(base).path else base + "/v1"


class OpenAICompatibleAdapter(
    OpenAIChat,
    OpenAIEmbeddings,
    OpenAICompletions,
    OpenAIRerank,
    OpenAITranscription,
    OpenAISpeech,
    OpenAIModeration,
):
    kind: ClassVar[str] = "openai-compatible"
    accepts_api_key: ClassVar[bool] = True
    config_model = ExternalApiConfig

    def __init__(
        self, binding: RuntimeBinding, *, secrets: UpstreamSecrets | None = None, **options: Any
    ) -> None:
        # Without ``secrets`` only HUB_RUNTIME_SECRET_* variables can be read, no file.
        self.secrets = secrets if secrets is not None else UpstreamSecrets()
        super().__init__(binding, **options)

    def _url(self, path: str) -> str:
        # The shared protocol paths are spelled from the root of a server (/v1/...); here
        # the part after /v1 goes under the API root the base URL names.
        if not self._base_url:
            raise UpstreamError(f"openai-compatible {self.binding.model!r} has no base_url")
        return api_root(self._base_url) + (path[3:] if path.startswith("/v1/") else path)

    def api_key(self) -> str | None:
        """The key from ``api_key_env`` or ``api_key_file``; None when neither names a readable key."""
        return self.secrets.key(self.binding.api_key_env, self.binding.api_key_file)

    def _headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def check_reachable(self) -> Reachability:
        status = self._status("/v1/models")
        if status is None:
            return Reachability(False, f"{self._base_url}: unreachable")
        # 401/403 still prove the API is there; credentials are a separate question.
        return Reachability(status < 500, f"/v1/models answered {status}")

    def list_models(self) -> list[ServedModel]:
        payload = self._get_json("/v1/models")
        return [ServedModel(str(item["id"]), dict(item)) for item in payload.get("data", [])]

    def validate_credentials(self) -> CredentialCheck:
        if (self.binding.api_key_env or self.binding.api_key_file) and self.api_key() is None:
            where = self.binding.api_key_env or self.binding.api_key_file
            return CredentialCheck(False, f"no API key in {where}")
        status = self._status("/v1/models")
        if status in (401, 403):
            return CredentialCheck(False, f"the API refused the key ({status})")
        if status is None:
            return CredentialCheck(False, "the API is unreachable")
        return CredentialCheck(status == 200, f"/v1/models answered {status}")

    def model_available(self) -> bool:
        try:
            return any(m.name == self.binding.model for m in self.list_models())
        except RuntimeAdapterError:
            return False

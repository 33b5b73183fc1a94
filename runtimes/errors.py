"""One error taxonomy for everything that talks to a runtime (seed 003, extended).

Every error knows whether retrying may help (``retryable``), the HTTP status a caller
should answer with (``http_status``), a stable ``code`` for clients and logs, and, for
the retryable ones, a ``retry_after`` estimate in seconds. Map these to HTTP once, at
the edge, with ``as_openai_error()`` and ``response_headers()``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class RuntimeAdapterError(Exception):
    """Base class; catch this to handle any runtime failure."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init_subclass__(
        cls,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """A subclass declares what differs in its header: ``class X(Base, code=..., http_status=...)``;
        what it leaves out it inherits."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status
        if retryable is not None:
            cls.retryable = retryable

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def response_headers(self) -> dict[str, str]:
        """``Retry-After`` (whole seconds, at least 1) for retryable errors."""
        if not self.retryable:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after or 1)))}

    def as_openai_error(self) -> dict[str, Any]:
        """The error body OpenAI clients understand."""
        return {"error": {"message": self.message, "type": self.code, "code": self.code}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InternalError(RuntimeAdapterError):
    """A bug or an impossible state on our side."""


class ModelNotFound(RuntimeAdapterError):
    """The runtime does not know the model name."""

    code = "model_not_found"
    http_status = 404


class ModelLoading(RuntimeAdapterError, code="model_loading", http_status=503, retryable=True):
    """The model is starting or loading; try again after ``retry_after`` seconds."""


class RuntimeBusy(RuntimeAdapterError, code="concurrency_limit", http_status=429, retryable=True):
    """Every slot is in use (the runtime's own limit or the hub's concurrency policy)."""


class InvalidRequest(RuntimeAdapterError, code="invalid_request", http_status=400):
    """The runtime rejected the request body itself; sending it again will not help."""


class SpawnFailed(RuntimeAdapterError, code="spawn_failed", http_status=502, retryable=True):
    """The runtime process could not be started or died while starting.

    Starting again may work (a crash while loading, a port taken meanwhile), so this is
    retryable; the subclasses below name what no retry can fix.
    """


class LaunchRefused(SpawnFailed, code="launch_refused", retryable=False):
    """The command may not be launched at all (its executable is not on the allow-list)."""


class ExecutableNotFound(SpawnFailed, code="executable_not_found", retryable=False):
    """The command's executable does not exist on this host (or is not on ``PATH``), or cannot be run."""


class ModelFileNotFound(SpawnFailed, code="model_file_not_found", http_status=404, retryable=False):
    """The weights file a launch names is not on disk (checked before spawning)."""


class HealthCheckFailed(RuntimeAdapterError, code="health_check_failed", http_status=502):
    """The runtime did not become ready in time, or failed its health check."""


class UpstreamError(RuntimeAdapterError, code="upstream_error", http_status=502):
    """The runtime answered with an error we have no better name for, or not at all."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.upstream_status = upstream_status


class RuntimeTimeout(RuntimeAdapterError, code="upstream_timeout", http_status=504, retryable=True):
    """The runtime did not answer within the adapter's timeout."""

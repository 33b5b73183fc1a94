"""The ``runtime`` block each kind accepts, as pydantic models (JSON Schema for forms/API)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LaunchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(
        min_length=1,
        description="argv, never run by a shell; command[0] must be on HUB_LAUNCH_ALLOWED_EXECUTABLES",
    )
    env: dict[str, str] = Field(default_factory=dict)
    ready_timeout_s: float = Field(default=300.0, gt=0)


class ServerConfig(BaseModel):
    """A runtime server that already runs somewhere; the hub loads models on it."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    model: str = Field(description="the model's name on that runtime")
    base_url: str
    host: str | None = None


class LaunchableConfig(BaseModel):
    """A runtime the hub may start itself (``launch``) or reach where it runs (``base_url``)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    model: str = Field(description="the model's name on that runtime")
    base_url: str | None = None
    host: str | None = Field(default=None, description="where a launched process runs")
    launch: LaunchConfig | None = None


class ExternalApiConfig(BaseModel):
    """An OpenAI-compatible API; the key is read from the environment or a file, never stored."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    model: str
    base_url: str
    api_key_env: str | None = Field(default=None, description="a HUB_RUNTIME_SECRET_* variable")
    api_key_file: str | None = Field(default=None, description="a file under HUB_RUNTIME_SECRETS_DIR")

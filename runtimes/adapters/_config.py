"""The ``runtime`` block each kind accepts, as pydantic models (JSON Schema for forms/API)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LaunchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(
        min_length=1,
        description="argv, never run by a shell; command[0] must be on HUB_LAUNCH_ALLOWED_EXECUTABLES",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment variables of the process"
    )
    ready_timeout_s: float = Field(
        default=300.0, gt=0, description="seconds to wait for it to answer health checks"
    )


class RuntimeBlock(BaseModel):
    """What every ``runtime`` block has: its ``kind``, and no field its kind does not name."""

    model_config = ConfigDict(extra="forbid")

    kind: str


class ServerConfig(RuntimeBlock):
    """A runtime server that already runs somewhere; the hub loads models on it."""

    model: str = Field(description="the model's name on that runtime")
    base_url: str = Field(description="where the server answers, http(s)://host:port")
    host: str | None = Field(default=None, description="the worker host it belongs to (its Celery queue)")


class LaunchableConfig(RuntimeBlock):
    """A runtime the hub may start itself (``launch``) or reach where it runs (``base_url``)."""

    model: str = Field(description="the model's name on that runtime")
    base_url: str | None = Field(default=None, description="where it already runs; leave empty to launch it")
    host: str | None = Field(default=None, description="where a launched process runs")
    launch: LaunchConfig | None = None


class ExternalApiConfig(RuntimeBlock):
    """An OpenAI-compatible API; the key is read from the environment or a file, never stored."""

    model: str = Field(description="the model's name on that API")
    base_url: str = Field(description="the API's base URL, http(s)://host[:port][/path]")
    api_key_env: str | None = Field(default=None, description="a HUB_RUNTIME_SECRET_* variable")
    api_key_file: str | None = Field(default=None, description="a file under HUB_RUNTIME_SECRETS_DIR")

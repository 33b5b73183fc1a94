"""API schemas for lifecycle, usage and the gateway endpoints (``api/routers/lifecycle.py``, ``gateway.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.conf import settings
from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field

from models_admin.asset_ids import ASSET_ID_MAX, ASSET_ID_SCHEMA_PATTERN

INT32 = 2**31 - 1
Text = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 3.0 is a fine integer; "3" and true are not numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class StrictIn(Schema):
    """Request bodies: no type coercion ("1" is not a number), unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ResolveIn(StrictIn):
    interface: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    model: str = Field(min_length=1, max_length=ASSET_ID_MAX, pattern=ASSET_ID_SCHEMA_PATTERN)
    wait_s: float = Field(0, ge=0, le=600)


class ResolveOut(Schema):
    asset_id: str
    interface: str
    base_url: str
    runtime_kind: str
    model: str
    context_length: int | None
    max_concurrency: int | None
    just_started: bool


# The cap (``HUB_LEASE_MAX_TTL_S``) is read once, so the published schema states it.
LEASE_MAX_TTL_S = float(settings.HUB_LEASE_MAX_TTL_S)


class LeaseIn(StrictIn):
    asset_id: str = Field(min_length=1, max_length=ASSET_ID_MAX, pattern=ASSET_ID_SCHEMA_PATTERN)
    ttl_s: float = Field(min(60, LEASE_MAX_TTL_S), gt=0, le=LEASE_MAX_TTL_S)


class LeaseRenewIn(StrictIn):
    ttl_s: float = Field(min(60, LEASE_MAX_TTL_S), gt=0, le=LEASE_MAX_TTL_S)


class LeaseOut(Schema):
    lease_id: str
    asset_id: str
    expires_at: datetime


class UsageEventIn(StrictIn):
    asset_id: str = Field(min_length=1, max_length=ASSET_ID_MAX, pattern=ASSET_ID_SCHEMA_PATTERN)
    interface: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    started_at: float = Field(ge=0, le=1e11)
    duration_ms: float = Field(ge=0, le=1e9)
    status: WholeNumber = Field(ge=100, le=599)
    prompt_tokens: WholeNumber = Field(0, ge=0, le=INT32)
    completion_tokens: WholeNumber = Field(0, ge=0, le=INT32)
    input_count: WholeNumber = Field(0, ge=0, le=INT32)
    generation_ms: float | None = Field(None, ge=0, le=1e9)


class UsageIn(StrictIn):
    events: list[UsageEventIn] = Field(min_length=1, max_length=1000)


class AcceptedOut(Schema):
    accepted: int


class RuntimeStateOut(Schema):
    asset_id: str
    state: str
    reason: str
    base_url: str
    health: str
    health_detail: str
    last_error: str
    started_at: datetime | None
    ready_at: datetime | None
    last_request_at: datetime | None
    active_sessions: int


class LifecycleEventOut(Schema):
    at: datetime
    from_state: str
    to_state: str
    reason: str
    actor: str
    source: str
    load_duration_ms: int | None
    detail: str


class ErrorBody(Schema):
    code: str
    message: str
    retryable: bool
    field: str | None = None


class ErrorOut(Schema):
    """Every error, everywhere: ``{"error": {"code", "message", "retryable", "field"?}}``."""

    error: ErrorBody


def with_errors(schema: Any, status: int = 200) -> dict[Any, Any]:
    """``response=`` for an operation: its success schema plus the documented error shape."""
    return {status: schema, ERROR_STATUSES: ErrorOut}


ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503, 504})

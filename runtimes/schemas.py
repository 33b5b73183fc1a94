"""API schemas for lifecycle, usage and the gateway endpoints (``runtimes/api.py``)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

INT32 = 2**31 - 1
Text = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")


class ResolveIn(Schema):
    interface: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    model: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
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


class LeaseIn(Schema):
    asset_id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    ttl_s: float = Field(60, gt=0, le=3600)


class LeaseRenewIn(Schema):
    ttl_s: float = Field(60, gt=0, le=3600)


class LeaseOut(Schema):
    lease_id: str
    asset_id: str
    expires_at: datetime


class UsageEventIn(Schema):
    asset_id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    interface: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    started_at: float = Field(ge=0, le=1e11)
    duration_ms: float = Field(ge=0, le=1e9)
    status: int = Field(ge=100, le=599)
    prompt_tokens: int = Field(0, ge=0, le=INT32)
    completion_tokens: int = Field(0, ge=0, le=INT32)
    input_count: int = Field(0, ge=0, le=INT32)
    generation_ms: float | None = Field(None, ge=0, le=1e9)


class UsageIn(Schema):
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


class UsageStatsOut(Schema):
    asset_id: str
    since: datetime
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    inputs: int
    latency_avg_ms: float | None
    latency_max_ms: float | None

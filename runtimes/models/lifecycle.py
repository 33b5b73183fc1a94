"""Observed runtime state per asset, and one event row per lifecycle transition.

State diagram (``TRANSITIONS`` is the single source of truth)::

    stopped ──wake──▶ starting ──ready──▶ running ──sleep──▶ stopping ──▶ sleeping
       ▲                │  ▲ (retry with backoff)   │                      │
       │                ▼  │                        │ crash                │ wake
       └── stopping ◀── failed ──operator retry──▶ starting ◀──────────────┘

A transition is a compare-and-set ``UPDATE … WHERE state = old AND generation = g``
that bumps ``generation``; losing a race or asking for an illegal move raises
``InvalidTransition`` and changes nothing. Only ``runtimes.lifecycle`` writes here.
"""

from __future__ import annotations

from django.db import models

from models_admin.models import Asset


class ObservedState(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    SLEEPING = "sleeping", "Sleeping"
    STOPPING = "stopping", "Stopping"
    FAILED = "failed", "Failed"
    UNREACHABLE = "unreachable", "Unreachable"  # its host stopped heartbeating


class Health(models.TextChoices):
    UNKNOWN = "", "Unknown"
    OK = "ok", "OK"
    BUSY = "busy", "Busy"  # serving, every slot taken: not a failure
    DOWN = "down", "Down"


S = ObservedState

TRANSITIONS: dict[str, frozenset[str]] = {
    # stopped → running: an external runtime (no lifecycle) was found answering.
    S.STOPPED: frozenset({S.STARTING, S.RUNNING}),
    S.SLEEPING: frozenset({S.STARTING, S.STOPPING}),
    # starting → starting is a retry after a failed attempt (backoff), recorded as an event.
    S.STARTING: frozenset({S.STARTING, S.RUNNING, S.FAILED, S.STOPPING, S.UNREACHABLE}),
    # running → starting is a restart (crash, or an operator's restart).
    # running → stopped: an external runtime stopped answering, or an on-demand one crashed;
    # running → failed: it crashed once too often.
    S.RUNNING: frozenset({S.STARTING, S.STOPPING, S.STOPPED, S.FAILED, S.UNREACHABLE}),
    S.STOPPING: frozenset({S.STOPPED, S.SLEEPING, S.FAILED, S.UNREACHABLE}),
    S.FAILED: frozenset({S.STARTING, S.STOPPING, S.STOPPED}),
    # unreachable → starting: re-placed on another host (or woken elsewhere); → stopping: its
    # host is back and stops what it left before the reconcile goes on; → stopped: not runnable.
    S.UNREACHABLE: frozenset({S.STARTING, S.STOPPING, S.STOPPED}),
}
"""Allowed ``from → to`` moves; anything else is ``InvalidTransition``."""

ACTIVE_STATES = frozenset({S.STARTING, S.RUNNING, S.STOPPING})
"""States in which a runtime process may exist (what reconcile must watch)."""


def is_allowed(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


class RuntimeState(models.Model):
    """What the hub observes of one asset's runtime. One row per asset, created lazily."""

    asset = models.OneToOneField(Asset, on_delete=models.CASCADE, related_name="runtime_state")
    state = models.CharField(max_length=16, choices=ObservedState.choices, default=ObservedState.STOPPED)
    generation = models.PositiveBigIntegerField(
        default=0, help_text="Bumped by every transition; the compare-and-set token."
    )
    reason = models.CharField(max_length=300, blank=True, default="", help_text="Why the last transition.")
    base_url = models.CharField(max_length=500, blank=True, default="")
    host = models.CharField(
        max_length=200, blank=True, default="", help_text="Where a launched process runs."
    )
    process = models.JSONField(
        null=True, blank=True, help_text="The launcher's process handle (pid, start_time, port, …)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_request_at = models.DateTimeField(null=True, blank=True, help_text="End of the last request.")
    health = models.CharField(max_length=8, choices=Health.choices, blank=True, default=Health.UNKNOWN)
    health_detail = models.CharField(max_length=500, blank=True, default="")
    health_checked_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    reserved_vram_gb = models.FloatField(
        default=0, help_text="Declared VRAM use on its host, set at placement."
    )
    reserved_ram_gb = models.FloatField(
        default=0, help_text="Declared RAM use on its host, set at placement."
    )
    measured_vram_mb = models.PositiveBigIntegerField(null=True, blank=True, help_text="NVML, per process.")
    measured_ram_mb = models.PositiveBigIntegerField(null=True, blank=True, help_text="RSS of its process.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The one-to-one already implies it; named so the rule "one active runtime
            # per asset" is visible in the schema and in IntegrityErrors.
            models.UniqueConstraint(fields=["asset"], name="runtime_state_one_per_asset"),
            models.CheckConstraint(
                condition=models.Q(state__in=ObservedState.values), name="runtime_state_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}: {self.state}"

    @property
    def observed_health(self) -> str:
        """Health as the state allows it: "ok"/"busy" only while ``running``, ``failed`` is "down".

        What the UI and the API show, so a health probe from before a crash or a sleep is never
        shown beside a state that contradicts it.
        """
        if self.state == ObservedState.FAILED:
            return Health.DOWN
        if self.state != ObservedState.RUNNING and self.health in (Health.OK, Health.BUSY):
            return Health.UNKNOWN
        return str(self.health)

    @property
    def is_final(self) -> bool:
        """Nothing will change without an operator or a request (UI polling may stop)."""
        return self.state in (S.STOPPED, S.SLEEPING, S.FAILED, S.RUNNING)


class LifecycleEvent(models.Model):
    """One row per transition (and per failed start attempt): who, why, how long."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="lifecycle_events")
    at = models.DateTimeField(db_index=True)
    from_state = models.CharField(max_length=16, choices=ObservedState.choices)
    to_state = models.CharField(max_length=16, choices=ObservedState.choices)
    reason = models.CharField(max_length=300, blank=True, default="")
    actor_label = models.CharField(max_length=200, default="system")
    actor_user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, default="system")
    generation = models.PositiveBigIntegerField(default=0)
    load_duration_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="starting → running: how long the runtime took to become ready."
    )
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["asset", "-at"], name="lifecycle_event_asset_at")]

    def __str__(self) -> str:
        return f"{self.asset_id}: {self.from_state} → {self.to_state} ({self.reason})"

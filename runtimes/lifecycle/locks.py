"""Per-asset PostgreSQL advisory locks: one worker at a time starts, stops or probes an asset.

A *session* lock is used, not a transaction one: a start takes minutes and spans
several short transactions (so that ``starting`` is visible to everyone), and the lock
must last exactly as long as the worker doing it — if the worker dies, PostgreSQL
drops its connection and the lock with it, and the next reconcile takes over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection

_LOCK_CLASS = 0x4C494645  # "LIFE": the advisory-lock namespace of the lifecycle


@contextlib.contextmanager
def asset_lock(asset_pk: int) -> Iterator[bool]:
    """Try to take the asset's lock without waiting; yields whether we hold it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, asset_pk])
        row = cursor.fetchone()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, asset_pk])

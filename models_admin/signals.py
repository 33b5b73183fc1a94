"""Catalog events that lower layers announce and the lifecycle listens to (wired in
``runtimes/apps.py``), so the catalog never imports the lifecycle."""

from __future__ import annotations

from django.dispatch import Signal

asset_retired = Signal()
"""Sent inside the retiring transaction with ``asset_id``; the lifecycle stops its runtime on commit."""

"""A large catalog in a few bulk inserts, for the query-count test and bench/ui.py."""

from __future__ import annotations

from collections.abc import Sequence


def seed_catalog(
    count: int,
    *,
    prefix: str = "a",
    states: Sequence[str] = ("sleeping", "running"),
    unapproved_every: int = 0,
) -> None:
    """``count`` assets, half LLMs and half embedding models.

    Every third gets a runtime state (cycling through ``states``); with
    ``unapproved_every=N``, every N-th has no live revision.
    """
    from models_admin.models import Asset
    from models_admin.validation import validate_asset_document
    from runtimes.models import RuntimeState

    assets = []
    for i in range(count):
        if i % 2:
            raw = {"interface": "embedding-runtime", "metadata": {"embedding_dim": 768, "precision": "fp16"}}
        else:
            raw = {"interface": "llm-runtime", "metadata": {"context_length": 32768}}
        doc = validate_asset_document(
            {"asset_id": f"{prefix}{i:05d}", "display_name": f"Model {i}", "version": "1.0.0", **raw}
        )
        unapproved = unapproved_every and i % unapproved_every == 0
        assets.append(
            Asset(
                asset_id=doc["asset_id"],
                display_name=doc["display_name"],
                version=doc["version"],
                interfaces=[doc["interface"]],
                spec=doc,
                live_spec=None if unapproved else doc,
            )
        )
    created = Asset.objects.bulk_create(assets, batch_size=2000)
    RuntimeState.objects.bulk_create(
        (RuntimeState(asset=a, state=states[n % len(states)]) for n, a in enumerate(created) if n % 3 == 0),
        batch_size=2000,
    )

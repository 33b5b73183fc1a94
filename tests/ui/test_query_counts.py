"""The models page costs the same number of queries whatever the catalog's size."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_admin.models import Asset
from models_admin.validation import validate_asset_document
from runtimes.models import RuntimeState

MAX_QUERIES = 12


def seed(count: int) -> None:
    """``count`` assets, half LLMs and half embedding models, every third with a runtime state."""
    assets = []
    for i in range(count):
        if i % 2:
            raw = {"interface": "embedding-runtime", "metadata": {"embedding_dim": 384, "precision": "fp16"}}
        else:
            raw = {"interface": "llm-runtime", "metadata": {"context_length": 8192}}
        doc = validate_asset_document(
            {"asset_id": f"a{i:05d}", "display_name": f"A {i}", "version": "1", **raw}
        )
        assets.append(
            Asset(
                asset_id=doc["asset_id"],
                display_name=doc["display_name"],
                version=doc["version"],
                interfaces=[doc["interface"]],
                spec=doc,
                live_spec=doc if i % 5 else None,
            )
        )
    created = Asset.objects.bulk_create(assets)
    RuntimeState.objects.bulk_create(
        RuntimeState(asset=a, state="running" if n % 2 else "sleeping")
        for n, a in enumerate(created)
        if n % 3 == 0
    )


def queries_for(client: Any, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/", "/?sort=-state&approval=live", "/?q=a0&llm-runtime-page=2"])
def test_it_makes_the_same_number_of_queries_for_10_and_2000_assets(
    url: str, make_user: Any, client_for: Any, redis_client: Any
) -> None:
    user = make_user()
    user.groups.add(Group.objects.get(name="operator"))
    client = client_for(user)
    seed(10)
    small = queries_for(client, url)
    small_partial = queries_for(client, url, HX_Request="true")
    Asset.objects.all().delete()
    seed(2000)
    large = queries_for(client, url)
    large_partial = queries_for(client, url, HX_Request="true")
    assert small == large
    assert small_partial == large_partial
    assert large <= MAX_QUERIES

"""The models page costs the same number of queries whatever the catalog's size."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_admin.models import Asset
from tests.ui.seeding import seed_catalog

MAX_QUERIES = 12


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
    seed_catalog(10, unapproved_every=5)
    small = queries_for(client, url)
    small_partial = queries_for(client, url, HX_Request="true")
    Asset.objects.all().delete()
    seed_catalog(2000, unapproved_every=5)
    large = queries_for(client, url)
    large_partial = queries_for(client, url, HX_Request="true")
    assert small == large
    assert small_partial == large_partial
    assert large <= MAX_QUERIES


def test_the_approvals_queue_costs_the_same_queries_for_2_and_20_revisions(db: Any, client_for: Any) -> None:
    from tests.governance.factories import submitted_revision, user_with_role

    approver = user_with_role("approver")
    client = client_for(approver)
    for _ in range(2):
        submitted_revision()
    few = queries_for(client, "/approvals/")
    for _ in range(18):
        submitted_revision()
    many = queries_for(client, "/approvals/")
    assert many == few

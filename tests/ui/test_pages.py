"""Hub-UI pages through Django's test client: rendering, permissions, forms, partials."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from actions.assets import do_import_assets
from models_admin import governance
from models_admin.audit import Actor
from models_admin.models import ApiToken, Asset
from models_admin.yaml_io import SourceDocument

LLM = {
    "asset_id": "qwen2-7b",
    "display_name": "Qwen2 7B",
    "version": "1.0.0",
    "interface": "llm-runtime",
    "metadata": {"context_length": 32768},
    "policy": {"max_concurrency": 2},
    "runtime": {"kind": "ollama", "model": "qwen2:7b", "base_url": "http://127.0.0.1:11434"},
}
EMBED = {
    "asset_id": "nomic-embed",
    "display_name": "Nomic Embed",
    "version": "1.0.0",
    "interface": "embedding-runtime",
    "metadata": {"embedding_dim": 768, "precision": "fp16"},
}
EMBED_YAML = "display_name: Nomic Embed\ninterface: embedding-runtime\nmetadata: {embedding_dim: 1024}\n"


@pytest.fixture
def role_user(make_user: Any) -> Any:
    def make(role: str, name: str | None = None) -> Any:
        user = make_user(name)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def assets(db: Any) -> list[Asset]:
    docs = [SourceDocument("test", i, doc) for i, doc in enumerate((LLM, EMBED), start=1)]
    do_import_assets(docs, actor=Actor.system(), approved=True)
    return list(Asset.objects.all())


def test_it_redirects_anonymous_people_to_log_in(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_shows_each_group_with_its_own_columns(assets: Any, role_user: Any, client_for: Any) -> None:
    html = client_for(role_user("viewer")).get("/").content.decode()
    llm, embed = html.split('id="group-llm-runtime"')[1].split('id="group-embedding-runtime"')
    assert "Context" in llm
    assert "Tokens/s" in llm
    assert "Last used" in llm
    assert "32,768" in llm
    assert "Dimension" not in llm
    assert "Dimension" in embed
    assert "Precision" in embed
    assert "QPS" in embed
    assert "Index throughput" in embed
    assert "768" in embed
    assert "fp16" in embed
    assert "Tokens/s" not in embed


def test_it_shows_requests_waiting_in_the_gateways_queue(
    assets: Any, role_user: Any, client_for: Any, redis_client: Any
) -> None:
    import time

    from runtimes.leases import queue_keys

    _, queue, alive, stats, _ = queue_keys("qwen2-7b")
    for ticket in ("t1", "t2", "t3"):  # as the gateway's queue script records waiting requests
        redis_client.zadd(queue, {ticket: 1})
        redis_client.zadd(alive, {ticket: int(time.time() * 1000) + 60_000})
    redis_client.hset(stats, "wait_ms", 2400)
    html = client_for(role_user("viewer")).get("/").content.decode()
    llm = html.split('id="group-llm-runtime"')[1].split('id="group-embedding-runtime"')[0]
    assert "0 / 2 (+3 waiting, ~2.4 s)" in llm


def test_it_offers_lifecycle_buttons_to_operators_only(assets: Any, role_user: Any, client_for: Any) -> None:
    assert ">Wake<" not in client_for(role_user("viewer")).get("/").content.decode()
    assert ">Wake<" in client_for(role_user("operator")).get("/").content.decode()


def test_it_returns_only_the_table_partial_to_htmx(assets: Any, role_user: Any, client_for: Any) -> None:
    response = client_for(role_user("viewer")).get("/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="models-table"')
    assert "<html" not in html


def test_it_filters_by_search(assets: Any, role_user: Any, client_for: Any) -> None:
    html = client_for(role_user("viewer")).get("/?q=nomic").content.decode()
    assert "nomic-embed" in html
    assert "qwen2-7b" not in html


def test_it_renders_the_asset_page(assets: Any, role_user: Any, client_for: Any) -> None:
    html = client_for(role_user("viewer")).get("/models/qwen2-7b/").content.decode()
    assert "Live revision" in html
    assert "context_length: 32768" in html
    assert "Lifecycle timeline" in html
    assert "Audit trail" in html


def test_it_shows_the_field_error_of_an_invalid_form(role_user: Any, client_for: Any, db: Any) -> None:
    document = "asset_id: bad\ndisplay_name: Bad\nversion: '1'\n"
    document += "interface: embedding-runtime\nmetadata: {precision: fp64}\n"
    response = client_for(role_user("editor")).post("/models/new/", {"editor": "yaml", "document": document})
    html = response.content.decode()
    assert response.status_code == 200
    assert "metadata.embedding_dim: required" in html
    assert not Asset.objects.filter(asset_id="bad").exists()


def test_it_submits_an_edit_and_only_another_approver_may_approve(
    assets: Any, role_user: Any, client_for: Any
) -> None:
    author = client_for(role_user("approver", "alice"))
    doc = "asset_id: qwen2-7b\ndisplay_name: Qwen2 7B\nversion: 1.1.0\n"
    doc += "interface: llm-runtime\nmetadata: {context_length: 65536}\n"
    response = author.post("/models/qwen2-7b/edit/", {"editor": "yaml", "document": doc, "submit": "1"})
    assert response.status_code == 302, response.content.decode()
    queue = author.get("/approvals/").content.decode()
    assert "qwen2-7b" in queue
    assert ">Approve<" not in queue
    assert "Four eyes" in queue
    other = client_for(role_user("approver", "bob"))
    page = other.get("/approvals/").content.decode()
    assert ">Approve<" in page
    revision = governance.open_revision(Asset.objects.get(asset_id="qwen2-7b"))
    assert revision is not None
    assert f'name="digest" value="{revision.digest}"' in page  # the form names what the page shows
    other.post(f"/approvals/{revision.pk}/approve/", {"digest": revision.digest})
    live = Asset.objects.get(asset_id="qwen2-7b").live_spec
    assert live is not None
    assert live["metadata"]["context_length"] == 65536


def test_it_confirms_a_lifecycle_action_without_javascript(
    assets: Any, role_user: Any, client_for: Any
) -> None:
    operator = client_for(role_user("operator"))
    page = operator.get("/models/nomic-embed/wake/?next=/").content.decode()
    assert "Yes, wake nomic-embed" in page
    response = operator.post("/models/nomic-embed/wake/", {"next": "/"}, follow=True)
    # nomic-embed has no runtime block: the lifecycle refuses, and the person is told why.
    assert "Error:" in response.content.decode()
    assert client_for(role_user("viewer")).get("/models/nomic-embed/wake/").status_code == 403


def test_it_shows_a_new_token_secret_once_and_revokes_it(role_user: Any, client_for: Any) -> None:
    client = client_for(role_user("viewer"))
    created = client.post("/tokens/", {"label": "ci", "scopes": ["read"]}).content.decode()
    assert "copy it now" in created
    assert 'value="hub_' in created
    listing = client.get("/tokens/").content.decode()
    assert "copy it now" not in listing
    assert "Active" in listing
    token = ApiToken.objects.get(name="ci")
    client.post(f"/tokens/{token.pk}/revoke/")
    assert "Revoked" in client.get("/tokens/").content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_it_imports_only_after_the_dry_run(role_user: Any, client_for: Any, db: Any) -> None:
    client = client_for(role_user("editor"))
    text = "asset_id: e5\ndisplay_name: E5\nversion: '1'\ninterface: embedding-runtime\nmetadata: {embedding_dim: 1024}\n"
    plan = client.post("/import/", {"text": text}).content.decode()
    assert 'data-plan-asset="e5"' in plan
    assert not Asset.objects.filter(asset_id="e5").exists()
    client.post("/import/", {"yaml": text, "confirm": "1"})
    assert Asset.objects.filter(asset_id="e5").exists()


def test_it_lists_import_problems_by_field(role_user: Any, client_for: Any, db: Any) -> None:
    client = client_for(role_user("editor"))
    html = client.post("/import/", {"text": "asset_id: x\ninterface: nope\n"}).content.decode()
    assert "Nothing was imported" in html
    assert "interface: unknown interface" in html


def test_it_renders_activity_and_audit(assets: Any, role_user: Any, client_for: Any) -> None:
    client = client_for(role_user("viewer"))
    assert "No lifecycle events yet" in client.get("/activity/").content.decode()
    audit = client.get("/audit/?q=qwen2-7b").content.decode()
    assert "revision.approve" in audit
    assert "nomic-embed" not in audit


def test_it_rejects_only_with_a_comment(assets: Any, role_user: Any, client_for: Any) -> None:
    editor = client_for(role_user("editor"))
    editor.post(
        "/models/nomic-embed/edit/",
        {"editor": "yaml", "document": "asset_id: nomic-embed\nversion: 2.0.0\n" + EMBED_YAML, "submit": "1"},
    )
    revision = governance.open_revision(Asset.objects.get(asset_id="nomic-embed"))
    assert revision is not None
    approver = client_for(role_user("approver"))
    approver.post(f"/approvals/{revision.pk}/reject/", {"comment": ""})
    revision.refresh_from_db()
    assert revision.status == "submitted"
    approver.post(f"/approvals/{revision.pk}/reject/", {"comment": "dimension looks wrong"})
    revision.refresh_from_db()
    assert revision.status == "rejected"


def test_it_refuses_to_create_over_an_existing_asset(assets: Any, role_user: Any, client_for: Any) -> None:
    data = {"editor": "form", "asset_id": "qwen2-7b", "display_name": "X", "version": "9"}
    html = (
        client_for(role_user("editor"))
        .post("/models/new/", {**data, "interface": "llm-runtime"})
        .content.decode()
    )
    assert "qwen2-7b already exists" in html

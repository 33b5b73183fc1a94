"""Hub-UI in a real browser (Debian's chromium through Playwright) against a live server."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from actions.assets import do_import_assets
from models_admin.audit import Actor
from models_admin.models import Asset
from models_admin.roles import ensure_role_groups
from models_admin.yaml_io import SourceDocument
from runtimes import leases
from runtimes.metrics.rollup import aggregate_usage
from runtimes.models import RuntimeState
from runtimes.usage import UsageEvent, publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LLM = {
    "asset_id": "qwen2-7b",
    "display_name": "Qwen2 7B Instruct",
    "version": "1.2.0",
    "interface": "llm-runtime",
    "lifecycle": {"desired": "on-demand", "auto_sleep_min": 15},
    "policy": {"max_concurrency": 2},
    "metadata": {"context_length": 32768},
    "runtime": {"kind": "ollama", "model": "qwen2:7b", "base_url": "http://127.0.0.1:11434"},
}
EMBED = {
    "asset_id": "nomic-embed-text",
    "display_name": "Nomic Embed Text",
    "version": "1.0.0",
    "interface": "embedding-runtime",
    "metadata": {"embedding_dim": 768, "precision": "fp16"},
    "policy": {"max_concurrency": 10},
}


def seed(*docs: dict[str, Any]) -> None:
    sources = [SourceDocument("test", i, doc) for i, doc in enumerate(docs, start=1)]
    do_import_assets(sources, actor=Actor.system(), approved=True)


def with_role(user: Any, role: str) -> Any:
    """Give ``user`` a role (transactional tests flush the role groups the migration made)."""
    user.groups.add(ensure_role_groups()[role])
    return user


def record_traffic(redis: Any) -> None:
    """An hour of usage (rolled up per minute) and a busy last minute (live rates), as the gateway
    reports it; and one open lease on the LLM."""
    rng = random.Random(7)
    now = time.time()
    events = []
    for minute in range(60, 0, -1):
        for _ in range(rng.randint(3, 12)):
            at = now - minute * 60 + rng.uniform(0, 59)
            events.append(
                UsageEvent(
                    "qwen2-7b", "llm-runtime", at, rng.uniform(300, 1800), 200, 400, rng.randint(80, 400)
                )
            )
            events.append(
                UsageEvent(
                    "nomic-embed-text", "embedding-runtime", at, rng.uniform(8, 60), 200, input_count=32
                )
            )
    for _ in range(40):
        at = now - rng.uniform(0, 50)
        events.append(UsageEvent("qwen2-7b", "llm-runtime", at, rng.uniform(300, 900), 200, 300, 250))
        events.append(UsageEvent("nomic-embed-text", "embedding-runtime", at, 20, 200, input_count=64))
    publish(redis, events)
    aggregate_usage(redis)
    leases.acquire("qwen2-7b", 2, 300)


def test_it_logs_in_and_out(page: Any, make_user: Any, login: Any) -> None:
    user = with_role(make_user("vera"), "viewer")
    page.goto("/")
    assert "/login/" in page.url
    login(page, user)
    assert page.get_by_text("Signed in as").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")


def test_it_shows_both_groups_with_their_own_columns(
    page: Any, make_user: Any, login: Any, screenshot: Any, redis_client: Any
) -> None:
    seed(LLM, EMBED)
    record_traffic(redis_client)
    now = timezone.now()
    for asset in Asset.objects.all():
        RuntimeState.objects.create(asset=asset, state="running", ready_at=now, last_request_at=now)
    login(page, with_role(make_user("olga"), "operator"))

    llm = page.locator('section[data-group="llm-runtime"]')
    embed = page.locator('section[data-group="embedding-runtime"]')
    assert llm.locator("h2").inner_text().startswith("Language Models")
    assert embed.locator("h2").inner_text().startswith("Embedding Models")
    llm_headers = llm.locator("thead th").all_inner_texts()
    embed_headers = embed.locator("thead th").all_inner_texts()
    for label in ("CONTEXT", "TOKENS/S", "ACTIVE SESSIONS", "LAST USED", "APPROVAL"):
        assert any(label in h.upper() for h in llm_headers), (label, llm_headers)
    for label in ("DIMENSION", "PRECISION", "QPS", "INDEX THROUGHPUT", "ACTIVE SESSIONS", "APPROVAL"):
        assert any(label in h.upper() for h in embed_headers), (label, embed_headers)
    assert not any("DIMENSION" in h.upper() for h in llm_headers)
    assert not any("TOKENS/S" in h.upper() for h in embed_headers)
    llm_row = llm.locator('tr[data-asset="qwen2-7b"]').inner_text()
    assert "32,768" in llm_row
    assert "1 / 2" in llm_row  # one live lease of max_concurrency 2
    assert "768" in embed.locator('tr[data-asset="nomic-embed-text"]').inner_text()
    screenshot(page, "models")

    page.get_by_role("link", name="Qwen2 7B Instruct").click()
    page.wait_for_url("**/models/qwen2-7b/")
    assert page.locator("svg.chart").count() == 2
    assert "context_length: 32768" in page.locator("pre.yaml").inner_text()
    screenshot(page, "asset")


def test_it_wakes_an_asset_and_the_badge_changes_without_a_reload(
    page: Any,
    make_user: Any,
    login: Any,
    make_asset: Any,
    workers: Any,
) -> None:
    make_asset("ui-wake", load_time=0.5)
    workers.start()
    login(page, with_role(make_user("otto"), "operator"))
    badge = page.locator('tr[data-asset="ui-wake"] [data-state-badge]')
    assert badge.inner_text() == "Unknown"  # the lifecycle has not seen it yet
    page.evaluate("window.__sameDocument = true")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Wake ui-wake").click()

    from playwright.sync_api import expect

    expect(badge).to_have_text("Running", timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, no navigation


def test_it_offers_no_lifecycle_buttons_to_viewers(page: Any, make_user: Any, login: Any) -> None:
    seed(LLM)
    login(page, with_role(make_user("vic"), "viewer"))
    assert page.locator('tr[data-asset="qwen2-7b"]').count() == 1
    assert page.get_by_role("button", name="Wake Qwen2 7B Instruct").count() == 0


def test_it_takes_an_edit_from_one_user_and_the_approval_from_another(
    page: Any, make_user: Any, login: Any
) -> None:
    seed(LLM)
    alice = with_role(make_user("alice"), "approver")
    bob = with_role(make_user("bob"), "approver")
    login(page, alice)
    page.goto("/models/qwen2-7b/edit/")
    page.get_by_label("Version").fill("1.3.0")
    page.get_by_role("button", name="Save and submit for approval").click()
    page.wait_for_url("**/models/qwen2-7b/")
    assert "submitted for approval" in page.locator("#messages").inner_text()

    page.get_by_role("link", name="Approvals", exact=True).click()
    card = page.locator('section[data-revision="qwen2-7b#2"]')
    assert "version" in card.locator("table.diff").inner_text()
    assert card.get_by_role("button", name="Approve revision 2 of qwen2-7b").count() == 0
    assert "Four eyes" in card.locator(".notice").inner_text()

    page.get_by_role("button", name="Log out").click()
    login(page, bob)
    page.goto("/approvals/")
    page.get_by_role("button", name="Approve revision 2 of qwen2-7b").click()
    assert "Approved revision 2" in page.locator("#messages").inner_text()
    live = Asset.objects.get(asset_id="qwen2-7b").live_spec
    assert live is not None
    assert live["version"] == "1.3.0"


def test_it_imports_a_yaml_file_through_the_dry_run(
    page: Any, make_user: Any, login: Any, tmp_path: Path
) -> None:
    login(page, with_role(make_user("erin"), "editor"))
    upload = tmp_path / "catalog.yaml"
    upload.write_text(
        "asset_id: bge-small\ndisplay_name: BGE small\nversion: '1.5'\ninterface: embedding-runtime\n"
        "metadata: {embedding_dim: 384}\n---\n"
        "asset_id: phi-3\ndisplay_name: Phi 3 mini\nversion: '3.0'\ninterface: llm-runtime\n"
    )
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("YAML file").set_input_files(str(upload))
    page.get_by_role("button", name="Check (dry run)").click()

    plan = page.locator("table.plan")
    assert plan.locator('tr[data-plan-asset="bge-small"]').inner_text().count("create") == 1
    assert plan.locator('tr[data-plan-asset="phi-3"]').count() == 1
    assert not Asset.objects.filter(asset_id__in=["bge-small", "phi-3"]).exists()  # a dry run writes nothing

    page.get_by_role("button", name="Import 2 documents").click()
    page.wait_for_url("**/")
    assert "Imported" in page.locator("#messages").inner_text()
    assert set(Asset.objects.values_list("asset_id", flat=True)) == {"bge-small", "phi-3"}


def test_it_shows_the_field_error_of_an_invalid_form(
    page: Any, make_user: Any, login: Any, screenshot: Any
) -> None:
    login(page, with_role(make_user("eddie"), "editor"))
    page.goto("/models/new/")
    page.get_by_label("Asset id").fill("Not A Slug")
    page.get_by_label("Display name").fill("Broken")
    # Changing the interface redraws its metadata fields in place (htmx), keeping what was typed;
    # each change waits for its redraw to settle (htmx wires the new pickers then), as a person would.
    settled = "#asset-structured:not(.htmx-added)"
    page.get_by_label("llm-runtime —").uncheck()
    page.locator('[data-section="metadata-llm-runtime"]').wait_for(state="detached")
    page.locator(settled).wait_for()
    page.get_by_label("embedding-runtime —").check()
    page.locator('[data-section="metadata-embedding-runtime"]').wait_for()
    page.locator(settled).wait_for()
    page.get_by_label("Runtime kind").select_option("tei")
    page.get_by_label("Model (required)").wait_for()
    page.get_by_label("Embedding dim").fill("0")
    assert page.get_by_label("Display name").input_value() == "Broken"
    assert page.get_by_label("Context length").count() == 0
    page.get_by_label("Model (required)").fill("bge")
    assert page.get_by_label("Launch command").count() == 0  # editors do not set launches
    page.get_by_role("button", name="Save draft").click()
    assert "must be a slug" in page.locator('[data-field="asset_id"] .errorlist').inner_text()

    page.get_by_label("Asset id").fill("bge-small")
    page.get_by_role("button", name="Save draft").click()
    assert "must be ≥ 1" in page.locator('[data-field="metadata__embedding_dim"] .errorlist').inner_text()
    assert page.locator("#form-errors").is_visible()
    screenshot(page, "asset-form")
    assert not Asset.objects.exists()

    page.get_by_role("button", name="YAML").click()
    assert "embedding_dim: 0" in page.get_by_label("Asset document (YAML)").input_value()

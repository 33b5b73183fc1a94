"""Diff tables in a real browser: long values wrap at word boundaries, not letter by letter."""

from __future__ import annotations

from typing import Any

import pytest

from actions.revisions import do_create_draft, do_submit_revision
from models_admin.audit import Actor
from models_admin.models import Asset
from tests.ui.test_browser import LLM, seed, with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_PATH = "/models/some/very/long/path/to/qwen2-7b-instruct-q4_k_m-000001-of-000004.gguf"


def lines_of(page: Any, selector: str) -> int:
    """How many lines the text of the first element matching ``selector`` is laid out in."""
    script = "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; }"
    return int(page.locator(selector).first.evaluate(script))


@pytest.mark.parametrize("width", [1360, 760])
def test_diff_cells_keep_short_values_and_paths_on_one_line(
    page: Any, make_user: Any, login: Any, screenshot: Any, width: int
) -> None:
    seed(LLM)
    admin = with_role(make_user("ada"), "admin")
    doc = dict(Asset.objects.get(asset_id="qwen2-7b").spec)
    doc["description"] = "A long description that goes on and on. " * 6
    doc["runtime"] = {
        "kind": "llama-cpp",
        "model": "qwen2-7b",
        "launch": {"command": ["llama-server", "-m", LONG_PATH, "--ctx-size", "32768"]},
    }
    revision, _ = do_create_draft(doc, actor=Actor(user=admin, source="ui"))
    do_submit_revision(revision, actor=Actor(user=admin, source="ui"))
    page.set_viewport_size({"width": width, "height": 900})
    login(page, with_role(make_user("bob"), "approver"))
    page.goto("/approvals/")
    screenshot(page, f"approvals-diff-{width}")

    # The live base_url (22 characters) was squeezed to a few letters a line before.
    assert lines_of(page, "table.diff td.old del") == 1
    assert page.locator("table.diff td.old").first.bounding_box()["width"] > 150
    # A long value wraps, in lines of many characters; on a wide screen a path stays whole.
    command = 'table.diff tr:has-text("runtime.launch.command") td.new ins'
    assert len(page.locator(command).inner_text()) / lines_of(page, command) >= 12
    if width >= 1280:
        assert lines_of(page, 'table.diff th:has-text("runtime.launch.ready_timeout_s")') == 1

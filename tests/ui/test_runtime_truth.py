"""Hub-UI tells the truth about runtimes: kind, host, last failure, health, Wake, the runtime's log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group

from actions.assets import do_import_assets
from models_admin.audit import Actor
from models_admin.models import Asset
from models_admin.yaml_io import SourceDocument
from runtimes.models import RuntimeState

LAUNCH = {"command": ["llama-server", "-m", "/srv/m.gguf"]}
DOCS: list[dict[str, Any]] = [
    {
        "asset_id": "pinned",
        "display_name": "Pinned",
        "runtime": {"kind": "llama-cpp", "model": "m", "host": "gpu-a", "launch": LAUNCH},
    },
    {
        "asset_id": "local",
        "display_name": "Local",
        "lifecycle": {"desired": "on-demand"},
        "runtime": {"kind": "llama-cpp", "model": "m", "launch": LAUNCH},
    },
    {
        "asset_id": "resting",
        "display_name": "Resting",
        "lifecycle": {"desired": "stopped"},
        "runtime": {"kind": "llama-cpp", "model": "m", "launch": LAUNCH},
    },
    {
        "asset_id": "ollama-chat",
        "display_name": "Ollama chat",
        "runtime": {"kind": "ollama", "model": "llama3.2:3b", "base_url": "http://127.0.0.1:11434"},
    },
    {
        "asset_id": "external",
        "display_name": "External",
        "runtime": {
            "kind": "openai-compatible",
            "model": "gpt-4o-mini",
            "base_url": "https://api.openai.com",
        },
    },
    {"asset_id": "catalogued", "display_name": "Catalogued"},
]
LOG_TAIL_ERROR = (
    "SpawnFailed: pinned: process exited while starting; log tail:\nloading model\nGGML_ASSERT boom"
)


@pytest.fixture
def assets(db: Any) -> dict[str, Asset]:
    docs = [
        SourceDocument("test", i, {"version": "1.0.0", "interface": "llm-runtime", **d})
        for i, d in enumerate(DOCS, start=1)
    ]
    do_import_assets(docs, actor=Actor.system(), approved=True)
    return {a.asset_id: a for a in Asset.objects.all()}


@pytest.fixture
def operator(make_user: Any, client_for: Any) -> Any:
    user = make_user()
    user.groups.add(Group.objects.get(name="operator"))
    return client_for(user)


def observe(asset: Asset, **fields: Any) -> RuntimeState:
    rs, _ = RuntimeState.objects.update_or_create(asset=asset, defaults=fields)
    return rs


def row(html: str, asset_id: str) -> str:
    match = re.search(rf'<tr data-asset="{re.escape(asset_id)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {asset_id}"
    return match.group(1)


def cell(row_html: str, name: str) -> str:
    match = re.search(rf'<td data-cell="{name}"[^>]*>(.*?)</td>', row_html, re.S)
    assert match, f"no {name} cell"
    return match.group(1).strip()


def fact(html: str, label: str) -> str:
    match = re.search(rf"<dt>{label}</dt><dd>(.*?)</dd>", html, re.S)
    assert match, f"no {label} fact"
    return match.group(1).strip()


def test_the_list_shows_runtime_kind_host_and_the_first_line_of_the_last_failure(
    assets: Any, operator: Any
) -> None:
    observe(assets["pinned"], state="failed", last_error=LOG_TAIL_ERROR, health="ok")
    observe(assets["local"], state="running", host="box-1", health="ok")
    html = operator.get("/").content.decode()

    pinned = row(html, "pinned")
    assert cell(pinned, "runtime") == "llama-cpp"
    assert cell(pinned, "host") == "gpu-a"
    assert cell(pinned, "failure") == "SpawnFailed: pinned: process exited while starting"
    assert "GGML_ASSERT" not in html  # the runtime's own output stays in its log
    assert cell(row(html, "local"), "host") == "box-1"
    assert cell(row(html, "local"), "failure") == "—"
    assert cell(row(html, "ollama-chat"), "host") == "127.0.0.1:11434"
    assert cell(row(html, "catalogued"), "runtime") == "—"
    assert ">Runtime</th>" in html
    assert ">Host</th>" in html
    assert ">Last failure</th>" in html
    detail = operator.get("/models/pinned/").content.decode()
    assert fact(detail, "Host") == "gpu-a"
    assert "Last error:</strong> SpawnFailed: pinned: process exited while starting</p>" in detail


def test_a_failed_or_stopped_asset_never_shows_the_health_ok_it_had_while_running(
    assets: Any, operator: Any
) -> None:
    observe(assets["pinned"], state="failed", health="ok", health_detail="", last_error="boom")
    observe(assets["local"], state="stopped", health="ok")
    observe(assets["ollama-chat"], state="running", health="ok", health_detail="200 OK")

    assert fact(operator.get("/models/pinned/").content.decode(), "Health") == "down"
    assert fact(operator.get("/models/local/").content.decode(), "Health") == "unknown"
    assert fact(operator.get("/models/ollama-chat/").content.decode(), "Health") == "ok 200 OK"
    # The API reports the same derived health.
    assert operator.get("/api/v1/assets/pinned/state").json()["health"] == "down"
    assert operator.get("/api/v1/assets/local/state").json()["health"] == ""


def test_an_asset_a_wake_cannot_start_shows_why_instead_of_a_wake_button(assets: Any, operator: Any) -> None:
    observe(assets["pinned"], state="failed", last_error="boom")
    html = operator.get("/").content.decode()

    reasons = {
        "catalogued": "catalogued only: no runtime block",
        "external": "external runtime: the hub routes to it but does not start it",
        "resting": "its desired state is stopped",
        "pinned": "failed: an operator must restart it",
    }
    for asset_id, reason in reasons.items():
        html_row = row(html, asset_id)
        assert ">Wake<" not in html_row, asset_id
        assert f"No Wake: {reason}" in html_row, asset_id
    assert ">Restart<" in row(html, "pinned")
    assert ">Wake<" in row(html, "local")
    assert ">Wake<" in row(html, "ollama-chat")
    detail = operator.get("/models/external/").content.decode()
    assert "No Wake: external runtime" in detail
    assert ">Wake<" not in detail


def test_the_asset_page_shows_the_runtime_log_tail_as_a_live_partial(
    assets: Any, operator: Any, settings: Any, tmp_path: Path
) -> None:
    settings.HUB_RUNTIME_LOG_DIR = tmp_path / "runtimes"
    (tmp_path / "runtimes" / "logs").mkdir(parents=True)
    (tmp_path / "runtimes" / "logs" / "local.log").write_text(
        "".join(f"srv line {n:03d}\n" for n in range(100))
    )
    observe(assets["local"], state="running", health="ok")

    page = operator.get("/models/local/").content.decode()
    assert 'id="runtime-log"' in page
    partial = operator.get("/models/local/?part=log", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200
    assert body.lstrip().startswith('<section id="runtime-log"')
    assert "srv line 099" in body
    assert "srv line 060" in body
    assert "srv line 059" not in body
    assert 'hx-trigger="every 3s' in body

    observe(assets["local"], state="stopped")
    stopped = operator.get("/models/local/?part=log", headers={"HX-Request": "true"})
    assert stopped.status_code == 286  # htmx: stop polling, nothing writes to the log now
    assert "srv line 099" in stopped.content.decode()
    assert "every 3s" not in stopped.content.decode()


def test_the_log_panel_says_where_the_log_is_when_the_runtime_runs_elsewhere(
    assets: Any, operator: Any, settings: Any, tmp_path: Path
) -> None:
    settings.HUB_RUNTIME_LOG_DIR = tmp_path / "runtimes"
    observe(assets["pinned"], state="starting")

    body = operator.get("/models/pinned/?part=log", headers={"HX-Request": "true"}).content.decode()
    assert "the runtime runs on host gpu-a; its log is there" in body
    assert 'id="runtime-log"' not in operator.get("/models/ollama-chat/").content.decode()

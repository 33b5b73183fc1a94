"""Launching is privileged: only admins (and the system itself) may add or change ``runtime.launch``.

Anyone who may edit may keep the live revision's launch block as it is, or remove it. Every
path gets the same field error naming ``runtime.launch``: the service, the API (422), the UI
(inline form error), the import command (one line, non-zero exit) and the import API.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client

from actions.assets import AssetImportError, do_import_assets
from actions.revisions import do_create_draft
from actions.tokens import do_create_token
from models_admin.audit import Actor
from models_admin.governance import PermissionRefused, may_change_launch
from models_admin.models import Asset
from models_admin.validation import AssetValidationError
from models_admin.yaml_io import SourceDocument
from tests.governance.factories import (
    ROLES_UNDER_TEST,
    actor,
    asset_document,
    live_asset,
    user_for,
    user_with_role,
)

pytestmark = pytest.mark.django_db

# An allowed executable: what is refused here is who adds it, not what it runs.
LAUNCH = {"command": ["llama-server", "-m", "/models/a.gguf"], "env": {}, "ready_timeout_s": 300}


def launching(asset_id: str | None = None, launch: dict[str, Any] | None = None) -> dict[str, Any]:
    runtime = {"kind": "llama-cpp", "model": "a", "launch": launch or LAUNCH}
    return asset_document(asset_id, runtime=runtime)


def served(asset_id: str) -> dict[str, Any]:
    return asset_document(
        asset_id, runtime={"kind": "llama-cpp", "model": "a", "base_url": "http://10.0.0.5:8080"}
    )


def token_client(user: Any) -> Client:
    _, secret = do_create_token(user, actor=Actor(user=user, source="cli"), scopes=["read", "write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.parametrize("role", ROLES_UNDER_TEST)
def test_only_an_admin_may_create_an_asset_that_launches_a_process_by_role(role: str) -> None:
    """Who cannot edit at all is refused as before (403); editors and approvers get the field error."""

    def run() -> Any:
        return do_create_draft(launching(f"launch-{role}"), actor=actor(user_for(role)))

    if role == "admin":
        run()
    elif role in ("editor", "approver"):
        with pytest.raises(AssetValidationError, match=r"runtime\.launch"):
            run()
    else:
        with pytest.raises(PermissionRefused):
            run()
    assert Asset.objects.filter(asset_id=f"launch-{role}").exists() is (role == "admin")


@pytest.mark.parametrize("role", ["editor", "approver"])
def test_a_non_admin_cannot_create_an_asset_that_launches_a_process(role: str) -> None:
    with pytest.raises(AssetValidationError) as excinfo:
        do_create_draft(launching("launch-new"), actor=actor(user_with_role(role)))
    assert [e.path for e in excinfo.value.errors] == ["runtime.launch"]
    assert "only an admin" in str(excinfo.value)
    assert not Asset.objects.filter(asset_id="launch-new").exists()


def test_a_non_admin_cannot_add_a_launch_to_a_live_asset_that_had_none() -> None:
    asset = live_asset(served("launch-add"))
    with pytest.raises(AssetValidationError, match=r"runtime\.launch: only an admin"):
        do_create_draft(launching(asset.asset_id), actor=actor(user_with_role("editor")))
    assert asset.revisions.count() == 1


def test_a_non_admin_may_keep_or_remove_the_live_launch_but_not_change_it() -> None:
    asset = live_asset(launching("launch-keep"))  # written by an admin (the factory's default)
    editor = actor(user_with_role("editor"))
    kept, changed = do_create_draft({**launching(asset.asset_id), "version": "1.1"}, actor=editor)
    assert changed
    assert kept.document["runtime"]["launch"] == asset.live_spec["runtime"]["launch"]  # type: ignore[index]
    other = {**LAUNCH, "command": ["llama-server", "-m", "/models/other.gguf"]}
    with pytest.raises(AssetValidationError, match=r"runtime\.launch"):
        do_create_draft(launching(asset.asset_id, other), actor=editor)
    with pytest.raises(AssetValidationError, match=r"runtime\.launch"):
        do_create_draft(
            launching(asset.asset_id, {**LAUNCH, "env": {"LD_PRELOAD": "/tmp/x.so"}}), actor=editor
        )
    removed, _ = do_create_draft(served(asset.asset_id), actor=editor)
    assert "launch" not in removed.document["runtime"]


def test_admins_and_the_system_may_add_a_launch() -> None:
    admin = user_with_role("admin")
    assert may_change_launch(actor(admin))
    assert may_change_launch(Actor.system())
    assert may_change_launch(Actor.cli())
    assert not may_change_launch(actor(user_with_role("approver")))
    revision, _ = do_create_draft(launching("launch-admin"), actor=actor(admin))
    assert revision.document["runtime"]["launch"]["command"][0] == "llama-server"
    system, _ = do_create_draft(launching("launch-system"), actor=Actor.system())
    assert system.document["runtime"]["launch"]


def test_the_api_answers_422_naming_runtime_launch_and_lets_an_admin_token_through() -> None:
    editor = token_client(user_with_role("editor"))
    body = json.dumps({"document": launching("launch-api")})
    refused = editor.post("/api/v1/assets", body, content_type="application/json")
    assert refused.status_code == 422, refused.content
    assert refused.json()["error"]["code"] == "validation_error"
    assert refused.json()["error"]["field"] == "runtime.launch"
    assert not Asset.objects.filter(asset_id="launch-api").exists()
    admin = token_client(user_with_role("admin"))
    assert admin.post("/api/v1/assets", body, content_type="application/json").status_code == 201


def test_a_swap_to_a_launch_by_an_editor_is_refused_through_the_api() -> None:
    """The reported chain: withdraw, edit in a launch command, resubmit: the edit itself is refused."""
    editor = token_client(user_with_role("editor"))
    created = editor.post(
        "/api/v1/assets", json.dumps({"document": served("launch-swap")}), "application/json"
    )
    assert created.status_code == 201
    revision_id = created.json()["id"]
    assert editor.post(f"/api/v1/revisions/{revision_id}/submit").status_code == 200
    assert editor.post(f"/api/v1/revisions/{revision_id}/withdraw").status_code == 200
    swapped = editor.put(
        "/api/v1/assets/launch-swap", json.dumps({"document": launching("launch-swap")}), "application/json"
    )
    assert swapped.status_code == 422, swapped.content
    assert swapped.json()["error"]["field"] == "runtime.launch"
    assert all(
        "launch" not in r.document["runtime"]
        for r in Asset.objects.get(asset_id="launch-swap").revisions.all()
    )


def test_the_ui_shows_the_error_inline_on_the_form(client_for: Any) -> None:
    data = {
        "asset_id": "launch-ui",
        "display_name": "Launch UI",
        "version": "1",
        "document": yaml.safe_dump(launching("launch-ui")),
    }
    response = client_for(user_with_role("editor")).post("/models/new/", data)
    assert response.status_code == 200
    assert "runtime.launch: only an admin may add or change it" in response.content.decode()
    assert not Asset.objects.filter(asset_id="launch-ui").exists()


def test_import_refuses_a_launch_from_a_non_admin_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump_all([served("launch-ok"), launching("launch-imp")]))
    editor = user_with_role("editor")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_assets", "--as-user", editor.username, str(path), stdout=StringIO(), stderr=err)
    assert "runtime.launch: only an admin" in err.getvalue()
    assert not Asset.objects.exists()  # all or nothing

    with pytest.raises(AssetImportError) as excinfo:
        do_import_assets([SourceDocument("api", 1, launching("launch-imp"))], actor=actor(editor, "api"))
    assert excinfo.value.problems[0][1].path == "runtime.launch"


def test_import_approved_as_an_admin_may_launch(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump_all([launching("launch-boot")]))
    admin = user_with_role("admin")
    out = StringIO()
    call_command("import_assets", "--approved", "--as-user", admin.username, str(path), stdout=out)
    assert "approved: live now" in out.getvalue()
    live = Asset.objects.get(asset_id="launch-boot").live_spec
    assert live is not None
    assert live["runtime"]["launch"]["command"][0] == "llama-server"

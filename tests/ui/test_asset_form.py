"""The asset form: pickers from the interface specs and runtime kinds, a YAML tab, errors per field."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
import yaml

from models_admin.interfaces import all_interfaces
from models_admin.models import Asset
from runtimes import registry
from tests.governance.factories import asset_document, live_asset, user_with_role

pytestmark = pytest.mark.django_db

NEW = "/models/new/"


def field_block(page: str, name: str) -> str:
    """The markup of the form field ``name`` (its ``data-field`` block), or '' when absent."""
    match = re.search(rf'data-field="{re.escape(name)}"(.*?)(?=data-field="|</fieldset>|<button)', page, re.S)
    return match.group(1) if match else ""


def errors_of(page: str, name: str) -> str:
    block = field_block(page, name)
    match = re.search(r'<ul class="errorlist"[^>]*>(.*?)</ul>', block, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", match.group(1))) if match else ""


def form_level_errors(page: str) -> str:
    match = re.search(r'id="form-level-errors">(.*?)</ul>', page, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", match.group(1))) if match else ""


def visible_input(page: str, name: str) -> bool:
    tags = re.findall(rf'<(?:input|select|textarea)[^>]*name="{re.escape(name)}"[^>]*>', page)
    return any('type="hidden"' not in tag for tag in tags)


def textarea(page: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert match, f"no textarea {name}"
    return html_lib.unescape(match.group(1))


EMBED_FIELDS = {
    "editor": "form",
    "asset_id": "e5-form",
    "display_name": "E5 large",
    "version": "2.1",
    "interface": ["embedding-runtime", "llm-runtime"],
    "metadata__embedding_dim": "1024",
    "metadata__precision": "fp16",
    "metadata__context_length": "512",
    "metadata__model_id": "intfloat/e5-large",
    "runtime__kind": "llama-cpp",
    "runtime__model": "e5-large",
    "runtime__host": "gpu-a",
    "runtime__launch__command": "llama-server -m '/models/e5 large.gguf' --embeddings",
    "runtime__launch__env": "CUDA_VISIBLE_DEVICES=0",
    "runtime__launch__ready_timeout_s": "120",
    "lifecycle__desired": "on-demand",
    "lifecycle__auto_sleep_min": "30",
    "policy__max_concurrency": "3",
    "resources__gpu_required": "on",
    "resources__min_vram_gb": "8",
}
EMBED_YAML = """\
asset_id: e5-yaml
display_name: E5 large
version: '2.1'
interface: [embedding-runtime, llm-runtime]
resources: {gpu_required: true, min_vram_gb: 8}
lifecycle: {desired: on-demand, auto_sleep_min: 30}
policy: {max_concurrency: 3}
metadata: {embedding_dim: 1024, precision: fp16, context_length: 512, model_id: intfloat/e5-large}
runtime:
  kind: llama-cpp
  model: e5-large
  host: gpu-a
  launch:
    command: [llama-server, -m, /models/e5 large.gguf, --embeddings]
    env: {CUDA_VISIBLE_DEVICES: '0'}
    ready_timeout_s: 120
"""


def redraw(client: Any, **fields: Any) -> str:
    """Post the form tab with ``show=form`` (what changing a picker does): the redrawn page."""
    response = client.post(NEW, {"editor": "form", "show": "form", **fields})
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_new_asset_page_offers_every_interface_and_runtime_kind(client_for: Any) -> None:
    page = client_for(user_with_role("editor")).get(NEW).content.decode()
    for spec in all_interfaces():
        assert f'name="interface" value="{spec.name}"' in page
    for kind in registry.runtime_kinds():
        assert f'<option value="{kind}"' in page
    assert visible_input(page, "lifecycle__desired")
    assert visible_input(page, "policy__max_concurrency")


@pytest.mark.parametrize("spec", all_interfaces(), ids=lambda s: s.name)
def test_picking_an_interface_shows_its_metadata_fields_with_their_help(client_for: Any, spec: Any) -> None:
    page = redraw(client_for(user_with_role("editor")), interface=spec.name)
    for field in spec.metadata:
        assert visible_input(page, f"metadata__{field.name}"), field.name
        if field.help:
            assert html_lib.escape(field.help) in page
    others = {f.name for s in all_interfaces() for f in s.metadata} - {f.name for f in spec.metadata}
    for name in others:
        assert not visible_input(page, f"metadata__{name}"), name


@pytest.mark.parametrize("kind", registry.runtime_kinds())
def test_picking_a_runtime_kind_shows_the_fields_of_its_config(client_for: Any, kind: str) -> None:
    page = redraw(client_for(user_with_role("admin")), interface="llm-runtime", runtime__kind=kind)
    fields = set(registry.config_model(kind).model_fields) - {"kind", "launch"}
    for name in fields:
        assert visible_input(page, f"runtime__{name}"), name
    for name in {"model", "base_url", "host", "api_key_env", "api_key_file"} - fields:
        assert not visible_input(page, f"runtime__{name}"), name
    assert visible_input(page, "runtime__launch__command") == registry.is_launchable(kind)


def test_a_structured_post_saves_the_same_document_as_the_equivalent_yaml(client_for: Any) -> None:
    client = client_for(user_with_role("admin"))
    assert client.post(NEW, EMBED_FIELDS).status_code == 302
    assert client.post(NEW, {"editor": "yaml", "document": EMBED_YAML}).status_code == 302
    from_form = Asset.objects.get(asset_id="e5-form").spec
    from_yaml = Asset.objects.get(asset_id="e5-yaml").spec
    assert from_form["runtime"]["launch"]["command"][2] == "/models/e5 large.gguf"
    assert {**from_form, "asset_id": "x"} == {**from_yaml, "asset_id": "x"}


def test_errors_are_shown_on_the_input_of_their_field(client_for: Any) -> None:
    fields = {**EMBED_FIELDS, "interface": "embedding-runtime", "runtime__kind": ""}
    del fields["metadata__embedding_dim"]
    fields["lifecycle__desired"] = "sometimes"
    fields["policy__max_concurrency"] = "0"
    page = client_for(user_with_role("editor")).post(NEW, fields).content.decode()
    assert "required for embedding-runtime:v1" in errors_of(page, "metadata__embedding_dim")
    assert "must be one of running, on-demand, stopped" in errors_of(page, "lifecycle__desired")
    assert "must be ≥ 1" in errors_of(page, "policy__max_concurrency")
    assert errors_of(page, "display_name") == ""
    assert not Asset.objects.filter(asset_id="e5-form").exists()


def test_an_input_that_is_not_a_number_is_refused_on_that_input(client_for: Any) -> None:
    fields = {**EMBED_FIELDS, "metadata__embedding_dim": "big", "runtime__kind": ""}
    page = client_for(user_with_role("editor")).post(NEW, fields).content.decode()
    assert "whole number" in errors_of(page, "metadata__embedding_dim")
    assert not Asset.objects.exists()


def test_an_error_with_no_input_goes_to_the_form_level_list(client_for: Any) -> None:
    page = (
        client_for(user_with_role("editor"))
        .post(NEW, {**EMBED_FIELDS, "runtime__kind": "", "base": '{"interface_version": "v9"}'})
        .content.decode()
    )
    assert "interface_version: embedding-runtime has no version 'v9'" in form_level_errors(page)


def test_a_non_admin_sees_no_launch_inputs(client_for: Any) -> None:
    editor = redraw(client_for(user_with_role("editor")), interface="llm-runtime", runtime__kind="llama-cpp")
    assert not visible_input(editor, "runtime__launch__command")
    assert "Only an admin may set how the hub launches this runtime." in editor
    admin = redraw(client_for(user_with_role("admin")), interface="llm-runtime", runtime__kind="llama-cpp")
    assert visible_input(admin, "runtime__launch__command")


def test_a_forged_launch_from_a_non_admin_is_refused_with_the_field_error(client_for: Any) -> None:
    fields = {**EMBED_FIELDS, "runtime__launch__command": "llama-server -m /models/x.gguf"}
    response = client_for(user_with_role("editor")).post(NEW, fields)
    assert response.status_code == 200
    assert "runtime.launch: only an admin may add or change it" in form_level_errors(
        response.content.decode()
    )
    assert not Asset.objects.filter(asset_id="e5-form").exists()


def test_a_non_admin_edit_keeps_the_launch_an_admin_set(client_for: Any) -> None:
    launch = {"command": ["llama-server", "-m", "/models/q.gguf"], "env": {"A": "b c"}, "ready_timeout_s": 60}
    runtime = {"kind": "llama-cpp", "model": "q", "launch": launch}
    asset = live_asset(asset_document(runtime=runtime))
    client = client_for(user_with_role("editor"))
    page = client.get(f"/models/{asset.asset_id}/edit/").content.decode()
    assert not visible_input(page, "runtime__launch__command")
    assert "It launches: llama-server -m /models/q.gguf" in page
    fields = hidden_and_filled_inputs(page)
    fields["version"] = "9.9.9"
    response = client.post(f"/models/{asset.asset_id}/edit/", {**fields, "draft": "1"})
    assert response.status_code == 302, form_level_errors(response.content.decode())
    asset.refresh_from_db()
    assert asset.spec["version"] == "9.9.9"
    assert asset.spec["runtime"]["launch"] == {**launch, "ready_timeout_s": 60}


def hidden_and_filled_inputs(page: str) -> dict[str, Any]:
    """What a browser would post for the form on ``page`` unchanged (inputs, selects, checkboxes)."""
    data: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or "csrfmiddlewaretoken" in tag:
            continue
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                data.setdefault(name.group(1), []).append(
                    html_lib.unescape(value.group(1) if value else "on")
                )
            continue
        data[name.group(1)] = html_lib.unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = html_lib.unescape(chosen.group(1)) if chosen else ""
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>\n?(.*?)</textarea>', page, re.S):
        data[name] = html_lib.unescape(body)
    return data


def test_the_yaml_tab_shows_and_edits_the_same_document(client_for: Any) -> None:
    client = client_for(user_with_role("admin"))
    # The form tab, shown as YAML: the document the fields make (nothing saved).
    yaml_page = client.post(NEW, {**EMBED_FIELDS, "show": "yaml"}).content.decode()
    assert not Asset.objects.exists()
    text = textarea(yaml_page, "document")
    shown = yaml.safe_load(text)
    assert shown["metadata"]["embedding_dim"] == 1024
    assert shown["runtime"]["launch"]["command"] == [
        "llama-server",
        "-m",
        "/models/e5 large.gguf",
        "--embeddings",
    ]
    # Edited as YAML (a key the form has no input for included), then back on the form tab.
    text = text.replace("embedding_dim: 1024", "embedding_dim: 768\n  notes: kept")
    form_page = client.post(NEW, {"editor": "yaml", "document": text, "show": "form"}).content.decode()
    assert re.search(r'name="metadata__embedding_dim" value="768"', form_page)
    # Saved from the form tab as it stands: the YAML-only key rode along.
    response = client.post(NEW, {**hidden_and_filled_inputs(form_page), "draft": "1"})
    assert response.status_code == 302
    spec = Asset.objects.get(asset_id="e5-form").spec
    assert spec["metadata"]["notes"] == "kept"
    assert spec["metadata"]["embedding_dim"] == 768
    assert spec["runtime"]["launch"]["env"] == {"CUDA_VISIBLE_DEVICES": "0"}


def test_yaml_errors_stay_on_the_yaml_tab(client_for: Any) -> None:
    page = (
        client_for(user_with_role("editor"))
        .post(NEW, {"editor": "yaml", "document": "asset_id: [unclosed", "show": "form"})
        .content.decode()
    )
    assert "invalid YAML" in errors_of(page, "document")


def test_htmx_redraws_only_the_structured_fields(client_for: Any) -> None:
    client = client_for(user_with_role("editor"))
    response = client.post(
        NEW,
        {"editor": "form", "show": "form", "interface": "embedding-runtime"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="asset-structured">')
    assert "<html" not in body
    assert visible_input(body, "metadata__embedding_dim")


def test_htmx_gets_the_fieldsets_with_their_errors_when_an_input_does_not_parse(client_for: Any) -> None:
    fields = {
        "editor": "form",
        "show": "form",
        "interface": "embedding-runtime",
        "policy__max_concurrency": "x",
    }
    response = client_for(user_with_role("editor")).post(NEW, fields, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="asset-structured">')
    assert "whole number" in errors_of(body, "policy__max_concurrency")


def test_the_hidden_copy_of_the_document_is_read_with_the_yaml_limits(client_for: Any) -> None:
    deep = '{"a": ' * 200 + "1" + "}" * 200
    page = client_for(user_with_role("editor")).post(NEW, {**EMBED_FIELDS, "base": deep}).content.decode()
    assert "damaged; reload the page" in form_level_errors(page)
    assert not Asset.objects.exists()

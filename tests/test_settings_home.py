"""Configuration has one home: every ``HUB_*`` setting is declared in ``hub/settings.py``, read
from ``django.conf.settings`` (never from the environment elsewhere) and documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("hub", "core", "api", "actions", "models_admin", "runtimes")
DECLARED = set(
    re.findall(r"^(HUB_[A-Z0-9_]+)(?::[^=\n]+)? = ", (ROOT / "hub" / "settings.py").read_text(), re.M)
)
# Read from the environment by design: not settings, but names the hub looks for.
NOT_SETTINGS = {"HUB_RUNTIME_SECRET_", "HUB_DEV", "HUB_VAR_DIR", "HUB_TESTING", "HUB_INSECURE_HTTP"}


def _production_sources() -> dict[Path, str]:
    return {
        path: path.read_text()
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.name != "settings.py"
    }


def test_every_hub_setting_the_code_reads_is_declared() -> None:
    read = {
        (path.relative_to(ROOT).as_posix(), name)
        for path, text in _production_sources().items()
        for name in re.findall(r"settings\.(HUB_[A-Z0-9_]+)", text)
    }
    assert {(where, name) for where, name in read if name not in DECLARED} == set()


def test_no_production_module_reads_a_hub_variable_itself() -> None:
    ad_hoc = {
        (path.relative_to(ROOT).as_posix(), name)
        for path, text in _production_sources().items()
        for name in re.findall(r"[\"'](HUB_[A-Z0-9_]*)[\"']", text)
        if name not in NOT_SETTINGS and path.name != "env.py"
    }
    assert ad_hoc == set()


def test_every_declared_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert sorted(name for name in DECLARED if f"`{name}`" not in readme) == []

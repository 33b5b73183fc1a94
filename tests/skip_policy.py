"""A run that skips a test proves nothing about it: with ``HUB_FAIL_ON_SKIP=1`` (``.ci/run`` sets
it) the session fails when a test or module is skipped for a reason ``tests/allowed_skips.txt``
does not allow, and the summary lists each such skip with its reason.

Without the variable skips stay allowed, so ``uv run pytest`` on a machine without chromium or the
real-runtime extra still passes. Expected failures (``xfail``) ran, so they are not skips here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ENV_VAR = "HUB_FAIL_ON_SKIP"
ALLOWED_SKIPS = Path(__file__).with_name("allowed_skips.txt")


def allowed_patterns(path: Path) -> list[re.Pattern[str]]:
    """One regular expression a line, searched in the skip's reason; ``#`` starts a comment line."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [re.compile(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


class SkipPolicy:
    def __init__(self, allowed: list[re.Pattern[str]]) -> None:
        self.allowed = allowed
        self.refused: list[tuple[str, str]] = []  # (test or module, reason)

    def _check(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        reason = skip_reason(report)
        if not any(pattern.search(reason) for pattern in self.allowed):
            self.refused.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._check(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._check(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.refused and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.refused:
            return
        terminalreporter.section(f"skips not allowed ({ENV_VAR} is set)", red=True, bold=True)
        for nodeid, reason in self.refused:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
        terminalreporter.line(
            f"Fix what makes them skip, or allow the reason in tests/{ALLOWED_SKIPS.name} (say why)."
        )


def install(config: pytest.Config, allowed_file: Path = ALLOWED_SKIPS) -> None:
    """Register the policy when ``HUB_FAIL_ON_SKIP`` is set to a true value."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        config.pluginmanager.register(SkipPolicy(allowed_patterns(allowed_file)), "hub-skip-policy")

"""``HUB_FAIL_ON_SKIP=1`` (``.ci/run``) fails a run that skips a test for a reason not allowed in
``tests/allowed_skips.txt``; without it skips stay allowed. Each case runs pytest on a small test
file with the policy installed as ``tests/conftest.py`` installs it."""

from __future__ import annotations

import pytest

from tests.skip_policy import ALLOWED_SKIPS, allowed_patterns

pytest_plugins = ["pytester"]

CONFTEST = """
from pathlib import Path

from tests import skip_policy


def pytest_configure(config):
    skip_policy.install(config, Path(__file__).with_name("allowed.txt"))
"""

TESTS = """
import pytest


def test_runs():
    assert True


def test_needs_a_gpu():
    pytest.skip("no GPU on this machine")
"""


INNER = ("-p", "no:django", "-p", "no:cacheprovider")  # a plain pytest run, no test database


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=TESTS)
    return pytester


def test_a_skip_fails_the_run_and_is_listed_with_its_reason_when_the_variable_is_set(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_FAIL_ON_SKIP", "1")
    result = project.runpytest(*INNER)

    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*skips not allowed*", "SKIPPED test_sample.py::test_needs_a_gpu: no GPU on this machine"]
    )


def test_a_module_skipped_at_collection_fails_the_run_too(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_extra='import pytest\n\npytest.importorskip("no_such_module_for_hub")\n')
    project.makefile(".txt", allowed="no GPU\n")
    monkeypatch.setenv("HUB_FAIL_ON_SKIP", "1")
    result = project.runpytest(*INNER)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED test_extra.py: *no_such_module_for_hub*"])
    result.stdout.no_fnmatch_line("SKIPPED test_sample.py*")


def test_a_skip_whose_reason_is_allowed_passes(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makefile(".txt", allowed="# GPU tests need a GPU machine\nno GPU on\n")
    monkeypatch.setenv("HUB_FAIL_ON_SKIP", "1")
    result = project.runpytest(*INNER)

    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*skips not allowed*")


def test_without_the_variable_skips_are_allowed(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_FAIL_ON_SKIP", raising=False)
    result = project.runpytest(*INNER)

    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


def test_the_allow_list_is_comments_and_valid_patterns_only() -> None:
    assert ALLOWED_SKIPS.exists()
    lines = [line for line in ALLOWED_SKIPS.read_text().splitlines() if line.strip()]
    assert lines[0].startswith("#")  # every allowed reason comes below a comment saying why
    assert len(allowed_patterns(ALLOWED_SKIPS)) == sum(not line.startswith("#") for line in lines)

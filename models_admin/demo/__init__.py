"""The demo catalog ``manage.py up`` loads into an empty database.

``bundled.yaml.in``: the Gemma 3 270M asset this machine runs itself, with the absolute
paths of the bundled ``llama-server`` and GGUF (``runtimes.bundled``) filled in; loaded
only when the ``real-runtime`` extra is installed. ``examples.yaml``: assets for runtimes
this machine does not provide, all ``desired: stopped``, each saying what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.assets import PlanItem, do_import_assets
from models_admin.audit import Actor
from models_admin.yaml_io import SourceDocument, load_documents
from runtimes.bundled import BundledRuntime, BundledRuntimeMissing, find_bundled

DEMO_DIR = Path(__file__).resolve().parent
EXAMPLES = DEMO_DIR / "examples.yaml"
BUNDLED = DEMO_DIR / "bundled.yaml.in"


@dataclass(frozen=True)
class DemoCatalog:
    documents: list[SourceDocument]
    missing: str  # why the bundled asset is left out ("" when it is in)


def bundled_documents(bundled: BundledRuntime) -> list[SourceDocument]:
    """``bundled.yaml.in`` with the bundled server's and model's absolute paths filled in."""
    paths = {"@LLAMA_SERVER@": str(bundled.llama_server), "@MODEL_FILE@": str(bundled.model_file)}

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return paths.get(value, value)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return [SourceDocument(d.source, d.index, fill(d.data)) for d in load_documents([BUNDLED])]


def demo_catalog() -> DemoCatalog:
    """The demo's documents: the bundled asset when the extra is installed, then the examples."""
    try:
        bundled = bundled_documents(find_bundled())
        missing = ""
    except BundledRuntimeMissing as exc:
        bundled, missing = [], str(exc)
    return DemoCatalog(bundled + load_documents([EXAMPLES]), missing)


def do_load_demo(*, actor: Actor) -> tuple[list[PlanItem], str]:
    """Import the demo catalog approved (bootstrapping, so ``actor`` is the system or an admin).

    Returns the import plan and, when the bundled asset was left out, why and how to get it.
    """
    catalog = demo_catalog()
    return do_import_assets(catalog.documents, actor=actor, approved=True), catalog.missing

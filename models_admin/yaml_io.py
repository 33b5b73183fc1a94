"""Reading and writing asset documents as (multi-document) YAML."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class DocumentLoadError(ValueError):
    """A file could not be read or parsed; the message names the file (and line)."""


@dataclass(frozen=True)
class SourceDocument:
    source: str  # file path, or a label such as "upload"
    index: int  # 1-based position in its file
    data: Any

    @property
    def label(self) -> str:
        return f"{self.source} (document {self.index})"


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    if path.is_file():
        return [path]
    raise DocumentLoadError(f"{path}: no such file or directory")


def parse_documents(text: str, source: str) -> list[SourceDocument]:
    """Every non-empty document in ``text``; raises :class:`DocumentLoadError` on bad YAML."""
    if "\x00" in text:
        raise DocumentLoadError(f"{source}: contains NUL bytes; not a YAML file")
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentLoadError(f"{source}:{where}: invalid YAML: {problem}") from None
    return [SourceDocument(source, i, d) for i, d in enumerate(docs, start=1) if d is not None]


def load_documents(paths: Iterable[str | Path]) -> list[SourceDocument]:
    """Documents from files and folders (``*.yaml`` / ``*.yml``, recursively), in order."""
    out: list[SourceDocument] = []
    for raw in paths:
        for file in _yaml_files(Path(raw)):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DocumentLoadError(f"{file}: cannot read: {exc}") from None
            out.extend(parse_documents(text, str(file)))
    return out


def dump_documents(docs: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False, allow_unicode=True, explicit_start=True)


def dump_document(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)

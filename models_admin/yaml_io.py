"""Reading and writing asset documents as (multi-document) YAML.

Every YAML a caller sends (the API import, the UI's import and asset form, ``import_assets``)
is read by :func:`parse_documents` / :func:`parse_document`, with :class:`BoundedLoader`:
anchors and aliases are refused outright (a few hundred bytes of nested aliases expand to
gigabytes: "billion laughs"), nesting is capped at ``HUB_MAX_DOCUMENT_DEPTH`` and the text at
``HUB_MAX_BODY_BYTES``. Refusing is simpler and safer than capping expansion, and an asset
document has no use for aliases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import Node

from models_admin import limits


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


class BoundedLoader(Composer, yaml.CSafeLoader):
    """A safe loader that refuses anchors and aliases and caps nesting depth.

    libyaml scans and parses; the composing, where aliases and depth are
    seen, is PyYAML's own :class:`Composer` with the checks added.
    """

    def __init__(self, stream: str) -> None:
        yaml.CSafeLoader.__init__(self, stream)
        Composer.__init__(self)
        self._max_depth = limits.max_document_depth()
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        mark: Any = getattr(event, "start_mark", None)
        if isinstance(event, AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed", mark)
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            raise ComposerError(None, None, "anchors (&name) are not allowed", mark)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= self._max_depth:
            raise ComposerError(None, None, f"nested more than {self._max_depth} levels deep", mark)
        self._depth += 1  # a mapping or a list is one level, as in limits.too_deep
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _load_all(text: str, source: str) -> list[Any]:
    limit = limits.max_body_bytes()
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise DocumentLoadError(f"{source}: larger than {limit} bytes")
    if "\x00" in text:
        raise DocumentLoadError(f"{source}: contains NUL bytes; not a YAML file")
    try:
        return list(yaml.load_all(text, Loader=BoundedLoader))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentLoadError(f"{source}:{where}: invalid YAML: {problem}") from None


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    if path.is_file():
        return [path]
    raise DocumentLoadError(f"{path}: no such file or directory")


def parse_documents(text: str, source: str) -> list[SourceDocument]:
    """Every non-empty document in ``text``; raises :class:`DocumentLoadError` on bad YAML,
    anchors or aliases, nesting deeper than the limit, or text over the size limit."""
    docs = _load_all(text, source)
    return [SourceDocument(source, i, d) for i, d in enumerate(docs, start=1) if d is not None]


def parse_document(text: str, source: str) -> Any:
    """The one document in ``text`` (None when empty), read as :func:`parse_documents` reads."""
    docs = _load_all(text, source)
    if len(docs) > 1:
        raise DocumentLoadError(f"{source}: expected one document, found {len(docs)}")
    return docs[0] if docs else None


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

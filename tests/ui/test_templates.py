"""Template hygiene that Django does not check for us."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted([*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")])


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_comment_spans_lines(path: Path) -> None:
    """``{# … #}`` is single-line only; a multi-line one is printed on the page as text."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if "{#" in line:
            assert "#}" in line.split("{#", 1)[1], (
                f"{path.name}:{number}: use {{% comment %}} for multi-line comments"
            )

"""The measured quality table of README.md and docs/tutorial.md, written by the main job.

``python -m recommender.tutorial --update-docs`` puts the run's table (``quality.md``, what
:func:`recommender.report.quality_markdown` renders) between the two markers of each document, so the figures there
are always a run's output, never typed. ``tests/e2e/test_quality_table.py`` re-measures the table's precision@10
figures (the run is deterministic) and fails when a committed document differs.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = (REPO / "README.md", REPO / "docs" / "tutorial.md")
START = "<!-- quality table: written by `python -m recommender.tutorial --update-docs`; do not edit -->"
END = "<!-- end of quality table -->"
_BLOCK = re.compile(re.escape(START) + r"\n(.*?)\n" + re.escape(END), re.S)


def table_of(text: str, where: str = "the document") -> str:
    """The Markdown table between the markers of ``text``."""
    found = _BLOCK.findall(text)
    if len(found) != 1:
        raise ValueError(f"{where} must hold the quality-table markers exactly once, found {len(found)}")
    return found[0]


def precisions(table: str) -> dict[str, float]:
    """``method -> precision`` of a table rendered by ``quality_markdown``."""
    values = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        values[cells[0]] = float(cells[1])
    return values


def update(table: str, documents: tuple[Path, ...] = DOCUMENTS) -> list[Path]:
    """Replace the marked table of every document with ``table``; the documents that changed."""
    changed = []
    for path in documents:
        text = path.read_text(encoding="utf-8")
        table_of(text, str(path))
        new = _BLOCK.sub(lambda _: f"{START}\n{table}\n{END}", text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed

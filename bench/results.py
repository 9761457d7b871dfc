"""Print a benchmark table and keep it in ``bench/RESULTS.md``, one ``## <name>`` section per benchmark."""

from __future__ import annotations

import datetime
import platform
import re
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def markdown(rows: Sequence[Sequence[object]]) -> str:
    header, *body = [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def write_section(name: str, rows: Sequence[Sequence[object]], note: str = "", stamp: str | None = None) -> str:
    """Print the table and replace (or append) the ``## name`` section of RESULTS.md; ``stamp`` says where it was
    measured when that is not this machine (default: today, this machine, this Python)."""
    table = markdown(rows)
    stamp = stamp or f"{datetime.date.today().isoformat()}, {platform.machine()}, Python {platform.python_version()}"
    section = f"## {name}\n\n{note}\n\nMeasured {stamp}.\n\n{table}\n"
    print(f"\n{section}")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nEach section is written by its script in bench/.\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
    return section

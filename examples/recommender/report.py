"""One self-contained HTML report of a tutorial run: the quality table, the pictures, the topics, and the facts.

The PNGs are embedded as ``data:image/png;base64`` URIs, so the file can be mailed or opened from anywhere and never
loads anything from the network. Every text value is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class QualityRow:
    """One line of the quality table: a method and its precision@k over the test queries."""

    method: str
    precision: float
    seconds: float | None = None
    note: str = ""


@dataclass(frozen=True)
class TopicRow:
    """One topic: its id, top words (best first), topic uniqueness and NPMI."""

    topic: int
    words: Sequence[str]
    tu: float
    npmi: float


@dataclass
class Report:
    """What the report shows; :func:`write_report` turns it into HTML."""

    title: str
    k: int
    queries: int
    quality: list[QualityRow]
    facts: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, PNG path)
    topics: list[TopicRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def quality_markdown(rows: Sequence[QualityRow], k: int) -> str:
    """The quality table as Markdown (what the main job prints and ``docs/tutorial.md`` shows)."""
    lines = [f"| method | precision@{k} | time (s) | note |", "| --- | ---: | ---: | --- |"]
    for row in rows:
        seconds = f"{row.seconds:.1f}" if row.seconds is not None else ""
        lines.append(f"| {row.method} | {row.precision:.4f} | {seconds} | {row.note} |")
    return "\n".join(lines)


def _image(path: Path) -> str:
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"{path} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.95em; }
.words { font-family: ui-monospace, monospace; font-size: 0.9em; }
"""


def render(report: Report) -> str:
    """The report as one HTML document (a string)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f"<h2>Recommendation quality</h2><p>precision@{report.k}: the share of the {report.k} recommended training "
        f"documents that come from the test document's own newsgroup, averaged over {report.queries} test "
        "documents.</p>",
        f'<table id="quality"><tr><th>method</th><th>precision@{report.k}</th><th>time (s)</th><th>note</th></tr>',
    ]
    for row in report.quality:
        seconds = f"{row.seconds:.1f}" if row.seconds is not None else ""
        parts.append(f"<tr><td>{e(row.method)}</td><td class=num>{row.precision:.4f}</td>"
                     f"<td class=num>{seconds}</td><td>{e(row.note)}</td></tr>")
    parts.append("</table>")
    if report.notes:
        parts.append("<ul>" + "".join(f"<li>{e(note)}</li>" for note in report.notes) + "</ul>")
    if report.facts:
        parts.append('<h2>Run</h2><table id="facts">')
        parts.extend(f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>" for name, value in report.facts)
        parts.append("</table>")
    if report.figures:
        parts.append("<h2>Pictures</h2>")
        for caption, path in report.figures:
            parts.append(f'<figure><img src="{_image(path)}" alt="{e(caption)}">'
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    if report.topics:
        mean_tu = sum(t.tu for t in report.topics) / len(report.topics)
        mean_npmi = sum(t.npmi for t in report.topics) / len(report.topics)
        parts.append(f"<h2>Topics</h2><p>Top words of every topic (decoder weights), with topic uniqueness (TU) and "
                     f"NPMI of the top 10 words on the training documents. Mean TU {mean_tu:.3f}, mean NPMI "
                     f"{mean_npmi:.3f}.</p>")
        parts.append('<table id="topics"><tr><th>topic</th><th>TU</th><th>NPMI</th><th>top words</th></tr>')
        for topic in report.topics:
            parts.append(f"<tr><td class=num>{topic.topic}</td><td class=num>{topic.tu:.2f}</td>"
                         f"<td class=num>{topic.npmi:.2f}</td><td class=words>{e(' '.join(topic.words))}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path

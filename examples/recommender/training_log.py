"""The NTM training log: keep what ``fit`` prints, and read the loss curves out of its metric lines.

``fit(..., logs=True)`` prints the training job's log to stdout (the local backend and SageMaker both do), so the
main job keeps a copy with :class:`TeeStdout` and parses it with :func:`loss_curves`. The lines it reads are the
NTM metric lines of docs/contract.md A1::

    #quality_metric: host=algo-1, epoch=3, train total_loss <loss>=712.5
    #quality_metric: host=algo-1, epoch=3, validation total_loss <loss>=716.1

Every host prints them; the losses are all-reduced, so the hosts agree and the first host seen is used.
"""

from __future__ import annotations

import io
import re
import sys
from typing import TextIO

_QUALITY = re.compile(
    r"#quality_metric: host=(?P<host>[^,\s]+), epoch=(?P<epoch>\d+), (?P<channel>train|validation|test) "
    r"total_loss <loss>=(?P<value>[-+0-9.eE]+|nan|inf)"
)
_FINAL = re.compile(
    r"#quality_metric: host=(?P<host>[^,\s]+), (?P<channel>train|validation|test) (?P<name>\w+) "
    r"<(?:loss|score)>=(?P<value>[-+0-9.eE]+|nan|inf)"
)


class TeeStdout(io.TextIOBase):
    """A text stream that writes through to ``target`` (default: the current ``sys.stdout``) and keeps a copy.

    Use with ``contextlib.redirect_stdout(TeeStdout())``; :meth:`text` gives everything written so far.
    """

    def __init__(self, target: TextIO | None = None) -> None:
        super().__init__()
        self._target = target if target is not None else sys.stdout
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def text(self) -> str:
        return "".join(self._parts)


def loss_curves(log: str) -> dict[str, list[tuple[int, float]]]:
    """``{"train": [(epoch, total_loss), ...], "validation": [...]}`` from a training log, epochs ascending.

    Only the first host that reports a channel's epoch is kept. Channels without per-epoch lines are absent; an
    empty dict means the log holds no NTM epoch metric lines.
    """
    curves: dict[str, dict[int, float]] = {}
    for match in _QUALITY.finditer(log):
        points = curves.setdefault(match["channel"], {})
        points.setdefault(int(match["epoch"]), float(match["value"]))
    return {channel: sorted(points.items()) for channel, points in curves.items()}


def final_metrics(log: str) -> dict[str, float]:
    """The final-model metric lines (no ``epoch=``), e.g. ``{"validation:total_loss": 711.2, "train:npmi": 0.35}``;
    the first host seen wins."""
    found: dict[str, float] = {}
    for line in log.splitlines():
        if "epoch=" in line:
            continue
        match = _FINAL.search(line)
        if match:
            found.setdefault(f"{match['channel']}:{match['name']}", float(match["value"]))
    return found

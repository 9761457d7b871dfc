"""A job's log lines: appended by the job's threads, read (and printed) by whoever waits for the job.

Like CloudWatch for a SageMaker job: ``wait(logs=True)`` prints every line from the start, so lines are never lost
when the caller starts waiting late, and ``wait(logs=False)`` prints nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator


class LogStream:
    def __init__(self) -> None:
        self._lines: list[str] = []
        self._closed = False
        self._cond = threading.Condition()

    def emit(self, line: str) -> None:
        with self._cond:
            self._lines.append(line)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def tail(self, count: int) -> list[str]:
        with self._cond:
            return self._lines[-count:]

    def lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def follow(self) -> Iterator[str]:
        """Every line, from the first, until the stream is closed."""
        index = 0
        while True:
            with self._cond:
                while index >= len(self._lines) and not self._closed:
                    self._cond.wait(0.5)
                if index >= len(self._lines) and self._closed:
                    return
                batch = self._lines[index:]
                index = len(self._lines)
            yield from batch

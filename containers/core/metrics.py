"""Metric lines in the first-party format (docs/contract.md A1), which the SDK's MetricDefinitions regexes parse.

    #quality_metric: host=algo-1, epoch=3, train total_loss <loss>=6.52
    #quality_metric: host=algo-1, test total_loss <loss>=6.61
    #progress_metric: host=algo-1, completed 6 % of epochs
    #throughput_metric: host=algo-1, train throughput=1234.5 records/second
    #test_score (algo-1) : ('accuracy', 0.95)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field


@dataclass
class MetricsWriter:
    """Writes metric lines for one host to a logger (the process log, which SageMaker ships to CloudWatch)."""

    host: str
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("metrics"))

    def _emit(self, line: str) -> str:
        self.logger.info(line)
        return line

    def quality(self, channel: str, name: str, kind: str, value: float, epoch: int | None = None) -> str:
        """``kind`` is ``loss`` or ``score`` (the angle-bracket tag that says which direction is better)."""
        where = f"host={self.host}" + (f", epoch={epoch}" if epoch is not None else "")
        return self._emit(f"#quality_metric: {where}, {channel} {name} <{kind}>={float(value)!r}")

    def progress(self, percent: float) -> str:
        return self._emit(f"#progress_metric: host={self.host}, completed {percent:g} % of epochs")

    def throughput(self, records_per_second: float) -> str:
        return self._emit(f"#throughput_metric: host={self.host}, train throughput={records_per_second:.6g} records/second")

    def test_score(self, name: str, value: float) -> str:
        return self._emit(f"#test_score ({self.host}) : ('{name}', {float(value)!r})")

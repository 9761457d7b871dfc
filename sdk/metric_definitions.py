"""SageMaker ``MetricDefinitions`` for the open NTM and k-NN images, as data.

SageMaker scrapes metrics from a custom image's log only through the regexes given with the training or tuning job
(the built-in algorithms have theirs attached by AWS), so these images publish their own. Each regex matches a line
that the containers print (docs/contract.md part A §1) and captures the number in its first group:

* NTM, per epoch and host: ``#quality_metric: host=algo-1, epoch=3, train total_loss <loss>=6.27`` and the same
  with ``validation``; after training, the final-model lines without ``epoch=`` (``validation total_loss``,
  ``test total_loss``); ``#progress_metric: host=algo-1, completed 10 % of epochs`` and
  ``#throughput_metric: host=algo-1, train throughput=8123.5 records/second``.
* k-NN: ``#quality_metric: host=algo-1, test accuracy <score>=0.92`` or ``... test mse <loss>=1.7``.

The ``epoch=`` part is optional in the loss regexes, so one definition follows the per-epoch values and ends on the
final model's value, the one printed last (which is what tuning reads). The first-party log convention behind these
lines is the one AWS publishes for Linear Learner; the exact NTM and k-NN regexes AWS uses are not public.
"""

from __future__ import annotations

import copy

__all__ = ["METRIC_DEFINITIONS", "metric_definitions"]

_QUALITY = r"#quality_metric: host=\S+, "
_EPOCH = r"(?:epoch=\S+, )?"

METRIC_DEFINITIONS: dict[str, list[dict[str, str]]] = {
    "ntm": [
        {"Name": "train:total_loss", "Regex": _QUALITY + _EPOCH + r"train total_loss <loss>=(\S+)"},
        {"Name": "validation:total_loss", "Regex": _QUALITY + _EPOCH + r"validation total_loss <loss>=(\S+)"},
        {"Name": "test:total_loss", "Regex": _QUALITY + r"test total_loss <loss>=(\S+)"},
        {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) %"},
        {
            "Name": "train:throughput",
            "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second",
        },
    ],
    "knn": [
        {"Name": "test:accuracy", "Regex": _QUALITY + r"test accuracy <score>=(\S+)"},
        {"Name": "test:mse", "Regex": _QUALITY + r"test mse <loss>=(\S+)"},
    ],
}
"""Algorithm name -> the ``MetricDefinitions`` list for its image (``[{"Name": ..., "Regex": ...}, ...]``)."""


def metric_definitions(algorithm: str) -> list[dict[str, str]]:
    """Return a fresh copy of the metric definitions of ``algorithm`` (``"ntm"`` or ``"knn"``).

    A copy, so a caller that appends its own definitions does not change them for everyone else.
    """
    try:
        return copy.deepcopy(METRIC_DEFINITIONS[algorithm])
    except KeyError:
        known = ", ".join(sorted(METRIC_DEFINITIONS))
        raise ValueError(f"Unknown algorithm {algorithm!r}: expected one of {known}") from None

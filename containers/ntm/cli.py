"""``ntm-container train|serve``: the NTM algorithm handed to the container core's process boundary.

Training is imported when it runs: it brings torch, which serving never needs (``ntm-container serve`` starts
without importing it), and the process settings of ``runtime`` must be in place before torch loads.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from container_core.cli import Algorithm, TrainingContext
from container_core.cli import main as core_main
from ntm_container.runtime import configure_training_process


def train(context: TrainingContext) -> None:
    configure_training_process()
    from ntm_container.train import train as run

    run(context)


ALGORITHM = Algorithm("NTM", train, "ntm_container.serve:HANDLERS")


def main(argv: Sequence[str] | None = None) -> int:
    return core_main(ALGORITHM, argv)


if __name__ == "__main__":
    sys.exit(main())

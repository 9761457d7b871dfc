"""``ntm-container train|serve``: the NTM algorithm handed to the container core's process boundary."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from container_core.cli import Algorithm
from container_core.cli import main as core_main
from ntm_container.train import train

ALGORITHM = Algorithm("NTM", train, "ntm_container.serve:HANDLERS")


def main(argv: Sequence[str] | None = None) -> int:
    return core_main(ALGORITHM, argv)


if __name__ == "__main__":
    sys.exit(main())

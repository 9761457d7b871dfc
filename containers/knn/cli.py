"""``knn-container train`` and ``knn-container serve``: the k-NN algorithm handed to the container core."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from container_core.cli import Algorithm
from container_core.cli import main as core_main
from knn_container.train import train

ALGORITHM = Algorithm("KNN", train, "knn_container.serve:HANDLERS")


def main(argv: Sequence[str] | None = None) -> int:
    return core_main(ALGORITHM, argv)


if __name__ == "__main__":
    sys.exit(main())

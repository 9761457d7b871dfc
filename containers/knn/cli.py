"""``knn-container train`` and ``knn-container serve``: the k-NN algorithm handed to the container core.

faiss (and the OpenBLAS it bundles) runs on GNU OpenMP, whose threads busy-wait between parallel regions by
default. On a host whose cores are shared (other processes, or several server workers) that spinning starves the
thread doing the work: a 1,000-query COSINE search over 11,314 x 30 vectors took 310-500 ms with two threads against
20-60 ms with one on a loaded 2-core host, and 23 ms with two threads and ``OMP_WAIT_POLICY=PASSIVE``. libgomp reads
the policy once, when it is loaded, so ``main`` sets it (unless the environment already does) before anything
imports faiss; that is also why ``train`` is imported lazily here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from container_core.cli import Algorithm, TrainingContext
from container_core.cli import main as core_main


def train(context: TrainingContext) -> None:
    from knn_container.train import train as run

    run(context)


ALGORITHM = Algorithm("KNN", train, "knn_container.serve:HANDLERS")


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return core_main(ALGORITHM, argv)


if __name__ == "__main__":
    sys.exit(main())

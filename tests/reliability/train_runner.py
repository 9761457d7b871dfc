"""Runs many training cases in ONE process through the real error boundary, ``container_core.cli.run_training``.

``python -m tests.reliability.train_runner ntm|knn RESULTS.json ROOT...``: for each ``/opt/ml`` tree ROOT, runs the
algorithm's real ``Algorithm`` object exactly as ``<algo>-container train`` does (minus argument parsing), so the real
failure file is written; the exit codes go to RESULTS.json. One process per algorithm instead of one per case
keeps a table of dozens of cases fast (importing torch costs seconds on a loaded machine), while the caller's
subprocess timeout still catches a hang in any case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from container_core.cli import configure_logging, run_training
from container_core.paths import Paths


def main(argv: list[str]) -> int:
    name, results_path, *roots = argv
    if name == "ntm":
        from ntm_container.cli import ALGORITHM
    else:
        from knn_container.cli import ALGORITHM
    configure_logging()
    results = {}
    for root in roots:
        print(f"=== case {root}", flush=True)
        results[root] = run_training(ALGORITHM, Paths(Path(root)))
        Path(results_path).write_text(json.dumps(results))  # partial results survive a later hang
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Cold start: process spawn to the first ``GET /ping`` 200, for both containers, next to two named references.

Trains the same small models as ``bench/serving.py`` (NTM vocabulary 2,000 / 30 topics; k-NN 11,314 x 30 COSINE),
then, ``--repeats`` times in a rotating order (so every case sees the same machine load), times:

* ``knn-container serve`` and ``ntm-container serve``: ``Popen`` to the first 200 from ``/ping`` (polled every 5 ms
  over a fresh loopback connection), one worker; the server is then stopped by pid;
* ``python -c pass`` and ``python -c "import torch"`` (spawn to exit), the floor of any Python process and the cost
  of the import NTM serving used to need (it now runs the encoder in numpy and never imports torch).

Reports the median of the repeats. Targets: k-NN < 1 s (issue 7), NTM < 0.4 s (issue 18).

    .venv/bin/python bench/cold_start.py [--repeats 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import markdown, write_section  # noqa: E402
from serving import start_server, train_knn, train_ntm  # noqa: E402

TARGETS = {"knn-container serve": 1.0, "ntm-container serve": 0.4}


def run_to_exit(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_cold_") as work:
        roots = {"ntm-container serve": Path(work) / "ntm", "knn-container serve": Path(work) / "knn"}
        train_ntm(roots["ntm-container serve"])
        train_knn(roots["knn-container serve"])

        def serve(name: str) -> float:
            server, seconds = start_server(name.split()[0], roots[name])
            server.stop()
            return seconds

        cases = {
            "python -c pass": lambda: run_to_exit("pass"),
            'python -c "import torch"': lambda: run_to_exit("import torch"),
            "knn-container serve": lambda: serve("knn-container serve"),
            "ntm-container serve": lambda: serve("ntm-container serve"),
        }
        names = list(cases)
        times: dict[str, list[float]] = {name: [] for name in names}
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                times[name].append(cases[name]())
            print(f"round {repeat + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f}" for n in names), file=sys.stderr)
    load_after = os.getloadavg()
    medians = {name: float(np.median(values)) for name, values in times.items()}
    table = [["process", "median s", "min s", "max s", "/ python -c pass", '/ "import torch"', "target", "met"]]
    for name in names:
        target = TARGETS.get(name)
        table.append([
            name, f"{medians[name]:.2f}", f"{min(times[name]):.2f}", f"{max(times[name]):.2f}",
            f"{medians[name] / medians['python -c pass']:.1f}x", f"{medians[name] / medians[names[1]]:.2f}x",
            f"< {target} s" if target else "", ("yes" if medians[name] < target else "NO") if target else "",
        ])
    note = (
        f"`bench/cold_start.py`: spawn to the first `/ping` 200 (servers, one worker, loopback, model of "
        f"`bench/serving.py` loaded) or spawn to exit (references), median of {args.repeats} in rotating order. "
        f"{os.cpu_count()} CPU cores; load average {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after (1-minute); the references show how slow the machine was."
    )
    if args.no_write:
        print(note + "\n\n" + markdown(table))
    else:
        write_section("Cold start", table, note)


if __name__ == "__main__":
    main()

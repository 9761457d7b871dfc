"""NTM training and k-NN index building on a CUDA GPU against the same code on the same machine's CPUs, in one run.

NTM: ``ntm-container train`` as a process (``ntm_vs_lda.run_ntm``), once with the GPU visible and once with
``CUDA_VISIBLE_DEVICES=""``, on (a) the tutorial's 20 Newsgroups preparation (vocabulary 2,000, the tutorial's
hyperparameters, K=30) and (b) a synthetic 50,000-document corpus with a 20,000-word vocabulary (2 epochs,
``mini_batch_size=1024``), where a step has enough work for a GPU. Reported: wall time of the process, the
training loop's time (sum of the epoch lines), and NPMI / TU of the result, so a faster device that trains a
worse model shows up.

k-NN: ``knn_container.index.build`` of 1,000,000 x 30 clustered float32 vectors for Flat, IVFFlat and IVFPQ with
``use_gpu`` True and False (the GPU build is copied back to a CPU index, which is what the container saves), and
recall@10 of each against the CPU Flat index on 1,000 queries. Where faiss has no GPU support the GPU rows say so.

The GPU machine has no network and no copy of the 20NG archive, so the corpus is prepared here first:

    PYTHONPATH=examples .venv/bin/python bench/gpu.py --prepare bench/.gpu/20ng.npz
    python3 bench/gpu.py --corpus bench/.gpu/20ng.npz --out gpu.json   # on the GPU machine (bench/gpu_check.sh)
    .venv/bin/python bench/gpu.py --record gpu.json                     # back here: the RESULTS.md section
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "examples"), str(REPO / "bench")]

from results import markdown, write_section  # noqa: E402


def prepare(target: Path) -> None:
    from ntm_vs_lda import load_corpus

    train, validation, test, vocabulary, description = load_corpus()
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, matrix in (("train", train), ("validation", validation), ("test", test)):
        matrix = matrix.tocsr().astype(np.float32)
        arrays.update({f"{name}_data": matrix.data, f"{name}_indices": matrix.indices,
                       f"{name}_indptr": matrix.indptr, f"{name}_shape": np.array(matrix.shape)})
    np.savez_compressed(target, vocabulary=np.array(vocabulary), description=np.array(description), **arrays)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB): {train.shape[0]} train documents, "
          f"{len(vocabulary)} words; {description}")


def load(path: Path) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, list[str]]:
    stored = np.load(path, allow_pickle=False)
    matrices = [sp.csr_matrix((stored[f"{n}_data"], stored[f"{n}_indices"], stored[f"{n}_indptr"]),
                              shape=tuple(stored[f"{n}_shape"])) for n in ("train", "validation", "test")]
    return (*matrices, [str(word) for word in stored["vocabulary"]])


def synthetic(documents: int, vocabulary: int, seed: int, length: int = 100) -> sp.csr_matrix:
    """``length`` words per document from a mixture of 50 planted topics over the vocabulary (counts, float32)."""
    rng = np.random.default_rng(seed)
    topic_cdf = np.cumsum(rng.dirichlet(np.full(vocabulary, 0.02), size=50), axis=1)
    mixture_cdf = np.cumsum(rng.dirichlet(np.full(50, 0.1), size=documents), axis=1)
    topic = (rng.random((documents, length, 1)) > mixture_cdf[:, None, :]).sum(axis=2).clip(max=49)
    words = np.empty((documents, length), np.int64)
    draws = rng.random((documents, length))
    for t in range(50):
        chosen = topic == t
        words[chosen] = np.searchsorted(topic_cdf[t], draws[chosen]).clip(max=vocabulary - 1)
    rows = np.repeat(np.arange(documents), length)
    matrix = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, words.ravel())), shape=(documents, vocabulary))
    matrix.sum_duplicates()
    return matrix


def ntm_rows(train, validation, test, vocabulary, label, extra) -> list[list[object]]:
    from ntm_vs_lda import run_ntm

    rows = []
    for device in ("cuda", "cpu"):
        saved = os.environ.get("CUDA_VISIBLE_DEVICES")
        if device == "cpu":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        try:
            result = run_ntm(train, validation, test, vocabulary, 30, extra)
        finally:
            if saved is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = saved
        rows.append([label, device, result["epochs"], f"{result['seconds']:.1f}", f"{result['loop_seconds']:.1f}",
                     f"{result['npmi']:.3f}", f"{result['tu']:.2f}"])
        print("NTM", rows[-1], file=sys.stderr, flush=True)
    rows.append([label, "cpu / cuda", "", f"{float(rows[1][3]) / float(rows[0][3]):.2f}x",
                 f"{float(rows[1][4]) / max(float(rows[0][4]), 1e-9):.2f}x", "", ""])
    return rows


def knn_rows(points: int, queries: int) -> list[list[object]]:
    import faiss

    from knn_container import index

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(1000, 30)).astype(np.float32) * 4
    base = (centres[rng.integers(0, 1000, points)] + rng.normal(size=(points, 30))).astype(np.float32)
    probe = base[rng.integers(0, points, queries)] + rng.normal(scale=0.1, size=(queries, 30)).astype(np.float32)
    gpu = index.gpu_available()
    rows, truth = [], None
    for index_type in ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ"):
        plan = index.IndexPlan.choose(index_type, "L2", 30, points)
        for device in (("gpu", "cpu") if gpu else ("cpu",)):
            started = time.perf_counter()
            built = index.build(plan, base, use_gpu=device == "gpu")
            seconds = time.perf_counter() - started
            _, ids = index.search(built, plan, probe, 10)
            if truth is None:  # the first CPU Flat, or the GPU Flat checked against it below
                truth = ids if device == "cpu" and index_type == "faiss.Flat" else None
            rows.append([index_type, device, f"{points:,}", f"{seconds:.2f}", ids])
            print("k-NN", rows[-1][:4], file=sys.stderr, flush=True)
        if not gpu:
            rows.append([index_type, "gpu", f"{points:,}", "faiss here has no GPU support "
                         f"(StandardGpuResources: {hasattr(faiss, 'StandardGpuResources')})", None])
    truth = next(r[4] for r in rows if r[0] == "faiss.Flat" and r[1] == "cpu")
    for row in rows:
        ids = row.pop()
        row.append("" if ids is None else
                   f"{np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)]):.3f}")
    return rows


def record(tables: dict) -> None:
    env = tables["environment"]
    stamp = (f"{tables.get('date', 'date not recorded')} on one {env['gpu']} with {env['cpus']} CPU cores, "
             f"torch {env['torch']}")
    for key, name in (("ntm", "GPU: NTM training, CUDA against the same machine's CPUs"),
                      ("knn", "GPU: k-NN index build, faiss GPU against CPU")):
        if key in tables:
            write_section(name, tables[key], NOTES[key], stamp)


NOTES = {
    "ntm": "`bench/gpu.py` (run through `bench/gpu_check.sh` on a lent GPU machine). The same `ntm-container train` "
           "process with the GPU visible and with `CUDA_VISIBLE_DEVICES=\"\"`, so the CPU row uses all the "
           "machine's cores. Process seconds include interpreter start, reading RecordIO, the topic report and the "
           "artifact; the training loop is the sum of the epoch lines. Epoch counts differ because early stopping "
           "sees slightly different losses on each device (float summation order).",
    "knn": "`bench/gpu.py`: `knn_container.index.build` with `use_gpu` True and False on 1,000,000 x 30 clustered "
           "vectors; recall@10 of 1,000 queries against the CPU Flat index.",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", type=Path, help="write the 20NG corpus to this .npz and stop")
    parser.add_argument("--corpus", type=Path, help="the .npz written by --prepare")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--docs", type=int, default=50_000, help="synthetic NTM corpus size (train + 10%% held out)")
    parser.add_argument("--skip", choices=("ntm", "knn"), action="append", default=[])
    parser.add_argument("--out", type=Path, help="also write the tables and environment here (JSON)")
    parser.add_argument("--record", type=Path, help="write the RESULTS.md section from a JSON written by --out")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return
    if args.record:
        record(json.loads(args.record.read_text()))
        return
    import torch

    environment = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                   "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                   "cpus": os.cpu_count()}
    print("environment:", environment, flush=True)
    tables = {"environment": environment, "date": time.strftime("%Y-%m-%d")}
    if "ntm" not in args.skip:
        header = ["corpus", "device", "epochs", "process s", "training loop s", "NPMI", "TU"]
        rows = []
        if args.corpus:
            train, validation, test, vocabulary = load(args.corpus)
            rows += ntm_rows(train, validation, test, vocabulary,
                             f"20NG tutorial ({train.shape[0]:,} docs, vocab {train.shape[1]:,})", {})
        big = synthetic(args.docs, 20_000, seed=1)
        vocabulary = [f"w{i}" for i in range(big.shape[1])]
        cut = args.docs * 9 // 10
        rows += ntm_rows(big[:cut], big[cut:], big[cut:], vocabulary,
                         f"synthetic {cut:,} docs, vocab 20,000, batch 1,024",
                         {"epochs": 2, "mini_batch_size": 1024, "num_patience_epochs": 2})
        print(markdown([header, *rows]), flush=True)
        tables["ntm"] = [header, *rows]
    if "knn" not in args.skip:
        header = ["index", "device", "points", "build s", "recall@10 vs CPU Flat"]
        rows = knn_rows(args.points, 1000)
        print(markdown([header, *rows]), flush=True)
        tables["knn"] = [header, *rows]
    if args.out:
        args.out.write_text(json.dumps(tables, indent=1))


if __name__ == "__main__":
    main()

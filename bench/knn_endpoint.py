"""Benchmark the k-NN endpoint against raw faiss on the same index, in the same run.

For each index type: build an index of N x D float32 vectors (default 1,000,000 x 30, seeded Gaussian clusters)
with the container's own training code, write the artifact, start ``knn-container serve`` (one worker, loopback),
and time at concurrency 1: single-row and 1,000-row ``text/csv`` requests through HTTP (JSON response), next to
``index.search`` on the same artifact in this process with the same faiss thread count. Prints a table and writes
it under ``## k-NN endpoint`` in ``bench/RESULTS.md`` (other sections are left as they are).

    .venv/bin/python bench/knn_endpoint.py                     # the full run (a few minutes)
    .venv/bin/python bench/knn_endpoint.py --points 20000 --no-write   # a quick smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from knn_container import artifacts, serve, train  # noqa: E402
from knn_container.hyperparameters import KNNConfig  # noqa: E402

HEADING = "## k-NN endpoint"


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(1000, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    step = 200_000
    for start in range(0, n, step):
        size = min(step, n - start)
        out[start : start + size] = centres[rng.integers(0, 1000, size)] + rng.normal(size=(size, dim)).astype(np.float32)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{v:.5f}" for v in row) for row in rows).encode()


def stats(latencies: list[float], rows_per_call: int) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {"qps": rows_per_call * len(ms) / (ms.sum() / 1000), "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99))}


def start_server(model_root: Path, log_path: Path) -> tuple[subprocess.Popen, httpx.Client]:
    port = free_port()
    env = dict(os.environ, SM_OPT_ML=str(model_root), SAGEMAKER_BIND_TO_PORT=str(port), ALGO_BIND_HOST="127.0.0.1",
               SAGEMAKER_MODEL_SERVER_WORKERS="1", PYTHONPATH=str(REPO))
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "knn_container.cli", "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            if client.get("/ping", timeout=1).status_code == 200:
                return process, client
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def bench_index(index_type: str, data: np.ndarray, labels: np.ndarray, queries: np.ndarray, args, work: Path) -> dict:
    config = KNNConfig.from_raw({"feature_dim": data.shape[1], "k": args.k, "predictor_type": "classifier",
                                 "sample_size": data.shape[0], "index_type": index_type})
    rss_before = psutil.Process().memory_info().rss
    started = time.perf_counter()
    model = train.build_model(config, data, labels)
    build_s = time.perf_counter() - started
    build_rss = psutil.Process().memory_info().rss - rss_before
    root = work / index_type
    artifacts.save(model, root / "model")
    index_mb = (root / "model" / artifacts.NAME).stat().st_size / 1e6
    del model

    # raw faiss: the same artifact, loaded as the server loads it, with the same faiss settings. Raw calls and
    # endpoint requests alternate, so both see the same load on a shared machine.
    loaded = artifacts.load(root / "model")
    faiss.cvar.distance_compute_blas_threshold = serve.blas_threshold(loaded.plan.dim)
    process, client = start_server(root, work / f"{index_type}.log")
    raw, endpoint = {}, {}
    try:
        for name, rows, calls in (("1 row", 1, args.single), ("1000 rows", 1000, args.batches)):
            faiss.omp_set_num_threads(1 if rows < serve.SMALL_REQUEST_ROWS else os.cpu_count() or 1)
            raw_times, endpoint_times = [], []
            for i in range(calls + 2):  # two warm-up rounds
                chunk = queries[(i * rows) % (len(queries) - rows):][:rows]
                body = csv_body(chunk)
                t0 = time.perf_counter()
                loaded.index.search(loaded.plan.prepare(chunk), args.k)
                t1 = time.perf_counter()
                response = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
                t2 = time.perf_counter()
                if response.status_code != 200:
                    raise RuntimeError(response.text)
                if i >= 2:
                    raw_times.append(t1 - t0)
                    endpoint_times.append(t2 - t1)
            raw[name], endpoint[name] = stats(raw_times, rows), stats(endpoint_times, rows)
        server_rss = psutil.Process(process.pid).memory_info().rss
    finally:
        client.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    return {"index_type": index_type, "build_s": build_s, "build_rss_mb": build_rss / 1e6, "index_mb": index_mb,
            "server_rss_mb": server_rss / 1e6, "raw": raw, "endpoint": endpoint}


def scan_floor_ms(data: np.ndarray) -> float:
    """Best of 5 single passes over the vectors (numpy sum): no exact search of one query can beat reading them."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def table(results: list[dict], args, started: str, floor_ms: float, load: tuple[float, float]) -> str:
    lines = [
        HEADING,
        "",
        f"`bench/knn_endpoint.py`, {started}: {args.points:,} x {args.dim} float32 vectors (seeded clusters), k={args.k}, "
        f"one server worker, concurrency 1, `text/csv` in, `application/json` out; raw faiss = `index.search` on the "
        f"same artifact in the bench process, alternating with the requests. {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, "
        f"faiss {faiss.__version__}, no GPU. 1-minute load average {load[0]:.2f} before, {load[1]:.2f} after. "
        f"One pass over the {args.points * args.dim * 4 / 1e6:,.0f} MB of vectors takes {floor_ms:.1f} ms here (numpy "
        "sum, best of 5): the floor for an exact (Flat) search of a single row, whatever the server does; IVF "
        "indexes read only the probed lists.",
        "",
        "| index | build s | build RSS MB | index file MB | server RSS MB | request | raw faiss q/s | endpoint q/s "
        "| endpoint / raw | raw p50 ms | endpoint p50 ms | raw p99 ms | endpoint p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for name in ("1 row", "1000 rows"):
            raw, end = r["raw"][name], r["endpoint"][name]
            lines.append(
                f"| {r['index_type']} | {r['build_s']:.2f} | {r['build_rss_mb']:.0f} | {r['index_mb']:.0f} | "
                f"{r['server_rss_mb']:.0f} | {name} | {raw['qps']:,.0f} | {end['qps']:,.0f} | "
                f"{end['qps'] / raw['qps']:.0%} | {raw['p50']:.2f} | {end['p50']:.2f} | {raw['p99']:.2f} | {end['p99']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def write_section(section: str, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=30)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--single", type=int, default=300, help="single-row requests per index")
    parser.add_argument("--batches", type=int, default=10, help="1,000-row requests per index")
    parser.add_argument("--index-types", default="faiss.Flat,faiss.IVFFlat,faiss.IVFPQ")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d")
    data = clustered(args.points, args.dim, seed=0)
    labels = (np.arange(args.points) % 100).astype(np.float32)
    queries = clustered(20_000, args.dim, seed=1)
    floor_ms = scan_floor_ms(data)
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="knn_bench_") as work:
        for index_type in args.index_types.split(","):
            results.append(bench_index(index_type, data, labels, queries, args, Path(work)))
            print(f"{index_type} done", file=sys.stderr)
    section = table(results, args, started, floor_ms, (load_before, os.getloadavg()[0]))
    print(section)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bench process peak RSS {peak:.0f} MB", file=sys.stderr)
    if not args.no_write:
        write_section(section, REPO / "bench" / "RESULTS.md")


if __name__ == "__main__":
    main()

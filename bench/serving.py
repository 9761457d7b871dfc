"""The HTTP layer's overhead: ``/invocations`` against the same model called in-process through the same handlers.

Trains two small real models with the real entry points on temporary ``/opt/ml`` trees (NTM: vocabulary 2,000,
30 topics, synthetic sparse counts; k-NN: 11,314 x 30 topic-like vectors, COSINE, faiss.Flat, k=10, as the
tutorial's), then for each model, body size (1 row, 1,000 rows of ``text/csv``) and concurrency (1, 8) times:

* **HTTP**: ``<algo>-container serve`` (one worker unless ``--workers``) on loopback, driven by ``http.client``
  keep-alive connections, one per client thread (concurrency 8 = 8 threads, each with its own connection);
* **in-process**: the same artifact loaded with the container's own ``model_fn``, each call running the server's
  own sequence (``parse_media_type`` / ``negotiate`` / ``input_fn`` / ``predict_fn`` / ``output_fn``) on the
  same bytes, from the same number of threads.

Both sides alternate block by block (which side goes first flips every round) so they see the same machine load.
The figure is HTTP throughput / in-process throughput (the overhead of the HTTP layer); p50/p99 are per request
as the client saw them. Accept: ``application/json`` for NTM, ``application/jsonlines; verbose=true`` for k-NN (the
tutorial's). Targets (issue 7): 1,000-row k-NN >= 70% of in-process throughput; single-row p50 < 2 ms (k-NN),
< 3 ms (NTM).

    .venv/bin/python bench/serving.py [--rounds 3] [--no-write]

The training helpers here (``train_ntm``, ``train_knn``, ``start_server``) are shared by the other bench scripts.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from results import write_section  # noqa: E402

BIN = Path(sys.executable).parent
NTM_ACCEPT = "application/json"
KNN_ACCEPT = "application/jsonlines; verbose=true"


def write_tree(root: Path, hyperparameters: dict, channels: dict[str, bytes], content_type: str | None = None) -> Path:
    """A SageMaker-shaped ``/opt/ml`` tree with one file per channel (no ContentType means RecordIO, as SDK v1
    sends)."""
    import json

    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    entry = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
    if content_type is not None:
        entry["ContentType"] = content_type
    (config / "inputdataconfig.json").write_text(json.dumps({name: entry for name in channels}))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    for name, data in channels.items():
        folder = root / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-0.pbr").write_bytes(data)
    return root


def env_for(root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, SM_OPT_ML=str(root), PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def train(command: str, root: Path) -> float:
    """Run ``<command> train`` on the tree; seconds it took."""
    started = time.perf_counter()
    result = subprocess.run([str(BIN / command), "train"], env=env_for(root), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command} train failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def sparse_counts(documents: int, vocabulary: int, seed: int, length: int = 120) -> sp.csr_matrix:
    """Bag-of-words counts with a Zipf-like word distribution: ``length`` words per document on average."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocabulary + 1) ** 1.07
    p = rng.permutation(p / p.sum())
    lengths = rng.integers(length // 2, length * 3 // 2, size=documents)
    rows = np.repeat(np.arange(documents), lengths)
    words = rng.choice(vocabulary, size=int(lengths.sum()), p=p)
    matrix = sp.csr_matrix((np.ones(len(words), np.float32), (rows, words)), shape=(documents, vocabulary))
    matrix.sum_duplicates()
    return matrix


def topic_vectors(documents: int, topics: int, seed: int) -> np.ndarray:
    """Sparse Dirichlet mixtures, like NTM topic weights (what the tutorial indexes with k-NN)."""
    return np.random.default_rng(seed).dirichlet(np.full(topics, 0.1), size=documents).astype(np.float32)


def train_ntm(root: Path, vocabulary: int = 2000, topics: int = 30, documents: int = 4000) -> float:
    from container_core import recordio

    buffer = io.BytesIO()
    recordio.write_sparse(buffer, sparse_counts(documents, vocabulary, seed=0))
    write_tree(root, {"feature_dim": vocabulary, "num_topics": topics, "epochs": 2, "mini_batch_size": 256},
               {"train": buffer.getvalue()})
    return train("ntm-container", root)


def train_knn(root: Path, points: int = 11314, dim: int = 30) -> float:
    from container_core import recordio

    buffer = io.BytesIO()
    recordio.write_dense(buffer, topic_vectors(points, dim, seed=0), np.arange(points, dtype=np.float32))
    write_tree(root, {"feature_dim": dim, "k": 10, "predictor_type": "classifier", "sample_size": points,
                      "index_metric": "COSINE", "index_type": "faiss.Flat"}, {"train": buffer.getvalue()})
    return train("knn-container", root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(port: int) -> bool:
    """One ``GET /ping`` on a fresh connection: True on 200, False while nothing listens yet."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start_server(command: str, root: Path, workers: int = 1, timeout: float = 120, **env: str) -> tuple[Server, float]:
    """``<command> serve`` on a free loopback port; (server, seconds from spawn to the first /ping 200)."""
    port = free_port()
    log = root / f"serve-{port}.log"
    environ = env_for(root, SAGEMAKER_BIND_TO_PORT=str(port), ALGO_BIND_HOST="127.0.0.1",
                      SAGEMAKER_MODEL_SERVER_WORKERS=str(workers), **env)
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen([str(BIN / command), "serve"], env=environ, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(process, port, log)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{command} serve exited {process.returncode}:\n{log.read_text()[-3000:]}")
        if ping(port):
            return server, time.perf_counter() - started
        time.sleep(0.005)
    server.stop()
    raise RuntimeError(f"{command} serve not ready in {timeout} s:\n{log.read_text()[-3000:]}")


def csv_body(rows: np.ndarray, integer: bool) -> bytes:
    out = io.StringIO()
    np.savetxt(out, rows, fmt="%i" if integer else "%.6g", delimiter=",")
    return out.getvalue().encode()


def in_process_call(handlers_spec: str, model_root: Path) -> Callable[[bytes, str, str], bytes]:
    """The server's own per-request sequence, without HTTP, on the artifact loaded by the container's model_fn."""
    from container_core.mime import negotiate, parse_media_type
    from container_core.serving import load_handlers

    os.environ.update(SM_OPT_ML=str(model_root), SAGEMAKER_MODEL_SERVER_WORKERS="1")
    handlers = load_handlers(handlers_spec)
    model = handlers.model_fn(model_root / "model")

    def call(body: bytes, content_type: str, accept: str) -> bytes:
        media = parse_media_type(content_type, default="")
        wanted = negotiate(accept, handlers.accept_types)
        data = handlers.input_fn(body, media, model)
        return handlers.output_fn(handlers.predict_fn(data, model), wanted, model)

    return call


def http_call_factory(port: int) -> Callable[[], Callable[[bytes, str, str], bytes]]:
    """Per thread: a keep-alive ``http.client`` connection and a function that POSTs /invocations on it."""

    def make() -> Callable[[bytes, str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

        def call(body: bytes, content_type: str, accept: str) -> bytes:
            connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type,
                                                                           "Accept": accept})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
            return payload

        call.close = connection.close  # type: ignore[attr-defined]
        return call

    return make


def run_block(make_call: Callable[[], Callable], body: bytes, content_type: str, accept: str, requests: int,
              concurrency: int) -> tuple[float, list[float]]:
    """``requests`` calls spread over ``concurrency`` threads; (wall seconds, per-call latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    calls = [make_call() for _ in range(concurrency)]
    for call in calls:  # warm each connection / thread once, untimed
        call(body, content_type, accept)
    barrier = threading.Barrier(concurrency + 1)

    def worker(call: Callable, count: int) -> None:
        mine = []
        barrier.wait()
        for _ in range(count):
            t0 = time.perf_counter()
            call(body, content_type, accept)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    threads = [threading.Thread(target=worker, args=(call, n)) for call, n in zip(calls, share, strict=True)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for call in calls:
        getattr(call, "close", lambda: None)()
    return wall, latencies


def compare(name: str, http_make: Callable, local: Callable, body: bytes, accept: str, rows: int, requests: int,
            concurrency: int, rounds: int) -> dict:
    totals = {"http": [0.0, []], "in-process": [0.0, []]}
    ratios = []
    for round_index in range(rounds):
        order = ("http", "in-process") if round_index % 2 == 0 else ("in-process", "http")
        walls = {}
        for side in order:
            make = http_make if side == "http" else (lambda: local)
            wall, latencies = run_block(make, body, "text/csv", accept, requests, concurrency)
            walls[side] = wall
            totals[side][0] += wall
            totals[side][1].extend(latencies)
        ratios.append(walls["in-process"] / walls["http"])
    out = {"name": name, "rows": rows, "concurrency": concurrency, "ratio": float(np.median(ratios)),
           "ratio_min": min(ratios), "ratio_max": max(ratios)}
    for side, (wall, latencies) in totals.items():
        ms = np.asarray(latencies) * 1000
        out[side] = {"rps": len(ms) / wall, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per cell")
    parser.add_argument("--single", type=int, default=400, help="single-row requests per side per round")
    parser.add_argument("--batch", type=int, default=16, help="1,000-row requests per side per round")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--models", default="NTM,k-NN", help="which models to run (comma-separated)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as knn-container sets it, before faiss loads libgomp
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as work:
        roots = {"NTM": Path(work) / "ntm", "k-NN": Path(work) / "knn"}
        if "NTM" in args.models:
            train_ntm(roots["NTM"])
        if "k-NN" in args.models:
            train_knn(roots["k-NN"])
        documents = sparse_counts(1000, 2000, seed=1).toarray()
        queries = topic_vectors(1000, 30, seed=1)
        cases = [("NTM", "ntm-container", "ntm_container.serve:HANDLERS", NTM_ACCEPT, documents, True),
                 ("k-NN", "knn-container", "knn_container.serve:HANDLERS", KNN_ACCEPT, queries, False)]
        for name, command, spec, accept, rows, integer in cases:
            if name not in args.models.split(","):
                continue
            local = in_process_call(spec, roots[name])
            server, _ = start_server(command, roots[name], workers=args.workers)
            try:
                make = http_call_factory(server.port)
                for count, requests in ((1, args.single), (1000, args.batch)):
                    body = csv_body(rows[:count], integer)
                    for concurrency in (1, 8):
                        results.append(compare(name, make, local, body, accept, count, requests, concurrency,
                                               args.rounds))
                        r = results[-1]
                        print(f"{name} {count} rows c={concurrency}: {r['ratio']:.0%} "
                              f"(http {r['http']['rps']:.1f}/s p50 {r['http']['p50']:.2f} ms)", file=sys.stderr)
            finally:
                server.stop()
    load_after = os.getloadavg()
    targets = {("k-NN", 1000): "ratio >= 70%", ("k-NN", 1): "p50 < 2 ms", ("NTM", 1): "p50 < 3 ms"}
    table = [["model", "rows/request", "concurrency", "in-process req/s", "HTTP req/s", "HTTP / in-process",
              "(min-max over rounds)", "in-process p50 ms", "HTTP p50 ms", "in-process p99 ms", "HTTP p99 ms",
              "target", "met"]]
    for r in results:
        target = targets.get((r["name"], r["rows"]), "")
        met = ""
        if target.startswith("ratio"):
            met = "yes" if r["ratio"] >= 0.70 else "NO"
        elif target and r["concurrency"] == 1:
            met = "yes" if r["http"]["p50"] < (2.0 if r["name"] == "k-NN" else 3.0) else "NO"
        elif target:
            target = ""
        table.append([r["name"], f"{r['rows']:,}", r["concurrency"], f"{r['in-process']['rps']:,.1f}",
                      f"{r['http']['rps']:,.1f}", f"{r['ratio']:.0%}", f"{r['ratio_min']:.0%}-{r['ratio_max']:.0%}",
                      f"{r['in-process']['p50']:.2f}", f"{r['http']['p50']:.2f}", f"{r['in-process']['p99']:.2f}",
                      f"{r['http']['p99']:.2f}", target, met])
    note = (
        "`bench/serving.py`: `/invocations` over loopback HTTP against the same artifact called in-process through "
        "the same handlers (`model_fn` once, then `input_fn`/`predict_fn`/`output_fn` per call, as the server does), "
        f"same bytes, same thread count; both sides alternate block by block over {args.rounds} rounds (first side "
        "flips each round); ratio = median over rounds of HTTP req/s / in-process req/s. Client: `http.client`, "
        "one keep-alive connection per client thread (concurrency 8 = 8 threads). Server: one uvicorn worker "
        f"(`SAGEMAKER_MODEL_SERVER_WORKERS={args.workers}`). NTM: vocabulary 2,000, 30 topics, trained 2 epochs on "
        "4,000 synthetic Zipf documents, `text/csv` counts in (`%i`), JSON out. k-NN: 11,314 x 30 Dirichlet "
        "vectors, COSINE, faiss.Flat, k=10, `text/csv` in, `application/jsonlines; verbose=true` out. "
        "At concurrency 8 the one server worker runs requests one at a time on its event loop, while the "
        "in-process side runs 8 calls at once, each with its own OpenMP team (k-NN) on 2 cores: that "
        "oversubscription, not HTTP, is why HTTP beats in-process for 1,000-row k-NN at concurrency 8. "
        f"{os.cpu_count()} CPU cores; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1-minute)."
    )
    if args.no_write:
        from results import markdown

        print(note + "\n\n" + markdown(table))
    else:
        write_section("Serving: HTTP layer vs in-process handlers", table, note)


if __name__ == "__main__":
    main()

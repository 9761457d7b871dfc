"""Faults during training and serving: SIGTERM mid-training, a host killed in two-host training, a serving worker
killed. Real processes throughout; every wait is bounded so a hang fails the test instead of stalling it.

* SIGTERM during NTM training writes a checkpoint and exits 143; running again resumes and finishes with a final
  validation loss within 2% of an uninterrupted run with the same seed (in practice: equal).
* SIGKILL of one host of a two-host NTM or k-NN job: the surviving host ends with a non-zero exit code and a failure
  file within 60 s of the kill, not at the collective's 30-minute default timeout.
* A serving worker killed (``SAGEMAKER_MODEL_SERVER_WORKERS=2``): requests keep succeeding on the other worker, and
  uvicorn's supervisor starts a replacement.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from tests.conftest import PYTHON, OptML, free_port
from tests.ntm_corpus import write_recordio
from tests.reliability.conftest import NTM_CORPUS, NTM_DIM, serve
from tests.reliability.fuzz_requests import _csv

NTM = ["-m", "ntm_container.cli", "train"]
KNN = ["-m", "knn_container.cli", "train"]
FINAL_VALIDATION = re.compile(r"#quality_metric: host=algo-1, validation total_loss <loss>=(\S+)")


def _start(command: list[str], tree: OptML, log_path: Path, **env: str) -> subprocess.Popen:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen([PYTHON, *command], env=tree.env(**env), stdout=log_file, stderr=subprocess.STDOUT)


def _wait_for_text(process: subprocess.Popen, log_path: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended before {text!r}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout} s:\n{log_path.read_text()[-3000:]}")


def _stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _ntm_tree(root: Path, hyperparameters: dict, hosts: tuple[str, ...] = ("algo-1",), host: str = "algo-1",
              rows: slice = slice(0, 250)) -> OptML:
    tree = OptML(root).configure(hyperparameters, {"train": None, "validation": None}, hosts=hosts, current_host=host)
    write_recordio(tree.channel("train") / f"train-{host}.pbr", NTM_CORPUS.documents[rows])
    write_recordio(tree.channel("validation") / "validation.pbr", NTM_CORPUS.documents[250:])
    return tree


def test_sigterm_checkpoints_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    hyperparameters = {"feature_dim": NTM_DIM, "num_topics": 3, "epochs": 10, "num_patience_epochs": 100,
                       "mini_batch_size": 8}
    stopped = _ntm_tree(tmp_path / "stopped", hyperparameters)
    fresh = _ntm_tree(tmp_path / "fresh", hyperparameters)
    first = _start(NTM, stopped, tmp_path / "first.log")
    uninterrupted = _start(NTM, fresh, tmp_path / "fresh.log")  # in parallel: same seed, same data
    try:
        _wait_for_text(first, tmp_path / "first.log", "epoch=3, validation total_loss")
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 143
        assert uninterrupted.wait(300) == 0, (tmp_path / "fresh.log").read_text()[-3000:]
    finally:
        _stop(first, uninterrupted)
    failure = stopped.failure.read_text()
    assert "resumes from epoch" in failure and "Traceback" not in failure, failure
    assert (stopped.root / "checkpoints" / "ntm-checkpoint.pt").is_file()
    assert not (stopped.model / "model_meta.json").exists()
    stopped.failure.unlink()  # SageMaker gives the rerun a fresh output folder
    second = _start(NTM, stopped, tmp_path / "second.log")
    try:
        assert second.wait(300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        _stop(second)
    resumed_log = (tmp_path / "second.log").read_text()
    assert "continuing with epoch" in resumed_log
    resumed = float(FINAL_VALIDATION.search(resumed_log).group(1))
    reference = float(FINAL_VALIDATION.search((tmp_path / "fresh.log").read_text()).group(1))
    print(f"final validation loss: resumed {resumed:.6f}, uninterrupted {reference:.6f}")
    assert abs(resumed - reference) <= 0.02 * abs(reference)


def _two_hosts(tmp_path: Path, command: list[str], build: Callable[[Path, tuple[str, ...], str], OptML], victim: int,
               ready: str) -> str:
    """Start a two-host job on loopback, SIGKILL host ``victim`` once ``ready`` is in the OTHER host's log."""
    port = str(free_port())
    hosts = ("algo-1", "algo-2")
    trees = [build(tmp_path / host, hosts, host) for host in hosts]
    logs = [tmp_path / f"{host}.log" for host in hosts]
    processes = [_start(command, tree, log, ALGO_LEADER_ADDR="127.0.0.1", ALGO_DIST_PORT=port)
                 for tree, log in zip(trees, logs, strict=True)]
    survivor = 1 - victim
    try:
        _wait_for_text(processes[survivor], logs[survivor], ready)
        assert processes[victim].poll() is None, "the victim finished before it could be killed"
        processes[victim].kill()
        killed_at = time.monotonic()
        try:
            code = processes[survivor].wait(90)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the surviving host hung:\n{logs[survivor].read_text()[-3000:]}") from None
        elapsed = time.monotonic() - killed_at
    finally:
        _stop(*processes)
    failure = trees[survivor].failure
    assert failure.is_file(), logs[survivor].read_text()[-3000:]
    text = failure.read_text()
    print(f"survivor {hosts[survivor]} exit {code} {elapsed:.1f} s after the kill: {text.splitlines()[0]}")
    assert code == 3 and elapsed < 60  # PlatformError
    assert "Traceback" not in text and len(text) < 1024
    return text


@pytest.mark.parametrize("victim", [1, 0], ids=["kill-worker-host", "kill-leader"])
def test_ntm_host_killed_mid_training_fails_the_other_host_cleanly(tmp_path: Path, victim: int) -> None:
    hyperparameters = {"feature_dim": NTM_DIM, "num_topics": 3, "epochs": 500, "num_patience_epochs": 1000,
                       "mini_batch_size": 8}

    def build(root: Path, hosts: tuple[str, ...], host: str) -> OptML:
        return _ntm_tree(root, hyperparameters, hosts, host, slice(0, 125) if host == "algo-1" else slice(125, 250))

    survivor = "algo-2" if victim == 0 else "algo-1"
    text = _two_hosts(tmp_path, NTM, build, victim, f"host={survivor}, epoch=2, train total_loss")
    assert text.startswith("lost the connection to another host of this training job"), text
    assert "Error type: PlatformError" in text


def test_knn_host_killed_while_the_leader_waits_fails_the_leader_cleanly(tmp_path: Path) -> None:
    hyperparameters = {"feature_dim": 8, "k": 3, "predictor_type": "classifier", "sample_size": 1000,
                       "mini_batch_size": 500}

    def build(root: Path, hosts: tuple[str, ...], host: str) -> OptML:
        tree = OptML(root).configure(hyperparameters, {"train": "text/csv"}, hosts=hosts, current_host=host)
        rows = 50 if host == "algo-1" else 3_000_000  # the second host is still reading when it is killed
        rng = np.random.default_rng(len(host))
        block = "\n".join(",".join(f"{v:.1f}" for v in row) for row in rng.integers(0, 9, size=(50, 9))) + "\n"
        (tree.channel("train") / "train.csv").write_text(block * (rows // 50))
        return tree

    text = _two_hosts(tmp_path, KNN, build, 1, "host algo-1 sampled")
    assert text.startswith("lost the connection to another host of this training job"), text
    assert "Error type: PlatformError" in text


def _workers(pid: int) -> set[int]:
    children = psutil.Process(pid).children(recursive=True)
    return {c.pid for c in children if "multiprocessing" in " ".join(c.cmdline()) and "spawn_main" in " ".join(c.cmdline())}


@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_a_killed_serving_worker_is_replaced_and_requests_keep_succeeding(models, tmp_path: Path,
                                                                         algorithm: str) -> None:
    server = serve(models, algorithm, tmp_path / "serve.log", SAGEMAKER_MODEL_SERVER_WORKERS="2")
    try:
        deadline = time.monotonic() + 60
        while len(_workers(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _workers(server.process.pid)
        assert len(workers) == 2, workers
        dim = NTM_DIM if algorithm == "ntm" else 8
        body = _csv(np.ones((1, dim), np.float32))
        headers = {"Content-Type": "text/csv"}
        victim = min(workers)
        process = psutil.Process(victim)
        process.kill()
        process.wait(10)
        statuses = []
        for _ in range(100):  # new connections land on the surviving worker
            with httpx.Client(base_url=server.url, timeout=30) as client:
                statuses.append(client.post("/invocations", content=body, headers=headers).status_code)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _workers(server.process.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        replaced = _workers(server.process.pid)
        for _ in range(100):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                statuses.append(client.post("/invocations", content=body, headers=headers).status_code)
        print(f"{algorithm}: killed worker {victim}; workers now {sorted(replaced)}; statuses {set(statuses)}")
        assert statuses == [200] * 200
        assert len(replaced) == 2 and victim not in replaced
        assert server.client.get("/ping").status_code == 200
    finally:
        server.stop()

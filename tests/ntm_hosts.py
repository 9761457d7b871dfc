"""Run ``ntm-container train`` on N loopback hosts the way the local backend does for ``ShardedByS3Key``.

The training files, sorted by name, are dealt round-robin (host ``i`` gets ``sorted[i::N]``); the other channels are
copied to every host (``FullyReplicated``). Used by the quality-table test and ``bench/ntm_quality.py``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import PYTHON, OptML, free_port


def train_on_hosts(root: Path, hyperparameters: Mapping[str, Any], train_files: Sequence[Path],
                   replicated: Mapping[str, Sequence[Path]], hosts: int, timeout: float = 1800
                   ) -> tuple[Path, list[str], float]:
    """(the leader's model folder, every host's output, wall seconds of the slowest host)."""
    names = tuple(f"algo-{i + 1}" for i in range(hosts))
    port = str(free_port())
    shards = sorted(train_files, key=lambda path: path.name)
    trees = []
    for index, host in enumerate(names):
        channels = {"train": None, **{name: None for name in replicated}}
        tree = OptML(root / host).configure(hyperparameters, channels, hosts=names, current_host=host)
        for path in shards[index::hosts]:
            (tree.channel("train") / path.name).write_bytes(path.read_bytes())
        for name, paths in replicated.items():
            for path in paths:
                (tree.channel(name) / path.name).write_bytes(path.read_bytes())
        trees.append(tree)
    # Each host writes to a file: a pipe read only after the first host exits would fill up and block the others.
    logs = [root / f"{host}.log" for host in names]
    started = time.perf_counter()
    processes = []
    try:
        for tree, log in zip(trees, logs, strict=True):
            with open(log, "w") as handle:
                processes.append(subprocess.Popen([PYTHON, "-m", "ntm_container.cli", "train"],
                                                  env=tree.env(ALGO_LEADER_ADDR="127.0.0.1", ALGO_DIST_PORT=port),
                                                  stdout=handle, stderr=subprocess.STDOUT))
        for process in processes:
            process.wait(timeout=timeout)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.perf_counter() - started
    outputs = [log.read_text() for log in logs]
    for host, process, output in zip(names, processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"ntm-container train failed on {host}:\n{output[-3000:]}")
    return trees[0].model, outputs, seconds

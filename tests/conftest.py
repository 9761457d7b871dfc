"""Shared test fixtures: an ``/opt/ml`` tree builder and server processes on loopback, stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class OptML:
    """Builds a SageMaker-shaped ``/opt/ml`` tree under ``root``, as the platform does before ``train``."""

    root: Path

    def configure(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, str | None] | None = None,
        hosts: Sequence[str] = ("algo-1",),
        current_host: str = "algo-1",
    ) -> OptML:
        """``channels``: name -> ContentType (None: no ContentType key, as SDK v1 sends)."""
        config = self.root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
        data_config = {}
        for name, content_type in (channels or {}).items():
            entry = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
            if content_type is not None:
                entry["ContentType"] = content_type
            data_config[name] = entry
            (self.root / "input" / "data" / name).mkdir(parents=True, exist_ok=True)
        (config / "inputdataconfig.json").write_text(json.dumps(data_config))
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": current_host, "hosts": list(hosts), "network_interface_name": "eth0"})
        )
        return self

    def channel(self, name: str) -> Path:
        path = self.root / "input" / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["SM_OPT_ML"] = str(self.root)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.update(extra)
        return env


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests run where CUDA is present; elsewhere they are deselected (reported as such), not skipped."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    deselected = [item for item in items if item.get_closest_marker("gpu")]
    config.hook.pytest_deselected(items=deselected)
    items[:] = [item for item in items if not item.get_closest_marker("gpu")]


def train_in_process(algorithm: Any, optml: OptML) -> int:
    """Run ``container_core.cli.run_training`` here (fast, no interpreter start), then undo what it installs in
    this process: its SIGTERM handler and the root logging handlers."""
    import logging
    import signal as signals

    from container_core.cli import run_training
    from container_core.paths import Paths

    previous = signals.getsignal(signals.SIGTERM)
    try:
        return run_training(algorithm, Paths(optml.root))
    finally:
        signals.signal(signals.SIGTERM, previous)
        logging.getLogger().handlers.clear()


@pytest.fixture
def optml(tmp_path: Path) -> OptML:
    return OptML(tmp_path / "opt_ml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_command(command: Sequence[str], env: Mapping[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), env=dict(env), capture_output=True, text=True, timeout=timeout)


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start_server(command: Sequence[str], env: Mapping[str, str], log_path: Path, timeout: float = 60) -> Server:
    """Start ``command serve`` on a free loopback port and wait for ``/ping`` 200."""
    port = free_port()
    env = dict(env, SAGEMAKER_BIND_TO_PORT=str(port), ALGO_BIND_HOST="127.0.0.1")
    env.setdefault("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            list(command), env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if server.client.get("/ping", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout} s:\n{server.log()}")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Collects servers a test starts and stops each by its process id at teardown."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


PYTHON = sys.executable

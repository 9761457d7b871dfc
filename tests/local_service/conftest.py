"""Fixtures for the local service's tests: one service (and its store) in a temporary folder for this package.

The service is started ``persistent`` (as ``python -m opensagemaker.local start`` does) and stopped by its pid
after the last test, with its store; the teardown then checks that no process it started is left.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

HOSTS_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hosts:1"
ECHO_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/echo:1"
TOY_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/toy:1"


def _descendants_of(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The running ``LocalService`` (its ``environment()`` points any client at it)."""
    import psutil

    from opensagemaker.backends import local_commands
    from opensagemaker.local_service import LocalService
    from opensagemaker.local_store import LocalStore

    root = tmp_path_factory.mktemp("local-service")
    saved = dict(os.environ)
    os.environ["OPENSAGEMAKER_STORE_DIR"] = str(root / "store")
    os.environ["OPENSAGEMAKER_SERVICE_DIR"] = str(root / "service")
    os.environ["OPENSAGEMAKER_WORK_DIR"] = str(root / "work")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), saved.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    here = Path(__file__).parent
    local_commands.register_image_command(HOSTS_IMAGE, [sys.executable, str(here / "hosts_algorithm.py")])
    local_commands.register_image_command(ECHO_IMAGE, [sys.executable, str(REPO / "tests" / "sdk" / "echo_server.py")])
    local_commands.register_image_command(TOY_IMAGE, [sys.executable, "-m", "tests.contract.toy_algorithm"])
    handle = LocalService(root / "service", root / "store").start(persistent=True, register=False)
    try:
        yield handle
    finally:
        pids = [handle.pid]
        state = LocalService(root / "service", root / "store")
        if state.is_running():
            pids = [state.pid, *_descendants_of(state.pid)]
        state.stop()
        LocalStore(root / "store").stop()
        os.environ.clear()
        os.environ.update(saved)
        left = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        assert not left, f"processes left behind by the local service: {left}"


@pytest.fixture
def env(service) -> dict[str, str]:
    """A process environment for a client that knows nothing but these variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**base, **service.environment()}


@pytest.fixture
def sagemaker(service):
    return service.client("sagemaker")


@pytest.fixture
def runtime(service):
    return service.client("sagemaker-runtime")


@pytest.fixture
def bucket(service) -> str:
    from opensagemaker.local_store import ensure_running

    store = ensure_running(service.store_root)
    store.ensure_bucket("sagemaker-us-east-1-000000000000")
    return "sagemaker-us-east-1-000000000000"


@pytest.fixture
def s3(service):
    from opensagemaker.local_store import ensure_running

    return ensure_running(service.store_root).client()

"""SDK test fixtures: one local store and work folder for the SDK tests, and the toy / echo images.

The local backend is process-wide (as every boto3 client sees one AWS account), so the local service and its store
are started once for this test package in a temporary folder and stopped after its last test; the ``AWS_*`` variables ``Session`` sets
are restored then, so later test folders see the environment they started with.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

TOY_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/toy:1"
ECHO_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/echo:1"
ROLE = "arn:aws:iam::000000000000:role/opensagemaker-local"


def service_record(kind: str, name: str) -> dict:
    """The local service's record of ``name`` (``kind``: ``endpoints``, ``training-jobs``, ...), as on disk."""
    import json

    from opensagemaker.local_service import default_root

    return json.loads((default_root() / "records" / kind / f"{name}.json").read_text())


def server_pids(endpoint: str) -> list[int]:
    """The pids of the model servers of ``endpoint`` (recorded by the service)."""
    return service_record("endpoints", endpoint)["_local"]["pids"]


@pytest.fixture(scope="package")
def sdk_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Store folder, work folder, PYTHONPATH (for the toy algorithm) and the toy/echo images, for this package."""
    from opensagemaker.backends import local_commands

    root = tmp_path_factory.mktemp("sdk")
    saved = dict(os.environ)
    os.environ["OPENSAGEMAKER_STORE_DIR"] = str(root / "store")
    os.environ["OPENSAGEMAKER_WORK_DIR"] = str(root / "work")
    os.environ["OPENSAGEMAKER_KEEP_WORK"] = "1"  # the service keeps job folders, for the tests that read them
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), saved.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    local_commands.register_image_command(TOY_IMAGE, [sys.executable, "-m", "tests.contract.toy_algorithm"])
    local_commands.register_image_command(ECHO_IMAGE, [sys.executable, str(REPO / "tests" / "sdk" / "echo_server.py")])
    try:
        yield root
    finally:
        from opensagemaker.backends import shutdown_backend
        from opensagemaker.local_service import LocalService
        from opensagemaker.local_store import LocalStore

        shutdown_backend("local")
        LocalService(root / "service", root / "store").stop()
        LocalStore(root / "store").stop()
        local_commands.unregister_image_command(TOY_IMAGE)
        local_commands.unregister_image_command(ECHO_IMAGE)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def session(sdk_env: Path):
    from opensagemaker import Session

    return Session()


@pytest.fixture
def bucket(session) -> str:
    return session.default_bucket()

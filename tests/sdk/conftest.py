"""SDK test fixtures: one local store and work folder for the SDK tests, and the toy / echo images.

The local backend is process-wide (as every boto3 client sees one AWS account), so the store is started once for
this test package in a temporary folder and stopped after its last test; the ``AWS_*`` variables ``Session`` sets
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


@pytest.fixture(scope="package")
def sdk_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Store folder, work folder, PYTHONPATH (for the toy algorithm) and the toy/echo images, for this package."""
    from opensagemaker.backends import local_commands

    root = tmp_path_factory.mktemp("sdk")
    saved = dict(os.environ)
    os.environ["OPENSAGEMAKER_STORE_DIR"] = str(root / "store")
    os.environ["OPENSAGEMAKER_WORK_DIR"] = str(root / "work")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), saved.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    local_commands.register_image_command(TOY_IMAGE, [sys.executable, "-m", "tests.contract.toy_algorithm"])
    local_commands.register_image_command(ECHO_IMAGE, [sys.executable, str(REPO / "tests" / "sdk" / "echo_server.py")])
    try:
        yield root
    finally:
        from opensagemaker.backends import shutdown_backend
        from opensagemaker.local_store import LocalStore

        shutdown_backend("local")
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

"""Data is never lost or half-visible in the local backend, and nothing listens beyond loopback.

Each step runs in a NEW Python process through the SDK (``sdk_steps``), so "restart" means a new SDK process
against the same store folder. Lower-level store tests (restart of the store server, a killed streaming PUT, an
unfinished multipart upload, the store's own ports) are in ``tests/sdk/test_local_store.py``; these go through
``Session.upload_data`` and ``Model.deploy`` as a user does.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import PYTHON, REPO, OptML


@pytest.fixture
def sdk_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OPENSAGEMAKER_STORE_DIR=str(tmp_path / "store"), OPENSAGEMAKER_WORK_DIR=str(tmp_path / "work"))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_PROFILE", "OPENSAGEMAKER_BACKEND"):
        env.pop(name, None)
    yield env
    from opensagemaker.local_service import LocalService
    from opensagemaker.local_store import LocalStore

    LocalService(tmp_path / "service", tmp_path / "store").stop()  # and the endpoints it still serves
    LocalStore(tmp_path / "store").stop()  # whatever a step left running


def step(env: dict[str, str], *arguments: str, timeout: float = 180) -> dict:
    result = subprocess.run([PYTHON, "-m", "tests.reliability.sdk_steps", *arguments], env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_objects_survive_new_sdk_processes(sdk_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    files = {}
    for index, size in enumerate((0, 1, 5 << 20, 17 << 20)):  # empty, tiny, single-part, multipart
        path = folder / f"part-{index}.bin"
        path.write_bytes(os.urandom(size))
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    single = tmp_path / "single.csv"
    single.write_text("1,2,3\n")
    step(sdk_env, "upload", str(folder))  # one SDK process uploads a folder ...
    step(sdk_env, "upload", str(single))  # ... a second one a file ...
    digests = step(sdk_env, "digests", "-")  # ... and a third, new process reads everything back
    assert {key.rsplit("/", 1)[-1]: digest for key, digest in digests.items()} == {
        **files, "single.csv": hashlib.sha256(b"1,2,3\n").hexdigest()}


def test_an_interrupted_upload_leaves_no_partial_object(sdk_env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as stream:
        stream.truncate(768 << 20)  # sparse: costs no disk here, takes seconds to upload
    step(sdk_env, "keys", "-")  # start the store first, so the upload below is busy uploading when killed
    process = subprocess.Popen([PYTHON, "-m", "tests.reliability.sdk_steps", "upload", str(big)], env=sdk_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(4)
    finished_first = process.poll() is not None
    if not finished_first:
        os.killpg(process.pid, signal.SIGKILL)  # the SDK process and anything it started
    process.wait(30)
    keys = step(sdk_env, "keys", "-")["keys"]
    print(f"killed mid-upload: {not finished_first}; visible: {keys}")
    assert not finished_first, "the upload finished before the kill; the test proves nothing"
    assert all(size == big.stat().st_size for key, size in keys.items() if key.endswith("big.bin")), keys


def test_a_deployed_endpoint_and_the_store_listen_on_loopback_only(sdk_env: dict[str, str], tmp_path: Path,
                                                                     models: dict[str, OptML]) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in models["knn"].model.iterdir():
            tar.add(path, arcname=path.name)
    report = step(sdk_env, "deploy", str(archive), timeout=300)
    print(report)
    assert report["answered"] and report["endpoint"], report
    for address in report["endpoint"] + report["store"]:
        assert address.startswith("127.0.0.1:"), report

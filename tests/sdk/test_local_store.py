"""The local S3 store against a real ``weed mini``: no mocks; every store lives in the test's tmp_path and every
server a test starts is stopped by pid at teardown."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import psutil
import pytest
from botocore.exceptions import ClientError

from opensagemaker import local_store
from opensagemaker.local_store import LocalStore, LocalStoreError, ensure_running

REPO = Path(__file__).resolve().parents[2]
AWS_VARS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
)


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def started_pids() -> Iterator[list[int]]:
    """Pids of weed servers a test started; each is stopped by pid at teardown (TERM, then KILL)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and psutil.pid_exists(pid):
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def start_store(tmp_path: Path, started_pids: list[int]):
    """``start_store(name)`` -> a started LocalStore in ``tmp_path/name``; stopped at teardown."""
    stores: list[LocalStore] = []

    def start(name: str = "store", **kwargs) -> LocalStore:
        store = LocalStore(tmp_path / name).start(stop_at_exit=False, **kwargs)
        assert store.pid is not None
        if store.started_here:
            started_pids.append(store.pid)
        stores.append(store)
        return store

    yield start
    for store in stores:
        store.stop()


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def keys(client, bucket: str) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_plain_boto3_put_get_list_through_environment(start_store, clean_aws_env: pytest.MonkeyPatch) -> None:
    store = start_store()
    assert store.startup_seconds is not None and store.startup_seconds < 30
    print(f"weed mini startup: {store.startup_seconds:.2f} s")
    env = store.environment()
    assert set(env) == {
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    assert env["AWS_ENDPOINT_URL_S3"] == store.endpoint_url
    assert urlsplit(store.endpoint_url).hostname == "127.0.0.1"
    assert env["AWS_DEFAULT_REGION"] == store.region == "us-east-1"
    for name, value in env.items():
        clean_aws_env.setenv(name, value)

    client = boto3.client("s3")
    client.create_bucket(Bucket="tutorial-bucket")
    client.put_object(Bucket="tutorial-bucket", Key="ntm/train/part-0", Body=b"\x00\x01records")
    bucket = boto3.resource("s3").Bucket("tutorial-bucket")
    bucket.Object("ntm/test/part-0").upload_fileobj(io.BytesIO(b"test-records"))

    assert keys(client, "tutorial-bucket") == ["ntm/test/part-0", "ntm/train/part-0"]
    assert (
        client.get_object(Bucket="tutorial-bucket", Key="ntm/train/part-0")["Body"].read()
        == b"\x00\x01records"
    )
    out = io.BytesIO()
    bucket.Object("ntm/test/part-0").download_fileobj(out)
    assert out.getvalue() == b"test-records"
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["tutorial-bucket"]

    # the store's own client, ensure_bucket idempotent
    store.ensure_bucket("second-bucket")
    store.ensure_bucket("second-bucket")
    assert {b["Name"] for b in store.client().list_buckets()["Buckets"]} == {
        "tutorial-bucket",
        "second-bucket",
    }


def test_wrong_credentials_are_refused(start_store) -> None:
    store = start_store()
    intruder = boto3.session.Session().client(
        "s3",
        endpoint_url=store.endpoint_url,
        aws_access_key_id="AKIAINTRUDER",
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
    )
    with pytest.raises(ClientError):
        intruder.list_buckets()


def test_two_stores_at_once_do_not_collide(start_store) -> None:
    first, second = start_store("one"), start_store("two")
    assert first.pid != second.pid
    assert not set(first.ports.values()) & set(second.ports.values())
    assert first.access_key != second.access_key
    for store, body in ((first, b"first"), (second, b"second")):
        store.ensure_bucket("shared-name")
        store.client().put_object(Bucket="shared-name", Key="key", Body=body)
    assert first.client().get_object(Bucket="shared-name", Key="key")["Body"].read() == b"first"
    assert second.client().get_object(Bucket="shared-name", Key="key")["Body"].read() == b"second"


def test_second_handle_reuses_the_running_server(start_store, tmp_path: Path) -> None:
    first = start_store("shared")
    second = LocalStore(tmp_path / "shared").start(stop_at_exit=False)
    assert (second.pid, second.endpoint_url, second.started_here) == (first.pid, first.endpoint_url, False)
    via_module = ensure_running(tmp_path / "shared", stop_at_exit=False)
    assert via_module.pid == first.pid and not via_module.started_here
    state = json.loads((tmp_path / "shared" / "store.json").read_text())
    assert state["pid"] == first.pid and state["ports"]["s3.port"] == first.ports["s3.port"]
    assert first.is_running()


def test_concurrent_processes_start_one_server(tmp_path: Path, started_pids: list[int]) -> None:
    root = tmp_path / "contended"
    script = textwrap.dedent(
        f"""
        import sys
        from opensagemaker.local_store import ensure_running
        store = ensure_running({str(root)!r}, stop_at_exit=False)
        print(store.pid, store.started_here, flush=True)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(3)
    ]
    results = [proc.communicate(timeout=90)[0].split() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    pids = {int(pid) for pid, _ in results}
    started_pids.extend(pids)
    assert len(pids) == 1, results
    assert sorted(flag for _, flag in results) == ["False", "False", "True"]
    weeds = [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["cmdline"] and f"-dir={root / 'data'}" in p.info["cmdline"]
    ]
    assert [p.pid for p in weeds] == list(pids)
    LocalStore(root).stop()
    assert pid_gone(pids.pop())


def test_data_survives_restart_of_the_store(start_store, tmp_path: Path) -> None:
    store = start_store("persistent")
    store.ensure_bucket("keep")
    payload = os.urandom(6 * 1024 * 1024 + 17)  # several filer chunks
    store.client().put_object(Bucket="keep", Key="model/model.tar.gz", Body=payload)
    old_pid, old_ports = store.pid, dict(store.ports)
    store.stop()
    assert pid_gone(old_pid)
    assert not store.is_running()
    assert not (tmp_path / "persistent" / "store.json").exists()

    again = start_store("persistent")
    assert again.started_here and again.pid != old_pid
    assert again.ports != old_ports  # fresh free ports, same data
    assert again.client().get_object(Bucket="keep", Key="model/model.tar.gz")["Body"].read() == payload


def test_data_survives_a_killed_server(start_store) -> None:
    store = start_store("killed")
    store.ensure_bucket("keep")
    store.client().put_object(Bucket="keep", Key="k", Body=b"value")
    os.kill(store.pid, signal.SIGKILL)
    again = start_store("killed")  # stale state file: dead pid, so a new server starts
    assert again.started_here
    assert again.client().get_object(Bucket="keep", Key="k")["Body"].read() == b"value"


def test_server_listens_on_loopback_only_on_its_chosen_ports(start_store) -> None:
    store = start_store()
    process = psutil.Process(store.pid)
    deadline = time.monotonic() + 10
    while True:  # the admin server comes up just after S3 answers
        listening = [c for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        if {c.laddr.port for c in listening} >= {store.ports["s3.port"], store.ports["admin.port"]}:
            break
        assert time.monotonic() < deadline, listening
        time.sleep(0.1)
    assert listening
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    assert {c.laddr.port for c in listening} <= set(store.ports.values())


def test_server_leaves_no_files_in_tmp(start_store, tmp_path: Path) -> None:
    tmp = Path("/tmp")

    def listing() -> set[str]:
        # pytest's own folders (and anything below tmp_path) are not the server's
        return {name for name in os.listdir(tmp) if not name.startswith(("pytest-of-", "pytest-"))}

    before = listing()
    store = start_store()
    store.ensure_bucket("tmp-check")
    store.client().put_object(Bucket="tmp-check", Key="k", Body=b"x" * 100_000)
    process = psutil.Process(store.pid)
    # while running, the only /tmp entries weed holds are its hard-coded in-process gRPC sockets
    grpc_ports = {store.ports[f"{s}.port.grpc"] for s in ("master", "volume", "filer", "s3", "admin")}
    for conn in process.net_connections(kind="unix"):
        if conn.laddr.startswith("/tmp/"):
            name = conn.laddr[len("/tmp/") :]
            assert name.startswith("seaweedfs-") and int(name.rsplit("-", 1)[1].split(".")[0]) in grpc_ports
    held = [
        f.path
        for f in process.open_files()
        if f.path.startswith("/tmp/") and not f.path.startswith(str(tmp_path))
    ]
    assert not held
    store_ports, pid = set(store.ports.values()), store.pid
    store.stop()

    new = listing() - before
    # Other programs (other weed servers too) may create files in /tmp meanwhile; this server's would carry its
    # pid (glog names) or one of its ports (socket names).
    marks = [f"-{port}." for port in store_ports] + [f".{pid}"]
    assert not [name for name in new if any(mark in name for mark in marks)], new
    assert (tmp_path / "store" / "logs" / "weed.out").is_file()
    assert any(
        p.name.startswith("weed.") and p.name != "weed.out" for p in (tmp_path / "store" / "logs").iterdir()
    )


def test_uncompleted_multipart_upload_is_invisible(start_store) -> None:
    client = start_store().client()
    client.create_bucket(Bucket="uploads")
    upload = client.create_multipart_upload(Bucket="uploads", Key="big/object")
    client.upload_part(
        Bucket="uploads",
        Key="big/object",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"a" * (5 * 1024 * 1024),
    )
    assert keys(client, "uploads") == []
    with pytest.raises(ClientError):
        client.head_object(Bucket="uploads", Key="big/object")
    client.abort_multipart_upload(Bucket="uploads", Key="big/object", UploadId=upload["UploadId"])
    assert keys(client, "uploads") == []
    assert client.list_multipart_uploads(Bucket="uploads").get("Uploads", []) == []


def test_killed_streaming_put_leaves_no_partial_object(start_store, tmp_path: Path) -> None:
    store = start_store()
    client = store.client()
    client.create_bucket(Bucket="uploads")
    url = urlsplit(
        client.generate_presigned_url("put_object", Params={"Bucket": "uploads", "Key": "cut/object"})
    )
    declared, sent = 32 * 1024 * 1024, 3 * 1024 * 1024
    # A separate process streams part of the body, then is killed: what a crashed uploader does.
    uploader = textwrap.dedent(
        f"""
        import socket, sys, time
        sock = socket.create_connection(("{url.hostname}", {url.port}))
        head = ("PUT {url.path}?{url.query} HTTP/1.1\\r\\nHost: {url.netloc}\\r\\n"
                "Content-Length: {declared}\\r\\nContent-Type: application/octet-stream\\r\\n\\r\\n")
        sock.sendall(head.encode())
        sock.sendall(b"p" * {sent})
        print("sent", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", uploader], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "sent"
        time.sleep(0.5)
        assert keys(client, "uploads") == []  # nothing visible mid-upload
        proc.kill()
    finally:
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    time.sleep(1.0)
    assert keys(client, "uploads") == []
    with pytest.raises(ClientError):
        client.head_object(Bucket="uploads", Key="cut/object")

    # the same, cut by a reset from this process, against an existing object: the old version stays whole
    client.put_object(Bucket="uploads", Key="cut/object", Body=b"complete")
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {declared}\r\n\r\n".encode()
        )
        sock.sendall(b"q" * sent)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(1.0)
    assert keys(client, "uploads") == ["cut/object"]
    assert client.get_object(Bucket="uploads", Key="cut/object")["Body"].read() == b"complete"


def test_start_failure_names_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crashing = tmp_path / "weed-crash"
    crashing.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    crashing.chmod(0o755)
    monkeypatch.setenv(local_store.WEED_ENV, str(crashing))
    store = LocalStore(tmp_path / "crash")
    with pytest.raises(LocalStoreError, match=r"exited with code 3.*weed\.out") as info:
        store.start(stop_at_exit=False)
    assert "boom: cannot start" in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_start_timeout_names_the_log_and_kills_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hanging = tmp_path / "weed-hang"
    hanging.write_text('#!/bin/sh\necho $$ > "$0.pid"\nexec sleep 60\n')
    hanging.chmod(0o755)
    monkeypatch.setenv(local_store.WEED_ENV, str(hanging))
    store = LocalStore(tmp_path / "hang", startup_timeout=1.5)
    with pytest.raises(LocalStoreError, match=r"did not answer.*weed\.out"):
        store.start(stop_at_exit=False)
    pid = int(Path(f"{hanging}.pid").read_text())
    assert pid_gone(pid)
    assert not (tmp_path / "hang" / "store.json").exists()


def test_stop_at_exit_and_kept_servers(tmp_path: Path, started_pids: list[int]) -> None:
    def run(root: Path, stop_at_exit: bool) -> tuple[int, bool]:
        script = textwrap.dedent(
            f"""
            from opensagemaker.local_store import ensure_running
            store = ensure_running({str(root)!r}, stop_at_exit={stop_at_exit})
            print(store.pid, store.started_here, flush=True)
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=90
        )
        assert out.returncode == 0, out.stderr
        pid, started = out.stdout.split()
        started_pids.append(int(pid))
        return int(pid), started == "True"

    pid, started = run(tmp_path / "owned", stop_at_exit=True)
    assert started and pid_gone(pid)  # started by that interpreter, stopped at its exit (its last user)

    pid, started = run(tmp_path / "kept", stop_at_exit=False)
    assert started and not pid_gone(pid)  # outlives the interpreter, reused next time
    reuser_pid, reuser_started = run(tmp_path / "kept", stop_at_exit=True)
    assert (reuser_pid, reuser_started) == (pid, False)
    assert not pid_gone(pid)  # the reusing interpreter did not stop what it did not start
    LocalStore(tmp_path / "kept").stop()
    assert pid_gone(pid)


def test_default_root_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(local_store.STORE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert local_store.default_root() == tmp_path / "cache" / "opensagemaker" / "s3"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert local_store.default_root() == tmp_path / "home" / ".cache" / "opensagemaker" / "s3"
    monkeypatch.setenv(local_store.STORE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert local_store.default_root() == tmp_path / "elsewhere"
    assert LocalStore().root == tmp_path / "elsewhere"


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop(local_store.STORE_DIR_ENV, None)
    script = (
        "import sys, opensagemaker.local_store as m; "
        "assert 'boto3' not in sys.modules; assert not m._children and not m._registry"
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=REPO, timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_the_last_user_stops_the_store_not_the_first(tmp_path: Path, started_pids: list[int]) -> None:
    """A notebook and a script share one store: the starter exiting first must not stop it under the other."""
    root, release = tmp_path / "shared", tmp_path / "release"
    holder = textwrap.dedent(
        f"""
        import pathlib, time
        from opensagemaker.local_store import ensure_running
        store = ensure_running({str(root)!r})
        print(store.pid, flush=True)
        while not pathlib.Path({str(release)!r}).exists():
            time.sleep(0.05)
        """
    )
    first = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        pid = int(first.stdout.readline())
        started_pids.append(pid)
        quick = f"from opensagemaker.local_store import ensure_running; print(ensure_running({str(root)!r}).pid)"
        out = subprocess.run([sys.executable, "-c", quick], capture_output=True, text=True, cwd=REPO, timeout=90)
        assert out.returncode == 0 and int(out.stdout) == pid, out.stderr
        assert not pid_gone(pid)  # the second user left; the first still uses the store
        release.touch()
        first.wait(60)
        assert pid_gone(pid)  # the last user stopped it
    finally:
        release.touch()
        first.wait(60)

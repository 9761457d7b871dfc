"""Find, start and stop the local SageMaker service, and the environment that points any AWS client at it.

One service per *service folder*: ``$OPENSAGEMAKER_SERVICE_DIR``, else ``service/`` beside the local store's folder
(``~/.cache/opensagemaker/service`` by default; with ``OPENSAGEMAKER_STORE_DIR=/x/store`` it is ``/x/service``).
``ensure_running()`` connects to the service recorded in ``service.json`` when its pid is alive and it answers,
else starts one (``python -m opensagemaker.local_service.server``, its own session, so a Ctrl-C in a notebook
does not stop it), under an exclusive ``flock`` so two processes never start two. The calling process records
itself in ``run/clients/``: a service started this way ends by itself after its last client exits, unless an
endpoint is still up or a job still runs (``persistent=True``, what ``python -m opensagemaker.local start`` does,
asks for one that stays until ``stop``).

``LocalService.environment()`` is what ``python -m opensagemaker.local env`` prints: ``AWS_ENDPOINT_URL_SAGEMAKER``,
``_SAGEMAKER_RUNTIME``, ``_CLOUDWATCH_LOGS``, ``_STS`` and ``_IAM`` (botocore's per-service endpoint variables), the
store's ``AWS_ENDPOINT_URL_S3`` and keys, and the region.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["ENDPOINT_VARIABLES", "LocalService", "LocalServiceError", "default_root", "ensure_running"]

SERVICE_DIR_ENV = "OPENSAGEMAKER_SERVICE_DIR"
# botocore's AWS_ENDPOINT_URL_<service id> for every service the local service answers
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
                      "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM")
_lock = threading.Lock()
_handles: dict[Path, LocalService] = {}


class LocalServiceError(RuntimeError):
    """The local service could not be started or reached; the message names its log."""


def default_root() -> Path:
    override = os.environ.get(SERVICE_DIR_ENV)
    if override:
        return Path(override).expanduser().absolute()
    from opensagemaker.local_store import default_root as store_root

    return store_root().absolute().parent / "service"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class LocalService:
    """A handle on the service of folder ``root`` (which may not be running yet)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, store_root: str | os.PathLike[str] | None = None,
                 *, startup_timeout: float = 60.0) -> None:
        self.root = Path(root).expanduser().absolute() if root is not None else default_root()
        if store_root is None:
            from opensagemaker.local_store import default_root as default_store

            store_root = default_store()
        self.store_root = Path(store_root).expanduser().absolute()
        self.startup_timeout = startup_timeout
        self.pid = 0
        self.port = 0
        self._registered = False

    @property
    def state_file(self) -> Path:
        return self.root / "service.json"

    @property
    def log_file(self) -> Path:
        return self.root / "service.log"

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise LocalServiceError(f"the local service of {self.root} is not running: call start() first")
        return f"http://127.0.0.1:{self.port}"

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _answers(self, port: int, timeout: float = 2.0) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", "/_opensagemaker/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def is_running(self) -> bool:
        state = self._state()
        pid, port = int(state.get("pid") or 0), int(state.get("port") or 0)
        if _pid_alive(pid) and port and self._answers(port):
            self.pid, self.port = pid, port
            return True
        return False

    @contextlib.contextmanager
    def _folder_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "service.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def start(self, *, persistent: bool = False, register: bool = True) -> LocalService:
        """Connect to the running service or start it; ``register`` records this process as a client."""
        with self._folder_lock():
            if register:
                self._register()
            if self.is_running():
                recorded = self._state().get("store_root")
                if recorded and Path(recorded) != self.store_root:
                    raise LocalServiceError(
                        f"the local service of {self.root} uses the store {recorded}, not {self.store_root}; "
                        f"stop it (python -m opensagemaker.local stop) or set {SERVICE_DIR_ENV} to another folder"
                    )
                return self
            self._launch(persistent)
        return self

    def _launch(self, persistent: bool) -> None:
        command = [sys.executable, "-m", "opensagemaker.local_service.server", "--root", str(self.root),
                   "--store-root", str(self.store_root)]
        if persistent:
            command.append("--persistent")
        env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES}
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True, cwd=self.root)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalServiceError(f"the local service exited with code {process.returncode} while starting; "
                                        f"its log ({self.log_file}) ends with:\n{_tail(self.log_file)}")
            state = self._state()
            if state.get("pid") == process.pid and self._answers(int(state["port"]), timeout=1.0):
                self.pid, self.port = process.pid, int(state["port"])
                return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise LocalServiceError(f"the local service did not answer within {self.startup_timeout:.0f} s; its log "
                                f"({self.log_file}) ends with:\n{_tail(self.log_file)}")

    def _register(self) -> None:
        if self._registered:
            return
        clients = self.root / "run" / "clients"
        clients.mkdir(parents=True, exist_ok=True)
        (clients / str(os.getpid())).touch()
        self._registered = True
        atexit.register((clients / str(os.getpid())).unlink, missing_ok=True)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the service by pid (SIGTERM: it stops its model servers and jobs; SIGKILL after ``timeout``).
        Returns whether one was running."""
        state = self._state()
        pid = int(state.get("pid") or 0)
        if not _pid_alive(pid):
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pid = 0
        return True

    def environment(self) -> dict[str, str]:
        """Variables that point botocore (boto3, the AWS CLI, AWS's SageMaker SDKs) at this service and its store."""
        from opensagemaker.local_store import ensure_running as ensure_store

        env = {name: self.endpoint_url for name in ENDPOINT_VARIABLES}
        env.update(ensure_store(self.store_root).environment())
        return env

    def proxy_environment(self) -> dict[str, str]:
        """``environment()`` plus what clients that build their own AWS URLs need (AWS's SageMaker SDK v2 / v3 make
        STS clients for ``https://sts.<region>.amazonaws.com``): the service as their HTTPS proxy (loopback
        destinations bypass it), its CA as the bundle botocore trusts, and a SageMaker SDK defaults file that
        turns off v2's telemetry calls to AWS. This is what ``python -m opensagemaker.local env`` prints; the SDK's
        ``Session`` sets only ``environment()`` in its process, so a notebook's other HTTPS traffic is untouched."""
        config = self.root / "sagemaker-sdk-config.yaml"
        if not config.exists():
            config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                              "      TelemetryOptOut: true\n")
        return {**self.environment(), "HTTPS_PROXY": self.endpoint_url, "https_proxy": self.endpoint_url,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "AWS_CA_BUNDLE": str(self.root / "tls" / "ca.pem"), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)}

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client of ``service`` (``sagemaker``, ``sagemaker-runtime``, ``logs``, ``sts``, ``iam``) for it."""
        import boto3
        from botocore.config import Config

        from opensagemaker.local_store import ensure_running as ensure_store

        store = ensure_store(self.store_root)
        config = kwargs.pop("config", Config(retries={"max_attempts": 2, "mode": "standard"}))
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint_url, region_name=store.region, aws_access_key_id=store.access_key,
            aws_secret_access_key=store.secret_key, config=config, **kwargs)


def ensure_running(root: Path | None = None, *, persistent: bool = False) -> LocalService:
    """The running service of ``root`` (default ``default_root()``), started if needed; one handle per folder."""
    folder = Path(root).absolute() if root is not None else default_root()
    with _lock:
        handle = _handles.get(folder)
        if handle is not None and handle.is_running():
            return handle
        handle = _handles[folder] = LocalService(folder).start(persistent=persistent)
        return handle


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

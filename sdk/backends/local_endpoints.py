"""Local endpoints: ``<command> serve`` processes on free loopback ports, invoked over keep-alive HTTP.

``ModelServer.start`` fetches ``model.tar.gz``, extracts it safely into ``<work>/model`` (``archives.safe_extract``),
and starts the serve program with ``SM_OPT_ML=<work>``, ``SAGEMAKER_BIND_TO_PORT=<free port>``,
``ALGO_BIND_HOST=127.0.0.1`` and ``SAGEMAKER_MODEL_SERVER_WORKERS`` (``$OPENSAGEMAKER_SERVER_WORKERS``, default 1:
one process per endpoint keeps two endpoints cheap on a laptop; a model's own environment wins). It returns once
``GET /ping`` answers 200 (``$OPENSAGEMAKER_ENDPOINT_STARTUP_TIMEOUT`` seconds, default 120). The server's output goes
to ``<work>/serve.log``, named in every error.

Invocations reuse one keep-alive ``http.client`` connection per server and thread (the tutorial makes ~19,000
single-row calls, so per-call overhead is its wall time: measured against httpx on this kind of machine, the
standard library client costs about 0.3 ms less per call, a quarter of a small NTM request). A connection the
server closed while idle is reopened and the request sent once more. Headers are sent exactly as given: no
``Accept`` unless the caller sets one (docs/contract.md §5.3).

``EndpointManager`` keeps the named endpoints of this process, several at once; ``delete`` stops one by pid, and an
``atexit`` hook stops all that remain when the interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opensagemaker.backends import storage
from opensagemaker.backends.archives import safe_extract
from opensagemaker.backends.base import InvokeResult, ModelRequest
from opensagemaker.backends.local_commands import command_for_image
from opensagemaker.backends.local_training import free_port, stop_process_group, work_root
from opensagemaker.exceptions import ModelError

__all__ = ["EndpointManager", "ModelServer"]

WORKERS_ENV = "OPENSAGEMAKER_SERVER_WORKERS"
STARTUP_TIMEOUT_ENV = "OPENSAGEMAKER_ENDPOINT_STARTUP_TIMEOUT"


class EndpointNotRunning(RuntimeError):
    """The endpoint's server process is gone; the message names its exit code and log file."""


class ModelServer:
    """One running ``serve`` process for one model."""

    def __init__(self, label: str, process: subprocess.Popen, port: int, work: Path) -> None:
        self.label = label
        self.process = process
        self.port = port
        self.work = work
        self.log_path = work / "serve.log"
        self.url = f"http://127.0.0.1:{port}"
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._connections_lock = threading.Lock()

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is not None and fresh:
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        """One HTTP exchange on this thread's keep-alive connection: ``(status, headers, body)``."""
        for attempt in (0, 1):
            connection = self._connection(fresh=attempt == 1)
            connection.timeout = timeout or 600
            if connection.sock is not None:
                connection.sock.settimeout(connection.timeout)
            try:
                connection.request(method, path, body=body, headers=headers or {})
                response = connection.getresponse()
                data = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                if attempt == 1:
                    raise
            except (OSError, http.client.HTTPException):
                connection.close()
                raise
        raise AssertionError("unreachable")

    @classmethod
    def start(cls, label: str, model: ModelRequest, s3_client: Callable[[], Any], extra_env: dict[str, str]) -> ModelServer:
        command = command_for_image(model.image_uri)
        work = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=work_root()))
        try:
            model_dir = work / "model"
            model_dir.mkdir()
            if model.model_data:
                archive = work / "model.tar.gz"
                storage.download(s3_client(), model.model_data, archive)
                safe_extract(archive, model_dir)
                archive.unlink()
            port = free_port()
            env = dict(os.environ)
            env.update(extra_env)
            env.update(
                {
                    "SM_OPT_ML": str(work),
                    "SAGEMAKER_BIND_TO_PORT": str(port),
                    "ALGO_BIND_HOST": "127.0.0.1",
                    "SAGEMAKER_MODEL_SERVER_WORKERS": os.environ.get(WORKERS_ENV, "1"),
                    "PYTHONUNBUFFERED": "1",
                }
            )
            env.update(model.environment)
            with open(work / "serve.log", "wb") as log:
                process = subprocess.Popen(
                    [*command, "serve"], cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        server = cls(label, process, port, work)
        server._wait_ready(float(os.environ.get(STARTUP_TIMEOUT_ENV, "120")))
        return server

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                message = f"{self.label}: the model server exited with code {self.process.returncode} while starting"
                tail = self.log_tail()
                self.stop()
                raise EndpointNotRunning(f"{message}. Last lines of its log:\n{tail}")
            try:
                if self.request("GET", "/ping", timeout=2)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise EndpointNotRunning(
                    f"{self.label}: the model server did not answer /ping within {timeout:.0f} s "
                    f"(raise {STARTUP_TIMEOUT_ENV}). Last lines of its log:\n{tail}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def invoke(self, body: bytes, content_type: str | None, accept: str | None,
               custom_attributes: str | None = None) -> InvokeResult:
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        if custom_attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        try:
            status, response_headers, data = self.request("POST", "/invocations", body, headers)
        except (OSError, http.client.HTTPException) as error:
            code = self.process.poll()
            state = f"exited with code {code}" if code is not None else "is running but did not answer"
            raise EndpointNotRunning(
                f"{self.label}: the model server {state} ({type(error).__name__}: {error}); log: {self.log_path}"
            ) from None
        if status >= 300:
            raise ModelError(self.label, status, data.decode("utf-8", errors="replace"))
        return InvokeResult(data, response_headers.get("content-type"))

    def execution_parameters(self) -> dict[str, Any]:
        """``GET /execution-parameters`` (batch transform); ``{}`` when the container has no such route."""
        try:
            status, _headers, body = self.request("GET", "/execution-parameters", timeout=10)
        except (OSError, http.client.HTTPException):
            return {}
        if status != 200:
            return {}
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def stop(self) -> None:
        """Stop the server by pid (SIGTERM to its process group, SIGKILL after 10 s) and remove its folder."""
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        stop_process_group(self.process)
        if not os.environ.get("OPENSAGEMAKER_KEEP_WORK"):
            shutil.rmtree(self.work, ignore_errors=True)


class EndpointManager:
    """The endpoints of this process by name; instance_count > 1 starts that many servers, used round-robin."""

    def __init__(self) -> None:
        self._endpoints: dict[str, list[ModelServer]] = {}
        self._cycles: dict[str, Any] = {}
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._endpoints)

    def create(self, name: str, model: ModelRequest, instance_count: int, s3_client: Callable[[], Any],
               extra_env: dict[str, str]) -> None:
        with self._lock:
            if name in self._endpoints:
                raise ValueError(f'Cannot create already existing endpoint "{name}"; delete it first')
            self._endpoints[name] = []  # reserve the name while starting
        servers: list[ModelServer] = []
        try:
            for index in range(max(1, instance_count)):
                label = name if instance_count <= 1 else f"{name}-{index + 1}"
                servers.append(ModelServer.start(label, model, s3_client, extra_env))
        except BaseException:
            for server in servers:
                server.stop()
            with self._lock:
                self._endpoints.pop(name, None)
            raise
        with self._lock:
            self._endpoints[name] = servers
            self._cycles[name] = itertools.cycle(servers)

    def server(self, name: str) -> ModelServer:
        with self._lock:
            servers = self._endpoints.get(name)
            if not servers:
                known = ", ".join(self._endpoints) or "none"
                raise ValueError(f"Endpoint {name} not found (endpoints running in this process: {known})")
            return servers[0] if len(servers) == 1 else next(self._cycles[name])

    def servers(self, name: str) -> list[ModelServer]:
        with self._lock:
            return list(self._endpoints.get(name, []))

    def delete(self, name: str) -> None:
        with self._lock:
            servers = self._endpoints.pop(name, None)
            self._cycles.pop(name, None)
        if servers is None:
            raise ValueError(f"Could not find endpoint {name!r} to delete")
        for server in servers:
            server.stop()

    def stop_all(self) -> None:
        for name in self.names():
            with contextlib.suppress(ValueError):
                self.delete(name)

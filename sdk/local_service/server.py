"""The local SageMaker service process: one HTTP/1.1 server on 127.0.0.1 answering five AWS services.

Run by ``opensagemaker.local_service.control`` (``python -m opensagemaker.local_service.server --root DIR``), never
imported for its side effects. Requests are routed and checked by ``wire``; SageMaker's operations are
``sagemaker_api.SageMakerAPI``, CloudWatch Logs' ``logs.LogStore``, STS ``GetCallerIdentity`` and IAM ``GetRole``
answer the local account's one role. The server is threaded (one thread per connection, keep-alive), so an
``InvokeEndpoint`` is parsed, forwarded on that thread's own keep-alive connection to the model server, and
answered with no hand-off between threads.

The same port is an HTTPS proxy for clients that build their own AWS URLs (``tls``: ``CONNECT`` to an AWS host
the service answers is served here over TLS with a local CA's certificate; anything else is refused).

State (``<root>``): ``service.json`` (pid, port: a restart binds the same port when it is free, so environments
already printed keep working), ``records/``, ``logs/``, ``service.log`` (this process's output), ``run/clients/``
(a file per SDK process that uses the service). Unless started ``--persistent``, the service ends by itself once
no client process is alive, no job runs and no endpoint exists; endpoints keep it alive, as they keep billing on
SageMaker. SIGTERM (``python -m opensagemaker.local stop``) stops every model server and job and exits; the
records stay, and the next start serves the same endpoints again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from opensagemaker.local_service import wire
from opensagemaker.local_service.logs import LogStore
from opensagemaker.local_service.records import Records
from opensagemaker.local_service.sagemaker_api import ACCOUNT, ROLE, SageMakerAPI
from opensagemaker.local_service.tls import CertificateAuthority, answers_host
from opensagemaker.local_service.wire import APIError

__all__ = ["Service", "main"]

HOST = "127.0.0.1"
HEALTH_PATH = "/_opensagemaker/health"
MAX_INVOKE_BYTES = 6 * 1024 * 1024  # SageMaker's real-time payload limit
MAX_BODY_BYTES = 16 * 1024 * 1024
_INVOKE_PATH = re.compile(r"^/endpoints/([^/?]+)/(invocations|async-invocations|invocations-response-stream)$")
_TARGETS = {"SageMaker": "sagemaker", "Logs_20140328": "logs"}
_QUERY_NAMESPACES = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
_ROLE_NAME = ROLE.rsplit("/", 1)[1]
_ROLE_CREATED = 1_700_000_000.0


class Service:
    """Everything one service folder answers; ``handle`` is one request (method, path, headers, body)."""

    def __init__(self, root: Path, store_root: Path | None) -> None:
        self.root = root
        self.store_root = store_root
        self.records = Records(root / "records")
        self.logs = LogStore(root / "logs")
        self._store: Any = None
        self._store_lock = threading.Lock()
        self.api = SageMakerAPI(self.records, self.logs, self.store)
        self.ca = CertificateAuthority(root / "tls")

    def store(self) -> Any:
        with self._store_lock:
            if self._store is None:
                from opensagemaker.local_store import ensure_running

                self._store = ensure_running(self.store_root)
            return self._store

    # -- routing -------------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = headers.get("x-amz-target")
        path_only = path.split("?", 1)[0]
        try:
            if target is not None:
                return self._json(target, body)
            match = _INVOKE_PATH.match(path_only)
            if match is not None:
                return self._invoke(method, unquote(match[1]), match[2], headers, body)
            if method == "POST" and (headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
                                     or body.startswith(b"Action=")):
                return self._query(headers, body)
            raise APIError("UnknownOperationException", f"The local SageMaker service has no operation at {method} "
                           f"{path_only} (it answers SageMaker, SageMaker Runtime InvokeEndpoint, CloudWatch Logs, "
                           "STS GetCallerIdentity and IAM GetRole)", status=404)
        except APIError as error:
            return error.status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": error.code}, \
                wire.json_error(error)

    def _operation(self, service: str, name: str) -> Any:
        model = wire.model(service)
        if name not in model.operation_names:
            raise APIError("UnknownOperationException", f"{name} is not an operation of {model.service_id}")
        return model.operation_model(name)

    def _call(self, service: str, operation: Any, params: Any) -> dict[str, Any]:
        handler = self.api if service == "sagemaker" else self.logs if service == "logs" else self
        method = getattr(handler, operation.name, None)
        if method is None:
            raise APIError("UnknownOperationException", f"{operation.name} is an operation of "
                           f"{wire.model(service).service_id} that the local service does not implement")
        checked = wire.validate_input(operation, params)
        try:
            result = method(checked)
        except APIError:
            raise
        except Exception as error:  # a bug: say so, keep serving
            traceback.print_exc()
            raise APIError("InternalFailure", f"{operation.name} failed in the local service: "
                           f"{type(error).__name__}: {error}", status=500) from None
        wire.validate_output(operation, result)
        return result

    def _json(self, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        prefix, _, name = target.partition(".")
        service = _TARGETS.get(prefix)
        if service is None:
            raise APIError("UnknownOperationException", f"X-Amz-Target {target!r}: the local service answers "
                           "SageMaker.<Operation> and Logs_20140328.<Operation>")
        operation = self._operation(service, name)
        try:
            params = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as error:
            raise APIError("SerializationException", f"The request body of {name} is not valid JSON: {error}") from None
        result = self._call(service, operation, params)
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())}
        return 200, headers, json.dumps(wire.to_json(result)).encode()

    # -- SageMaker Runtime ---------------------------------------------------------------------------------------

    def _invoke(self, method: str, endpoint: str, kind: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        if kind != "invocations" or method != "POST":
            name = {"async-invocations": "InvokeEndpointAsync",
                    "invocations-response-stream": "InvokeEndpointWithResponseStream"}.get(kind, f"{method} {kind}")
            raise APIError("UnknownOperationException", f"{name} is an operation of SageMaker Runtime that the local "
                           "service does not implement; use InvokeEndpoint")
        if len(body) > MAX_INVOKE_BYTES:
            raise APIError("ValidationError", f"Body of {len(body)} bytes is over the InvokeEndpoint limit of "
                           f"{MAX_INVOKE_BYTES} bytes", status=413)
        variant, result = self.api.invoke(endpoint, body, headers.get("content-type"), headers.get("accept"),
                                          headers.get("x-amzn-sagemaker-custom-attributes"),
                                          headers.get("x-amzn-sagemaker-target-variant"))
        answer = {"x-Amzn-Invoked-Production-Variant": variant, "x-amzn-RequestId": str(uuid.uuid4())}
        if result.content_type is not None:
            answer["Content-Type"] = result.content_type
        return 200, answer, result.body

    # -- STS and IAM (query protocol) ----------------------------------------------------------------------------

    def _query(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            form = {}
        action = form.pop("Action", "")
        form.pop("Version", None)
        scope = re.search(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/", headers.get("authorization", ""))
        service = scope[1] if scope and scope[1] in _QUERY_NAMESPACES else None
        if service is None:
            service = next((s for s in _QUERY_NAMESPACES if action in wire.model(s).operation_names), "sts")
        try:
            operation = self._operation(service, action)
            params: dict[str, Any] = {}
            for key, value in sorted(form.items(), key=lambda item: [int(p) if p.isdigit() else p
                                                                    for p in item[0].split(".")]):
                name, _, rest = key.partition(".")
                member = operation.input_shape.members.get(name) if operation.input_shape else None
                kind = member.type_name if member is not None else "string"
                if kind == "list" and rest.startswith("member."):  # Name.member.N: the query protocol's lists
                    params.setdefault(name, []).append(value)
                elif kind in ("integer", "long") and value.lstrip("-").isdigit():
                    params[key] = int(value)
                elif kind == "boolean" and value in ("true", "false"):
                    params[key] = value == "true"
                else:
                    params[key] = value
            result = self._call(service, operation, params)
            body = wire.query_response(operation, result, _QUERY_NAMESPACES[service])
            return 200, {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())}, body
        except APIError as error:
            return error.status, {"Content-Type": "text/xml"}, wire.query_error(error)

    def GetCallerIdentity(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"UserId": f"AROA{ACCOUNT}LOCAL:opensagemaker", "Account": ACCOUNT,
                "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{_ROLE_NAME}/opensagemaker"}

    def GetRole(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["RoleName"] != _ROLE_NAME:
            raise APIError("NoSuchEntity", f"The role with name {params['RoleName']} cannot be found.", status=404)
        policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        return {"Role": {"Path": "/", "RoleName": _ROLE_NAME, "RoleId": f"AROA{ACCOUNT}LOCAL", "Arn": ROLE,
                         "CreateDate": _ROLE_CREATED, "AssumeRolePolicyDocument": policy, "MaxSessionDuration": 3600}}


    def SimulatePrincipalPolicy(self, params: dict[str, Any]) -> dict[str, Any]:
        """AWS's SDK v3 checks the role's permissions before a job: the local role may do everything."""
        resources = params.get("ResourceArns") or ["*"]
        return {"EvaluationResults": [{"EvalActionName": action, "EvalResourceName": resource,
                                       "EvalDecision": "allowed"}
                                      for action in params["ActionNames"] for resource in resources],
                "IsTruncated": False}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "opensagemaker-local"
    service: Service

    def _serve(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path == HEALTH_PATH:
            self._answer(200, {"Content-Type": "application/json"}, json.dumps({"pid": os.getpid()}).encode())
            return
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            error = APIError("ValidationException", f"Content-Length {headers.get('content-length')!r} is not a size "
                             f"this service accepts (0 to {MAX_BODY_BYTES} bytes)", status=413)
            self.close_connection = True
            self._answer(413, {"Content-Type": "application/x-amz-json-1.1"}, wire.json_error(error))
            return
        body = self.rfile.read(length) if length else b""
        try:
            status, answer, data = self.service.handle(self.command, self.path, headers, body)
        except Exception as error:  # the last line of defence: a 500 that names the bug, and the server lives on
            traceback.print_exc()
            failure = APIError("InternalFailure", f"{type(error).__name__}: {error}", status=500)
            status, answer, data = 500, {"Content-Type": "application/x-amz-json-1.1"}, wire.json_error(failure)
        self._answer(status, answer, data)

    def do_CONNECT(self) -> None:  # noqa: N802 - http.server's naming
        """HTTPS proxy: a tunnel to an AWS host the service answers becomes TLS to the service itself
        (``opensagemaker.local_service.tls``); any other destination is refused."""
        host, _, port = self.path.rpartition(":")
        if not answers_host(host) or port != "443":
            error = APIError("AccessDenied", f"CONNECT {self.path}: the local SageMaker service answers only the "
                             "hosts of SageMaker, SageMaker Runtime, CloudWatch Logs, STS and IAM, and forwards "
                             "nothing off this machine", status=403)
            self.close_connection = True
            self._answer(403, {"Content-Type": "application/json"}, wire.json_error(error))
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            self.request = self.service.ca.context(host).wrap_socket(self.connection, server_side=True)
        except (OSError, ValueError):
            self.close_connection = True
            return
        self.setup()  # rfile / wfile on the TLS socket; handle() goes on reading requests from it
        self.close_connection = False

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's signature
        if os.environ.get("OPENSAGEMAKER_SERVICE_ACCESS_LOG"):
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


def _bind(port: int) -> _Server:
    for candidate in ((port, 0) if port else (0,)):
        try:
            return _Server((HOST, candidate), _Handler)
        except OSError:
            continue
    raise OSError("could not bind a loopback port")


def _live_clients(folder: Path) -> list[int]:
    alive = []
    for entry in folder.glob("*"):
        try:
            pid = int(entry.name)
            os.kill(pid, 0)
            alive.append(pid)
        except (ValueError, ProcessLookupError):
            entry.unlink(missing_ok=True)
        except PermissionError:
            alive.append(int(entry.name))
    return alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The local SageMaker service (started by opensagemaker)")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--store-root", type=Path, default=None)
    parser.add_argument("--persistent", action="store_true", help="do not end when no client is left")
    parser.add_argument("--idle-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    root: Path = args.root
    root.mkdir(parents=True, exist_ok=True)
    state_file = root / "service.json"
    try:
        previous = json.loads(state_file.read_text())
    except (OSError, ValueError):
        previous = {}
    service = Service(root, args.store_root)
    _Handler.service = service
    server = _bind(int(previous.get("port") or 0))
    port = server.server_address[1]
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    service.ca.ensure()
    service.store()  # the service is a client of the store from now on, so the store outlives the SDK processes
    service.api.recover()
    state = {"pid": os.getpid(), "port": port, "store_root": str(args.store_root) if args.store_root else None,
             "persistent": args.persistent, "started": time.time()}
    temporary = state_file.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, state_file)
    print(f"opensagemaker local service: pid {os.getpid()}, http://{HOST}:{port}, records in {root}", flush=True)
    clients = root / "run" / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    idle_since: float | None = None
    while not stop.wait(0.5):
        if args.persistent:
            continue
        if _live_clients(clients) or service.api.busy():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= args.idle_seconds:
            print("no client, job or endpoint left: stopping", flush=True)
            break
    server.shutdown()
    service.api.shutdown()
    server.server_close()
    state["pid"] = 0
    temporary.write_text(json.dumps(state))
    os.replace(temporary, state_file)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

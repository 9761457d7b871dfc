"""A stand-in model server for header tests: answers ``/ping`` and echoes each invocation's headers as JSON.

Run as ``python tests/sdk/echo_server.py serve`` with ``SAGEMAKER_BIND_TO_PORT`` set (what the local backend does).
A body of ``fail`` gets a 415 with a one-line message, to exercise the error path. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like uvicorn

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._send(200, b"", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if body == b"fail":
            self._send(415, b"Content-Type 'text/x-nope' is not supported\n", "text/plain")
            return
        echo = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode("utf-8", "replace")}
        self._send(200, json.dumps(echo).encode(), "application/json")

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: echo_server.py serve")
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()

"""A seeded generator of malformed (and a few well-formed) inference requests, and an async client that sends them.

Every request is ``(method, path, headers, body)``; ``body`` is bytes, or a list of chunks sent with chunked
transfer encoding (no Content-Length), which is how an over-limit body must be caught while it streams.
The mix covers every content type the containers read plus unsupported ones, broken parameters, Accept headers
that cannot be met, bodies of every size up to several times the payload limit, mutated valid bodies (bit flips,
truncation, wrong widths, NaN, huge numbers), deep nesting, and wrong methods and paths.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import struct
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np
import scipy.sparse as sp

from container_core import recordio

Request = tuple[str, str, dict[str, str], "bytes | list[bytes]"]

CONTENT_TYPES = [
    "text/csv", "text/csv; label_size=0", "text/csv; label_size=1", "text/csv; label_size=-4", "text/csv; label_size=x",
    "text/csv; charset=latin-1", "text/csv; charset=utf-16", "text/csv; charset=punycode", "text/csv; charset=bogus",
    "application/json", "application/json; charset=utf-8", "application/jsonlines", "application/x-recordio-protobuf",
    "application/x-recordio-protobuf; boundary=1", "image/png", "text/plain", "", "*/*", "text/csv;;;", "text/csv; =",
    'application/json; charset="', "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "TEXT/CSV", "application/JSON", "text/csv ; label_size = 0", "x" * 300,
]
ACCEPTS = [
    None, "application/json", "application/jsonlines", "application/x-recordio-protobuf", "*/*", "text/html",
    "application/json; verbose=true", "application/json;q=0", "text/csv", "application/*;q=0.1, text/html",
    "application/json; q=abc", ",,,", "a" * 200, "application/jsonlines; verbose=maybe",
]


def _csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{v:g}" for v in row) for row in rows).encode()


def _recordio(rows: np.ndarray, sparse: bool) -> bytes:
    buffer = io.BytesIO()
    if sparse:
        recordio.write_sparse(buffer, sp.csr_matrix(rows))
    else:
        recordio.write_dense(buffer, rows)
    return buffer.getvalue()


def _json(rows: np.ndarray, sparse: bool) -> bytes:
    if sparse:
        instances = [{"data": {"features": {"keys": np.flatnonzero(r).tolist(), "values": r[r != 0].tolist(),
                                            "shape": [len(r)]}}} for r in rows]
    else:
        instances = [{"features": r.tolist()} for r in rows]
    return json.dumps({"instances": instances}).encode()


@dataclass
class RequestGenerator:
    """Seeded: the same seed gives the same requests."""

    seed: int
    feature_dim: int
    limit: int  # the server's payload limit in bytes
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.np = np.random.default_rng(self.seed)

    def rows(self, count: int, width: int | None = None) -> np.ndarray:
        width = self.feature_dim if width is None else width
        return self.np.integers(0, 3, size=(count, width)).astype(np.float32)

    def valid_body(self, content_type: str) -> bytes:
        rows = self.rows(self.rng.choice([1, 1, 2, 5]))
        sparse = self.rng.random() < 0.5
        if content_type.startswith("application/x-recordio-protobuf"):
            return _recordio(rows, sparse)
        if content_type.startswith("application/jsonlines"):
            return b"\n".join(json.dumps({"features": r.tolist()}).encode() for r in rows)
        if content_type.startswith("application/json"):
            return _json(rows, sparse)
        return _csv(rows)

    def mutate(self, body: bytes) -> bytes:
        rng = self.rng
        choice = rng.randrange(8)
        data = bytearray(body)
        if choice == 0 and data:  # flip bytes
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif choice == 1 and data:  # truncate
            del data[rng.randrange(len(data)):]
        elif choice == 2:  # append garbage
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif choice == 3 and data:  # insert a NUL / invalid UTF-8 in the middle
            at = rng.randrange(len(data))
            data[at:at] = rng.choice([b"\x00", b"\xff\xfe", b"\xc3"])
        elif choice == 4:  # duplicate the body
            data = bytearray(body + body)
        elif choice == 5 and data:  # cut one RecordIO header / JSON brace
            data = data[4:]
        elif choice == 6:
            data = bytearray(body.replace(b"1", b"nan", 1) if b"1" in body else body + b",inf")
        else:
            data = bytearray(body.replace(b"2", b"1" + b"0" * rng.choice([40, 400]), 1) if b"2" in body else body)
        return bytes(data)

    def body(self, content_type: str) -> bytes | list[bytes]:
        rng = self.rng
        kind = rng.randrange(16)
        if kind == 0:
            return b""
        if kind == 1:
            return bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 100, 1000])))
        if kind in (2, 3, 4, 5):
            return self.mutate(self.valid_body(content_type))
        if kind == 6:  # wrong width, every format
            rows = self.rows(rng.choice([1, 3]), rng.choice([0, 1, self.feature_dim - 1, self.feature_dim + 1, 5000]))
            return rng.choice([_csv(rows), _json(rows, False), _json(rows, True), _recordio(rows, False),
                               _recordio(rows, True) if rows.shape[1] else b""])
        if kind == 7:  # sparse keys out of range / huge shapes
            key = rng.choice([-1, self.feature_dim, 2**31, 2**63, 10**30])
            shape = rng.choice([self.feature_dim, 2**40, -1, 0])
            return json.dumps({"instances": [{"data": {"features": {"keys": [key], "values": [1.0],
                                                                    "shape": [shape]}}}]}).encode()
        if kind == 8:  # structured but wrong RecordIO: a label-only record, a bytes tensor, a bad length
            record = recordio.record_class()()
            if rng.random() < 0.5:
                record.label["values"].float32_tensor.values.extend([1.0])
            else:
                record.features["values"].bytes.value.extend([b"abc"])
            payload = record.SerializeToString()
            length = len(payload) if rng.random() < 0.5 else rng.choice([0, 2**29 - 1, len(payload) + 9])
            return struct.pack("<II", recordio.MAGIC, length | (rng.randrange(8) << 29)) + payload
        if kind == 9:  # deep nesting
            depth = rng.choice([100, 5000, 200_000])
            return b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"instances":' * 50 + b"1"
        if kind == 10:  # over the limit with a Content-Length
            return self.valid_body(content_type) * (self.limit // 8 + 1) if rng.random() < 0.3 else (
                b"1," * (self.limit // 2 + rng.randint(1, 5000)))
        if kind == 11:  # over the limit, chunked (no Content-Length)
            chunk = b"0," * 4096
            return [chunk] * (self.limit // len(chunk) + rng.randint(1, 4))
        if kind == 12:  # just under the limit: many valid rows, or one enormous number
            if rng.random() < 0.5:
                return (b"1e" + b"9" * 20) + b",1" * (self.feature_dim - 1)
            row = _csv(self.rows(1)) + b"\n"
            return row * max(1, (self.limit - 1) // len(row))
        if kind == 13:  # small valid chunked body
            body = self.valid_body(content_type)
            return [body[i:i + 7] for i in range(0, len(body), 7)] or [b""]
        return self.valid_body(content_type)  # well-formed: the server must still answer 2xx

    def request(self) -> Request:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return rng.choice([("GET", "/invocations", {}, b""), ("POST", "/ping", {}, b"x"),
                               ("POST", "/nope", {}, b"1"), ("PUT", "/invocations", {"Content-Type": "text/csv"}, b"1"),
                               ("DELETE", "/ping", {}, b""), ("GET", "/../../etc/passwd", {}, b"")])
        content_type = rng.choice(CONTENT_TYPES)
        headers = {"Content-Type": content_type} if content_type or rng.random() < 0.5 else {}
        accept = rng.choice(ACCEPTS)
        if accept is not None:
            headers["Accept"] = accept
        return "POST", "/invocations", headers, self.body(content_type)


@dataclass
class Outcome:
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # transport errors by type
    seconds: float = 0.0
    examples: dict = field(default_factory=dict)  # 5xx status or error name -> (request summary, text)


async def _chunks(parts: list[bytes]):
    for part in parts:
        yield part


async def send_all(url: str, requests: list[Request], concurrency: int, timeout: float = 30) -> Outcome:
    """Send every request with ``concurrency`` connections; count statuses and transport errors."""
    outcome = Outcome()
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                method, path, headers, body = queue.get_nowait()
                content = _chunks(body) if isinstance(body, list) else body
                try:
                    response = await client.request(method, path, headers=headers, content=content)
                except httpx.HTTPError as error:
                    name = type(error).__name__
                    outcome.errors[name] += 1
                    size = sum(map(len, body)) if isinstance(body, list) else len(body)
                    outcome.examples.setdefault(name, (method, path, headers, size, repr(error)[:300]))
                    continue
                outcome.statuses[response.status_code] += 1
                if response.status_code >= 500 and response.status_code not in outcome.examples:
                    size = sum(map(len, body)) if isinstance(body, list) else len(body)
                    outcome.examples[response.status_code] = (method, path, headers, size, response.text[:300])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcome.seconds = loop.time() - started
    return outcome


def run(url: str, requests: list[Request], concurrency: int) -> Outcome:
    return asyncio.run(send_all(url, requests, concurrency))


RAW_REQUESTS = [
    b"GARBAGE\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: -1\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: abc\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 99999999999999999999\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n1,2\r\n0\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: gzip\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/\xff\xfe\r\nContent-Length: 3\r\n\r\n1,2",
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"POST /invocations HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST /invocations?" + b"q" * 10_000 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\n" + b"H: v\r\n" * 5_000 + b"\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 50\r\n\r\n1,2",  # then EOF
    b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n1,2,3",
    b"\r\n" * 1000,
    b"",
]


def send_raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data``, close our side, return what the server answered (b"" if it just closed)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close first on a hopeless request
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer

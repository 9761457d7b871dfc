"""Bringing every host's sample to the leader of a multi-host k-NN job, over plain TCP (no torch).

k-NN's hosts exchange data once: each sends its reservoir sample to the leader, which builds the one index (A8).
That needs no collective library, so the k-NN image carries none. The leader listens on ``ALGO_DIST_PORT``
(default 29500) at its own address (``container_core.distributed.leader_address``); every other host connects,
retrying while the leader starts, and sends one message: a JSON header ``{"host", "rows", "width", "error"}`` and,
when it has no error, ``rows x (width + 1)`` little-endian float32 values (features, then the label). The leader
answers each host with the hosts that failed, so a host that failed makes the others fail fast instead of waiting
for a timeout. The other hosts then wait until the leader has written the model and closes their connections
(``Gathered.release``): Docker Compose, which SageMaker SDK local mode runs a job with, stops every container as soon
as one exits, so a host that left early would stop the leader mid-build. Only bytes and JSON cross the wire, never
pickles.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from container_core.errors import PlatformError

TIMEOUT_S = 600.0
"""How long the leader waits for every host's sample, and a host for the leader to listen and answer."""
_LENGTH = struct.Struct("<Q")


def _send(connection: socket.socket, payload: bytes) -> None:
    connection.sendall(_LENGTH.pack(len(payload)) + payload)


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = connection.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("the other host closed the connection mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _receive(connection: socket.socket) -> bytes:
    return _receive_exactly(connection, _LENGTH.unpack(_receive_exactly(connection, _LENGTH.size))[0])


def _failed_hosts(failed: list[str], error: str | None) -> None:
    if failed and error is None:
        raise PlatformError(f"training failed on host(s) {', '.join(failed)}; see their logs")


@dataclass
class Gathered:
    """Every host's sample on the leader; the other hosts wait until ``release`` (or the end of a ``with``)."""

    features: np.ndarray
    labels: np.ndarray
    peers: list[socket.socket] = field(default_factory=list)

    def release(self) -> None:
        for peer in self.peers:
            peer.close()
        self.peers.clear()

    def __enter__(self) -> Gathered:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lead(address: tuple[str, int], features: np.ndarray, labels: np.ndarray, error: str | None,
         hosts: tuple[str, ...]) -> Gathered | None:
    """The leader's side: every host's sample, in host order; None when this host failed (``error``)."""
    width = features.shape[1]
    parts = {hosts[0]: (features, labels)}
    failed = [hosts[0]] if error is not None else []
    peers: list[socket.socket] = []
    with socket.create_server(address, reuse_port=False) as server:
        server.settimeout(TIMEOUT_S)
        try:
            for _ in hosts[1:]:
                peer, _ = server.accept()
                peer.settimeout(TIMEOUT_S)
                peers.append(peer)
                header = json.loads(_receive(peer))
                if header["error"] is not None:
                    failed.append(header["host"])
                    continue
                if header["width"] != width:
                    raise PlatformError(f"host {header['host']} sent {header['width']} features, expected {width}")
                block = np.frombuffer(_receive(peer), dtype="<f4").reshape(header["rows"], width + 1)
                parts[header["host"]] = (block[:, :width], block[:, width])
            for peer in peers:
                _send(peer, json.dumps({"failed": failed}).encode())
        except (OSError, ValueError, KeyError) as lost:
            for peer in peers:
                peer.close()
            raise PlatformError(f"the leader did not receive every host's sample within {TIMEOUT_S:.0f} s: "
                                f"{lost}") from lost
    if failed:
        for peer in peers:
            peer.close()
    _failed_hosts(failed, error)
    if error is not None:
        return None
    ordered = [parts[host] for host in hosts if host in parts]
    return Gathered(np.ascontiguousarray(np.concatenate([f for f, _ in ordered]), dtype=np.float32),
                    np.ascontiguousarray(np.concatenate([lab for _, lab in ordered]), dtype=np.float32), peers)


def follow(address: tuple[str, int], host: str, features: np.ndarray, labels: np.ndarray, error: str | None) -> None:
    """A non-leader's side: send this host's sample (or its failure), learn whether another host failed, and
    return once the leader is done."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            connection = socket.create_connection(address, timeout=TIMEOUT_S)
            break
        except OSError as refused:  # the leader is still sampling, or not started yet
            if time.monotonic() > deadline:
                raise PlatformError(f"host {host} could not reach the leader at {address[0]}:{address[1]}: "
                                    f"{refused}") from refused
            time.sleep(0.2)
    with connection:
        try:
            header = {"host": host, "rows": int(features.shape[0]), "width": int(features.shape[1]), "error": error}
            _send(connection, json.dumps(header).encode())
            if error is None:
                block = np.empty((features.shape[0], features.shape[1] + 1), dtype="<f4")
                block[:, :-1] = features
                block[:, -1] = labels
                _send(connection, block.tobytes())
            failed = json.loads(_receive(connection))["failed"]
        except (OSError, ValueError, KeyError) as lost:
            raise PlatformError(f"lost the connection to the leader at {address[0]}:{address[1]}: {lost}") from lost
        _failed_hosts(failed, error)
        if error is None:
            connection.settimeout(None)  # the leader builds the index now, however long that takes
            with contextlib.suppress(OSError):  # the leader's own failure is its own host's to report
                connection.recv(1)  # b"" once the leader is done

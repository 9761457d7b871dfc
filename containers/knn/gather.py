"""Bringing every host's sample to the leader of a multi-host k-NN job, over plain TCP (no torch).

k-NN's hosts exchange data once: each sends its reservoir sample to the leader, which builds the one index (A8).
That needs no collective library, so the k-NN image carries none. Before sampling, every host joins (``join``):
the leader listens on ``ALGO_DIST_PORT`` (default 29500) at its own address
(``container_core.distributed.leader_address``) and every other host connects, retrying while the leader starts, so
a host that dies while sampling shows as a closed connection at once. After sampling each host sends one message:
a JSON header ``{"host", "rows", "width", "error"}`` and, when it has no error, ``rows x (width + 1)``
little-endian float32 values (features, then the label). The leader answers each host with the hosts that failed,
so a host that failed makes the others fail fast instead of waiting for a timeout. The other hosts then wait until the leader has written the model and closes their connections
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


LOST = "lost the connection to another host of this training job"


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


class Leader:
    """The leader's side: ``join`` accepts every other host, ``exchange`` collects their samples."""

    def __init__(self, address: tuple[str, int], hosts: tuple[str, ...]) -> None:
        self.hosts = hosts
        self.peers: dict[str, socket.socket] = {}
        with socket.create_server(address) as server:
            server.settimeout(TIMEOUT_S)
            try:
                while len(self.peers) < len(hosts) - 1:
                    peer, _ = server.accept()
                    peer.settimeout(TIMEOUT_S)
                    self.peers[json.loads(_receive(peer))["host"]] = peer
            except (OSError, ValueError, KeyError) as lost:
                self.close()
                missing = sorted(set(hosts[1:]) - set(self.peers))
                raise PlatformError(f"host(s) {', '.join(missing)} did not join the training cluster at "
                                    f"{address[0]}:{address[1]} within {TIMEOUT_S:.0f} s: {lost}") from lost
            for peer in self.peers.values():
                peer.settimeout(None)  # a host may sample a large shard for a long time; its death closes the socket

    def close(self) -> None:
        for peer in self.peers.values():
            peer.close()

    def exchange(self, features: np.ndarray, labels: np.ndarray, error: str | None) -> Gathered | None:
        """Every host's sample, in host order; None when this host failed (``error``)."""
        width = features.shape[1]
        parts = {self.hosts[0]: (features, labels)}
        failed = [self.hosts[0]] if error is not None else []
        host = ""
        try:
            for host in self.hosts[1:]:
                peer = self.peers[host]
                header = json.loads(_receive(peer))
                if header["error"] is not None:
                    failed.append(host)
                    continue
                if header["width"] != width:
                    raise PlatformError(f"host {host} sent {header['width']} features, expected {width}")
                block = np.frombuffer(_receive(peer), dtype="<f4").reshape(header["rows"], width + 1)
                parts[host] = (block[:, :width], block[:, width])
            for peer in self.peers.values():
                _send(peer, json.dumps({"failed": failed}).encode())
        except (OSError, ValueError, KeyError) as lost:
            self.close()
            raise PlatformError(f"{LOST} ({host}; it failed or was stopped, see its log): {lost}") from lost
        except PlatformError:
            self.close()
            raise
        peers = list(self.peers.values())
        if failed:
            self.close()
        _failed_hosts(failed, error)
        if error is not None:
            return None
        ordered = [parts[h] for h in self.hosts if h in parts]
        return Gathered(np.ascontiguousarray(np.concatenate([f for f, _ in ordered]), dtype=np.float32),
                        np.ascontiguousarray(np.concatenate([lab for _, lab in ordered]), dtype=np.float32), peers)


class Follower:
    """A non-leader's side: ``join`` connects to the leader, ``exchange`` sends this host's sample (or failure),
    learns whether another host failed, and returns once the leader is done."""

    def __init__(self, address: tuple[str, int], host: str) -> None:
        self.address = address
        self.host = host
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                self.connection = socket.create_connection(address, timeout=TIMEOUT_S)
                break
            except OSError as refused:  # the leader has not started listening yet
                if time.monotonic() > deadline:
                    raise PlatformError(f"host {host} could not reach the leader at {address[0]}:{address[1]}: "
                                        f"{refused}") from refused
                time.sleep(0.2)
        _send(self.connection, json.dumps({"host": host}).encode())

    def exchange(self, features: np.ndarray, labels: np.ndarray, error: str | None) -> None:
        with self.connection as connection:
            try:
                header = {"host": self.host, "rows": int(features.shape[0]), "width": int(features.shape[1]),
                          "error": error}
                _send(connection, json.dumps(header).encode())
                if error is None:
                    block = np.empty((features.shape[0], features.shape[1] + 1), dtype="<f4")
                    block[:, :-1] = features
                    block[:, -1] = labels
                    _send(connection, block.tobytes())
                connection.settimeout(None)  # the leader answers once every host has sampled
                failed = json.loads(_receive(connection))["failed"]
            except (OSError, ValueError, KeyError) as lost:
                raise PlatformError(f"{LOST} (the leader at {self.address[0]}:{self.address[1]}; it failed or was "
                                    f"stopped, see its log): {lost}") from lost
            _failed_hosts(failed, error)
            if error is None:
                with contextlib.suppress(OSError):  # the leader's own failure is its own host's to report
                    connection.recv(1)  # b"" once the leader is done


def join(address: tuple[str, int], hosts: tuple[str, ...], host: str) -> Leader | Follower:
    """Join the job's hosts before sampling: the leader (first host) listens, the others connect."""
    return Leader(address, hosts) if host == hosts[0] else Follower(address, host)

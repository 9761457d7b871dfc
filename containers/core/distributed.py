"""Rendezvous of the hosts of one training job for ``torch.distributed`` (gloo, also on GPU hosts).

The leader is the first host of ``resourceconfig.json``. On SageMaker host names resolve by DNS; the SDK's local
backend runs every host on loopback and sets ``ALGO_LEADER_ADDR`` (and ``ALGO_DIST_PORT``) so the names need not
resolve. Torch is imported lazily: the core stays importable without it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from container_core.channels import ResourceConfig
from container_core.errors import PlatformError

DEFAULT_PORT = 29500


def leader_address(resources: ResourceConfig, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    env = os.environ if environ is None else environ
    port = int(env.get("ALGO_DIST_PORT", DEFAULT_PORT))
    address = env.get("ALGO_LEADER_ADDR")
    if address:
        return address, port
    deadline = time.monotonic() + 120
    while True:  # SageMaker: "retry DNS", peers may come up later than us
        try:
            return socket.gethostbyname(resources.leader), port
        except OSError:
            if time.monotonic() > deadline:
                raise PlatformError(f"cannot resolve the leader host {resources.leader!r}") from None
            time.sleep(1)


def init_process_group(resources: ResourceConfig, backend: str = "gloo", timeout_s: float = 300) -> Any:
    """Join the job's process group (no-op for one host); returns ``torch.distributed`` or None."""
    if resources.num_hosts == 1:
        return None
    import torch.distributed as dist

    address, port = leader_address(resources)
    try:
        dist.init_process_group(
            backend=backend,
            init_method=f"tcp://{address}:{port}",
            world_size=resources.num_hosts,
            rank=resources.rank,
            timeout=timedelta(seconds=timeout_s),
        )
    except Exception as error:  # torch raises RuntimeError / DistNetworkError subclasses
        raise PlatformError(
            f"host {resources.current_host} could not join the training cluster at {address}:{port}: {error}"
        ) from error
    return dist

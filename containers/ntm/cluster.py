"""The hosts of one NTM training job as ``torch.distributed`` sees them: sums, the leader's bytes, shared buffers.

Every method is a no-op on a single host, so the training loop has one code path. The process group is gloo on
CPU and on GPU alike (``container_core.distributed.init_process_group(backend="gloo")``): tensors live on the
training device and a collective stages CUDA tensors through host memory. NCCL is not used because it refuses two
ranks on one GPU ("Duplicate GPU detected"), which is what SageMaker local mode with ``instance_count=2`` on a
one-GPU machine gives, and because NTM's collectives are small (one flat gradient of a few MB per step), where
gloo over TCP costs little next to the step itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ntm_container.model import NTM


class Cluster:
    """The hosts of the job as torch.distributed sees them; every call is a no-op on one host."""

    def __init__(self, dist: Any, rank: int, size: int, device: torch.device):
        self.dist = dist
        self.rank = rank
        self.size = size
        self.device = device

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the hosts, in place."""
        if self.dist is not None:
            _through_host(tensor, self.dist.all_reduce)
        return tensor

    def sum_numbers(self, *values: float) -> list[float]:
        buffer = torch.tensor(values, dtype=torch.float64, device=self.device)
        return self.sum_(buffer).tolist()

    def broadcast_bytes(self, payload: bytes | None) -> bytes:
        """The leader's ``payload`` on every host."""
        if self.dist is None:
            return payload or b""
        size = torch.tensor([len(payload or b"") if self.is_leader else 0], dtype=torch.int64)
        self.dist.broadcast(size, 0)
        data = torch.zeros(int(size.item()), dtype=torch.uint8)
        if self.is_leader and payload:
            data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
        if data.numel():
            self.dist.broadcast(data, 0)
        return bytes(data.numpy().tobytes())

    def average_buffers(self, model: NTM) -> None:
        """Batch-norm running statistics are per host; average them so every host holds the same model."""
        if self.dist is None:
            return
        for name, buffer in model.named_buffers():
            if buffer.is_floating_point():
                self.sum_(buffer).div_(self.size)
            elif name.endswith("num_batches_tracked"):
                _through_host(buffer, lambda staged: self.dist.broadcast(staged, 0))


def _through_host(tensor: torch.Tensor, collective: Callable[[torch.Tensor], Any]) -> None:
    """Run an in-place gloo ``collective`` on ``tensor``, through a host copy when it lives on a GPU."""
    staged = tensor.cpu()
    collective(staged)
    if staged is not tensor:
        tensor.copy_(staged)

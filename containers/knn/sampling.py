"""Sampling ``sample_size`` points across the hosts of a training job, in one pass and bounded memory.

``sample_size`` is a total over the cluster (docs/contract.md §2.3): each host keeps its quota
(``host_quota``: as even as possible, the remainder to the first hosts) of its own shard with reservoir sampling
(Algorithm R, Vitter 1985), so memory is ``quota x feature_dim`` whatever the shard size and every subset of the
shard is equally likely. The draws are vectorised per batch but identical in law to the one-row-at-a-time
algorithm: row ``t`` (0-based) draws ``j ~ U{0..t}`` and replaces slot ``j`` when ``j < quota``; when one batch
replaces a slot twice the later row wins, as it would sequentially.

``knn_container.gather`` then brings every host's sample to the leader.
"""

from __future__ import annotations

import numpy as np

from container_core.batch import Batch


def host_quota(sample_size: int, num_hosts: int, rank: int) -> int:
    """This host's share of ``sample_size``: ``sample_size // num_hosts``, plus one for the first remainder hosts."""
    base, remainder = divmod(sample_size, num_hosts)
    return base + (1 if rank < remainder else 0)


class Reservoir:
    """A uniform random sample of at most ``capacity`` labelled rows from a stream of batches."""

    def __init__(self, capacity: int, width: int, seed: int) -> None:
        self.capacity = capacity
        self.width = width
        self.features = np.zeros((capacity, width), np.float32)
        self.labels = np.zeros(capacity, np.float32)
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    def add(self, batch: Batch) -> None:
        n = batch.rows
        if n == 0:
            return
        start = self.seen
        fill = max(0, min(n, self.capacity - start))
        if fill:
            self._put(np.arange(start, start + fill), batch, np.arange(fill))
        if fill < n:
            # rows start+fill .. start+n-1 each draw a slot in [0, t]
            t = np.arange(start + fill, start + n, dtype=np.int64)
            slots = self._rng.integers(0, t + 1)
            keep = np.flatnonzero(slots < self.capacity)
            if keep.size:
                chosen_slots = slots[keep]
                rows = keep + fill
                # the last replacement of a slot wins: keep the last occurrence of every slot
                last = chosen_slots.size - 1 - np.unique(chosen_slots[::-1], return_index=True)[1]
                self._put(chosen_slots[last], batch, rows[last])
        self.seen += n

    def _put(self, slots: np.ndarray, batch: Batch, rows: np.ndarray) -> None:
        picked = batch.features[rows]
        self.features[slots] = picked.toarray() if batch.is_sparse else picked
        self.labels[slots] = batch.labels[rows]

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """The sampled ``(features, labels)``: ``min(capacity, seen)`` rows."""
        size = min(self.capacity, self.seen)
        return self.features[:size], self.labels[:size]

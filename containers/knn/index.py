"""The faiss index of a k-NN model: its layout, how it is built, searched, and how neighbours become predictions.

Layout (``IndexPlan``): ``faiss.Flat`` is exact brute force; ``faiss.IVFFlat`` clusters the points into ``nlist``
inverted lists (``auto`` = sqrt of the number of sampled points, which is ``sample_size`` when the data holds that
many) and searches the ``nprobe`` closest lists (default ``ceil(sqrt(nlist))``, stored in the metadata where a user
may raise it for recall); ``faiss.IVFPQ`` stores each vector as ``pq_m`` 8-bit codes (fewer bits when fewer than
256 points are sampled). When ``pq_m`` does not divide the dimension, vectors are zero-padded up to the next
multiple (docs/contract.md §2.1; with a reduction the target is raised instead, see ``train``); zeros change no L2
distance. Without ``faiss_index_pq_m``, IVFPQ uses the largest allowed value not above ``dim / 2``.

Metrics: ``L2`` reports Euclidean distances (faiss gives squared ones), nearest first. ``INNER_PRODUCT`` reports the
inner product and ``COSINE`` the cosine similarity (vectors are L2-normalised, then compared by inner product);
both are listed ascending, so the most similar neighbour is LAST (A5). Predictions are computed in nearest-first
order: the classifier takes the most frequent label, ties going to the label whose nearest occurrence is closest
(A6); the regressor takes the mean. A probe that finds fewer than ``k`` points (``-1`` ids from IVF) is searched
again over every list, so a response always carries ``k`` neighbours.

Measured recall@10 against brute force (``tests/unit/test_knn_index.py``: 20,000 points, 32 dimensions, 50
Gaussian clusters, 200 queries near base points, seed 0, default nlist 141 and nprobe 12): IVFFlat 1.00;
IVFPQ 0.70 with pq_m 8 and 0.91 with pq_m 16 (the default for 32 dimensions). The tests assert IVFFlat >= 0.97 and
IVFPQ (pq_m 8) >= 0.62. Flat is exact (equal to brute force up to the order of tied distances).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import faiss
import numpy as np

from container_core.errors import AlgorithmError, UserError
from knn_container.hyperparameters import PQ_M_VALUES

log = logging.getLogger("knn.index")


def default_pq_m(dim: int) -> int:
    """The largest allowed ``faiss_index_pq_m`` not above half the dimension (about two dimensions per code)."""
    return max(m for m in PQ_M_VALUES if m <= max(1, dim // 2))


def padded_dim(dim: int, pq_m: int) -> int:
    """The smallest multiple of ``pq_m`` that is at least ``dim``."""
    return -(-dim // pq_m) * pq_m


@dataclass(frozen=True)
class IndexPlan:
    """How vectors are laid out and searched; everything here is stored in the metadata."""

    index_type: str
    metric: str
    input_dim: int  # width of the (reduced) vectors before padding
    dim: int  # width inside faiss (input_dim + zero padding)
    nlist: int | None = None
    nprobe: int | None = None
    pq_m: int | None = None
    pq_nbits: int | None = None

    @property
    def normalize(self) -> bool:
        return self.metric == "COSINE"

    @property
    def faiss_metric(self) -> int:
        return faiss.METRIC_L2 if self.metric == "L2" else faiss.METRIC_INNER_PRODUCT

    @classmethod
    def choose(cls, index_type: str, metric: str, dim: int, points: int, nlists: int | str = "auto",
               pq_m: int | None = None) -> IndexPlan:
        """The plan for ``points`` sampled vectors of width ``dim``."""
        if index_type == "faiss.Flat":
            return cls(index_type, metric, dim, dim)
        nlist = max(1, round(math.sqrt(points))) if nlists == "auto" else int(nlists)
        if nlist > points:
            raise UserError(
                f"Hyperparameter faiss_index_ivf_nlists: {nlist} lists need at least {nlist} sampled points, "
                f"but only {points} were sampled; lower it or use auto"
            )
        nprobe = min(nlist, max(1, math.ceil(math.sqrt(nlist))))
        if index_type == "faiss.IVFFlat":
            return cls(index_type, metric, dim, dim, nlist, nprobe)
        m = pq_m if pq_m is not None else default_pq_m(dim)
        nbits = max(1, min(8, int(math.floor(math.log2(points))))) if points > 1 else 1
        return cls(index_type, metric, dim, padded_dim(dim, m), nlist, nprobe, m, nbits)

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """(n, input_dim) -> contiguous float32 (n, dim): normalised for COSINE, zero-padded for PQ."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.shape[1] != self.input_dim:
            raise UserError(f"vectors have {x.shape[1]} dimensions, the index expects {self.input_dim}")
        if self.dim != self.input_dim:
            x = np.hstack([x, np.zeros((x.shape[0], self.dim - self.input_dim), np.float32)])
        if self.normalize:
            x = x.copy() if x is vectors else x
            faiss.normalize_L2(x)
        return x

    def empty_index(self) -> faiss.Index:
        if self.index_type == "faiss.Flat":
            return faiss.IndexFlat(self.dim, self.faiss_metric)
        quantizer = faiss.IndexFlat(self.dim, self.faiss_metric)
        if self.index_type == "faiss.IVFFlat":
            index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, self.faiss_metric)
        else:
            index = faiss.IndexIVFPQ(quantizer, self.dim, self.nlist, self.pq_m, self.pq_nbits)
        index.nprobe = self.nprobe
        return index


def gpu_available() -> bool:
    """True where this faiss build has GPU indexes and a GPU is visible; CPU-only runs never touch the GPU API."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build(plan: IndexPlan, vectors: np.ndarray, use_gpu: bool | None = None) -> faiss.Index:
    """Train (IVF) and fill an index with ``vectors`` (already prepared); on a GPU when one is present."""
    x = plan.prepare(vectors)
    if use_gpu is None:
        use_gpu = gpu_available()
    if use_gpu:
        try:
            return _build_on_gpu(plan, x)
        except RuntimeError as error:  # e.g. a PQ layout the GPU kernels do not support
            log.warning("building on the GPU failed (%s); building on the CPU", error)
    index = plan.empty_index()
    if not index.is_trained:
        index.train(x)
    index.add(x)
    return index


def _build_on_gpu(plan: IndexPlan, x: np.ndarray) -> faiss.Index:
    resources = faiss.StandardGpuResources()
    index = faiss.index_cpu_to_gpu(resources, 0, plan.empty_index())
    if not index.is_trained:
        index.train(x)
    index.add(x)
    cpu = faiss.index_gpu_to_cpu(index)
    if plan.nprobe is not None:
        cpu.nprobe = plan.nprobe
    log.info("index built on the GPU")
    return cpu


def search(index: faiss.Index, plan: IndexPlan, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One faiss search for all rows: ``(scores, ids)``, each (n, k), nearest first, faiss's raw scores.

    Rows where IVF probing found fewer than ``k`` points are searched again over all lists.
    """
    x = plan.prepare(queries)
    scores, ids = index.search(x, k)
    if plan.nlist is not None:
        short = np.flatnonzero((ids < 0).any(axis=1))
        if short.size:
            params = faiss.SearchParametersIVF(nprobe=plan.nlist)
            scores[short], ids[short] = index.search(x[short], k, params=params)
    if (ids < 0).any():
        raise AlgorithmError(f"the index returned fewer than k={k} neighbours; it holds {index.ntotal} points")
    return scores, ids


def reported_distances(scores: np.ndarray, metric: str) -> np.ndarray:
    """faiss scores (nearest first) -> the ``distances`` of a response (A5): Euclidean for L2, else similarity.

    Both come out ascending: L2 nearest first, INNER_PRODUCT/COSINE most similar last (callers reverse the labels
    with the same ``order``).
    """
    if metric == "L2":
        return np.sqrt(np.maximum(scores, 0))
    return scores[:, ::-1]


def response_order(labels: np.ndarray, metric: str) -> np.ndarray:
    """Neighbour labels in nearest-first order -> the order of the response (reversed for similarity metrics)."""
    return labels if metric == "L2" else labels[:, ::-1]


def predict(neighbour_labels: np.ndarray, predictor_type: str) -> np.ndarray:
    """(n, k) labels, nearest first -> (n,) predictions: majority vote (ties: nearest occurrence) or mean."""
    if predictor_type == "regressor":
        return neighbour_labels.mean(axis=1, dtype=np.float64).astype(np.float32)
    n, k = neighbour_labels.shape
    out = np.empty(n, np.float32)
    if k == 1:
        return neighbour_labels[:, 0].astype(np.float32)
    # counts[i, p] = how often the label at position p occurs in row i; argmax takes the first (nearest) position
    # of a most frequent label, which is the tie rule of A6.
    chunk = max(1, 4_000_000 // (k * k))
    if k <= 1024:
        for start in range(0, n, chunk):
            rows = neighbour_labels[start : start + chunk]
            counts = (rows[:, :, None] == rows[:, None, :]).sum(axis=2)
            out[start : start + chunk] = rows[np.arange(rows.shape[0]), counts.argmax(axis=1)]
        return out
    for i, row in enumerate(neighbour_labels):
        values, first, counts = np.unique(row, return_index=True, return_counts=True)
        best = counts == counts.max()
        out[i] = values[best][np.argmin(first[best])]
    return out

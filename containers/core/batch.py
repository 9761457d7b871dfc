"""A batch of rows as every reader yields it: features (dense or CSR, float32) and optional labels.

Sparse data stays sparse: rows that arrive with keys build a CSR matrix, never a dense one. Readers check every
row's width against the expected ``feature_dim`` (or the first row's) and name the row that differs.

scipy.sparse is imported on first use (``scipy_sparse``): importing it costs 0.25-0.4 s, which a k-NN server that only
ever sees dense rows would otherwise pay at every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from container_core.errors import UserError

if TYPE_CHECKING:
    import scipy.sparse as sp


def scipy_sparse() -> ModuleType:
    import scipy.sparse

    return scipy.sparse


@dataclass(frozen=True)
class Batch:
    """``features``: (rows, width) float32, ``np.ndarray`` or ``csr_matrix``; ``labels``: (rows,) float32 or None."""

    features: np.ndarray | sp.csr_matrix
    labels: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def width(self) -> int:
        return int(self.features.shape[1])

    @property
    def is_sparse(self) -> bool:
        return not isinstance(self.features, np.ndarray) and scipy_sparse().issparse(self.features)

    def dense(self) -> np.ndarray:
        if self.is_sparse:
            return np.asarray(self.features.toarray(), dtype=np.float32)
        return np.ascontiguousarray(self.features, dtype=np.float32)

    def csr(self) -> sp.csr_matrix:
        if self.is_sparse:
            return self.features
        return scipy_sparse().csr_matrix(self.features, dtype=np.float32)


def concat(batches: list[Batch]) -> Batch:
    """Stack batches row-wise; sparse if any part is sparse."""
    if not batches:
        raise ValueError("no batches to concatenate")
    if len(batches) == 1:
        return batches[0]
    if any(b.is_sparse for b in batches):
        features = scipy_sparse().vstack([b.csr() for b in batches], format="csr", dtype=np.float32)
    else:
        features = np.concatenate([b.dense() for b in batches])
    labels = None
    if all(b.labels is not None for b in batches):
        labels = np.concatenate([b.labels for b in batches])
    return Batch(features, labels)


class BatchBuilder:
    """Collects rows one at a time and builds a ``Batch``; dense unless a sparse row was added."""

    def __init__(self, width: int | None, source: str) -> None:
        self.width = width
        self.source = source
        self._indptr = [0]
        self._indices: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._dense: list[np.ndarray] = []
        self._sparse = False
        self._labels: list[float] = []
        self._missing_label = False

    def __len__(self) -> int:
        return len(self._indptr) - 1

    def _check_width(self, width: int, where: str) -> None:
        if self.width is None:
            self.width = width
        elif width != self.width:
            raise UserError(
                f"{self.source}: {where} has {width} features, expected {self.width} (feature_dim)"
            )

    def add_dense(self, values: np.ndarray, label: float | None, where: str) -> None:
        values = _float32(values)
        self._check_width(values.shape[0], where)
        _check_finite(values, self.source, where)
        if self._sparse:
            nz = np.flatnonzero(values)
            self._indices.append(nz.astype(np.int32))
            self._values.append(values[nz])
        else:
            self._dense.append(values)
        self._indptr.append(self._indptr[-1] + (values.shape[0] if not self._sparse else len(self._values[-1])))
        self._add_label(label)

    def add_sparse(self, keys: np.ndarray, values: np.ndarray, width: int | None, label: float | None, where: str) -> None:
        keys = np.asarray(keys, dtype=np.int64).ravel()
        values = _float32(values)
        if keys.shape != values.shape:
            raise UserError(f"{self.source}: {where} has {keys.size} keys but {values.size} values")
        if width is None:
            width = self.width if self.width is not None else (int(keys.max()) + 1 if keys.size else 0)
        self._check_width(int(width), where)
        if keys.size and (keys.min() < 0 or keys.max() >= self.width):
            raise UserError(f"{self.source}: {where} has feature index {int(keys.max())} outside [0, {self.width})")
        _check_finite(values, self.source, where)
        if not self._sparse:
            self._to_sparse()
        self._indices.append(keys.astype(np.int32))
        self._values.append(values)
        self._indptr.append(self._indptr[-1] + keys.size)
        self._add_label(label)

    def _to_sparse(self) -> None:
        self._sparse = True
        indptr = [0]
        for row in self._dense:
            nz = np.flatnonzero(row)
            self._indices.append(nz.astype(np.int32))
            self._values.append(row[nz])
            indptr.append(indptr[-1] + nz.size)
        self._indptr = indptr
        self._dense = []

    def _add_label(self, label: float | None) -> None:
        if label is None:
            self._missing_label = True
            self._labels.append(np.nan)
        else:
            self._labels.append(float(label))

    def build(self) -> Batch:
        labels = None if self._missing_label or not self._labels else np.asarray(self._labels, dtype=np.float32)
        width = self.width or 0
        if self._sparse:
            indices = np.concatenate(self._indices) if self._indices else np.zeros(0, np.int32)
            values = np.concatenate(self._values) if self._values else np.zeros(0, np.float32)
            matrix = scipy_sparse().csr_matrix(
                (values, indices, np.asarray(self._indptr, dtype=np.int64)), shape=(len(self), width)
            )
            matrix.sum_duplicates()
            return Batch(matrix, labels)
        features = np.stack(self._dense) if self._dense else np.zeros((0, width), np.float32)
        return Batch(features, labels)


def _float32(values: np.ndarray) -> np.ndarray:
    """Flat float32 copy; a float64 beyond float32's range becomes inf (no warning), which ``_check_finite`` reports."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float32).ravel()


def _check_finite(values: np.ndarray, source: str, where: str) -> None:
    if values.size and not np.isfinite(values).all():
        raise UserError(f"{source}: {where} contains NaN or infinite values")

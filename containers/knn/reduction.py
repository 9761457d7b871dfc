"""Dimension reduction before indexing: ``sign`` (random sign projection) and ``fjlt`` (fast Johnson-Lindenstrauss).

Both map ``input_dim`` features to ``target_dim`` and preserve L2 distances and inner products in expectation
(docs/contract.md §2.3). The transform is drawn once from a seed at training, stored in the model artifact
(``model_algo-1.reduction.npz``, plain arrays, read with ``allow_pickle=False``) and applied unchanged at serving.

* ``sign``: ``x @ R`` with ``R[i, j] = ±1/sqrt(target_dim)`` (Achlioptas 2003). Cost O(n d t).
* ``fjlt``: flip the sign of each coordinate (``D``), mix with the orthonormal DCT-II (``scipy.fft.dct``,
  ``norm="ortho"``; a real, any-length stand-in for the Walsh-Hadamard transform of Ailon & Chazelle 2006), keep
  ``target_dim`` coordinates drawn without replacement, and scale by ``sqrt(input_dim / target_dim)``.
  Cost O(n d log d), cheaper than ``sign`` for large targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from container_core.errors import UserError


@dataclass(frozen=True)
class Reduction:
    """One drawn reduction: ``kind`` sign or fjlt, and the arrays that define it."""

    kind: str
    seed: int
    input_dim: int
    target_dim: int
    matrix: np.ndarray | None = None  # sign: (input_dim, target_dim)
    signs: np.ndarray | None = None  # fjlt: (input_dim,) of ±1
    keep: np.ndarray | None = None  # fjlt: (target_dim,) coordinate indices

    @classmethod
    def draw(cls, kind: str, input_dim: int, target_dim: int, seed: int) -> Reduction:
        rng = np.random.default_rng(seed)
        if kind == "sign":
            matrix = rng.choice(np.array([-1.0, 1.0], np.float32), size=(input_dim, target_dim))
            return cls(kind, seed, input_dim, target_dim, matrix=(matrix / np.sqrt(target_dim)).astype(np.float32))
        if kind == "fjlt":
            if target_dim > input_dim:
                raise UserError(f"fjlt cannot raise the dimension from {input_dim} to {target_dim}")
            signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=input_dim)
            keep = np.sort(rng.choice(input_dim, size=target_dim, replace=False)).astype(np.int64)
            return cls(kind, seed, input_dim, target_dim, signs=signs, keep=keep)
        raise UserError(f"dimension_reduction_type {kind!r} is not one of sign, fjlt")

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n, input_dim) float32 -> (n, target_dim) float32."""
        if self.kind == "sign":
            return np.ascontiguousarray(x @ self.matrix, dtype=np.float32)
        import scipy.fft  # only fjlt needs it; importing it up front cost k-NN's server start 80-240 ms

        mixed = scipy.fft.dct(x * self.signs, type=2, norm="ortho", axis=1)
        scale = np.float32(np.sqrt(self.input_dim / self.target_dim))
        return np.ascontiguousarray(mixed[:, self.keep] * scale, dtype=np.float32)

    def describe(self) -> dict:
        """The metadata entry of the built-in's ``model_algo-1.json``."""
        return {"type": self.kind, "seed": self.seed, "target_dim": self.target_dim, "input_dim": self.input_dim}

    def save(self, path: Path) -> None:
        arrays = {"matrix": self.matrix} if self.kind == "sign" else {"signs": self.signs, "keep": self.keep}
        with open(path, "wb") as stream:
            np.savez(stream, **arrays)

    @classmethod
    def load(cls, path: Path, described: dict) -> Reduction:
        try:
            kind = str(described["type"])
            seed, input_dim, target_dim = (int(described[key]) for key in ("seed", "input_dim", "target_dim"))
            with np.load(path, allow_pickle=False) as arrays:
                if kind == "sign":
                    matrix = np.asarray(arrays["matrix"], np.float32)
                    reduction = cls(kind, seed, input_dim, target_dim, matrix=matrix)
                    shape_ok = matrix.shape == (input_dim, target_dim)
                elif kind == "fjlt":
                    signs = np.asarray(arrays["signs"], np.float32)
                    keep = np.asarray(arrays["keep"], np.int64)
                    reduction = cls(kind, seed, input_dim, target_dim, signs=signs, keep=keep)
                    shape_ok = signs.shape == (input_dim,) and keep.shape == (target_dim,) and keep.max() < input_dim
                else:
                    raise UserError(f"dimension_reduction.type {kind!r} is not one of sign, fjlt")
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise UserError(f"model artifact {path} is missing or corrupt: {error}") from None
        if not shape_ok:
            raise UserError(f"model artifact {path} does not match dimension_reduction {described}")
        return reduction

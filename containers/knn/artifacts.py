"""The k-NN model artifact: the files the built-in writes (docs/contract.md §2.4), in this project's safe format (A8).

``model_algo-1``            the faiss index (``faiss.write_index``)
``model_algo-1.labels``     one float32 label per indexed point, raw little-endian binary, in index id order
``model_algo-1.json``       metadata, editable: ``k`` and ``predictor_type`` may be changed before serving
``model_algo-1.reduction.npz``  the drawn reduction's arrays (only with ``dimension_reduction_type``)

The JSON keeps the built-in's keys (``k``, ``predictor_type``, ``dimension_reduction``, ``normalize``, ``version``)
and adds what serving needs (``feature_dim``, ``index_type``, ``index_metric``, the index plan, ``format_version``).
Serving validates the editable fields and fails at start with a ``UserError`` naming the field. Only the leader
(first host) writes these files (A8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from container_core.errors import UserError
from knn_container.hyperparameters import PREDICTOR_TYPES
from knn_container.index import IndexPlan
from knn_container.reduction import Reduction

NAME = "model_algo-1"
FORMAT_VERSION = 1


@dataclass
class KNNModel:
    """A loaded (or just built) k-NN model."""

    index: faiss.Index
    labels: np.ndarray  # (ntotal,) float32
    plan: IndexPlan
    k: int
    predictor_type: str
    feature_dim: int
    reduction: Reduction | None = None
    threads: int = 1  # faiss threads for large requests (set by serving)

    def metadata(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "predictor_type": self.predictor_type,
            "dimension_reduction": None if self.reduction is None else self.reduction.describe(),
            "normalize": self.plan.normalize,
            "version": "1.0",
            "format_version": FORMAT_VERSION,
            "feature_dim": self.feature_dim,
            "index_type": self.plan.index_type,
            "index_metric": self.plan.metric,
            "index_size": int(self.index.ntotal),
            "index": {
                "input_dim": self.plan.input_dim,
                "dim": self.plan.dim,
                "nlist": self.plan.nlist,
                "nprobe": self.plan.nprobe,
                "pq_m": self.plan.pq_m,
                "pq_nbits": self.plan.pq_nbits,
            },
        }


def save(model: KNNModel, model_dir: Path) -> list[Path]:
    """Write the artifact files into ``model_dir``; returns their paths."""
    model_dir.mkdir(parents=True, exist_ok=True)
    written = [model_dir / NAME, model_dir / f"{NAME}.labels", model_dir / f"{NAME}.json"]
    faiss.write_index(model.index, str(written[0]))
    np.ascontiguousarray(model.labels, dtype="<f4").tofile(written[1])
    written[2].write_text(json.dumps(model.metadata(), indent=2) + "\n", encoding="utf-8")
    if model.reduction is not None:
        written.append(model_dir / f"{NAME}.reduction.npz")
        model.reduction.save(written[-1])
    return written


def _field(meta: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    if key not in meta:
        raise UserError(f"{path}: missing key {key!r}")
    value = meta[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise UserError(f"{path}: {key} must be an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise UserError(f"{path}: {key} must be a string, got {value!r}")
    return value


def load(model_dir: Path, mmap: bool = True) -> KNNModel:
    """Read and check the artifact; the index is memory-mapped where faiss allows it."""
    meta_path = model_dir / f"{NAME}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model artifact {meta_path} is missing; was this model trained by knn-container?") from None
    except json.JSONDecodeError as error:
        raise UserError(f"model artifact {meta_path} is not valid JSON: {error}") from None
    if not isinstance(meta, dict):
        raise UserError(f"model artifact {meta_path} must hold a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{meta_path}: format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}")
    k = _field(meta, "k", int, meta_path)
    predictor_type = str(_field(meta, "predictor_type", str, meta_path)).strip().lower()
    if predictor_type not in PREDICTOR_TYPES:
        raise UserError(f"{meta_path}: predictor_type {meta['predictor_type']!r} is not one of {', '.join(PREDICTOR_TYPES)}")
    feature_dim = _field(meta, "feature_dim", int, meta_path)
    shape = meta.get("index") or {}
    plan = IndexPlan(
        index_type=_field(meta, "index_type", str, meta_path),
        metric=_field(meta, "index_metric", str, meta_path),
        input_dim=int(shape.get("input_dim", feature_dim)),
        dim=int(shape.get("dim", feature_dim)),
        nlist=shape.get("nlist"),
        nprobe=shape.get("nprobe"),
        pq_m=shape.get("pq_m"),
        pq_nbits=shape.get("pq_nbits"),
    )
    index_path = model_dir / NAME
    index = _read_index(index_path, mmap)
    if index.d != plan.dim:
        raise UserError(f"{index_path}: index has dimension {index.d}, the metadata says {plan.dim}")
    if plan.nprobe is not None:
        nprobe = int(plan.nprobe)
        if not 1 <= nprobe <= int(plan.nlist or nprobe):
            raise UserError(f"{meta_path}: index.nprobe {nprobe} must be in [1, nlist={plan.nlist}]")
        faiss.extract_index_ivf(index).nprobe = nprobe
    labels_path = model_dir / f"{NAME}.labels"
    try:
        labels = np.fromfile(labels_path, dtype="<f4")
    except OSError as error:
        raise UserError(f"model artifact {labels_path} is missing or unreadable: {error}") from None
    if labels.shape[0] != index.ntotal:
        raise UserError(f"{labels_path}: {labels.shape[0]} labels for an index of {index.ntotal} points")
    if not 1 <= k <= index.ntotal:
        raise UserError(f"{meta_path}: k={k} must be in [1, {index.ntotal}] (the number of indexed points)")
    reduction = None
    if meta.get("dimension_reduction"):
        reduction = Reduction.load(model_dir / f"{NAME}.reduction.npz", meta["dimension_reduction"])
        if reduction.input_dim != feature_dim or reduction.target_dim != plan.input_dim:
            raise UserError(f"{meta_path}: dimension_reduction {meta['dimension_reduction']} does not match the index")
    elif plan.input_dim != feature_dim:
        raise UserError(f"{meta_path}: feature_dim {feature_dim} does not match the index input {plan.input_dim}")
    return KNNModel(index, labels.astype(np.float32), plan, k, predictor_type, feature_dim, reduction)


def _read_index(path: Path, mmap: bool) -> faiss.Index:
    """Memory-map the index where faiss can (``IO_FLAG_MMAP_IFC`` maps Flat and IVF codes in place, so workers
    share the page cache instead of each holding a copy), else read it into memory."""
    if not path.is_file():
        raise UserError(f"model artifact {path} is missing")
    if mmap:
        for flags in (faiss.IO_FLAG_MMAP_IFC, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY):
            try:
                return faiss.read_index(str(path), flags)
            except RuntimeError:
                continue  # this index type cannot be mapped this way
    try:
        return faiss.read_index(str(path))
    except RuntimeError as error:
        raise UserError(f"model artifact {path} is not a faiss index: {str(error).splitlines()[0]}") from None

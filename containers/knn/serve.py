"""k-NN inference handlers for the core's HTTP app (docs/contract.md §2.5, A4, A5).

The model (index, labels, editable JSON) is loaded once per worker; every request is decoded and width-checked
(400 naming ``feature_dim``) before faiss sees it, then searched in ONE faiss call whatever its row count.
faiss's OpenMP threads: requests of fewer than ``SMALL_REQUEST_ROWS`` rows search on one thread (a one-query
search gains nothing from threads, and waking an OpenMP team costs more than it saves, badly so on a busy
machine: measured p50 0.3 ms with one thread against 45 ms with two on a loaded 2-core host); larger requests use
``cpu_count // SAGEMAKER_MODEL_SERVER_WORKERS`` threads (at least 1), so workers do not oversubscribe the cores.
Exact (Flat, and IVF's coarse quantizer) searches of ``BLAS_MIN_ROWS`` rows or more go through BLAS, fewer through
faiss's SIMD loop. faiss 1.15 compares ``distance_compute_blas_threshold`` with rows x dimension (default 128,000),
older releases with rows (default 20), so the threshold is set from the index's dimension where that applies.
Measured on 1,000,000 x 30 vectors, one thread: 1 row 6.0 ms SIMD against 22.5 ms BLAS (SIMD reads the vectors
once, at the memory's speed: 4.9 ms); 4 rows about equal; 8 rows 32 ms BLAS against 48 ms SIMD; 64 rows 104 ms
against 385 ms.

Responses: ``application/json`` ``{"predictions": [{"predicted_label": 0.0}, ...]}``, ``application/jsonlines``
one object per line, ``application/x-recordio-protobuf`` one Record per row with ``label["predicted_label"]``.
``; verbose=true`` adds ``distances`` and ``labels`` (k each, in that key order) in the A5 order: L2 Euclidean
distances ascending (nearest first); INNER_PRODUCT / COSINE similarities ascending (most similar LAST).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from container_core import codecs, recordio
from container_core.mime import CSV, JSON, JSONLINES, RECORDIO, MediaType
from container_core.paths import Paths
from container_core.serving import Handlers, ServingSettings
from knn_container import artifacts, index
from knn_container.artifacts import KNNModel
from knn_container.prediction import predict_rows


@dataclass(frozen=True)
class Prediction:
    """Per row: the prediction, and the k neighbours' distances and labels in response order (A5)."""

    predicted: np.ndarray  # (n,)
    distances: np.ndarray  # (n, k)
    labels: np.ndarray  # (n, k)


SMALL_REQUEST_ROWS = 20
BLAS_MIN_ROWS = 5
# faiss 1.15 counts rows x dimension against this threshold (default 128,000); older releases count rows
# (default 20, the faiss-gpu-cu12 1.14 of the GPU image). Their defaults tell them apart.
_THRESHOLD_COUNTS_VALUES = faiss.cvar.distance_compute_blas_threshold > 1000


def blas_threshold(dim: int) -> int:
    """faiss's ``distance_compute_blas_threshold`` that sends searches of ``BLAS_MIN_ROWS`` rows or more to BLAS."""
    return BLAS_MIN_ROWS * dim if _THRESHOLD_COUNTS_VALUES else BLAS_MIN_ROWS


def model_fn(model_dir: Path) -> KNNModel:
    model = artifacts.load(model_dir)
    workers = ServingSettings.from_env(Paths.from_env()).workers
    model.threads = max(1, (os.cpu_count() or 1) // workers)
    faiss.cvar.distance_compute_blas_threshold = blas_threshold(model.plan.dim)
    return model


def input_fn(body: bytes, content_type: MediaType, model: KNNModel) -> np.ndarray:
    return codecs.decode(body, content_type, model.feature_dim).dense()


def predict_fn(rows: np.ndarray, model: KNNModel) -> Prediction:
    faiss.omp_set_num_threads(1 if rows.shape[0] < SMALL_REQUEST_ROWS else model.threads)
    predicted, scores, neighbour_labels = predict_rows(model, rows)
    metric = model.plan.metric
    return Prediction(predicted, index.reported_distances(scores, metric), index.response_order(neighbour_labels, metric))


def _rows(prediction: Prediction, verbose: bool) -> list[dict]:
    predicted = prediction.predicted.tolist()
    if not verbose:
        return [{"predicted_label": p} for p in predicted]
    distances = prediction.distances.tolist()
    labels = prediction.labels.tolist()
    return [
        {"predicted_label": p, "distances": d, "labels": lab}
        for p, d, lab in zip(predicted, distances, labels, strict=True)
    ]


def output_fn(prediction: Prediction, accept: MediaType, model: KNNModel) -> bytes:
    rows = _rows(prediction, accept.flag("verbose"))
    if accept.base == JSONLINES:
        return codecs.encode_jsonlines(rows)
    if accept.base == RECORDIO:
        return recordio.encode_label_records(rows)
    return json.dumps({"predictions": rows}, separators=(", ", ": ")).encode()


HANDLERS = Handlers(model_fn, input_fn, predict_fn, output_fn, (CSV, JSON, JSONLINES, RECORDIO), (JSON, JSONLINES, RECORDIO))

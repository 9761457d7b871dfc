"""NTM inference handlers (docs/contract.md §1.7-1.9): documents in, topic weights out.

Requests: ``text/csv`` (dense rows, ``label_size`` 0 by default), ``application/json`` and ``application/jsonlines``
(dense or sparse instances, or bare arrays), ``application/x-recordio-protobuf`` (dense or sparse, framed or one
bare Record). Responses: ``{"predictions": [{"topic_weights": [...]}, ...]}`` for JSON, one
``{"topic_weights": [...]}`` per line for JSON lines, and Records with ``label["topic_weights"]`` for RecordIO.
Each vector is ``softmax(mu)`` (the posterior mean), has ``num_topics`` entries and sums to 1; the same input always
gives the same output. Batch transform needs nothing extra: a mini-batch of lines is a multi-row request, and with
``application/jsonlines`` the output has one line per input line.

The tutorial sends thousands of single-row CSV requests, so the per-request path is lean: the encoder's inference
pass in numpy (``inference``; no torch in the serving process, which also makes a cold start a fraction of a
second), dense rows go straight into a matrix product, sparse rows into a sparse-dense product.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from container_core import codecs, recordio
from container_core.batch import Batch
from container_core.mime import CSV, JSON, JSONLINES, RECORDIO, MediaType
from container_core.serving import Handlers
from ntm_container import artifacts
from ntm_container.artifacts import LoadedModel


def model_fn(model_dir: Path) -> LoadedModel:
    return artifacts.load(model_dir)


def input_fn(body: bytes, content_type: MediaType, model: LoadedModel) -> Batch:
    return codecs.decode(body, content_type, model.config.feature_dim)


def predict_fn(batch: Batch, model: LoadedModel) -> np.ndarray:
    """(rows, num_topics) float32 topic weights."""
    if batch.rows == 0:
        return np.zeros((0, model.config.num_topics), dtype=np.float32)
    features = batch.features
    if batch.is_sparse:
        features = features.astype(np.float32, copy=False)
    else:
        features = np.ascontiguousarray(features, dtype=np.float32)
    return model.encoder.topic_weights(features)


def output_fn(weights: np.ndarray, accept: MediaType, model: LoadedModel) -> bytes:
    if accept.base == RECORDIO:
        return recordio.encode_label_records({"topic_weights": row} for row in weights)
    rows = weights.tolist()
    if accept.base == JSONLINES:
        return codecs.encode_jsonlines([{"topic_weights": row} for row in rows])
    return codecs.encode_json([{"topic_weights": row} for row in rows])


HANDLERS = Handlers(model_fn, input_fn, predict_fn, output_fn, (CSV, JSON, JSONLINES, RECORDIO), (JSON, JSONLINES, RECORDIO))

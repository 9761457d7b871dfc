"""NTM inference handlers (CONTRACT.md §1.7-1.9): documents in, topic weights out.

Requests: ``text/csv`` (dense rows, ``label_size`` 0 by default), ``application/json`` and ``application/jsonlines``
(dense or sparse instances, or bare arrays), ``application/x-recordio-protobuf`` (dense or sparse, framed or one
bare Record). Responses: ``{"predictions": [{"topic_weights": [...]}, ...]}`` for JSON, one
``{"topic_weights": [...]}`` per line for JSON lines, and Records with ``label["topic_weights"]`` for RecordIO.
Each vector is ``softmax(mu)`` (the posterior mean), has ``num_topics`` entries and sums to 1; the same input always
gives the same output. Batch transform needs nothing extra: a mini-batch of lines is a multi-row request, and with
``application/jsonlines`` the output has one line per input line.

The tutorial sends thousands of single-row CSV requests, so the per-request path is lean: one thread per worker,
``inference_mode``, dense rows go straight into a matrix product, no per-request allocation beyond the row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from container_core import codecs, recordio
from container_core.batch import Batch
from container_core.mime import CSV, JSON, JSONLINES, RECORDIO, MediaType
from container_core.serving import Handlers
from ntm_container import artifacts
from ntm_container.artifacts import LoadedModel
from ntm_container.model import SparseRows


def model_fn(model_dir: Path) -> LoadedModel:
    torch.set_num_threads(1)  # one worker process per core; intra-op threads only add latency to tiny requests
    return artifacts.load(model_dir)


def input_fn(body: bytes, content_type: MediaType, model: LoadedModel) -> Batch:
    return codecs.decode(body, content_type, model.config.feature_dim)


def predict_fn(batch: Batch, model: LoadedModel) -> np.ndarray:
    """(rows, num_topics) float32 topic weights."""
    if batch.rows == 0:
        return np.zeros((0, model.config.num_topics), dtype=np.float32)
    with torch.inference_mode():
        if batch.is_sparse:
            x = SparseRows.from_csr(batch.features)
        else:
            x = torch.from_numpy(np.ascontiguousarray(batch.features, dtype=np.float32))
        return model.model.topic_weights(x).numpy()


def output_fn(weights: np.ndarray, accept: MediaType, model: LoadedModel) -> bytes:
    if accept.base == RECORDIO:
        return recordio.encode_label_records({"topic_weights": row} for row in weights)
    rows = weights.tolist()
    if accept.base == JSONLINES:
        return codecs.encode_jsonlines([{"topic_weights": row} for row in rows])
    return codecs.encode_json([{"topic_weights": row} for row in rows])


HANDLERS = Handlers(model_fn, input_fn, predict_fn, output_fn, (CSV, JSON, JSONLINES, RECORDIO), (JSON, JSONLINES, RECORDIO))

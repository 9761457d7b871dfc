"""Predictions of a k-NN model: reduce the rows, search the index, vote (or average) over the neighbours' labels.

One function for both sides that predict: serving answers requests with it, and training scores the ``test``
channel with it, so the two cannot drift apart; serving needs nothing of training to import it.
"""

from __future__ import annotations

import numpy as np

from knn_container import index
from knn_container.artifacts import KNNModel


def predict_rows(model: KNNModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features -> ``(predictions, scores, neighbour_labels)``; scores and labels nearest first."""
    vectors = rows if model.reduction is None else model.reduction.apply(rows)
    scores, ids = index.search(model.index, model.plan, vectors, model.k)
    neighbour_labels = model.labels[ids]
    return index.predict(neighbour_labels, model.predictor_type), scores, neighbour_labels

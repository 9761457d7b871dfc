"""k-NN training: sample, reduce, index, write the artifact, and score the ``test`` channel (docs/contract.md §2.3).

Every host reservoir-samples its quota of its own shard of ``train``; with several hosts the leader gathers the
samples over TCP (``knn_container.gather``) and alone builds and writes the one index (A8). The optional ``test``
channel is then scored on the leader, one log line per mini-batch and the final metric lines of A1:
``#test_score (algo-1) : ('accuracy', v)`` and ``#quality_metric: host=algo-1, test accuracy <score>=v``
(``mse`` / ``<loss>`` for the regressor).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from container_core.channels import load_channels
from container_core.cli import TrainingContext, TrainingStopped
from container_core.distributed import leader_address
from container_core.errors import ContainerError, UserError
from knn_container import artifacts, gather, index
from knn_container.channels import CHANNELS, labelled_batches
from knn_container.hyperparameters import KNNConfig
from knn_container.prediction import predict_rows
from knn_container.reduction import Reduction
from knn_container.sampling import Reservoir, host_quota

log = logging.getLogger("knn.train")

SEED = 3
"""Seed of sampling (plus the host rank) and of the reduction; fixed so a job is reproducible."""


def sample_shard(context: TrainingContext, config: KNNConfig, channel) -> tuple[np.ndarray, np.ndarray, int]:
    """This host's reservoir sample of its shard: ``(features, labels, rows_seen)``."""
    resources = context.resources
    quota = host_quota(config.sample_size, resources.num_hosts, resources.rank)
    reservoir = Reservoir(quota, config.feature_dim, SEED + resources.rank)
    for batch in labelled_batches(channel, config.feature_dim, config.mini_batch_size):
        if context.stop_requested.is_set():
            raise TrainingStopped("training stopped by SIGTERM while sampling; nothing was written")
        reservoir.add(batch)
    features, labels = reservoir.sample()
    log.info("host %s sampled %d of %d rows (quota %d)", resources.current_host, labels.size, reservoir.seen, quota)
    return features, labels, reservoir.seen


def reduction_target(config: KNNConfig) -> int | None:
    """The reduction target, raised to a multiple of ``faiss_index_pq_m`` for IVFPQ when it fits (§2.1)."""
    target = config.dimension_reduction_target
    if target is None or config.index_type != "faiss.IVFPQ":
        return target
    m = config.faiss_index_pq_m or index.default_pq_m(target)
    raised = index.padded_dim(target, m)
    if raised != target and (config.dimension_reduction_type == "sign" or raised <= config.feature_dim):
        log.info("dimension_reduction_target raised from %d to %d, a multiple of faiss_index_pq_m=%d", target, raised, m)
        return raised
    return target


def build_model(config: KNNConfig, features: np.ndarray, labels: np.ndarray) -> artifacts.KNNModel:
    """Reduce and index the gathered sample."""
    points = labels.shape[0]
    if points == 0:
        raise UserError("channel 'train' holds no records")
    if config.k > points:
        raise UserError(
            f"Hyperparameter k: {config.k} is larger than the number of indexed points ({points}); "
            "lower k or provide more training data"
        )
    reduction = None
    vectors = features
    target = reduction_target(config)
    if target is not None:
        reduction = Reduction.draw(config.dimension_reduction_type, config.feature_dim, target, SEED)
        vectors = reduction.apply(features)
    plan = index.IndexPlan.choose(
        config.index_type, config.index_metric, vectors.shape[1], points,
        config.faiss_index_ivf_nlists, config.faiss_index_pq_m,
    )
    started = time.perf_counter()
    built = index.build(plan, vectors)
    log.info("built %s (%s) over %d points of dimension %d in %.2f s", plan.index_type, plan.metric, points,
             plan.dim, time.perf_counter() - started)
    return artifacts.KNNModel(built, labels, plan, config.k, config.predictor_type, config.feature_dim, reduction)


def score_test(context: TrainingContext, config: KNNConfig, model: artifacts.KNNModel, channel) -> float:
    """Accuracy (classifier) or mean squared error (regressor) over the ``test`` channel."""
    total = 0.0
    rows = 0
    name = "accuracy" if model.predictor_type == "classifier" else "mse"
    for number, batch in enumerate(labelled_batches(channel, config.feature_dim, config.mini_batch_size)):
        predictions, _, _ = predict_rows(model, batch.dense())
        if name == "accuracy":
            batch_total = float(np.sum(predictions == batch.labels))
        else:
            batch_total = float(np.sum((predictions.astype(np.float64) - batch.labels) ** 2))
        total += batch_total
        rows += batch.rows
        log.info("test mini-batch %d: %s %.6g over %d rows", number, name, batch_total / max(batch.rows, 1), batch.rows)
    if rows == 0:
        raise UserError("channel 'test' holds no records")
    value = total / rows
    context.metrics.test_score(name, value)
    context.metrics.quality("test", name, "score" if name == "accuracy" else "loss", value)
    return value


def train(context: TrainingContext) -> None:
    config = KNNConfig.from_raw(context.hyperparameters)
    channels = load_channels(context.paths, CHANNELS, "k-NN")
    resources = context.resources
    if resources.num_hosts == 1:
        features, labels, _ = sample_shard(context, config, channels["train"])
        finish(context, config, channels, features, labels)
        return
    link = gather.join(leader_address(resources), resources.hosts, resources.current_host)
    error: ContainerError | None = None
    try:
        features, labels, _ = sample_shard(context, config, channels["train"])
    except ContainerError as failure:  # tell the other hosts before failing, so they do not wait
        error = failure
        features, labels = np.zeros((0, config.feature_dim), np.float32), np.zeros(0, np.float32)
    message = None if error is None else str(error)
    gathered = link.exchange(features, labels, message)
    if error is not None:
        raise error
    if gathered is None:
        log.info("sample sent to the leader %s, which wrote the model", resources.leader)
        return
    with gathered:  # the other hosts stay until the model is written and scored
        finish(context, config, channels, gathered.features, gathered.labels)


def finish(context: TrainingContext, config: KNNConfig, channels: dict, features: np.ndarray,
           labels: np.ndarray) -> None:
    """Build and write the model from the (gathered) sample, then score the ``test`` channel."""
    model = build_model(config, features, labels)
    written = artifacts.save(model, context.paths.model)
    log.info("wrote %s", ", ".join(p.name for p in written))
    if "test" in channels:
        score_test(context, config, model, channels["test"])

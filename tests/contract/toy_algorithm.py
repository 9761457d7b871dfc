"""A tiny algorithm used to test the container core through its real train/serve entry points.

Training averages the rows of the ``train`` channel; serving returns each row's dot product with that mean, times
``scale``. A row whose first value is 13 makes ``predict_fn`` fail, to exercise the 500 path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from container_core import codecs, recordio
from container_core.channels import ChannelSpec, load_channels
from container_core.cli import Algorithm, TrainingContext, main
from container_core.errors import AlgorithmError, UserError
from container_core.hyperparameters import FLOAT, INTEGER, Choices, Hyperparameter, Interval, Schema
from container_core.mime import CSV, JSON, JSONLINES, RECORDIO, MediaType
from container_core.serving import Handlers


def _scale_needs_dim(values: dict[str, Any]) -> None:
    if values["scale"] > values["feature_dim"]:
        raise UserError("Hyperparameter scale must not exceed feature_dim")


SCHEMA = Schema(
    "toy",
    (
        Hyperparameter("feature_dim", INTEGER, "number of features", valid=Interval(1, 1000)),
        Hyperparameter("scale", FLOAT, "output multiplier", default=1.0, valid=Interval(0, 10, low_open=True)),
        Hyperparameter("mode", INTEGER, "unused", default=1, valid=Choices((1, 2))),
    ),
    (_scale_needs_dim,),
)
CHANNELS = (ChannelSpec("train", (RECORDIO, CSV), required=True), ChannelSpec("test", (RECORDIO, CSV)))


def train(context: TrainingContext) -> None:
    config = SCHEMA.validate(context.hyperparameters)
    channels = load_channels(context.paths, CHANNELS, "toy")
    train_channel = channels["train"]
    files = train_channel.files()
    if not files:
        raise UserError("channel 'train' has no data files")
    if train_channel.content_type.base == CSV:
        batches = codecs.read_csv_batches(files, 100, config["feature_dim"], 0)
    else:
        batches = recordio.read_batches(files, 100, config["feature_dim"])
    total = np.zeros(config["feature_dim"], np.float64)
    rows = 0
    for batch in batches:
        total += np.asarray(batch.features.sum(axis=0)).ravel()
        rows += batch.rows
    if rows == 0:
        raise UserError("channel 'train' holds no records")
    mean = total / rows
    context.metrics.quality("train", "mean_norm", "score", float(np.linalg.norm(mean)))
    context.paths.model.mkdir(parents=True, exist_ok=True)
    np.save(context.paths.model / "mean.npy", mean.astype(np.float32), allow_pickle=False)
    (context.paths.model / "meta.json").write_text(json.dumps({"scale": config["scale"]}))


def model_fn(model_dir: Path) -> dict[str, Any]:
    try:
        mean = np.load(model_dir / "mean.npy", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"model artifact {model_dir / 'mean.npy'} is missing or corrupt: {error}") from None
    return {"mean": mean, "scale": json.loads((model_dir / "meta.json").read_text())["scale"]}


def input_fn(body: bytes, content_type: MediaType, model: dict[str, Any]) -> np.ndarray:
    return codecs.decode(body, content_type, model["mean"].shape[0]).dense()


def predict_fn(rows: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    if rows.size and rows[0, 0] == 13:
        raise AlgorithmError("unlucky row")
    return rows @ model["mean"] * model["scale"]


def output_fn(scores: np.ndarray, accept: MediaType, model: dict[str, Any]) -> bytes:
    predictions = [{"score": float(s)} for s in scores]
    if accept.base == JSONLINES:
        return codecs.encode_jsonlines(predictions)
    if accept.base == RECORDIO:
        return recordio.encode_label_records({"score": [p["score"]]} for p in predictions)
    return codecs.encode_json(predictions)


HANDLERS = Handlers(model_fn, input_fn, predict_fn, output_fn, (CSV, JSON, JSONLINES, RECORDIO), (JSON, JSONLINES, RECORDIO))
ALGORITHM = Algorithm("toy", train, "tests.contract.toy_algorithm:HANDLERS")

if __name__ == "__main__":
    sys.exit(main(ALGORITHM))

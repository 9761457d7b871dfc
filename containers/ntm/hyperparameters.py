"""NTM hyperparameters, declared once (docs/contract.md §1.1), and the typed configuration training uses.

Ranges are the documented ones, not the v1 SDK's stricter ones (``epochs`` has no maximum, ``num_patience_epochs``
none either). Two deliberate narrowings, each because the documented end point cannot train: ``sub_sample`` must be
above 0 (0 would sample no documents) and ``clip_gradient`` keeps its documented minimum 1e-3 with ``Infinity``
(the default) meaning no clipping.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from container_core.hyperparameters import (
    BOOLEAN,
    FLOAT,
    INT_LIST,
    INTEGER,
    STRING,
    Choices,
    Hyperparameter,
    Interval,
    Schema,
)

OPTIMIZERS = ("adagrad", "adam", "rmsprop", "sgd", "adadelta")
EXTENSIONS = ("normalize_topic_logits",)
"""Hyperparameters of this container that the built-in does not have (each off by default)."""
ACTIVATIONS = ("sigmoid", "tanh", "relu")

SCHEMA = Schema(
    "NTM",
    (
        Hyperparameter("feature_dim", INTEGER, "vocabulary size", valid=Interval(1, 1_000_000)),
        Hyperparameter("num_topics", INTEGER, "number of topics", valid=Interval(2, 1000)),
        Hyperparameter("batch_norm", BOOLEAN, "batch normalization in the encoder layers", default=False),
        Hyperparameter(
            "clip_gradient", FLOAT, "clip every gradient element to [-c, c]", default=math.inf,
            valid=Interval(1e-3, None),
        ),
        Hyperparameter(
            "encoder_layers", INT_LIST, "encoder layer sizes; auto = [3*num_topics, 2*num_topics]", default="auto",
            valid=Interval(1, None), auto=True,
        ),
        Hyperparameter(
            "encoder_layers_activation", STRING, "activation of the encoder layers", default="sigmoid",
            valid=Choices(ACTIVATIONS), case_insensitive=True, tunable=Choices(ACTIVATIONS),
        ),
        Hyperparameter("epochs", INTEGER, "maximum number of passes over the training data", default=50,
                       valid=Interval(1, None)),
        Hyperparameter(
            "learning_rate", FLOAT, "learning rate of the optimizer", default=0.001, valid=Interval(1e-6, 1.0),
            tunable=Interval(1e-4, 0.1),
        ),
        Hyperparameter(
            "mini_batch_size", INTEGER, "documents per mini-batch on each host", default=256,
            valid=Interval(1, 10000), tunable=Interval(16, 2048),
        ),
        Hyperparameter(
            "num_patience_epochs", INTEGER, "successive epochs over which early stopping is evaluated", default=3,
            valid=Interval(1, None),
        ),
        Hyperparameter(
            "normalize_topic_logits", BOOLEAN,
            "extension (not in the built-in): scale every document's posterior-mean topic logits to length "
            "sqrt(num_topics), so topic vectors compare by direction under a cosine k-NN", default=False,
        ),
        Hyperparameter(
            "optimizer", STRING, "optimizer", default="adadelta", valid=Choices(OPTIMIZERS), case_insensitive=True,
            tunable=Choices(("sgd", "adam", "adadelta")),
        ),
        Hyperparameter(
            "rescale_gradient", FLOAT, "factor every gradient is multiplied by", default=1.0,
            valid=Interval(1e-3, 1.0), tunable=Interval(0.1, 1.0),
        ),
        Hyperparameter(
            "sub_sample", FLOAT, "fraction of the training documents sampled in each epoch", default=1.0,
            valid=Interval(0.0, 1.0, low_open=True),
        ),
        Hyperparameter(
            "tolerance", FLOAT, "relative loss improvement below which an epoch counts as not improving",
            default=0.001, valid=Interval(1e-6, 0.1),
        ),
        Hyperparameter(
            "weight_decay", FLOAT, "L2 weight decay", default=0.0, valid=Interval(0.0, 1.0),
            tunable=Interval(0.0, 1.0),
        ),
    ),
)


@dataclass(frozen=True)
class NTMConfig:
    """Validated NTM hyperparameters with ``auto`` resolved."""

    feature_dim: int
    num_topics: int
    batch_norm: bool
    clip_gradient: float
    encoder_layers: tuple[int, ...]
    encoder_layers_activation: str
    epochs: int
    learning_rate: float
    mini_batch_size: int
    num_patience_epochs: int
    normalize_topic_logits: bool
    optimizer: str
    rescale_gradient: float
    sub_sample: float
    tolerance: float
    weight_decay: float

    @classmethod
    def from_hyperparameters(cls, raw: dict[str, Any]) -> NTMConfig:
        values = SCHEMA.validate(raw)
        if values["encoder_layers"] == "auto":
            values["encoder_layers"] = (3 * values["num_topics"], 2 * values["num_topics"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (``Infinity`` as a string, lists as lists) for ``model_meta.json``."""
        values = asdict(self)
        values["encoder_layers"] = list(self.encoder_layers)
        if math.isinf(self.clip_gradient):
            values["clip_gradient"] = "Infinity"
        return values

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NTMConfig:
        return cls.from_hyperparameters({k: v for k, v in data.items() if k in SCHEMA.names})

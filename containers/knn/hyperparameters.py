"""The k-NN hyperparameters (docs/contract.md §2.1), declared once as data, and the cross-field rules between them.

The schema engine (``container_core.hyperparameters``) parses the strings SageMaker delivers and writes every
range message; the rules below are the built-in's documented cross-field constraints, each a named function so a
test can name it. ``KNNConfig`` is the typed result that the rest of the package receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from container_core.errors import UserError
from container_core.hyperparameters import INTEGER, STRING, Choices, Hyperparameter, Interval, Schema

PQ_M_VALUES = (1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96)
INDEX_TYPES = ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ")
METRICS = ("L2", "INNER_PRODUCT", "COSINE")
PREDICTOR_TYPES = ("classifier", "regressor")
REDUCTIONS = ("sign", "fjlt")


def reduction_type_and_target_together(values: dict[str, Any]) -> None:
    """``dimension_reduction_target`` is required iff ``dimension_reduction_type`` is set (SDK v1 rule)."""
    has_type = values["dimension_reduction_type"] is not None
    has_target = values["dimension_reduction_target"] is not None
    if has_type and not has_target:
        raise UserError("Hyperparameter dimension_reduction_target is required when dimension_reduction_type is set")
    if has_target and not has_type:
        raise UserError(
            "Hyperparameter dimension_reduction_type is required when dimension_reduction_target is set "
            f"(one of {', '.join(REDUCTIONS)})"
        )


def reduction_target_below_feature_dim(values: dict[str, Any]) -> None:
    """A reduction must reduce: ``0 < dimension_reduction_target < feature_dim``."""
    target = values["dimension_reduction_target"]
    if target is not None and target >= values["feature_dim"]:
        raise UserError(
            f"Hyperparameter dimension_reduction_target: {target} must be smaller than feature_dim "
            f"({values['feature_dim']})"
        )


def metric_supported_by_index(values: dict[str, Any]) -> None:
    """faiss.IVFPQ supports only L2 (the built-in's documented restriction)."""
    if values["index_type"] == "faiss.IVFPQ" and values["index_metric"] != "L2":
        raise UserError(
            f"Hyperparameter index_metric: {values['index_metric']} is not supported with faiss.IVFPQ; "
            "use L2, or index_type faiss.Flat or faiss.IVFFlat"
        )


def pq_m_only_with_ivfpq(values: dict[str, Any]) -> None:
    """``faiss_index_pq_m`` configures product quantization, which only faiss.IVFPQ has."""
    if values["faiss_index_pq_m"] is not None and values["index_type"] != "faiss.IVFPQ":
        raise UserError(
            f"Hyperparameter faiss_index_pq_m is only used with index_type faiss.IVFPQ, not {values['index_type']}"
        )


def nlists_within_sample_size(values: dict[str, Any]) -> None:
    """IVF training clusters the sample into ``faiss_index_ivf_nlists`` lists: it needs at least that many points."""
    nlists = values["faiss_index_ivf_nlists"]
    if nlists != "auto" and values["index_type"] != "faiss.Flat" and nlists > values["sample_size"]:
        raise UserError(
            f"Hyperparameter faiss_index_ivf_nlists: {nlists} is larger than sample_size ({values['sample_size']}); "
            "IVF needs at least one sampled point per list (use auto = sqrt(sample_size))"
        )


def k_within_sample_size(values: dict[str, Any]) -> None:
    """The index holds at most ``sample_size`` points, so ``k`` larger than that can never be answered (A6)."""
    if values["k"] > values["sample_size"]:
        raise UserError(
            f"Hyperparameter k: {values['k']} is larger than sample_size ({values['sample_size']}); "
            "the index cannot hold k neighbours"
        )


SCHEMA = Schema(
    "k-NN",
    (
        Hyperparameter("feature_dim", INTEGER, "number of features of the input data", valid=Interval(1, None)),
        Hyperparameter("k", INTEGER, "number of nearest neighbours", valid=Interval(1, None), tunable=Interval(1, 1024)),
        Hyperparameter(
            "predictor_type", STRING, "classifier (most frequent label) or regressor (mean label)",
            valid=Choices(PREDICTOR_TYPES), case_insensitive=True,
        ),
        Hyperparameter(
            "sample_size", INTEGER, "total number of points sampled across all hosts and indexed",
            valid=Interval(1, None), tunable=Interval(256, 20_000_000),
        ),
        Hyperparameter(
            "dimension_reduction_type", STRING, "random projection: sign (random signs) or fjlt (fast JL transform)",
            default=None, valid=Choices(REDUCTIONS), case_insensitive=True,
        ),
        Hyperparameter(
            "dimension_reduction_target", INTEGER, "dimension after reduction (required with dimension_reduction_type)",
            default=None, valid=Interval(1, None),
        ),
        Hyperparameter(
            "index_type", STRING, "faiss index: exact Flat, inverted-file IVFFlat, or IVFPQ with product quantization",
            default="faiss.Flat", valid=Choices(INDEX_TYPES), case_insensitive=True,
        ),
        Hyperparameter(
            "index_metric", STRING, "distance: L2, INNER_PRODUCT, or COSINE (not with faiss.IVFPQ)",
            default="L2", valid=Choices(METRICS), case_insensitive=True,
        ),
        Hyperparameter(
            "faiss_index_ivf_nlists", INTEGER, "number of inverted lists of IVF indexes; auto = sqrt(sample_size)",
            default="auto", valid=Interval(1, None), auto=True,
        ),
        Hyperparameter(
            "faiss_index_pq_m", INTEGER,
            "sub-vectors of faiss.IVFPQ; the dimension is zero-padded (or the reduction target raised) to a multiple",
            default=None, valid=Choices(PQ_M_VALUES),
        ),
        Hyperparameter("mini_batch_size", INTEGER, "rows read per batch", default=5000, valid=Interval(1, None)),
    ),
    (
        reduction_type_and_target_together,
        reduction_target_below_feature_dim,
        metric_supported_by_index,
        pq_m_only_with_ivfpq,
        nlists_within_sample_size,
        k_within_sample_size,
    ),
)


@dataclass(frozen=True)
class KNNConfig:
    """Validated k-NN hyperparameters, typed."""

    feature_dim: int
    k: int
    predictor_type: str
    sample_size: int
    dimension_reduction_type: str | None = None
    dimension_reduction_target: int | None = None
    index_type: str = "faiss.Flat"
    index_metric: str = "L2"
    faiss_index_ivf_nlists: int | str = "auto"
    faiss_index_pq_m: int | None = None
    mini_batch_size: int = 5000

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> KNNConfig:
        return cls(**SCHEMA.validate(raw))

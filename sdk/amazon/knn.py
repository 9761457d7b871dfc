"""The first-party ``KNN`` estimator (SDK v1 ``sagemaker.KNN``), its model and its RecordIO predictor."""

from __future__ import annotations

from typing import Any

from opensagemaker.amazon.amazon_estimator import AmazonAlgorithmEstimatorBase
from opensagemaker.amazon.common import RecordPredictor
from opensagemaker.model import Model

__all__ = ["KNN", "KNNModel", "KNNPredictor"]


class KNNPredictor(RecordPredictor):
    """Sends ndarrays as RecordIO-protobuf; answers are Records with ``label['predicted_label']``."""


class KNNModel(Model):
    def __init__(self, model_data: str, role: str | None = None, sagemaker_session: Any = None,
                 image: str | None = None, **kwargs: Any) -> None:
        from opensagemaker.image_uris import get_image_uri

        region = sagemaker_session.boto_region_name if sagemaker_session is not None else None
        super().__init__(model_data, image or get_image_uri(region, "knn"), role,
                         predictor_cls=kwargs.pop("predictor_cls", KNNPredictor),
                         sagemaker_session=sagemaker_session, **kwargs)


class KNN(AmazonAlgorithmEstimatorBase):
    """k-nearest neighbours. ``k``, ``sample_size`` and ``predictor_type`` are required (docs/contract.md §2.1)."""

    repo_name = "knn"
    hyperparameter_names = (
        "k", "sample_size", "predictor_type", "dimension_reduction_type", "dimension_reduction_target",
        "index_type", "index_metric", "faiss_index_ivf_nlists", "faiss_index_pq_m",
    )

    def __init__(
        self,
        role: str | None = None,
        train_instance_count: int | None = None,
        train_instance_type: str | None = None,
        k: int | None = None,
        sample_size: int | None = None,
        predictor_type: str | None = None,
        dimension_reduction_type: str | None = None,
        dimension_reduction_target: int | None = None,
        index_type: str | None = None,
        index_metric: str | None = None,
        faiss_index_ivf_nlists: str | int | None = None,
        faiss_index_pq_m: int | None = None,
        **kwargs: Any,
    ) -> None:
        missing = [n for n, v in (("k", k), ("sample_size", sample_size), ("predictor_type", predictor_type)) if v is None]
        if missing:
            raise ValueError(f"KNN needs {', '.join(missing)}")
        if predictor_type not in ("classifier", "regressor"):
            raise ValueError(f"predictor_type must be 'classifier' or 'regressor', got {predictor_type!r}")
        if dimension_reduction_type is not None and dimension_reduction_target is None:
            raise ValueError('"dimension_reduction_target" is required when "dimension_reduction_type" is set.')
        super().__init__(role, train_instance_count, train_instance_type, **kwargs)
        self.k = k
        self.sample_size = sample_size
        self.predictor_type = predictor_type
        self.dimension_reduction_type = dimension_reduction_type
        self.dimension_reduction_target = dimension_reduction_target
        self.index_type = index_type
        self.index_metric = index_metric
        self.faiss_index_ivf_nlists = faiss_index_ivf_nlists
        self.faiss_index_pq_m = faiss_index_pq_m

    def create_model(self, vpc_config_override: Any = None, **kwargs: Any) -> Model:
        return self._model(KNNModel, KNNPredictor, vpc_config_override, **kwargs)

"""The first-party ``NTM`` estimator (SDK v1 ``sagemaker.NTM``), its model and its RecordIO predictor."""

from __future__ import annotations

from typing import Any

from opensagemaker.amazon.amazon_estimator import AmazonAlgorithmEstimatorBase
from opensagemaker.amazon.common import RecordPredictor
from opensagemaker.model import Model

__all__ = ["NTM", "NTMModel", "NTMPredictor"]


class NTMPredictor(RecordPredictor):
    """Sends ndarrays as RecordIO-protobuf; answers are Records with ``label['topic_weights']``."""


class NTMModel(Model):
    def __init__(self, model_data: str, role: str | None = None, sagemaker_session: Any = None,
                 image: str | None = None, **kwargs: Any) -> None:
        from opensagemaker.image_uris import get_image_uri

        region = sagemaker_session.boto_region_name if sagemaker_session is not None else None
        super().__init__(model_data, image or get_image_uri(region, "ntm"), role,
                         predictor_cls=kwargs.pop("predictor_cls", NTMPredictor),
                         sagemaker_session=sagemaker_session, **kwargs)


class NTM(AmazonAlgorithmEstimatorBase):
    """Neural Topic Model. ``num_topics`` is required; the rest default in the container (docs/contract.md §1.1)."""

    repo_name = "ntm"
    hyperparameter_names = (
        "num_topics", "encoder_layers", "epochs", "encoder_layers_activation", "optimizer", "tolerance",
        "num_patience_epochs", "batch_norm", "rescale_gradient", "clip_gradient", "weight_decay", "learning_rate",
        "sub_sample",
    )

    def __init__(
        self,
        role: str | None = None,
        train_instance_count: int | None = None,
        train_instance_type: str | None = None,
        num_topics: int | None = None,
        encoder_layers: list[int] | None = None,
        epochs: int | None = None,
        encoder_layers_activation: str | None = None,
        optimizer: str | None = None,
        tolerance: float | None = None,
        num_patience_epochs: int | None = None,
        batch_norm: bool | None = None,
        rescale_gradient: float | None = None,
        clip_gradient: float | None = None,
        weight_decay: float | None = None,
        learning_rate: float | None = None,
        sub_sample: float | None = None,
        **kwargs: Any,
    ) -> None:
        if num_topics is None:
            raise ValueError("NTM needs num_topics (an integer in [2, 1000])")
        super().__init__(role, train_instance_count, train_instance_type, **kwargs)
        self.num_topics = num_topics
        self.encoder_layers = encoder_layers
        self.epochs = epochs
        self.encoder_layers_activation = encoder_layers_activation
        self.optimizer = optimizer
        self.tolerance = tolerance
        self.num_patience_epochs = num_patience_epochs
        self.batch_norm = batch_norm
        self.rescale_gradient = rescale_gradient
        self.clip_gradient = clip_gradient
        self.weight_decay = weight_decay
        self.learning_rate = learning_rate
        self.sub_sample = sub_sample

    def _prepare_for_training(self, records: Any = None, mini_batch_size: int | None = None,
                              job_name: str | None = None) -> None:
        if mini_batch_size is not None and not 1 <= int(mini_batch_size) <= 10000:
            raise ValueError(f"mini_batch_size must be in [1, 10000], got {mini_batch_size}")
        super()._prepare_for_training(records, mini_batch_size=mini_batch_size, job_name=job_name)

    def create_model(self, vpc_config_override: Any = None, **kwargs: Any) -> Model:
        return self._model(NTMModel, NTMPredictor, vpc_config_override, **kwargs)

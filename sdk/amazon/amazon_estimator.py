"""``get_image_uri``, ``RecordSet`` / ``record_set`` and the base of the first-party estimators (``NTM``, ``KNN``).

``record_set(train, labels)`` writes the matrix as ``instance_count`` RecordIO-protobuf shards
(``matrix_<i>.pbr``, rows split in order, the last shard taking the remainder) plus a ``.amazon.manifest`` listing
them, under ``data_location`` (default ``s3://<default bucket>/sagemaker-record-sets/``), exactly as SDK v1 does; the
``train`` channel is then ``ShardedByS3Key`` over that manifest, so each host trains on its own shard. Other
channels (``test``, ``validation``) are ``FullyReplicated`` (every host sees all of it, as the NTM docs require).

First-party hyperparameters are sent as JSON for lists and ``str(v)`` otherwise (v1 ``serialize_all``). Before a
job starts they are checked against the container's own schema (``ntm_container.hyperparameters`` /
``knn_container.hyperparameters``) when that package is installed, so a bad value fails at ``fit`` with the same
message the container would write.
"""

from __future__ import annotations

import importlib
import io
import json
from typing import Any

import numpy as np
import scipy.sparse as sp

from container_core import recordio
from opensagemaker.backends import storage
from opensagemaker.estimator import EstimatorBase
from opensagemaker.image_uris import get_image_uri
from opensagemaker.inputs import TrainingInput
from opensagemaker.model import Model
from opensagemaker.naming import sagemaker_timestamp

__all__ = ["AmazonAlgorithmEstimatorBase", "RecordSet", "get_image_uri", "upload_numpy_to_s3_shards"]


class RecordSet:
    """A RecordIO-protobuf data set in the store: a manifest (or prefix), its size, and the channel it feeds."""

    def __init__(self, s3_data: str, num_records: int, feature_dim: int, s3_data_type: str = "ManifestFile",
                 channel: str = "train") -> None:
        self.s3_data = s3_data
        self.num_records = num_records
        self.feature_dim = feature_dim
        self.s3_data_type = s3_data_type
        self.channel = channel

    def records_s3_input(self) -> TrainingInput:
        distribution = "ShardedByS3Key" if self.channel == "train" else "FullyReplicated"
        return TrainingInput(self.s3_data, distribution=distribution, s3_data_type=self.s3_data_type)

    def data_channel(self) -> dict[str, TrainingInput]:
        return {self.channel: self.records_s3_input()}

    def __repr__(self) -> str:
        return f"(RecordSet, {self.__dict__!r})"


def _shards(array: Any, count: int) -> list[Any]:
    size = int(array.shape[0] / count)
    if size == 0:
        raise ValueError(f"Array length ({array.shape[0]} rows) is less than num shards ({count})")
    shards = [array[i * size: (i + 1) * size] for i in range(count - 1)]
    shards.append(array[(count - 1) * size:])
    return shards


def upload_numpy_to_s3_shards(num_shards: int, s3_client: Any, bucket: str, key_prefix: str, array: Any,
                              labels: Any = None, encrypt: bool = False) -> str:
    """Write ``array`` (dense, or scipy sparse) as ``num_shards`` shards + manifest; returns the manifest URI."""
    shards = _shards(array, num_shards)
    label_shards = _shards(np.asarray(labels), num_shards) if labels is not None else None
    width = len(str(len(shards)))
    names = []
    extra = {"ServerSideEncryption": "AES256"} if encrypt else {}
    for index, shard in enumerate(shards):
        buffer = io.BytesIO()
        shard_labels = label_shards[index] if label_shards is not None else None
        if sp.issparse(shard):
            recordio.write_sparse(buffer, shard, shard_labels)
        else:
            recordio.write_dense(buffer, np.asarray(shard), shard_labels)
        name = f"matrix_{str(index).zfill(width)}.pbr"
        s3_client.put_object(Bucket=bucket, Key=key_prefix + name, Body=buffer.getvalue(), **extra)
        names.append(name)
    manifest_key = key_prefix + ".amazon.manifest"
    manifest = json.dumps([{"prefix": f"s3://{bucket}/{key_prefix}"}, *names])
    s3_client.put_object(Bucket=bucket, Key=manifest_key, Body=manifest.encode("utf-8"), **extra)
    return f"s3://{bucket}/{manifest_key}"


def container_schema(algorithm: str) -> Any:
    """The ``container_core.hyperparameters.Schema`` of ``<algorithm>_container.hyperparameters``, or None."""
    try:
        module = importlib.import_module(f"{algorithm}_container.hyperparameters")
    except ImportError:
        return None
    from container_core.hyperparameters import Schema

    for value in vars(module).values():
        if isinstance(value, Schema):
            return value
    return None


def serialize_hyperparameter(value: Any) -> str:
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


class AmazonAlgorithmEstimatorBase(EstimatorBase):
    """Base of ``NTM`` and ``KNN``: the image from ``get_image_uri``, declared hyperparameters, ``record_set``."""

    repo_name = ""
    repo_version = 1
    hyperparameter_names: tuple[str, ...] = ()

    def __init__(self, role: str | None = None, train_instance_count: int | None = None,
                 train_instance_type: str | None = None, data_location: str | None = None,
                 image_uri: str | None = None, **kwargs: Any) -> None:
        super().__init__(role, train_instance_count, train_instance_type, **kwargs)
        self._image_uri = image_uri
        self.data_location = data_location or f"s3://{self.sagemaker_session.default_bucket()}/sagemaker-record-sets/"
        self.feature_dim: int | None = None
        self.mini_batch_size: int | None = None

    def train_image(self) -> str:
        return self._image_uri or get_image_uri(self.sagemaker_session.boto_region_name, self.repo_name, self.repo_version)

    @property
    def image_uri(self) -> str:
        return self.train_image()

    def hyperparameters(self) -> dict[str, str]:
        values = {name: getattr(self, name) for name in ("feature_dim", "mini_batch_size", *self.hyperparameter_names)}
        return {k: serialize_hyperparameter(v) for k, v in values.items() if v is not None}

    def validate_hyperparameters(self) -> None:
        """Check the hyperparameters with the container's schema (if installed); ``ValueError`` with its message."""
        schema = container_schema(self.repo_name)
        if schema is None:
            return
        from container_core.errors import ContainerError

        try:
            schema.validate(self.hyperparameters())
        except ContainerError as error:
            raise ValueError(str(error)) from None

    def record_set(self, train: Any, labels: Any = None, channel: str = "train", encrypt: bool = False) -> RecordSet:
        """Upload ``train`` (2-D ndarray or scipy sparse matrix) and ``labels`` as shards; returns the ``RecordSet``."""
        if len(getattr(train, "shape", ())) != 2:
            raise ValueError(f"record_set needs a 2-D matrix, got shape {getattr(train, 'shape', None)}")
        bucket, prefix = storage.parse_s3_uri(self.data_location)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        key_prefix = f"{prefix}{type(self).__name__}-{sagemaker_timestamp()}/"
        if self.sagemaker_session.local_mode:
            self.sagemaker_session.backend.ensure_bucket(bucket)
        manifest = upload_numpy_to_s3_shards(self.instance_count, self.sagemaker_session.s3_client(), bucket,
                                             key_prefix, train, labels, encrypt)
        return RecordSet(manifest, num_records=train.shape[0], feature_dim=train.shape[1], channel=channel)

    def _prepare_for_training(self, records: Any = None, mini_batch_size: int | None = None,
                              job_name: str | None = None) -> None:
        super()._prepare_for_training(job_name=job_name)
        sets = records if isinstance(records, list) else [records]
        train = next((r for r in sets if isinstance(r, RecordSet) and r.channel == "train"), None)
        if train is not None:
            self.feature_dim = train.feature_dim
        if mini_batch_size is not None:
            self.mini_batch_size = mini_batch_size

    def fit(self, records: Any = None, mini_batch_size: int | None = None, wait: bool = True, logs: bool | str = True,
            job_name: str | None = None, experiment_config: Any = None) -> None:  # type: ignore[override]
        """Train on a ``RecordSet`` (or a list of them, one per channel)."""
        self._prepare_for_training(records, mini_batch_size=mini_batch_size, job_name=job_name)
        self.validate_hyperparameters()
        sets = records if isinstance(records, list) else [records]
        inputs: dict[str, Any] = {}
        for record_set in sets:
            if isinstance(record_set, RecordSet):
                inputs.update(record_set.data_channel())
            elif record_set is not None:
                raise ValueError(f"{type(self).__name__}.fit needs RecordSets (from record_set()), got {record_set!r}")
        super().fit(inputs, wait=wait, logs=logs, job_name=self._current_job_name)

    def _model(self, model_cls: type[Model], predictor_cls: Any, vpc_config_override: Any = None,
               **kwargs: Any) -> Model:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}.deploy/create_model got unexpected argument(s) {', '.join(sorted(kwargs))} "
                "(the first-party predictors speak RecordIO-protobuf; to change headers, set predictor.content_type "
                "/ predictor.accept after deploy)"
            )
        return model_cls(self.model_data, self.role, self.sagemaker_session, image=self.train_image(),
                         predictor_cls=predictor_cls)

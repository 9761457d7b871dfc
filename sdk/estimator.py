"""Estimators: ``Estimator`` (generic, any image) on top of ``EstimatorBase`` (fit, deploy, transformer).

v1 keyword names (``train_instance_count``, ``train_instance_type``, ``train_max_run``, ``train_volume_size``,
``train_use_spot_instances``, ``train_max_wait``, ``image_name``) and their v2 names (``instance_count``,
``instance_type``, ``max_run``, ``volume_size``, ``use_spot_instances``, ``max_wait``, ``image_uri``) are both
accepted; giving both with different values is an error. Hyperparameters are sent as ``str(value)`` for every value,
as v1's generic ``Estimator`` does (docs/contract.md §3.2).

Spot and checkpoints: ``use_spot_instances`` needs ``max_wait`` (>= ``max_run``); ``checkpoint_s3_uri`` is synced
with ``/opt/ml/checkpoints`` (SageMaker's ``CheckpointConfig``), so a job run again, or a Spot job restarted after
an interruption, resumes where the containers' checkpoint left off (NTM checkpoints every epoch).

``fit`` inputs: an ``s3://`` / ``file://`` URI (channel ``training``), a ``TrainingInput`` / ``s3_input``, or a dict
channel -> URI or ``TrainingInput``. The model artifact ends up at ``<output_path>/<job>/output/model.tar.gz``;
``output_path`` defaults to ``s3://<default bucket>/``.
"""

from __future__ import annotations

import warnings
from typing import Any

from opensagemaker.backends.base import ChannelRequest, TrainingJobDescription, TrainingJobRequest
from opensagemaker.inputs import TrainingInput, as_training_input
from opensagemaker.model import Model
from opensagemaker.naming import base_name_from_image, name_from_base
from opensagemaker.predictor import RealTimePredictor
from opensagemaker.utils import base_from_name

__all__ = ["Estimator", "EstimatorBase"]

_RENAMED = {
    "train_instance_count": "instance_count",
    "train_instance_type": "instance_type",
    "train_max_run": "max_run",
    "train_volume_size": "volume_size",
    "train_volume_kms_key": "volume_kms_key",
    "train_use_spot_instances": "use_spot_instances",
    "train_max_wait": "max_wait",
}


def _merge_renamed(values: dict[str, Any]) -> dict[str, Any]:
    """Fold v1 names into v2 names; a conflict (both given, different) is a ``ValueError``."""
    merged = {}
    for old, new in _RENAMED.items():
        old_value, new_value = values.get(old), values.get(new)
        if old_value is not None and new_value is not None and old_value != new_value:
            raise ValueError(f"{old}={old_value!r} and {new}={new_value!r} disagree: give only one of them")
        merged[new] = new_value if new_value is not None else old_value
    return merged


class _TrainingJob:
    """``estimator.latest_training_job``: the job's name, ``wait()`` and ``describe()``."""

    def __init__(self, sagemaker_session: Any, job_name: str) -> None:
        self.sagemaker_session = sagemaker_session
        self.job_name = job_name
        self.name = job_name

    def wait(self, logs: bool | str = True) -> TrainingJobDescription:
        show = bool(logs) and logs not in ("None", "none")
        return self.sagemaker_session.backend.wait_for_training_job(self.job_name, logs=show)

    def describe(self) -> dict[str, Any]:
        """``DescribeTrainingJob``'s answer (a dict, as v1 and v2 return: ``["ModelArtifacts"]["S3ModelArtifacts"]``)."""
        return self.sagemaker_session.describe_training_job(self.job_name)


class EstimatorBase:
    """Shared by ``Estimator`` and the first-party ``NTM`` / ``KNN`` classes."""

    def __init__(
        self,
        role: str | None = None,
        train_instance_count: int | None = None,
        train_instance_type: str | None = None,
        train_volume_size: int | None = None,
        train_volume_kms_key: str | None = None,
        train_max_run: int | None = None,
        input_mode: str = "File",
        output_path: str | None = None,
        output_kms_key: str | None = None,
        base_job_name: str | None = None,
        sagemaker_session: Any = None,
        tags: list[dict[str, str]] | None = None,
        subnets: list[str] | None = None,
        security_group_ids: list[str] | None = None,
        model_uri: str | None = None,
        model_channel_name: str = "model",
        metric_definitions: list[dict[str, str]] | None = None,
        encrypt_inter_container_traffic: bool = False,
        train_use_spot_instances: bool | None = None,
        train_max_wait: int | None = None,
        checkpoint_s3_uri: str | None = None,
        checkpoint_local_path: str | None = None,
        enable_network_isolation: bool = False,
        rules: Any = None,
        debugger_hook_config: Any = None,
        tensorboard_output_config: Any = None,
        enable_sagemaker_metrics: bool | None = None,
        instance_count: int | None = None,
        instance_type: str | None = None,
        max_run: int | None = None,
        volume_size: int | None = None,
        volume_kms_key: str | None = None,
        use_spot_instances: bool | None = None,
        max_wait: int | None = None,
        environment: dict[str, str] | None = None,
        **unexpected: Any,
    ) -> None:
        if unexpected:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unexpected))}")
        merged = _merge_renamed(locals())
        if merged["instance_count"] is None or int(merged["instance_count"]) < 1:
            raise ValueError(f"instance_count (train_instance_count) must be at least 1, got {merged['instance_count']}")
        if not merged["instance_type"]:
            raise ValueError("instance_type (train_instance_type) is required, e.g. 'ml.c4.xlarge' or 'local'")
        if input_mode not in ("File", "FastFile", "Pipe"):
            raise ValueError(f"input_mode {input_mode!r} is not one of File, FastFile, Pipe")
        if sagemaker_session is None:
            from opensagemaker.session import Session

            sagemaker_session = Session()
        self.role = role
        self.train_instance_count = self.instance_count = int(merged["instance_count"])
        self.train_instance_type = self.instance_type = merged["instance_type"]
        self.train_max_run = self.max_run = int(merged["max_run"] or 24 * 60 * 60)
        self.train_volume_size = self.volume_size = int(merged["volume_size"] or 30)
        self.input_mode = input_mode
        self.output_path = output_path
        self.output_kms_key = output_kms_key
        self.base_job_name = base_job_name
        self.sagemaker_session = sagemaker_session
        self.tags = tags
        self.metric_definitions = list(metric_definitions or [])
        self.train_use_spot_instances = self.use_spot_instances = bool(merged["use_spot_instances"])
        self.train_max_wait = self.max_wait = None if merged["max_wait"] is None else int(merged["max_wait"])
        if self.use_spot_instances and self.max_wait is None:
            raise ValueError("use_spot_instances (train_use_spot_instances) needs max_wait (train_max_wait): the "
                             "seconds to wait for Spot capacity plus the training time, at least max_run")
        if self.max_wait is not None and not self.use_spot_instances:
            # SDK v1 ignored it silently; code written for it keeps working, with a word about why it does nothing
            warnings.warn("max_wait (train_max_wait) applies to Spot training only and is ignored without "
                          "use_spot_instances=True", UserWarning, stacklevel=2)
            self.train_max_wait = self.max_wait = None
        if self.max_wait is not None and self.max_wait < self.max_run:
            raise ValueError(f"max_wait={self.max_wait} is shorter than max_run={self.max_run}; SageMaker needs "
                             "max_wait >= max_run")
        if checkpoint_s3_uri is not None and not checkpoint_s3_uri.startswith(("s3://", "file://")):
            raise ValueError(f"checkpoint_s3_uri {checkpoint_s3_uri!r} is not an s3:// URI")
        self.checkpoint_s3_uri = checkpoint_s3_uri
        self.checkpoint_local_path = checkpoint_local_path
        self.environment = dict(environment or {})
        self.model_uri = model_uri
        self.model_channel_name = model_channel_name
        self.latest_training_job: _TrainingJob | None = None
        self._current_job_name: str | None = None

    # -- what subclasses provide --------------------------------------------------------------------------------

    def train_image(self) -> str:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, str]:
        raise NotImplementedError

    def create_model(self, **kwargs: Any) -> Model:
        raise NotImplementedError

    # -- training -----------------------------------------------------------------------------------------------

    def _channels(self, inputs: Any) -> list[ChannelRequest]:
        if inputs is None:
            named: dict[str, Any] = {}
        elif isinstance(inputs, dict):
            named = dict(inputs)
        elif isinstance(inputs, str | TrainingInput):
            named = {"training": inputs}
        else:
            raise ValueError(
                f"fit(inputs=...): expected a URI, a TrainingInput/s3_input or a dict of them, got {type(inputs).__name__}"
            )
        if self.model_uri:
            named.setdefault(self.model_channel_name, self.model_uri)
        channels = []
        for name, value in named.items():
            spec = as_training_input(value, name)
            channels.append(
                ChannelRequest(
                    name=name,
                    uri=spec.s3_data,
                    distribution=spec.distribution,
                    s3_data_type=spec.s3_data_type,
                    content_type=spec.content_type,
                    compression=spec.compression,
                    record_wrapping=spec.record_wrapping,
                    input_mode=spec.input_mode or self.input_mode,
                )
            )
        return channels

    def _prepare_for_training(self, job_name: str | None = None) -> None:
        base = self.base_job_name or base_name_from_image(self.train_image())
        self._current_job_name = job_name or name_from_base(base)
        if self.output_path is None:
            self.output_path = f"s3://{self.sagemaker_session.default_bucket()}/"

    def fit(self, inputs: Any = None, wait: bool = True, logs: bool | str = "All", job_name: str | None = None,
            experiment_config: Any = None) -> None:
        """Run a training job on ``inputs``; with ``wait`` (the default) block until it ends, printing its log."""
        self._prepare_for_training(job_name=job_name)
        assert self._current_job_name is not None and self.output_path is not None
        request = TrainingJobRequest(
            job_name=self._current_job_name,
            image_uri=self.train_image(),
            role=self.role or self.sagemaker_session.backend.execution_role(),
            instance_count=self.instance_count,
            instance_type=self.instance_type,
            output_path=self.output_path,
            hyperparameters=self.hyperparameters(),
            channels=tuple(self._channels(inputs)),
            input_mode=self.input_mode,
            max_run_seconds=self.max_run,
            environment=dict(self.environment),
            metric_definitions=tuple(self.metric_definitions),
            volume_size_gb=self.volume_size,
            tags=tuple(self.tags or ()),
            use_spot=self.use_spot_instances,
            max_wait_seconds=self.max_wait,
            checkpoint_s3_uri=self.checkpoint_s3_uri,
            checkpoint_local_path=self.checkpoint_local_path,
        )
        self.sagemaker_session.backend.start_training_job(request)
        self.latest_training_job = _TrainingJob(self.sagemaker_session, self._current_job_name)
        if wait:
            self.latest_training_job.wait(logs=logs)

    def _ensure_trained(self) -> _TrainingJob:
        if self.latest_training_job is None:
            raise RuntimeError("Estimator has not been fit yet: call fit() first")
        return self.latest_training_job

    @property
    def model_data(self) -> str:
        """``<output_path>/<job>/output/model.tar.gz`` of the latest training job (waits for it to end)."""
        job = self._ensure_trained()
        description = self.sagemaker_session.backend.wait_for_training_job(job.name, logs=False)
        assert description.model_artifacts is not None
        return description.model_artifacts

    def logs(self) -> None:
        """Print the latest training job's log (following it until the job ends), as v2's ``Estimator.logs``."""
        self.sagemaker_session.logs_for_job(self._ensure_trained().name, wait=True)

    @classmethod
    def attach(cls, training_job_name: str, sagemaker_session: Any = None, model_channel_name: str = "model") -> Any:
        """An estimator bound to an existing training job (v2): it waits for the job to end (without its log), and
        its ``model_data``, ``deploy`` and ``transformer`` then use that job's model."""
        if sagemaker_session is None:
            from opensagemaker.session import Session

            sagemaker_session = Session()
        job = _TrainingJob(sagemaker_session, training_job_name)
        job.wait(logs=False)
        description = sagemaker_session.describe_training_job(training_job_name)
        init = cls._prepare_init_params_from_job_description(description, model_channel_name)
        first_party = getattr(cls, "hyperparameter_names", None)
        hyperparameters = init.pop("hyperparameters")
        if first_party is not None:  # NTM / KNN: hyperparameters are constructor arguments
            init.pop("image_uri")
            init.update({name: value for name, value in hyperparameters.items() if name in first_party})
        else:
            init["hyperparameters"] = hyperparameters
        estimator = cls(sagemaker_session=sagemaker_session, **init)
        if first_party is not None:
            for name in ("feature_dim", "mini_batch_size"):
                if name in hyperparameters:
                    setattr(estimator, name, int(hyperparameters[name]))
        estimator.latest_training_job = job
        estimator._current_job_name = training_job_name
        return estimator

    @classmethod
    def _prepare_init_params_from_job_description(cls, job_details: dict[str, Any],
                                                  model_channel_name: str | None = None) -> dict[str, Any]:
        """Constructor arguments from a ``DescribeTrainingJob`` answer (v2's names)."""
        resources = job_details["ResourceConfig"]
        init = {
            "role": job_details["RoleArn"],
            "instance_count": resources["InstanceCount"],
            "instance_type": resources["InstanceType"],
            "volume_size": resources.get("VolumeSizeInGB"),
            "max_run": job_details["StoppingCondition"]["MaxRuntimeInSeconds"],
            "input_mode": job_details["AlgorithmSpecification"]["TrainingInputMode"],
            "base_job_name": base_from_name(job_details["TrainingJobName"]),
            "output_path": job_details["OutputDataConfig"]["S3OutputPath"],
            "output_kms_key": job_details["OutputDataConfig"].get("KmsKeyId") or None,
            "image_uri": job_details["AlgorithmSpecification"]["TrainingImage"],
            "hyperparameters": dict(job_details.get("HyperParameters") or {}),
        }
        for channel in job_details.get("InputDataConfig") or []:
            if channel.get("ChannelName") == model_channel_name:
                init["model_channel_name"] = model_channel_name
                init["model_uri"] = channel["DataSource"]["S3DataSource"]["S3Uri"]
        return init

    # -- hosting and batch --------------------------------------------------------------------------------------

    def deploy(
        self,
        initial_instance_count: int,
        instance_type: str,
        accelerator_type: str | None = None,
        endpoint_name: str | None = None,
        use_compiled_model: bool = False,
        update_endpoint: bool = False,
        wait: bool = True,
        model_name: str | None = None,
        kms_key: str | None = None,
        data_capture_config: Any = None,
        tags: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Start an endpoint for the trained model (named ``endpoint_name``, default the job name); returns its
        predictor. Extra keyword arguments go to ``create_model`` (``accept=`` works for the generic Estimator)."""
        job = self._ensure_trained()
        model = self.create_model(**kwargs)
        model.name = model_name or job.name
        return model.deploy(
            initial_instance_count, instance_type, accelerator_type=accelerator_type,
            endpoint_name=endpoint_name or job.name, update_endpoint=update_endpoint, tags=tags, kms_key=kms_key,
            wait=wait, serializer=serializer, deserializer=deserializer,
        )

    def transformer(
        self,
        instance_count: int,
        instance_type: str,
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | None = None,
        output_kms_key: str | None = None,
        accept: str | None = None,
        env: dict[str, str] | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        tags: Any = None,
        role: str | None = None,
        volume_kms_key: str | None = None,
        vpc_config_override: Any = None,
        enable_network_isolation: bool | None = None,
        model_name: str | None = None,
    ) -> Any:
        """A ``Transformer`` for the trained model (the model is registered under the job's name)."""
        job = self._ensure_trained()
        model = self.create_model(role=role) if role is not None else self.create_model()
        model.name = model_name or job.name
        if env:
            model.env.update(env)
        from opensagemaker.transformer import Transformer

        model._create_sagemaker_model()
        return Transformer(
            model.name, instance_count, instance_type, strategy=strategy, assemble_with=assemble_with,
            output_path=output_path, accept=accept, max_concurrent_transforms=max_concurrent_transforms,
            max_payload=max_payload, env=env,
            base_transform_job_name=self.base_job_name or base_name_from_image(model.image),
            sagemaker_session=self.sagemaker_session,
        )


class Estimator(EstimatorBase):
    """A training job for any image: ``Estimator(image_name, role, train_instance_count, train_instance_type, ...)``."""

    def __init__(
        self,
        image_name: str | None = None,
        role: str | None = None,
        train_instance_count: int | None = None,
        train_instance_type: str | None = None,
        *args: Any,
        hyperparameters: dict[str, Any] | None = None,
        image_uri: str | None = None,
        **kwargs: Any,
    ) -> None:
        if image_name and image_uri and image_name != image_uri:
            raise ValueError(f"image_name={image_name!r} and image_uri={image_uri!r} disagree: give only one")
        image = image_name or image_uri
        if not image:
            raise ValueError("Estimator needs the image URI as its first argument (image_name / image_uri)")
        self.image_name = image
        self._hyperparameters: dict[str, Any] = dict(hyperparameters or {})
        super().__init__(role, train_instance_count, train_instance_type, *args, **kwargs)

    @property
    def image_uri(self) -> str:
        return self.image_name

    def train_image(self) -> str:
        return self.image_name

    def set_hyperparameters(self, **kwargs: Any) -> None:
        self._hyperparameters.update(kwargs)

    def hyperparameters(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._hyperparameters.items()}

    def create_model(
        self,
        role: str | None = None,
        image: str | None = None,
        predictor_cls: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        vpc_config_override: Any = None,
        **kwargs: Any,
    ) -> Model:
        """A ``Model`` of the trained artifact; its predictor is a ``RealTimePredictor`` built with the given
        serializer, deserializer, content_type and accept (v1)."""
        if predictor_cls is None:

            def predictor_cls(endpoint: str, session: Any) -> RealTimePredictor:
                return RealTimePredictor(endpoint, session, serializer, deserializer, content_type, accept)

        return Model(
            self.model_data, image or self.image_name, role or self.role, predictor_cls=predictor_cls,
            sagemaker_session=self.sagemaker_session, **kwargs,
        )

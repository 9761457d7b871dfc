"""The ``Backend`` protocol: everything the SDK asks of the place where jobs and endpoints run.

The SDK's classes (``Session``, ``Estimator``, ``Model``, ``RealTimePredictor``, ``Transformer``) turn user calls into
the plain, fully-resolved requests defined here (``TrainingJobRequest``, ``ModelRequest``, ``EndpointRequest``,
``TransformJobRequest``) and hand them to a backend. A backend owns nothing else: no defaults, no name generation, no
serialization. One implementation talks to SageMaker:

- ``opensagemaker.backends.aws.AWSBackend``: the requests mapped 1:1 onto SageMaker's ``CreateTrainingJob``,
  ``CreateModel`` + ``CreateEndpointConfig`` + ``CreateEndpoint``, ``InvokeEndpoint``, ``CreateTransformJob``
  through boto3, with Amazon S3 as the store;
- ``opensagemaker.backends.local.LocalBackend`` (the default) is that same class with its clients pointed at the
  local SageMaker service (``opensagemaker.local_service``: processes on this machine, data in a local
  S3-compatible store).

Conventions every backend follows:

- URIs are ``s3://bucket/key`` (``file://`` is allowed by backends that can read local files; others must refuse it
  with a ``ValueError`` naming the channel).
- ``start_*`` returns as soon as the job is accepted; ``wait_for_*`` blocks until it ends, streams its logs when
  ``logs`` is true, and raises ``opensagemaker.exceptions.UnexpectedStatusException`` (naming the job and the
  failure reason) when it did not complete.
- ``invoke_endpoint`` sends ``Content-Type`` / ``Accept`` exactly as given (``None`` = header absent: docs/contract.md
  §5.3) and raises ``opensagemaker.exceptions.ModelError`` (status code + body) when the model answers with an error.
- ``s3_client()`` is a boto3 S3 client for the backend's store; ``environment()`` the variables that point plain
  ``boto3`` calls at it (empty for AWS: boto3 already talks to S3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "ChannelRequest",
    "EndpointRequest",
    "InvokeResult",
    "ModelRequest",
    "TrainingJobDescription",
    "TrainingJobRequest",
    "TransformJobDescription",
    "TransformJobRequest",
]


@dataclass(frozen=True)
class ChannelRequest:
    """One training channel (``InputDataConfig`` entry). ``content_type`` None = no ContentType key at all."""

    name: str
    uri: str
    distribution: str = "FullyReplicated"  # or "ShardedByS3Key"
    s3_data_type: str = "S3Prefix"  # or "ManifestFile"
    content_type: str | None = None
    compression: str | None = None
    record_wrapping: str | None = None
    input_mode: str = "File"


@dataclass(frozen=True)
class TrainingJobRequest:
    """``CreateTrainingJob``: hyperparameters are already strings (the SDK serialized them)."""

    job_name: str
    image_uri: str
    role: str
    instance_count: int
    instance_type: str
    output_path: str  # model.tar.gz goes to <output_path>/<job_name>/output/model.tar.gz
    hyperparameters: dict[str, str] = field(default_factory=dict)
    channels: tuple[ChannelRequest, ...] = ()
    input_mode: str = "File"
    max_run_seconds: int = 24 * 60 * 60
    environment: dict[str, str] = field(default_factory=dict)
    metric_definitions: tuple[dict[str, str], ...] = ()
    volume_size_gb: int = 30
    tags: tuple[dict[str, str], ...] = ()
    use_spot: bool = False  # EnableManagedSpotTraining
    max_wait_seconds: int | None = None  # StoppingCondition.MaxWaitTimeInSeconds (spot only)
    checkpoint_s3_uri: str | None = None  # CheckpointConfig.S3Uri: synced with /opt/ml/checkpoints
    checkpoint_local_path: str | None = None  # CheckpointConfig.LocalPath (default /opt/ml/checkpoints)


@dataclass
class TrainingJobDescription:
    """What ``DescribeTrainingJob`` would say once the job has ended."""

    job_name: str
    status: str  # "InProgress" | "Completed" | "Failed" | "Stopped"
    model_artifacts: str | None = None  # s3://.../model.tar.gz
    failure_reason: str | None = None
    hosts: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelRequest:
    """``CreateModel``: an image and its artifact."""

    name: str
    image_uri: str
    model_data: str | None
    role: str | None = None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointRequest:
    """``CreateEndpointConfig`` + ``CreateEndpoint`` for one model variant."""

    endpoint_name: str
    model: ModelRequest
    instance_count: int = 1
    instance_type: str = "ml.m4.xlarge"
    tags: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class InvokeResult:
    """An ``InvokeEndpoint`` answer: body bytes and the response's content type."""

    body: bytes
    content_type: str | None


@dataclass(frozen=True)
class TransformJobRequest:
    """``CreateTransformJob``. None means "not set" (the container's ``/execution-parameters`` or defaults apply)."""

    job_name: str
    model: ModelRequest
    data: str
    output_path: str
    instance_count: int = 1
    instance_type: str = "ml.m4.xlarge"
    data_type: str = "S3Prefix"  # or "ManifestFile"
    content_type: str | None = None
    compression_type: str | None = None
    split_type: str | None = None  # "None" | "Line" | "RecordIO" | "TFRecord"
    strategy: str | None = None  # "MultiRecord" | "SingleRecord"
    assemble_with: str | None = None  # "None" | "Line"
    accept: str | None = None
    max_payload_mb: int | None = None
    max_concurrent_transforms: int | None = None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class TransformJobDescription:
    job_name: str
    status: str
    output_path: str
    outputs: tuple[str, ...] = ()  # the .out objects written
    failure_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """Where training jobs, endpoints and transform jobs run. See the module docstring for the conventions."""

    name: str  # "local", "aws", ...

    # -- account and data store ------------------------------------------------------------------------------
    def region(self) -> str:
        """The region jobs run in (local: ``us-east-1`` unless configured)."""
        ...

    def account_id(self) -> str:
        """The account that owns the default bucket (local: ``000000000000``)."""
        ...

    def execution_role(self) -> str:
        """The role ARN jobs assume (``get_execution_role()``); local: a documented placeholder."""
        ...

    def environment(self) -> dict[str, str]:
        """Variables that make plain boto3 reach the store (local: endpoint URL and keys; AWS: ``{}``)."""
        ...

    def s3_client(self) -> Any:
        """A boto3 S3 client for the store (starts the local store if needed)."""
        ...

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` if it does not exist."""
        ...

    # -- training ---------------------------------------------------------------------------------------------
    def start_training_job(self, request: TrainingJobRequest) -> None: ...

    def wait_for_training_job(self, job_name: str, logs: bool = True) -> TrainingJobDescription: ...

    def describe_training_job(self, job_name: str) -> TrainingJobDescription: ...

    # -- hosting ----------------------------------------------------------------------------------------------
    def create_model(self, request: ModelRequest) -> None: ...

    def describe_model(self, model_name: str) -> ModelRequest:
        """The model created under ``model_name`` (a ``ValueError`` when there is none)."""
        ...

    def delete_model(self, model_name: str) -> None: ...

    def create_endpoint(self, request: EndpointRequest, wait: bool = True) -> None: ...

    def invoke_endpoint(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
    ) -> InvokeResult: ...

    def delete_endpoint(self, endpoint_name: str) -> None: ...

    # -- batch transform --------------------------------------------------------------------------------------
    def start_transform_job(self, request: TransformJobRequest) -> None: ...

    def wait_for_transform_job(self, job_name: str, logs: bool = True) -> TransformJobDescription: ...

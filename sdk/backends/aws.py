"""The AWS backend: the ``Backend`` requests mapped 1:1 onto Amazon SageMaker and Amazon S3 through boto3.

Chosen explicitly, never by default: ``OPENSAGEMAKER_BACKEND=aws`` in the environment (what code written for
``sagemaker`` needs, e.g. the tutorial: its ``sagemaker.Session()`` then runs everything on SageMaker), or
``Session(backend="aws")``, or ``Session(backend=AWSBackend(boto_session=...))`` for a session of one's own.

Images. AWS's own ``ntm`` / ``knn`` images are the closed built-ins that this project's containers replace, so with
``OPENSAGEMAKER_BACKEND=aws`` the SDK's ``get_image_uri(region, 'ntm' | 'knn')`` returns the image the user pushed
with ``python -m opensagemaker.images push --algorithm ntm --region <region>`` (``pushed_image_uri``), and fails
with that command in its message when nothing was pushed. A job or model that still names an AWS built-in image
(``get_image_uri`` called without the variable, e.g. with only ``Session(backend="aws")``) is refused with the
same advice rather than silently run on the closed algorithm. Training jobs of this project's images (repository
``ntm`` / ``knn`` or ending in ``-ntm`` / ``-knn``, or a recorded push) carry the ``MetricDefinitions`` of
``opensagemaker.metric_definitions`` (docs/contract.md A1), merged with the estimator's own (same ``Name``: the
estimator's wins), so SageMaker scrapes ``validation:total_loss``, ``test:accuracy`` and ``test:mse`` for tuning.

Requests, as SDK v1 builds them: ``CreateTrainingJob`` sends ``ContentType`` / ``CompressionType`` /
``RecordWrapperType`` of a channel only when given (NTM's tutorial sends none: the container defaults to
RecordIO-protobuf), a channel's ``InputMode`` only when it differs from the job's, ``Environment`` / ``Tags`` only
when non-empty; ``CreateModel`` always sends ``Environment`` (v1's ``container_def``); the endpoint config is
named after the endpoint and holds one variant ``AllTraffic`` of weight 1; ``CreateTransformJob`` sends each
optional field (``ContentType``, ``SplitType``, ``BatchStrategy``, ``MaxPayloadInMB``, ...) only when set.
``InvokeEndpoint`` sends ``ContentType`` / ``Accept`` only when not None (docs/contract.md §5.3). ``file://`` URIs
are refused with a ``ValueError`` naming the channel (SageMaker reads only S3).

Waiting. ``wait_for_training_job`` / ``wait_for_transform_job`` poll ``Describe*`` every ``poll_interval`` seconds
(a constructor argument; tests use 0) and, with ``logs=True``, print the job's CloudWatch lines as they arrive
(log groups ``/aws/sagemaker/TrainingJobs`` / ``TransformJobs``, streams ``<job>/<host>-<id>``, read with
``GetLogEvents`` from ``nextForwardToken`` on, one more read after the job ends). A job that ends in any status but
``Completed`` raises ``UnexpectedStatusException`` naming the job, its status and ``FailureReason``; so does an
endpoint that ends ``Failed`` (waited for with boto3's ``endpoint_in_service`` waiter). A model error from
``InvokeEndpoint`` becomes ``opensagemaker.exceptions.ModelError`` with the container's status and body.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from opensagemaker.backends import storage
from opensagemaker.backends.base import (
    ChannelRequest,
    EndpointRequest,
    InvokeResult,
    ModelRequest,
    TrainingJobDescription,
    TrainingJobRequest,
    TransformJobDescription,
    TransformJobRequest,
)
from opensagemaker.exceptions import ModelError, UnexpectedStatusException

__all__ = ["AWSBackend", "CloudWatchLogTail", "algorithm_of_image", "builtin_algorithm", "pushed_image_uri"]

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
_ALGORITHMS = ("ntm", "knn")
_ECR_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.[a-z0-9.]+/(?P<repository>[^:@]+)")


def pushed_image_uri(algorithm: str, region: str) -> str:
    """The image the user pushed for ``algorithm`` in ``region`` (``opensagemaker.images.resolve_pushed``).

    Raises:
        ValueError: nothing was pushed; the message gives the command that pushes it.
    """
    from opensagemaker.images import images_file, resolve_pushed

    uri = resolve_pushed(algorithm, region)
    if uri is None:
        raise ValueError(
            f"No open {algorithm} image is recorded for region {region} (in {images_file()}), and on SageMaker "
            f"'{algorithm}' would be AWS's closed built-in. Build and push this project's image once with: "
            f"python -m opensagemaker.images push --algorithm {algorithm} --region {region}"
        )
    return uri


def builtin_algorithm(image_uri: str) -> str | None:
    """``"ntm"`` / ``"knn"`` when ``image_uri`` is AWS's closed built-in image of that algorithm, else None."""
    from opensagemaker.image_uris import ALGORITHM_ACCOUNTS

    match = _ECR_URI.match(image_uri)
    if match is None or match["repository"] not in _ALGORITHMS:
        return None
    return match["repository"] if ALGORITHM_ACCOUNTS.get(match["region"]) == match["account"] else None


def algorithm_of_image(image_uri: str, region: str) -> str | None:
    """Which of this project's algorithms ``image_uri`` runs: a recorded push for ``region``, or a repository named
    ``ntm`` / ``knn`` or ending in ``-ntm`` / ``_ntm`` (the rule of ``local_commands``); None for other images."""
    from opensagemaker.image_uris import repository_name
    from opensagemaker.images import resolve_pushed

    for algorithm in _ALGORITHMS:
        if image_uri in (resolve_pushed(algorithm, region), resolve_pushed(algorithm, region, gpu=True)):
            return algorithm
    repository = repository_name(image_uri)
    for algorithm in _ALGORITHMS:
        if repository == algorithm or repository.endswith(("-" + algorithm, "_" + algorithm)):
            return algorithm
    return None


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _without_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class CloudWatchLogTail:
    """Prints the new lines of a job's CloudWatch log streams each time ``poll()`` is called.

    Streams are those of ``group`` whose names start with ``<job>/`` (one per host). Each stream is read from its
    head, then from its last ``nextForwardToken``, until a read returns no events. With several streams, each line
    is prefixed by the stream's host part (``[algo-1-1700000000] ...``).
    """

    def __init__(self, logs_client: Any, group: str, job_name: str, emit: Callable[[str], None] = print) -> None:
        self._client = logs_client
        self._group = group
        self._prefix = job_name + "/"
        self._emit = emit
        self._tokens: dict[str, str | None] = {}

    def _stream_names(self) -> list[str]:
        try:
            response = self._client.describe_log_streams(logGroupName=self._group, logStreamNamePrefix=self._prefix)
        except ClientError as error:
            if _error_code(error) == "ResourceNotFoundException":
                return []  # the group appears with the job's first log line
            raise
        return [stream["logStreamName"] for stream in response.get("logStreams", [])]

    def poll(self) -> int:
        """Print every line that arrived since the last call; returns how many."""
        names = self._stream_names()
        for name in names:
            self._tokens.setdefault(name, None)
        several = len(self._tokens) > 1
        printed = 0
        for name in list(self._tokens):
            while True:
                args: dict[str, Any] = {"logGroupName": self._group, "logStreamName": name, "startFromHead": True}
                if self._tokens[name] is not None:
                    args["nextToken"] = self._tokens[name]
                response = self._client.get_log_events(**args)
                events = response.get("events", [])
                self._tokens[name] = response.get("nextForwardToken", self._tokens[name])
                if not events:
                    break
                for event in events:
                    message = str(event.get("message", "")).rstrip("\n")
                    self._emit(f"[{name[len(self._prefix):]}] {message}" if several else message)
                    printed += 1
        return printed


class AWSBackend:
    """Implements ``opensagemaker.backends.base.Backend`` on Amazon SageMaker (see the module docstring).

    Args:
        boto_session: a ``boto3.Session``; default ``boto3.Session(region_name=region)``.
        region: the region, when ``boto_session`` has none (default: boto3's own resolution).
        poll_interval: seconds between ``Describe*`` calls while waiting (0 in tests).
        clients: ready-made clients by service name (``sagemaker``, ``sagemaker-runtime``, ``s3``, ``logs``,
            ``sts``, ``iam``) used instead of creating them from the session (tests pass stubbed clients).
        endpoint_timeout_s: how long ``create_endpoint(wait=True)`` waits for ``InService``.
        emit: where log lines go (default ``print``).
    """

    name = "aws"
    uri_schemes: tuple[str, ...] = ("s3://",)  # what job and model URIs may start with (SageMaker: S3 only)

    def __init__(
        self,
        boto_session: Any = None,
        region: str | None = None,
        *,
        poll_interval: float = 5.0,
        clients: Mapping[str, Any] | None = None,
        endpoint_timeout_s: float = 3600.0,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        if poll_interval < 0:
            raise ValueError(f"poll_interval must be >= 0 seconds, got {poll_interval}")
        self._boto_session = boto_session
        self._region = region
        self._clients: dict[str, Any] = dict(clients or {})
        self.poll_interval = float(poll_interval)
        self.endpoint_timeout_s = float(endpoint_timeout_s)
        self._emit = emit or (lambda line: print(line, flush=True))

    # -- clients, account and store -------------------------------------------------------------------------------

    def boto_session(self) -> Any:
        if self._boto_session is None:
            import boto3

            self._boto_session = boto3.Session(region_name=self._region)
        return self._boto_session

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` (created once from the session unless given to the constructor)."""
        if service not in self._clients:
            self._clients[service] = self.boto_session().client(service, region_name=self.region())
        return self._clients[service]

    def region(self) -> str:
        region = self._region
        if region is None and self._boto_session is not None:
            region = self._boto_session.region_name
        if region is None and "sagemaker" in self._clients:
            region = self._clients["sagemaker"].meta.region_name
        if region is None:
            region = self.boto_session().region_name
        if not region:
            raise ValueError(
                "The AWS backend needs a region: set AWS_DEFAULT_REGION (or a region in ~/.aws/config), "
                "or pass AWSBackend(region=...)"
            )
        self._region = region
        return region

    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    def execution_role(self) -> str:
        """The caller's role ARN, as SDK v1's ``get_execution_role``: an assumed-role session becomes its role
        (with the role's path from IAM when readable); a user (not a role) is a ``ValueError``."""
        arn = str(self.client("sts").get_caller_identity()["Arn"])
        if ":assumed-role/" in arn:
            role = re.sub(r"^(.+)sts::(\d+):assumed-role/(.+?)/.*$", r"\1iam::\2:role/\3", arn)
            try:
                return str(self.client("iam").get_role(RoleName=role.rsplit("/", 1)[-1])["Role"]["Arn"])
            except ClientError:
                return role  # no iam:GetRole permission: the ARN without the role's path
        if ":role/" in arn:
            return arn
        raise ValueError(
            f"The current AWS identity is not a role: {arn}, therefore it cannot be used as a SageMaker execution "
            "role; pass role='arn:aws:iam::<account>:role/<name>' explicitly"
        )

    def environment(self) -> dict[str, str]:
        return {}

    def s3_client(self) -> Any:
        return self.client("s3")

    def ensure_bucket(self, bucket: str) -> None:
        s3 = self.s3_client()
        try:
            s3.head_bucket(Bucket=bucket)
            return
        except ClientError as error:
            if _error_code(error) not in ("404", "NoSuchBucket"):
                raise ValueError(f"Bucket {bucket!r} cannot be used by this account ({_error_code(error)})") from error
        region = self.region()
        args: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**args)
        except ClientError as error:
            if _error_code(error) not in ("BucketAlreadyOwnedByYou", "OperationAborted"):
                raise

    # -- images -----------------------------------------------------------------------------------------------------

    def _check_image(self, image_uri: str, what: str) -> None:
        algorithm = builtin_algorithm(image_uri)
        if algorithm is not None:
            raise ValueError(
                f"{what}: {image_uri} is AWS's closed built-in {algorithm} image, which this project replaces. "
                f"Push the open image once (python -m opensagemaker.images push --algorithm {algorithm} "
                f"--region {self.region()}) and set OPENSAGEMAKER_BACKEND=aws before calling get_image_uri, "
                "or pass the pushed image URI yourself"
            )

    def _metric_definitions(self, request: TrainingJobRequest) -> list[dict[str, str]]:
        from opensagemaker.metric_definitions import metric_definitions

        algorithm = algorithm_of_image(request.image_uri, self.region())
        merged = {d["Name"]: dict(d) for d in (metric_definitions(algorithm) if algorithm else [])}
        for definition in request.metric_definitions:
            merged[definition["Name"]] = {"Name": definition["Name"], "Regex": definition["Regex"]}
        return list(merged.values())

    # -- training ---------------------------------------------------------------------------------------------------

    def _channel(self, channel: ChannelRequest, job_input_mode: str) -> dict[str, Any]:
        if not channel.uri.startswith(self.uri_schemes):
            raise ValueError(
                f"channel {channel.name!r}: {channel.uri!r} is not an s3:// URI; SageMaker reads training data "
                "from S3 only (upload it with Session.upload_data first)"
            )
        entry: dict[str, Any] = {
            "ChannelName": channel.name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": channel.s3_data_type,
                    "S3Uri": channel.uri,
                    "S3DataDistributionType": channel.distribution,
                }
            },
        }
        if channel.content_type is not None:
            entry["ContentType"] = channel.content_type
        if channel.compression is not None:
            entry["CompressionType"] = channel.compression
        if channel.record_wrapping is not None:
            entry["RecordWrapperType"] = channel.record_wrapping
        if channel.input_mode and channel.input_mode != job_input_mode:
            entry["InputMode"] = channel.input_mode
        return entry

    def training_job_args(self, request: TrainingJobRequest) -> dict[str, Any]:
        """The ``CreateTrainingJob`` arguments for ``request`` (validated; nothing is sent)."""
        self._check_image(request.image_uri, f"training job {request.job_name}")
        if not request.output_path.startswith(self.uri_schemes):
            raise ValueError(
                f"training job {request.job_name}: output_path {request.output_path!r} is not an s3:// URI"
            )
        if request.checkpoint_s3_uri is not None and not request.checkpoint_s3_uri.startswith(self.uri_schemes):
            raise ValueError(
                f"training job {request.job_name}: checkpoint_s3_uri {request.checkpoint_s3_uri!r} is not an s3:// "
                "URI; SageMaker syncs checkpoints with S3 only"
            )
        algorithm: dict[str, Any] = {"TrainingImage": request.image_uri, "TrainingInputMode": request.input_mode}
        metrics = self._metric_definitions(request)
        if metrics:
            algorithm["MetricDefinitions"] = metrics
        args: dict[str, Any] = {
            "TrainingJobName": request.job_name,
            "AlgorithmSpecification": algorithm,
            "RoleArn": request.role,
            "OutputDataConfig": {"S3OutputPath": request.output_path},
            "ResourceConfig": {
                "InstanceCount": request.instance_count,
                "InstanceType": request.instance_type,
                "VolumeSizeInGB": request.volume_size_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": request.max_run_seconds},
            "HyperParameters": {str(k): str(v) for k, v in request.hyperparameters.items()},
        }
        channels = [self._channel(c, request.input_mode) for c in request.channels]
        if channels:
            args["InputDataConfig"] = channels
        if request.environment:
            args["Environment"] = dict(request.environment)
        if request.tags:
            args["Tags"] = [dict(tag) for tag in request.tags]
        if request.use_spot:
            args["EnableManagedSpotTraining"] = True
            args["StoppingCondition"]["MaxWaitTimeInSeconds"] = request.max_wait_seconds
        if request.checkpoint_s3_uri is not None:
            args["CheckpointConfig"] = {"S3Uri": request.checkpoint_s3_uri}
            if request.checkpoint_local_path is not None:
                args["CheckpointConfig"]["LocalPath"] = request.checkpoint_local_path
        return args

    def start_training_job(self, request: TrainingJobRequest) -> None:
        self.client("sagemaker").create_training_job(**self.training_job_args(request))

    def _training_description(self, response: Mapping[str, Any]) -> TrainingJobDescription:
        count = int(response.get("ResourceConfig", {}).get("InstanceCount", 1) or 1)
        return TrainingJobDescription(
            job_name=response["TrainingJobName"],
            status=response["TrainingJobStatus"],
            model_artifacts=response.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
            failure_reason=response.get("FailureReason"),
            hosts=tuple(f"algo-{i}" for i in range(1, count + 1)),  # SageMaker's host names
            details=_without_metadata(response),
        )

    def describe_training_job(self, job_name: str) -> TrainingJobDescription:
        return self._training_description(self.client("sagemaker").describe_training_job(TrainingJobName=job_name))

    def _poll_until_done(self, describe: Callable[[], dict[str, Any]], status_key: str,
                         logs: CloudWatchLogTail | None) -> dict[str, Any]:
        while True:
            response = describe()
            if logs is not None:
                logs.poll()  # after Describe: lines written before a final status are read once more
            if response[status_key] in ("Completed", "Failed", "Stopped"):
                return response
            time.sleep(self.poll_interval)

    def wait_for_training_job(self, job_name: str, logs: bool = True) -> TrainingJobDescription:
        sagemaker = self.client("sagemaker")
        tail = CloudWatchLogTail(self.client("logs"), TRAINING_LOG_GROUP, job_name, self._emit) if logs else None
        response = self._poll_until_done(lambda: sagemaker.describe_training_job(TrainingJobName=job_name),
                                         "TrainingJobStatus", tail)
        description = self._training_description(response)
        if description.status != "Completed":
            raise UnexpectedStatusException(
                f"Error for Training job {job_name}: {description.status}. "
                f"Reason: {description.failure_reason or '(no reason given)'}",
                allowed_statuses=["Completed"],
                actual_status=description.status,
            )
        return description

    def stop_training_job(self, job_name: str) -> None:
        self.client("sagemaker").stop_training_job(TrainingJobName=job_name)

    # -- hosting ----------------------------------------------------------------------------------------------------

    def create_model(self, request: ModelRequest) -> None:
        """``CreateModel``; a model that already exists under the name is reused, as SDK v1 does (the tutorial's
        ``deploy`` and ``transformer`` both register the job's model)."""
        self._check_image(request.image_uri, f"model {request.name}")
        container: dict[str, Any] = {"Image": request.image_uri, "Environment": dict(request.environment)}
        if request.model_data is not None:
            if not request.model_data.startswith(self.uri_schemes):
                raise ValueError(f"model {request.name}: model_data {request.model_data!r} is not an s3:// URI")
            container["ModelDataUrl"] = request.model_data
        try:
            self.client("sagemaker").create_model(
                ModelName=request.name,
                ExecutionRoleArn=request.role or self.execution_role(),
                PrimaryContainer=container,
            )
        except ClientError as error:
            if _error_code(error) == "ValidationException" and "already existing model" in _error_message(error):
                return
            raise

    def describe_model(self, model_name: str) -> ModelRequest:
        try:
            response = self.client("sagemaker").describe_model(ModelName=model_name)
        except ClientError as error:
            if _error_code(error) == "ValidationException" and "Could not find model" in _error_message(error):
                raise ValueError(f"Could not find model {model_name!r} in {self.region()}") from None
            raise
        container = response.get("PrimaryContainer") or (response.get("Containers") or [{}])[0]
        return ModelRequest(
            name=response["ModelName"],
            image_uri=container.get("Image", ""),
            model_data=container.get("ModelDataUrl"),
            role=response.get("ExecutionRoleArn"),
            environment=dict(container.get("Environment", {})),
        )

    def delete_model(self, model_name: str) -> None:
        """``DeleteModel``; a model that does not exist is not an error (as with the local backend)."""
        try:
            self.client("sagemaker").delete_model(ModelName=model_name)
        except ClientError as error:
            if not (_error_code(error) == "ValidationException" and "Could not find model" in _error_message(error)):
                raise

    def create_endpoint(self, request: EndpointRequest, wait: bool = True) -> None:
        """``CreateEndpointConfig`` (named after the endpoint, one variant ``AllTraffic``) + ``CreateEndpoint``; with
        ``wait``, block until ``InService`` (``UnexpectedStatusException`` with the reason when it fails)."""
        sagemaker = self.client("sagemaker")
        tags = {"Tags": [dict(t) for t in request.tags]} if request.tags else {}
        sagemaker.create_endpoint_config(
            EndpointConfigName=request.endpoint_name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": request.model.name,
                    "InitialInstanceCount": request.instance_count,
                    "InstanceType": request.instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            **tags,
        )
        sagemaker.create_endpoint(EndpointName=request.endpoint_name, EndpointConfigName=request.endpoint_name, **tags)
        if wait:
            self.wait_for_endpoint(request.endpoint_name)

    def wait_for_endpoint(self, endpoint_name: str) -> None:
        """Block until ``endpoint_name`` is ``InService`` (boto3's ``endpoint_in_service`` waiter, polling
        ``DescribeEndpoint`` every ``poll_interval`` seconds for at most ``endpoint_timeout_s``)."""
        sagemaker = self.client("sagemaker")
        delay = self.poll_interval
        attempts = max(1, math.ceil(self.endpoint_timeout_s / max(delay, 0.01)))
        try:
            sagemaker.get_waiter("endpoint_in_service").wait(
                EndpointName=endpoint_name, WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
            )
        except WaiterError as error:
            last = error.last_response or {}
            status = str(last.get("EndpointStatus") or last.get("Error", {}).get("Code") or "Unknown")
            reason = last.get("FailureReason") or last.get("Error", {}).get("Message") or str(error)
            raise UnexpectedStatusException(
                f"Error hosting endpoint {endpoint_name}: {status}. Reason: {reason}",
                allowed_statuses=["InService"],
                actual_status=status,
            ) from None

    def invoke_endpoint(self, endpoint_name: str, body: bytes, content_type: str | None = None,
                        accept: str | None = None, custom_attributes: str | None = None) -> InvokeResult:
        args: dict[str, Any] = {"EndpointName": endpoint_name, "Body": body}
        if content_type is not None:
            args["ContentType"] = content_type
        if accept is not None:
            args["Accept"] = accept
        if custom_attributes is not None:
            args["CustomAttributes"] = custom_attributes
        try:
            response = self.client("sagemaker-runtime").invoke_endpoint(**args)
        except ClientError as error:
            if _error_code(error) == "ModelError":
                status = int(error.response.get("OriginalStatusCode") or 0)
                message = str(error.response.get("OriginalMessage") or _error_message(error))
                raise ModelError(endpoint_name, status, message) from None
            raise
        return InvokeResult(body=response["Body"].read(), content_type=response.get("ContentType"))

    def delete_endpoint(self, endpoint_name: str) -> None:
        """``DeleteEndpoint`` and its ``DeleteEndpointConfig``; a missing endpoint is a ``ValueError``."""
        sagemaker = self.client("sagemaker")
        try:
            config = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
        except ClientError as error:
            if _error_code(error) == "ValidationException" and "Could not find endpoint" in _error_message(error):
                raise ValueError(f"Could not find endpoint {endpoint_name!r} to delete") from None
            raise
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
        sagemaker.delete_endpoint_config(EndpointConfigName=config)

    # -- batch transform --------------------------------------------------------------------------------------------

    def transform_job_args(self, request: TransformJobRequest) -> dict[str, Any]:
        """The ``CreateTransformJob`` arguments for ``request`` (validated; nothing is sent)."""
        if not request.data.startswith(self.uri_schemes):
            raise ValueError(
                f"transform job {request.job_name}: input {request.data!r} is not an s3:// URI; SageMaker reads "
                "transform input from S3 only (upload it with Session.upload_data first)"
            )
        if not request.output_path.startswith(self.uri_schemes):
            raise ValueError(
                f"transform job {request.job_name}: output_path {request.output_path!r} is not an s3:// URI"
            )
        transform_input: dict[str, Any] = {
            "DataSource": {"S3DataSource": {"S3DataType": request.data_type, "S3Uri": request.data}}
        }
        for key, value in (("ContentType", request.content_type), ("CompressionType", request.compression_type),
                           ("SplitType", request.split_type)):
            if value is not None:
                transform_input[key] = value
        transform_output: dict[str, Any] = {"S3OutputPath": request.output_path}
        if request.accept is not None:
            transform_output["Accept"] = request.accept
        if request.assemble_with is not None:
            transform_output["AssembleWith"] = request.assemble_with
        args: dict[str, Any] = {
            "TransformJobName": request.job_name,
            "ModelName": request.model.name,
            "TransformInput": transform_input,
            "TransformOutput": transform_output,
            "TransformResources": {"InstanceCount": request.instance_count, "InstanceType": request.instance_type},
        }
        if request.strategy is not None:
            args["BatchStrategy"] = request.strategy
        if request.max_payload_mb is not None:
            args["MaxPayloadInMB"] = request.max_payload_mb
        if request.max_concurrent_transforms is not None:
            args["MaxConcurrentTransforms"] = request.max_concurrent_transforms
        if request.environment:
            args["Environment"] = dict(request.environment)
        return args

    def start_transform_job(self, request: TransformJobRequest) -> None:
        self.client("sagemaker").create_transform_job(**self.transform_job_args(request))

    def wait_for_transform_job(self, job_name: str, logs: bool = True) -> TransformJobDescription:
        sagemaker = self.client("sagemaker")
        tail = CloudWatchLogTail(self.client("logs"), TRANSFORM_LOG_GROUP, job_name, self._emit) if logs else None
        response = self._poll_until_done(lambda: sagemaker.describe_transform_job(TransformJobName=job_name),
                                         "TransformJobStatus", tail)
        status = response["TransformJobStatus"]
        output_path = response["TransformOutput"]["S3OutputPath"]
        if status != "Completed":
            raise UnexpectedStatusException(
                f"Error for Transform job {job_name}: {status}. "
                f"Reason: {response.get('FailureReason') or '(no reason given)'}",
                allowed_statuses=["Completed"],
                actual_status=status,
            )
        outputs = tuple(o.uri for o in storage.list_objects(self.s3_client(), output_path) if o.uri.endswith(".out"))
        return TransformJobDescription(job_name, status, output_path, outputs, response.get("FailureReason"),
                                       _without_metadata(response))

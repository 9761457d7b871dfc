"""``Session``: the region, the default bucket, uploads, and the backend that runs jobs (SDK v1 surface).

Every ``Session`` of a process shares one backend (``opensagemaker.backends.get_backend``): the local backend by
default, or the one named by ``Session(backend=...)`` / ``$OPENSAGEMAKER_BACKEND``.

With the local backend, creating a ``Session`` starts (or reuses) the local SageMaker service and its S3 store and
puts into ``os.environ``: ``AWS_ENDPOINT_URL_SAGEMAKER`` / ``_SAGEMAKER_RUNTIME`` / ``_CLOUDWATCH_LOGS`` / ``_STS`` /
``_IAM`` (the service), ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` of the store
(replacing any values there,
and removing ``AWS_SESSION_TOKEN``, which would otherwise be sent along), and ``AWS_DEFAULT_REGION=us-east-1`` if no
region is set. That is what lets the tutorial's plain ``boto3.resource('s3')`` calls reach the store, and a
notebook's own ``boto3.client('sagemaker')`` reach the local jobs and endpoints. Nothing is
changed for other backends, and nothing at import time.

SDK v2's names are here too, with v2's return shapes: ``default_bucket_prefix`` (None unless given, as in v2 without
a SageMaker config file), ``get_caller_identity_arn``, ``describe_training_job`` / ``wait_for_job`` returning the API's
dict, ``sagemaker_client`` / ``sagemaker_runtime_client`` (the backend's boto3 clients where it has them). v2's
other constructor arguments (``settings``, ``sagemaker_config``, the feature-store and metrics clients) are accepted
and unused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from opensagemaker.backends import Backend, get_backend, storage
from opensagemaker.image_uris import resolve_region
from opensagemaker.inputs import TrainingInput, s3_input

__all__ = ["Session", "get_execution_role", "s3_input", "TrainingInput"]


def _apply_local_environment(environment: dict[str, str]) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    for name, value in environment.items():
        if name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
            os.environ.setdefault("AWS_DEFAULT_REGION", value)
        else:
            os.environ[name] = value


class Session:
    """Where and as whom jobs run; ``upload_data`` and ``default_bucket`` as in SDK v1."""

    def __init__(
        self,
        boto_session: Any = None,
        sagemaker_client: Any = None,
        sagemaker_runtime_client: Any = None,
        default_bucket: str | None = None,
        backend: str | Backend | None = None,
        default_bucket_prefix: str | None = None,
        sagemaker_featurestore_runtime_client: Any = None,
        settings: Any = None,
        sagemaker_metrics_client: Any = None,
        sagemaker_config: dict | None = None,
    ) -> None:
        self.backend: Backend = backend if backend is not None and not isinstance(backend, str) else get_backend(backend)
        self._boto_session = boto_session
        self.sagemaker_client = sagemaker_client
        self.sagemaker_runtime_client = sagemaker_runtime_client
        if self.backend.name == "local":
            _apply_local_environment(self.backend.environment())
        region = getattr(boto_session, "region_name", None)
        self._region = resolve_region(region) if self.backend.name == "local" else (region or self.backend.region())
        self._default_bucket_name = default_bucket
        self._default_bucket: str | None = None
        self.default_bucket_prefix = default_bucket_prefix

    @property
    def boto_region_name(self) -> str:
        return self._region

    @property
    def boto_session(self) -> Any:
        if self._boto_session is None:
            import boto3

            self._boto_session = boto3.Session(region_name=self._region)
        return self._boto_session

    @property
    def local_mode(self) -> bool:
        return self.backend.name == "local"

    def s3_client(self) -> Any:
        return self.backend.s3_client()

    def account_id(self) -> str:
        return self.backend.account_id()

    def default_bucket(self) -> str:
        """``sagemaker-{region}-{account}`` (local account ``000000000000``), created on first use."""
        if self._default_bucket is None:
            name = self._default_bucket_name or f"sagemaker-{self._region}-{self.backend.account_id()}"
            self.backend.ensure_bucket(name)
            self._default_bucket = name
        return self._default_bucket

    def upload_data(self, path: str | os.PathLike[str], bucket: str | None = None, key_prefix: str = "data",
                    extra_args: dict[str, Any] | None = None, callback: Any = None) -> str:
        """Upload a file (-> ``s3://bucket/key_prefix/<name>``) or a folder's files (-> ``s3://bucket/key_prefix``)."""
        source = Path(path)
        if not source.exists():
            raise ValueError(f"upload_data: {str(path)!r} does not exist")
        files: list[tuple[Path, str]] = []
        key_suffix = None
        if source.is_dir():
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                files.append((file, f"{key_prefix}/{file.relative_to(source).as_posix()}"))
        else:
            files.append((source, f"{key_prefix}/{source.name}"))
            key_suffix = source.name
        bucket = bucket or self.default_bucket()
        if self.local_mode:
            self.backend.ensure_bucket(bucket)
        client = self.s3_client()
        for file, key in files:
            client.upload_file(str(file), bucket, key, ExtraArgs=extra_args, Callback=callback)
        uri = f"s3://{bucket}/{key_prefix}"
        return f"{uri}/{key_suffix}" if key_suffix else uri

    def upload_string_as_file_body(self, body: str | bytes, bucket: str, key: str, kms_key: str | None = None) -> str:
        self.s3_client().put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return f"s3://{bucket}/{key}"

    def download_data(self, path: str | os.PathLike[str], bucket: str, key_prefix: str = "",
                      extra_args: dict[str, Any] | None = None) -> list[str]:
        """Download every object under ``s3://bucket/key_prefix`` into folder ``path``; returns the local paths."""
        client = self.s3_client()
        written = []
        for obj in storage.list_objects(client, f"s3://{bucket}/{key_prefix}"):
            target = Path(path) / obj.relative
            storage.download(client, obj.uri, target)
            written.append(str(target))
        return written

    def read_s3_file(self, bucket: str, key_prefix: str) -> str:
        return storage.read_bytes(self.s3_client(), f"s3://{bucket}/{key_prefix}").decode("utf-8")

    def list_s3_files(self, bucket: str, key_prefix: str) -> list[str]:
        return [storage.parse_s3_uri(o.uri)[1] for o in storage.list_objects(self.s3_client(), f"s3://{bucket}/{key_prefix}")]

    def delete_endpoint(self, endpoint_name: str) -> None:
        self.backend.delete_endpoint(endpoint_name)

    def delete_endpoint_config(self, endpoint_config_name: str) -> None:
        """Endpoint configs are part of the endpoint here; nothing to delete separately."""

    def delete_model(self, model_name: str) -> None:
        self.backend.delete_model(model_name)

    def logs_for_job(self, job_name: str, wait: bool = False, poll: int = 10, log_type: Any = "All",
                     timeout: int | None = None) -> None:
        """Print the training job's log until the job ends (``wait`` or not: the backends stream, not page), and raise
        ``UnexpectedStatusException`` if it failed; ``log_type`` ``"None"`` / ``False`` prints nothing."""
        self.backend.wait_for_training_job(job_name, logs=log_type not in ("None", False, None))

    def wait_for_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        """Block until training job ``job`` ends; its ``DescribeTrainingJob`` dict, as v1 and v2 return
        (``UnexpectedStatusException`` when it did not complete)."""
        self.backend.wait_for_training_job(job, logs=False)
        return self.describe_training_job(job)

    def wait_for_transform_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        """Block until transform job ``job`` ends; its name, status and output path in ``DescribeTransformJob``'s
        keys (``UnexpectedStatusException`` when it did not complete)."""
        description = self.backend.wait_for_transform_job(job, logs=False)
        if "TransformJobStatus" in description.details:
            return dict(description.details)
        return {"TransformJobName": job, "TransformJobStatus": description.status,
                "TransformOutput": {"S3OutputPath": description.output_path}}

    # -- SDK v2 surface (additive: the same backend calls, in v2's names and return shapes) --------------------

    @property
    def sagemaker_client(self) -> Any:
        """The boto3 ``sagemaker`` client: the one given to ``Session``, else the backend's (Amazon SageMaker, or
        the local SageMaker service in local mode)."""
        if self._sagemaker_client is None:
            self._sagemaker_client = self.backend.client("sagemaker")
        return self._sagemaker_client

    @sagemaker_client.setter
    def sagemaker_client(self, client: Any) -> None:
        self._sagemaker_client = client

    @property
    def sagemaker_runtime_client(self) -> Any:
        """The boto3 ``sagemaker-runtime`` client (see ``sagemaker_client``)."""
        if self._sagemaker_runtime_client is None:
            self._sagemaker_runtime_client = self.backend.client("sagemaker-runtime")
        return self._sagemaker_runtime_client

    @sagemaker_runtime_client.setter
    def sagemaker_runtime_client(self, client: Any) -> None:
        self._sagemaker_runtime_client = client

    def get_caller_identity_arn(self) -> str:
        """The role ARN jobs run as (v2: the caller's role; local backend: the documented placeholder role)."""
        return self.backend.execution_role()

    def expand_role(self, role: str) -> str:
        """A role name as an ARN in this session's account; an ARN (anything with ``/``) is returned as is."""
        if "/" in role:
            return role
        return f"arn:aws:iam::{self.account_id()}:role/{role}"

    def describe_training_job(self, job_name: str) -> dict[str, Any]:
        """``DescribeTrainingJob``'s answer as a dict (as v2 returns boto3's response; keys as in the API)."""
        return dict(self.sagemaker_client.describe_training_job(TrainingJobName=job_name))


def get_execution_role(sagemaker_session: Session | None = None) -> str:
    """The role jobs run as. Local backend: the placeholder ``arn:aws:iam::000000000000:role/opensagemaker-local``."""
    session = sagemaker_session or Session()
    return session.backend.execution_role()

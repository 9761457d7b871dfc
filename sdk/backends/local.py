"""The local backend (the default): jobs and endpoints as processes on this machine, data in a local S3 store.

Zero configuration: the first use starts (or reuses) the SeaweedFS store of ``opensagemaker.local_store``
(``$OPENSAGEMAKER_STORE_DIR``, default ``~/.cache/opensagemaker/s3``). ``environment()`` gives
``AWS_ENDPOINT_URL_S3``, the store's keys and ``AWS_DEFAULT_REGION``, which ``Session`` puts into ``os.environ`` so
that the tutorial's plain ``boto3.resource('s3')`` calls reach the store. The account is ``000000000000`` and the
execution role the placeholder ``arn:aws:iam::000000000000:role/opensagemaker-local`` (no IAM exists locally).

Training: ``local_training``; endpoints: ``local_endpoints``; batch transform: ``local_transform``. Jobs run on
background threads; ``wait_for_*`` streams their log lines and raises ``UnexpectedStatusException`` on failure.
"""

from __future__ import annotations

import atexit
import sys
import threading
from typing import Any

from opensagemaker.backends.base import (
    EndpointRequest,
    InvokeResult,
    ModelRequest,
    TrainingJobDescription,
    TrainingJobRequest,
    TransformJobDescription,
    TransformJobRequest,
)
from opensagemaker.backends.local_endpoints import EndpointManager
from opensagemaker.backends.local_training import LocalTrainingJob
from opensagemaker.backends.local_transform import LocalTransformJob
from opensagemaker.exceptions import UnexpectedStatusException

__all__ = ["LOCAL_ACCOUNT", "LOCAL_ROLE", "LocalBackend"]

LOCAL_ACCOUNT = "000000000000"
LOCAL_ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/opensagemaker-local"


class LocalBackend:
    """Implements ``opensagemaker.backends.base.Backend`` with local processes."""

    name = "local"

    def __init__(self, store_root: Any = None) -> None:
        self._store_root = store_root
        self._store: Any = None
        self._client: Any = None
        self._lock = threading.RLock()
        self._training: dict[str, LocalTrainingJob] = {}
        self._transforms: dict[str, LocalTransformJob] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._models: dict[str, ModelRequest] = {}
        self.endpoints = EndpointManager()
        atexit.register(self._stop_running_jobs)

    def close(self) -> None:
        """Stop every endpoint and every running training job this backend started."""
        self.endpoints.stop_all()
        self._stop_running_jobs()

    def _stop_running_jobs(self) -> None:
        """At interpreter exit no host process may outlive us: SIGTERM, then SIGKILL after 10 s."""
        for job in list(self._training.values()):
            if not job.done.is_set():
                job.stop(grace=10)

    # -- account and store ---------------------------------------------------------------------------------------

    def region(self) -> str:
        return "us-east-1"

    def account_id(self) -> str:
        return LOCAL_ACCOUNT

    def execution_role(self) -> str:
        return LOCAL_ROLE

    def store(self) -> Any:
        """The running local store (started on first use)."""
        with self._lock:
            if self._store is None:
                from opensagemaker.local_store import ensure_running

                self._store = ensure_running(self._store_root)
            return self._store

    def environment(self) -> dict[str, str]:
        return dict(self.store().environment())

    def s3_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self.store().client()
            return self._client

    def ensure_bucket(self, bucket: str) -> None:
        self.store().ensure_bucket(bucket)

    # -- training -------------------------------------------------------------------------------------------------

    def _start(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"opensagemaker-{name}", daemon=True)
        self._threads[name] = thread
        thread.start()

    def start_training_job(self, request: TrainingJobRequest) -> None:
        for channel in request.channels:
            if not channel.uri.startswith(("s3://", "file://")):
                raise ValueError(f"channel {channel.name!r}: {channel.uri!r} is not an s3:// or file:// URI")
        with self._lock:
            if request.job_name in self._training:
                raise ValueError(f"Training job {request.job_name} already exists; use another job_name")
            job = LocalTrainingJob(request, self.s3_client, self.environment(), self.region())
            self._training[request.job_name] = job
            self._start(request.job_name, job.run)

    def training_job(self, job_name: str) -> LocalTrainingJob:
        """The local job object (its ``processes`` by host, ``logs``, ``description``), for inspection."""
        try:
            return self._training[job_name]
        except KeyError:
            raise ValueError(f"Could not find training job {job_name!r} in this process") from None

    def describe_training_job(self, job_name: str) -> TrainingJobDescription:
        return self.training_job(job_name).description

    def wait_for_training_job(self, job_name: str, logs: bool = True) -> TrainingJobDescription:
        job = self.training_job(job_name)
        try:
            if logs:
                for line in job.logs.follow():
                    print(line, flush=True)
            job.done.wait()
        except KeyboardInterrupt:  # Ctrl-C while waiting stops the job, as it stops docker-compose in local mode
            print(f"Stopping training job {job_name} (Ctrl-C)", flush=True)
            job.stop(grace=30)
            raise
        self._threads[job_name].join()
        description = job.description
        if description.status != "Completed":
            where = description.details.get("work_dir")
            hint = f" (host folders kept in {where})" if where else ""
            raise UnexpectedStatusException(
                f"Error for Training job {job_name}: {description.status}. Reason: {description.failure_reason}{hint}",
                allowed_statuses=["Completed"],
                actual_status=description.status,
            )
        return description

    def stop_training_job(self, job_name: str) -> None:
        self.training_job(job_name).stop()

    # -- hosting ----------------------------------------------------------------------------------------------------

    def create_model(self, request: ModelRequest) -> None:
        with self._lock:
            self._models[request.name] = request

    def describe_model(self, model_name: str) -> ModelRequest:
        with self._lock:
            try:
                return self._models[model_name]
            except KeyError:
                raise ValueError(f"Could not find model {model_name!r} (create it with Model.deploy / transformer)") from None

    def delete_model(self, model_name: str) -> None:
        with self._lock:
            self._models.pop(model_name, None)

    def create_endpoint(self, request: EndpointRequest, wait: bool = True) -> None:
        self.endpoints.create(request.endpoint_name, request.model, request.instance_count, self.s3_client,
                              self.environment())
        server = self.endpoints.servers(request.endpoint_name)[0]
        print(f"Endpoint {request.endpoint_name} is serving on {server.url} (log: {server.log_path})", file=sys.stderr)

    def invoke_endpoint(self, endpoint_name: str, body: bytes, content_type: str | None = None,
                        accept: str | None = None, custom_attributes: str | None = None) -> InvokeResult:
        return self.endpoints.server(endpoint_name).invoke(body, content_type, accept, custom_attributes)

    def delete_endpoint(self, endpoint_name: str) -> None:
        self.endpoints.delete(endpoint_name)

    # -- batch transform -------------------------------------------------------------------------------------------

    def start_transform_job(self, request: TransformJobRequest) -> None:
        with self._lock:
            if request.job_name in self._transforms:
                raise ValueError(f"Transform job {request.job_name} already exists; use another job_name")
            job = LocalTransformJob(request, self.s3_client, self.environment())
            self._transforms[request.job_name] = job
            self._start(request.job_name, job.run)

    def wait_for_transform_job(self, job_name: str, logs: bool = True) -> TransformJobDescription:
        try:
            job = self._transforms[job_name]
        except KeyError:
            raise ValueError(f"Could not find transform job {job_name!r} in this process") from None
        if logs:
            for line in job.logs.follow():
                print(line, flush=True)
        self._threads[job_name].join()
        description = job.description
        if description.status != "Completed":
            raise UnexpectedStatusException(
                f"Error for Transform job {job_name}: {description.status}. Reason: {description.failure_reason}",
                allowed_statuses=["Completed"],
                actual_status=description.status,
            )
        return description

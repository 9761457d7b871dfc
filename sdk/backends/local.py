"""The local backend (the default): the AWS backend's boto3 code, pointed at the local SageMaker service.

There is one way this SDK talks to SageMaker: ``opensagemaker.backends.aws.AWSBackend``. Locally its clients
(``sagemaker``, ``sagemaker-runtime``, ``logs``, ``sts``, ``iam``) are made with the endpoint of the local service
(``opensagemaker.local_service``, started on first use, shared by every process of the user) and ``s3`` with the
local store's. Jobs and endpoints therefore live in the service, not in this process: they outlive it, and any
other client (plain boto3, the AWS CLI, AWS's own SDKs) sees the same ones.

``environment()`` is the service's (``AWS_ENDPOINT_URL_SAGEMAKER`` ... and the store's ``AWS_ENDPOINT_URL_S3`` and
keys), which ``Session`` puts into ``os.environ`` so the tutorial's plain ``boto3`` calls reach both. The account
is ``000000000000`` and the execution role ``arn:aws:iam::000000000000:role/opensagemaker-local``, both answered by
the service's STS and IAM. Images are not checked here: the service refuses what it cannot run, naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from opensagemaker.backends.aws import AWSBackend
from opensagemaker.local_service.sagemaker_api import ACCOUNT as LOCAL_ACCOUNT
from opensagemaker.local_service.sagemaker_api import ROLE as LOCAL_ROLE

__all__ = ["LOCAL_ACCOUNT", "LOCAL_ROLE", "LocalBackend"]

POLL_SECONDS = 0.1  # Describe* / GetLogEvents polling while waiting: loopback calls cost well under a millisecond


class LocalBackend(AWSBackend):
    """Implements ``opensagemaker.backends.base.Backend`` through the local service (see the module docstring)."""

    name = "local"
    uri_schemes = ("s3://", "file://")  # the service's jobs also read and write this machine's files

    def __init__(self, service_root: Path | None = None, *, emit: Callable[[str], None] | None = None) -> None:
        super().__init__(region="us-east-1", poll_interval=POLL_SECONDS, emit=emit)
        self._service_root = service_root
        self._service: Any = None

    def service(self) -> Any:
        """The running local service (started on first use, or again if it stopped)."""
        from opensagemaker.local_service import ensure_running

        service = ensure_running(self._service_root)
        if self._service is not service or service.port != getattr(self, "_port", None):
            self._clients.clear()  # a restarted service may listen elsewhere
            self._service, self._port = service, service.port
        return service

    def store(self) -> Any:
        from opensagemaker.local_store import ensure_running

        return ensure_running(self.service().store_root)

    def client(self, service: str) -> Any:
        self.service()
        if service not in self._clients:
            self._clients[service] = self.store().client() if service == "s3" else self._service.client(service)
        return self._clients[service]

    def environment(self) -> dict[str, str]:
        return self.service().environment()

    def ensure_bucket(self, bucket: str) -> None:
        self.store().ensure_bucket(bucket)

    def _check_image(self, image_uri: str, what: str) -> None:
        """AWS's ``ntm`` / ``knn`` URIs are what the local service runs this project's containers for."""

    def close(self) -> None:
        """Nothing to stop here: jobs and endpoints belong to the service (``python -m opensagemaker.local stop``)."""
        self._clients.clear()

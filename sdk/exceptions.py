"""Exceptions with the names and shapes of the real SDK's, so ``except`` clauses written for it still match."""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = ["ModelError", "UnexpectedStatusException"]


class UnexpectedStatusException(ValueError):
    """A job ended in a status other than the one waited for (v1 ``sagemaker.exceptions``); names job and reason."""

    def __init__(self, message: str, allowed_statuses: list[str], actual_status: str) -> None:
        super().__init__(message)
        self.allowed_statuses = allowed_statuses
        self.actual_status = actual_status


class ModelError(ClientError):
    """The model answered an invocation with an error status, as SageMaker runtime's ``ModelError``.

    ``status_code`` is the container's HTTP status and ``body`` its (one-line) message; both appear in ``str()``.
    """

    def __init__(self, endpoint_name: str, status_code: int, body: str) -> None:
        self.endpoint_name = endpoint_name
        self.status_code = status_code
        self.body = body
        message = (
            f"Received {'client' if status_code < 500 else 'server'} error ({status_code}) from model with message "
            f'"{body.strip()}". See the log of endpoint {endpoint_name}.'
        )
        super().__init__(
            {
                "Error": {"Code": "ModelError", "Message": message},
                "OriginalStatusCode": status_code,
                "OriginalMessage": body,
                "ResponseMetadata": {"HTTPStatusCode": 424},
            },
            "InvokeEndpoint",
        )

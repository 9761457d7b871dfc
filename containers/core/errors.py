"""The error taxonomy shared by training and serving (docs/contract.md A9).

``UserError``: the caller can fix it (a hyperparameter, a channel, a request body).
``AlgorithmError``: our bug; the message says what failed, the traceback goes to the log.
``PlatformError``: the environment failed (disk, network, a peer host).

Serving maps every error to one HTTP status and a one-line body. The request-side subclasses carry their status.
"""

from __future__ import annotations


class ContainerError(Exception):
    """Base class: ``str(error)`` is the human message, written first to the failure file or the HTTP body."""

    exit_code = 1
    http_status = 500


class UserError(ContainerError):
    """The user can fix this: bad hyperparameters, channels, data or requests."""

    exit_code = 2
    http_status = 400


class AlgorithmError(ContainerError):
    """A failure inside the algorithm that the user could not have prevented."""

    exit_code = 1
    http_status = 500


class PlatformError(ContainerError):
    """The environment failed: a file system, a peer host, the network."""

    exit_code = 3
    http_status = 500


class UnsupportedContentType(UserError):
    """The request's Content-Type is not one this container reads (HTTP 415)."""

    http_status = 415


class UnsupportedAccept(UserError):
    """None of the types in the request's Accept header can be produced (HTTP 406)."""

    http_status = 406


class PayloadTooLarge(UserError):
    """The request body is larger than ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` (HTTP 413)."""

    http_status = 413

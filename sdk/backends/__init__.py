"""Where jobs and endpoints run. ``base`` defines the ``Backend`` protocol; ``local`` is the default implementation.

``get_backend(name)`` returns the process-wide backend for ``name`` (``"local"``, or the value of
``$OPENSAGEMAKER_BACKEND``): one per process, so every ``Session()`` sees the same endpoints and jobs, as every
boto3 client sees the same SageMaker account. ``"local"`` is the AWS backend's boto3 code pointed at the local
SageMaker service; ``"aws"`` (``opensagemaker.backends.aws``, Amazon SageMaker through the default boto3 session) is
only ever used when chosen explicitly. Other backends register a factory with
``register_backend``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from opensagemaker.backends.base import Backend

__all__ = ["Backend", "get_backend", "register_backend", "shutdown_backend"]

BACKEND_ENV = "OPENSAGEMAKER_BACKEND"

_factories: dict[str, Callable[[], Backend]] = {}
_instances: dict[str, Backend] = {}
_lock = threading.Lock()


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Make ``get_backend(name)`` build its backend with ``factory`` (called once, on first use)."""
    with _lock:
        _factories[name] = factory


def _local_factory() -> Backend:
    from opensagemaker.backends.local import LocalBackend

    return LocalBackend()


def _aws_factory() -> Backend:
    from opensagemaker.backends.aws import AWSBackend

    return AWSBackend()


register_backend("local", _local_factory)
register_backend("aws", _aws_factory)


def get_backend(name: str | None = None) -> Backend:
    """The process-wide backend called ``name`` (default ``$OPENSAGEMAKER_BACKEND``, else ``local``)."""
    name = name or os.environ.get(BACKEND_ENV) or "local"
    with _lock:
        backend = _instances.get(name)
        if backend is None:
            factory = _factories.get(name)
            if factory is None:
                raise ValueError(
                    f"unknown backend {name!r} (from {BACKEND_ENV} or Session(backend=...)); "
                    f"known: {', '.join(sorted(_factories))}"
                )
            backend = _instances[name] = factory()
    return backend


def shutdown_backend(name: str = "local") -> None:
    """Close the process-wide backend ``name`` (local: stop its endpoints) and forget it; the next
    ``get_backend(name)`` builds a new one. No-op if it was never built."""
    with _lock:
        backend = _instances.pop(name, None)
    close = getattr(backend, "close", None)
    if close is not None:
        close()

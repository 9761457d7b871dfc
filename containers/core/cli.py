"""The process boundary of a container: ``<algo>-container train`` and ``<algo>-container serve``.

This is the one place that configures logging and the one error boundary of each process (docs/contract.md A9):
any exception ends training with ``/opt/ml/output/failure`` holding the human message first (under 1024 characters,
no traceback: the log has it with ``SM_LOG_LEVEL=DEBUG``) and a non-zero exit code (2 user error, 1 algorithm
error, 3 platform error, 143 stopped by SIGTERM). SIGTERM during training sets ``TrainingContext.stop_requested``
so the algorithm can save a checkpoint and stop between batches (A10).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from container_core.channels import ResourceConfig, load_hyperparameters
from container_core.errors import AlgorithmError, ContainerError, PlatformError, UserError
from container_core.metrics import MetricsWriter
from container_core.paths import Paths

log = logging.getLogger("container")

FAILURE_LIMIT = 1024


class TrainingStopped(ContainerError):
    """Training ended early on SIGTERM after saving a checkpoint; running again resumes from it."""

    exit_code = 143


@dataclass
class TrainingContext:
    """Everything a training function needs, built once in ``main``."""

    paths: Paths
    resources: ResourceConfig
    hyperparameters: dict[str, Any]
    metrics: MetricsWriter
    stop_requested: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Algorithm:
    """What an algorithm package hands to the core: its name, its training function and its serving handlers."""

    name: str
    train: Callable[[TrainingContext], None]
    handlers: str  # "package.module:NAME" of a container_core.serving.Handlers


def configure_logging() -> None:
    """One stdout handler in the built-ins' line format, at ``$SM_LOG_LEVEL`` (a level name or number; INFO).
    Libraries' chatter stays out: faiss logs every CPU-feature build it tries (and the ModuleNotFoundError of each
    it cannot load) at INFO, which a job's log reader takes for an error."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s %(levelname)s %(thread)d] %(message)s", datefmt="%m/%d/%Y %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level(os.environ.get("SM_LOG_LEVEL")))
    logging.getLogger("faiss").setLevel(max(logging.WARNING, root.level))


def log_level(value: str | None) -> int:
    """``SM_LOG_LEVEL``'s value as a logging level: ``DEBUG`` / ``debug`` / ``10``; unset or unknown: INFO."""
    text = (value or "").strip()
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    return level if isinstance(level, int) else logging.INFO


def classify(error: BaseException) -> ContainerError:
    """Map any exception to the taxonomy; known library failures get a message that says what to do."""
    if isinstance(error, ContainerError):
        return error
    if isinstance(error, MemoryError):
        return UserError("out of memory; use a smaller mini_batch_size or an instance with more memory")
    text = str(error)
    if "CUDA out of memory" in text or "OutOfMemoryError" in type(error).__name__:
        return UserError("the GPU ran out of memory; use a smaller mini_batch_size")
    if isinstance(error, OSError) and error.errno is not None and error.errno in (28, 122):
        return PlatformError(f"no space left on device: {error.filename or ''}".strip())
    if _peer_lost(error, text):
        detail = " ".join(text.split()).split(". ")[0][:300]  # gloo's first sentence; the rest is advice
        return PlatformError(
            "lost the connection to another host of this training job (it failed or was stopped; see its log): "
            f"{detail}"
        )
    return AlgorithmError(f"{type(error).__name__}: {text}".strip().rstrip(":"))


_PEER_LOST = ("connection reset by peer", "connection closed by peer", "broken pipe", "remote process exited",
              "socket timeout", "connection refused")


def _peer_lost(error: BaseException, text: str) -> bool:
    """A torch.distributed collective (gloo or NCCL) failed because a peer host went away."""
    lowered = text.lower()
    from_collective = "gloo" in lowered or "nccl" in lowered or type(error).__name__.startswith("Dist")
    return from_collective and any(symptom in lowered for symptom in _PEER_LOST)


def failure_text(error: ContainerError) -> str:
    """Human message first, then the error class; capped well under SageMaker's 1024-character FailureReason."""
    message = str(error).strip() or type(error).__name__
    kind = next(
        (base.__name__ for base in (TrainingStopped, UserError, PlatformError, AlgorithmError) if isinstance(error, base)),
        type(error).__name__,
    )
    text = f"{message}\n\nError type: {kind}\n"
    if len(text) > FAILURE_LIMIT - 24:
        text = message[: FAILURE_LIMIT - 64].rstrip() + " [...]\n\nError type: " + kind + "\n"
    return text


def write_failure(paths: Paths, error: ContainerError) -> None:
    try:
        paths.output.mkdir(parents=True, exist_ok=True)
        if not paths.failure.exists():  # the first failure is the cause; later ones are consequences
            paths.failure.write_text(failure_text(error), encoding="utf-8")
    except OSError:
        log.exception("could not write %s", paths.failure)


def run_training(algorithm: Algorithm, paths: Paths) -> int:
    context: TrainingContext | None = None
    stop = threading.Event()

    def on_sigterm(signum: int, frame: Any) -> None:
        log.warning("SIGTERM received: stopping after the current batch")
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        resources = ResourceConfig.load(paths)
        context = TrainingContext(
            paths=paths,
            resources=resources,
            hyperparameters=load_hyperparameters(paths),
            metrics=MetricsWriter(resources.current_host),
            stop_requested=stop,
        )
        log.info("%s training on host %s (%d of %d)", algorithm.name, resources.current_host,
                 resources.rank + 1, resources.num_hosts)
        algorithm.train(context)
    except BaseException as raw:  # the one boundary: everything ends here
        if isinstance(raw, SystemExit) and raw.code in (0, None):
            return 0
        if isinstance(raw, KeyboardInterrupt):
            raw = TrainingStopped("training interrupted")
        error = classify(raw)
        log.error("training failed: %s", error)
        log.debug("traceback of the failure:\n%s", "".join(traceback.format_exception(raw)))
        write_failure(paths, error)
        return error.exit_code
    log.info("%s training complete", algorithm.name)
    return 0


def run_serving(algorithm: Algorithm, paths: Paths) -> int:
    from container_core.serving import serve

    try:
        serve(algorithm.handlers, paths)
    except BaseException as raw:
        if isinstance(raw, KeyboardInterrupt | SystemExit) and getattr(raw, "code", 0) in (0, None):
            return 0
        error = classify(raw)
        log.error("serving failed to start: %s", error)
        log.debug("traceback of the failure:\n%s", "".join(traceback.format_exception(raw)))
        print(f"{algorithm.name} serve: {error}", file=sys.stderr)
        return error.exit_code
    return 0


class _Parser(argparse.ArgumentParser):
    """A usage error (no mode, an unknown one) is a failed job too: SageMaker shows ``/opt/ml/output/failure``."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        write_failure(Paths.from_env(), UserError(f"{self.prog}: {message} (the container runs as "
                                                  f"'{self.prog} train' or '{self.prog} serve')"))
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(algorithm: Algorithm, argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog=f"{algorithm.name.lower()}-container",
        description=f"The {algorithm.name} algorithm container (SageMaker train/serve contract). "
        "SM_OPT_ML sets the /opt/ml root.",
    )
    parser.add_argument("mode", choices=["train", "serve"])
    args = parser.parse_args(argv)
    configure_logging()
    paths = Paths.from_env()
    if args.mode == "train":
        return run_training(algorithm, paths)
    return run_serving(algorithm, paths)

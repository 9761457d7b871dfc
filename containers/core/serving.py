"""The inference HTTP server shared by both containers: a small Starlette app under uvicorn.

Routes (docs/contract.md §3.3-3.4): ``GET /ping`` (200 once the model is loaded), ``POST /invocations``,
``GET /execution-parameters`` (batch transform). Each algorithm supplies the four handlers people know from
sagemaker-inference: ``model_fn(model_dir)``, ``input_fn(body, content_type, model)``, ``predict_fn(data, model)``,
``output_fn(prediction, accept, model)``. Content types are checked (415) and Accept negotiated (406) before any
model code runs; the body size is capped (413); errors become one line of text, never a traceback (A9).

Settings come from the environment, read once in ``ServingSettings.from_env``:
``SAGEMAKER_BIND_TO_PORT`` (8080), ``ALGO_BIND_HOST`` (0.0.0.0; the SDK's local backend uses 127.0.0.1),
``SAGEMAKER_MAX_PAYLOAD_IN_MB`` (6), ``SAGEMAKER_MODEL_SERVER_WORKERS`` (CPU count),
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (application/json), ``SAGEMAKER_BATCH`` (any case of true: batch
transform, whose JSON Lines responses then end without a newline, the separator ``AssembleWith=Line`` adds).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from container_core.errors import ContainerError, PayloadTooLarge, UnsupportedContentType, UserError
from container_core.mime import JSON, JSONLINES, MediaType, negotiate, parse_media_type
from container_core.paths import Paths

log = logging.getLogger("serving")

WORKER_STARTUP_S = 120
"""How long a serving worker may take to answer uvicorn's health check (import, model load) before it is replaced."""


@dataclass(frozen=True)
class Handlers:
    """One algorithm's inference handlers and the media types they speak."""

    model_fn: Callable[[Path], Any]
    input_fn: Callable[[bytes, MediaType, Any], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, MediaType, Any], bytes]
    content_types: tuple[str, ...]
    accept_types: tuple[str, ...]


@dataclass(frozen=True)
class ServingSettings:
    model_dir: Path
    port: int = 8080
    host: str = "0.0.0.0"
    workers: int = 1
    max_payload_bytes: int = 6 * 1024 * 1024
    default_accept: str = JSON
    batch: bool = False

    @classmethod
    def from_env(cls, paths: Paths, environ: Mapping[str, str] | None = None) -> ServingSettings:
        env = os.environ if environ is None else environ

        def number(name: str, default: float, parse: Callable[[str], float] = int) -> Any:
            raw = env.get(name, "")
            if not raw.strip():
                return default
            try:
                value = parse(raw)
            except ValueError:
                raise UserError(f"environment variable {name}={raw!r} is not a number") from None
            if value <= 0:
                raise UserError(f"environment variable {name}={raw!r} must be positive")
            return value

        return cls(
            model_dir=paths.model,
            port=number("SAGEMAKER_BIND_TO_PORT", 8080),
            host=env.get("ALGO_BIND_HOST", "0.0.0.0"),
            workers=number("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1),
            max_payload_bytes=int(number("SAGEMAKER_MAX_PAYLOAD_IN_MB", 6.0, float) * 1024 * 1024),
            default_accept=parse_media_type(env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"), default=JSON).base,
            batch=env.get("SAGEMAKER_BATCH", "").strip().lower() in {"true", "1", "yes"},
        )


def _error_response(error: ContainerError) -> Response:
    message = " ".join(str(error).split())[:1000] or type(error).__name__
    return Response(message + "\n", status_code=error.http_status, media_type="text/plain")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_model_dir(model_dir: Path) -> None:
    """Refuse a model folder holding a link that leads outside it, or a device / FIFO / socket.

    The model comes from a store anyone with write access can change; ``model_fn`` opens files by name, so a
    ``model_meta.json`` that links to ``/etc/shadow`` or a FIFO that blocks forever must be stopped before it runs.
    """
    if not model_dir.is_dir():
        return  # model_fn names the missing files
    root = model_dir.resolve()
    for folder, names, files in os.walk(model_dir, followlinks=False):
        for name in names + files:
            path = Path(folder) / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise UserError(f"model artifact {path} is a link to {target}, outside the model folder; "
                                    "refusing to load it")
            elif not (path.is_file() or path.is_dir()):
                raise UserError(f"model artifact {path} is a device, FIFO or socket; refusing to load it")


def load_model(handlers: Handlers, model_dir: Path) -> Any:
    check_model_dir(model_dir)
    return handlers.model_fn(model_dir)


def create_app(handlers: Handlers, settings: ServingSettings, model: Any = None) -> Starlette:
    """Build the app; the model is loaded now (so a corrupt artifact fails at start, not at the first request)."""
    if model is None:
        model = load_model(handlers, settings.model_dir)

    async def ping(request: Request) -> Response:
        return Response(b"", status_code=200)

    async def execution_parameters(request: Request) -> Response:
        return JSONResponse(
            {
                "MaxConcurrentTransforms": settings.workers,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, settings.max_payload_bytes // (1024 * 1024)),
            }
        )

    async def invocations(request: Request) -> Response:
        try:
            content_type = parse_media_type(request.headers.get("content-type"), default="")
            if content_type.base not in handlers.content_types:
                raise UnsupportedContentType(
                    f"Content-Type {content_type.base or '(none)'!r} is not supported; "
                    f"send one of: {', '.join(handlers.content_types)}"
                )
            accept = negotiate(request.headers.get("accept"), handlers.accept_types, settings.default_accept)
            body = await _read_body(request, settings.max_payload_bytes)
            if not body.strip():
                return Response(b"", status_code=204)
            data = handlers.input_fn(body, content_type, model)
            prediction = handlers.predict_fn(data, model)
            payload = handlers.output_fn(prediction, accept, model)
            if settings.batch and accept.base == JSONLINES:
                # batch transform appends the record separator itself (AssembleWith=Line): a trailing newline of
                # ours would leave a blank line after every mini-batch
                payload = payload.removesuffix(b"\n")
            return Response(payload, status_code=200, media_type=accept.base)
        except ClientDisconnect:  # the client went away mid-body: nobody to answer, nothing of ours failed
            log.info("client disconnected before the request body ended")
            return Response(b"", status_code=400)
        except ContainerError as error:
            if error.http_status >= 500:
                log.exception("invocation failed")
            return _error_response(error)
        except MemoryError:
            log.exception("invocation ran out of memory")
            return Response("the model ran out of memory; send fewer rows per request\n", 507, media_type="text/plain")
        except Exception:
            log.exception("invocation failed")
            return Response("internal error in the model; see the endpoint log\n", 500, media_type="text/plain")

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def load_handlers(spec: str) -> Handlers:
    """``"package.module:NAME"`` -> the ``Handlers`` object it names."""
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def worker_app() -> Starlette:
    """uvicorn factory for multi-worker serving: each worker process loads its own copy of the model."""
    paths = Paths.from_env()
    return create_app(load_handlers(os.environ["ALGO_HANDLERS"]), ServingSettings.from_env(paths))


def serve(handlers_spec: str, paths: Paths) -> None:
    """Load the model once (fail fast on a bad artifact), then serve until SIGTERM."""
    import uvicorn

    settings = ServingSettings.from_env(paths)
    handlers = load_handlers(handlers_spec)
    model = load_model(handlers, settings.model_dir)
    common = dict(host=settings.host, port=settings.port, log_level="warning", access_log=False, timeout_keep_alive=75)
    log.info("serving %s on %s:%d with %d worker(s)", handlers_spec, settings.host, settings.port, settings.workers)
    if settings.workers == 1:
        uvicorn.run(create_app(handlers, settings, model), **common)
    else:
        del model  # each worker loads its own
        os.environ["ALGO_HANDLERS"] = handlers_spec
        # uvicorn kills a worker that misses its 5 s health check and starts another; a worker importing torch and
        # loading a model on a busy host takes longer than that, so with the default no worker ever came up
        uvicorn.run("container_core.serving:worker_app", factory=True, workers=settings.workers,
                    timeout_worker_healthcheck=WORKER_STARTUP_S, **common)

"""Local batch transform, as SageMaker runs it (docs/contract.md §3.4, §1.8).

One ``serve`` process for the job's model (``SAGEMAKER_BATCH=true``; ``SAGEMAKER_MAX_PAYLOAD_IN_MB``,
``SAGEMAKER_BATCH_STRATEGY`` and ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` only when the job sets them). Settings
resolve as on SageMaker: the job's values, else ``GET /execution-parameters``, else MultiRecord / 6 MB. Each input
object (every key under an ``S3Prefix``, or a manifest's entries) is read whole and split:

- ``SplitType=None``: the whole object is one request;
- ``Line``: one record per line (empty lines skipped); a MultiRecord request joins records with ``\\n``;
- ``RecordIO``: one record per RecordIO frame, re-framed; a MultiRecord request concatenates frames.

MultiRecord packs as many consecutive records as fit in ``MaxPayloadInMB`` (a single record over the limit fails the
job, naming the file and record); SingleRecord sends one each. Requests go in input order, one at a time, and the
responses are assembled into ``<output_path>/<input name>.out``: concatenated as they are (``AssembleWith=None``), or
each ending with one newline (``Line``). ``CompressionType=Gzip`` inputs are decompressed first.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from typing import Any

from container_core import recordio
from opensagemaker.backends import storage
from opensagemaker.backends.base import TransformJobDescription, TransformJobRequest
from opensagemaker.backends.local_endpoints import ModelServer
from opensagemaker.backends.logstream import LogStream

__all__ = ["LocalTransformJob", "pack", "split_records"]

DEFAULT_MAX_PAYLOAD_MB = 6
_STRATEGIES = {"MULTI_RECORD": "MultiRecord", "SINGLE_RECORD": "SingleRecord", "MULTIRECORD": "MultiRecord",
               "SINGLERECORD": "SingleRecord"}


def split_records(data: bytes, split_type: str | None, source: str) -> Iterator[bytes]:
    """The records of one input object under ``split_type`` (``None``/``"None"``, ``Line``, ``RecordIO``)."""
    if split_type in (None, "None"):
        if data:
            yield data
        return
    if split_type == "Line":
        for line in data.splitlines():
            if line.strip():
                yield line
        return
    if split_type == "RecordIO":
        for _index, _offset, payload in recordio.iter_payloads(io.BytesIO(data), source):
            yield recordio.frame(payload)
        return
    raise ValueError(f"SplitType {split_type!r} is not supported locally; use None, Line or RecordIO")


def pack(records: Iterator[bytes], split_type: str | None, strategy: str, max_bytes: int, source: str) -> Iterator[bytes]:
    """Request bodies: one record each (SingleRecord) or as many as fit in ``max_bytes`` (MultiRecord)."""
    separator = b"\n" if split_type == "Line" else b""
    batch: list[bytes] = []
    size = 0
    for index, record in enumerate(records):
        if len(record) > max_bytes:
            raise ValueError(
                f"{source}: record {index} is {len(record)} bytes, over MaxPayloadInMB ({max_bytes // (1024 * 1024)} MB); "
                "raise max_payload or split the input differently"
            )
        if strategy == "SingleRecord":
            yield record
            continue
        extra = len(record) + (len(separator) if batch else 0)
        if batch and size + extra > max_bytes:
            yield separator.join(batch)
            batch, size = [], 0
            extra = len(record)
        batch.append(record)
        size += extra
    if batch:
        yield separator.join(batch)


class LocalTransformJob:
    def __init__(self, request: TransformJobRequest, s3_client: Callable[[], Any], store_env: dict[str, str]) -> None:
        self.request = request
        self._s3_client = s3_client
        self.store_env = store_env
        self.logs = LogStream()
        self.description = TransformJobDescription(request.job_name, "InProgress", request.output_path)

    def _server_env(self) -> dict[str, str]:
        request = self.request
        env = dict(self.store_env)
        env["SAGEMAKER_BATCH"] = "true"
        if request.max_payload_mb is not None:
            env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(request.max_payload_mb)
        if request.strategy is not None:
            env["SAGEMAKER_BATCH_STRATEGY"] = "SINGLE_RECORD" if request.strategy == "SingleRecord" else "MULTI_RECORD"
        if request.max_concurrent_transforms is not None:
            env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(request.max_concurrent_transforms)
        env.update(request.environment)
        return env

    def run(self) -> None:
        request = self.request
        server: ModelServer | None = None
        try:
            client = self._s3_client()
            objects = storage.list_objects(client, request.data, request.data_type)
            if not objects:
                raise ValueError(f"No S3 objects found under {request.data} (the transform job's input)")
            server = ModelServer.start(request.job_name, request.model, self._s3_client, self._server_env())
            params = server.execution_parameters()
            strategy = request.strategy or _STRATEGIES.get(str(params.get("BatchStrategy", "")).upper(), "MultiRecord")
            max_mb = request.max_payload_mb or int(params.get("MaxPayloadInMB") or DEFAULT_MAX_PAYLOAD_MB)
            self.logs.emit(
                f"Transform job {request.job_name}: {len(objects)} input object(s), SplitType={request.split_type}, "
                f"BatchStrategy={strategy}, MaxPayloadInMB={max_mb}, AssembleWith={request.assemble_with}"
            )
            outputs = []
            for obj in objects:
                data = storage.read_bytes(client, obj.uri)
                if request.compression_type == "Gzip":
                    data = gzip.decompress(data)
                out = io.BytesIO()
                requests = 0
                for body in pack(split_records(data, request.split_type, obj.uri), request.split_type, strategy,
                                 max_mb * 1024 * 1024, obj.uri):
                    result = server.invoke(body, request.content_type, request.accept)
                    requests += 1
                    out.write(result.body)
                    if request.assemble_with == "Line" and not result.body.endswith(b"\n"):
                        out.write(b"\n")
                target = storage.join_uri(request.output_path, obj.relative + ".out")
                storage.upload_bytes(client, out.getvalue(), target)
                outputs.append(target)
                self.logs.emit(f"{obj.uri}: {requests} request(s) -> {target}")
            self.description.outputs = tuple(outputs)
            self.description.status = "Completed"
            self.logs.emit("===== Job Complete =====")
        except Exception as error:
            self.description.status = "Failed"
            self.description.failure_reason = f"{type(error).__name__}: {error}"
            if server is not None:
                self.description.failure_reason += f"\nModel server log ({server.log_path}):\n{server.log_tail(10)}"
            self.logs.emit(f"Transform job {request.job_name} failed: {self.description.failure_reason}")
        finally:
            if server is not None:
                server.stop()
            self.logs.close()

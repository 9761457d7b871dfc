"""Batch transform: ``Transformer(model_name, ...)``, ``transform(data, content_type, split_type, ...)``, ``wait()``.

The job runs in the background (``transform(..., wait=False)`` is v1's default); ``wait()`` blocks until it ends,
prints its log, and raises ``UnexpectedStatusException`` if it failed. Outputs are ``<output_path>/<input name>.out``.
How the local backend splits, batches and assembles is described in ``opensagemaker.backends.local_transform``.
"""

from __future__ import annotations

from typing import Any

from opensagemaker.backends.base import TransformJobRequest
from opensagemaker.naming import name_from_base

__all__ = ["Transformer"]

SPLIT_TYPES = (None, "None", "Line", "RecordIO", "TFRecord")
STRATEGIES = (None, "MultiRecord", "SingleRecord")
ASSEMBLE = (None, "None", "Line")


class Transformer:
    def __init__(
        self,
        model_name: str,
        instance_count: int,
        instance_type: str,
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | None = None,
        output_kms_key: str | None = None,
        accept: str | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        tags: Any = None,
        env: dict[str, str] | None = None,
        base_transform_job_name: str | None = None,
        sagemaker_session: Any = None,
        volume_kms_key: str | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy {strategy!r} is not one of MultiRecord, SingleRecord")
        if assemble_with not in ASSEMBLE:
            raise ValueError(f"assemble_with {assemble_with!r} is not one of None, Line")
        if max_payload is not None and not 0 < int(max_payload) <= 100:
            raise ValueError(f"max_payload must be in [1, 100] MB (0 = chunked is not supported), got {max_payload}")
        if sagemaker_session is None:
            from opensagemaker.session import Session

            sagemaker_session = Session()
        self.model_name = model_name
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.strategy = strategy
        self.assemble_with = assemble_with
        self.output_path = output_path
        self.accept = accept
        self.max_concurrent_transforms = max_concurrent_transforms
        self.max_payload = max_payload
        self.env = dict(env or {})
        self.base_transform_job_name = base_transform_job_name
        self.sagemaker_session = sagemaker_session
        self.latest_transform_job: str | None = None
        self._current_job_name: str | None = None

    def transform(
        self,
        data: str,
        data_type: str = "S3Prefix",
        content_type: str | None = None,
        compression_type: str | None = None,
        split_type: str | None = None,
        job_name: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
        experiment_config: Any = None,
        model_client_config: Any = None,
        wait: bool = False,
        logs: bool = False,
    ) -> None:
        """Start a transform job over ``data`` (an ``s3://`` or ``file://`` URI)."""
        if split_type not in SPLIT_TYPES:
            raise ValueError(f"split_type {split_type!r} is not one of None, Line, RecordIO, TFRecord")
        if data_type not in ("S3Prefix", "ManifestFile"):
            raise ValueError(f"data_type {data_type!r} is not one of S3Prefix, ManifestFile")
        if input_filter not in (None, "$") or output_filter not in (None, "$") or join_source not in (None, "None"):
            raise ValueError("input_filter / output_filter / join_source (JSONPath filtering) are not supported")
        if compression_type not in (None, "None", "Gzip"):
            raise ValueError(f"compression_type {compression_type!r} is not one of None, Gzip")
        session = self.sagemaker_session
        name = job_name or name_from_base(self.base_transform_job_name or self.model_name)
        if self.output_path is None:
            self.output_path = f"s3://{session.default_bucket()}/{name}"
        model = session.backend.describe_model(self.model_name)
        request = TransformJobRequest(
            job_name=name,
            model=model,
            data=data,
            output_path=self.output_path,
            instance_count=self.instance_count,
            instance_type=self.instance_type,
            data_type=data_type,
            content_type=content_type,
            compression_type=None if compression_type == "None" else compression_type,
            split_type=split_type,
            strategy=self.strategy,
            assemble_with=self.assemble_with,
            accept=self.accept,
            max_payload_mb=self.max_payload,
            max_concurrent_transforms=self.max_concurrent_transforms,
            environment=dict(self.env),
        )
        session.backend.start_transform_job(request)
        self._current_job_name = name
        self.latest_transform_job = name
        if wait:
            self.wait(logs=logs)

    def wait(self, logs: bool = True) -> Any:
        if self._current_job_name is None:
            raise ValueError("No transform job to wait for: call transform() first")
        return self.sagemaker_session.backend.wait_for_transform_job(self._current_job_name, logs=logs)

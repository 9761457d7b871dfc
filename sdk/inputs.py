"""Training channel inputs: ``TrainingInput`` (v2) and its v1 name ``s3_input``.

The attributes mirror the ``DataSource`` / channel fields of CreateTrainingJob, and ``config`` holds them in that
shape, as the real SDK does. A plain string input becomes ``TrainingInput(uri)`` (FullyReplicated, no ContentType),
exactly like SDK v1's ``_format_string_uri_input``; ``file://`` URIs are allowed by the local backend.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FileSystemInput", "TrainingInput", "TransformInput", "s3_input"]

DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")
DATA_TYPES = ("S3Prefix", "ManifestFile", "AugmentedManifestFile")


class TrainingInput:
    """One channel's data: ``s3_data`` (``s3://`` or ``file://`` URI) and how it is delivered."""

    def __init__(
        self,
        s3_data: str,
        distribution: str | None = None,
        compression: str | None = None,
        content_type: str | None = None,
        record_wrapping: str | None = None,
        s3_data_type: str = "S3Prefix",
        input_mode: str | None = None,
        attribute_names: list[str] | None = None,
        target_attribute_name: str | None = None,
        shuffle_config: Any = None,
        **_ignored: Any,
    ) -> None:
        distribution = distribution or "FullyReplicated"
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution {distribution!r} is not one of {', '.join(DISTRIBUTIONS)}")
        if s3_data_type not in DATA_TYPES:
            raise ValueError(f"s3_data_type {s3_data_type!r} is not one of {', '.join(DATA_TYPES)}")
        if not isinstance(s3_data, str) or not s3_data.startswith(("s3://", "file://")):
            raise ValueError(f"s3_data must be an s3:// or file:// URI, got {s3_data!r}")
        self.s3_data = s3_data
        self.distribution = distribution
        self.compression = compression
        self.content_type = content_type
        self.record_wrapping = record_wrapping
        self.s3_data_type = s3_data_type
        self.input_mode = input_mode
        self.attribute_names = attribute_names
        self.target_attribute_name = target_attribute_name
        self.shuffle_config = shuffle_config
        self.config: dict[str, Any] = {
            "DataSource": {
                "S3DataSource": {
                    "S3DataDistributionType": distribution,
                    "S3DataType": s3_data_type,
                    "S3Uri": s3_data,
                }
            }
        }
        if compression is not None:
            self.config["CompressionType"] = compression
        if content_type is not None:
            self.config["ContentType"] = content_type
        if record_wrapping is not None:
            self.config["RecordWrapperType"] = record_wrapping
        if input_mode is not None:
            self.config["InputMode"] = input_mode

    def __repr__(self) -> str:
        return (
            f"TrainingInput({self.s3_data!r}, distribution={self.distribution!r}, content_type={self.content_type!r}, "
            f"s3_data_type={self.s3_data_type!r})"
        )


class s3_input(TrainingInput):  # noqa: N801 - the v1 name, kept as the tutorials spell it
    """SDK v1 name of ``TrainingInput`` (``sagemaker.session.s3_input``); same arguments."""


class TransformInput:
    """What a transform job reads (kept for the v2 import path; ``Transformer.transform`` takes plain arguments)."""

    def __init__(self, data: str, data_type: str = "S3Prefix", content_type: str | None = None,
                 compression_type: str | None = None, split_type: str | None = None) -> None:
        self.data = data
        self.data_type = data_type
        self.content_type = content_type
        self.compression_type = compression_type
        self.split_type = split_type


class FileSystemInput:
    """EFS / FSx inputs exist on SageMaker only; the local backend refuses them with a clear error."""

    def __init__(self, file_system_id: str, file_system_type: str, directory_path: str, **_ignored: Any) -> None:
        self.file_system_id = file_system_id
        self.file_system_type = file_system_type
        self.directory_path = directory_path


def as_training_input(value: Any, channel: str) -> TrainingInput:
    """A channel's value (URI string or ``TrainingInput``) as a ``TrainingInput``; anything else is an error."""
    if isinstance(value, TrainingInput):
        return value
    if isinstance(value, str):
        return TrainingInput(value)
    if isinstance(value, FileSystemInput):
        raise ValueError(f"channel {channel!r}: file-system inputs (EFS/FSx) work on SageMaker only")
    raise ValueError(
        f"channel {channel!r}: expected an s3:// or file:// URI string or a TrainingInput/s3_input, "
        f"got {type(value).__name__}"
    )

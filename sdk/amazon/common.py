"""RecordIO-protobuf helpers under their SDK names (``sagemaker.amazon.common``), from ``container_core.recordio``.

``write_numpy_to_dense_tensor`` and ``write_spmatrix_to_sparse_tensor`` write the same bytes as the AWS SDK
(docs/contract.md §4.3, checked by the golden files in tests/golden); ``read_records`` returns ``aialgs.data.Record``
messages. ``numpy_to_record_serializer`` / ``record_deserializer`` (v1) and ``RecordSerializer`` /
``RecordDeserializer`` (v2) are what the ``NTM`` and ``KNN`` predictors use.
"""

from __future__ import annotations

import io
from typing import IO, Any

import numpy as np

from container_core import recordio
from opensagemaker.predictor import RealTimePredictor
from opensagemaker.serializers import BaseDeserializer, BaseSerializer

__all__ = [
    "RecordDeserializer",
    "RecordSerializer",
    "numpy_to_record_serializer",
    "read_recordio",
    "read_records",
    "record_deserializer",
    "write_numpy_to_dense_tensor",
    "write_spmatrix_to_sparse_tensor",
]

RECORDIO_CONTENT_TYPE = "application/x-recordio-protobuf"


def write_numpy_to_dense_tensor(file: IO[bytes], array: np.ndarray, labels: np.ndarray | None = None) -> None:
    """One Record per row of the 2-D ``array`` (features ``values``), with ``labels[i]`` as label ``values``."""
    recordio.write_dense(file, array, labels)


def write_spmatrix_to_sparse_tensor(file: IO[bytes], array: Any, labels: np.ndarray | None = None) -> None:
    """One sparse Record per row of the scipy sparse ``array`` (keys = column indices, shape = [columns])."""
    recordio.write_sparse(file, array, labels)


def read_records(file: IO[bytes]) -> list[Any]:
    """Every Record of a RecordIO-protobuf stream."""
    return recordio.read_records(file)


def read_recordio(file: IO[bytes]) -> Any:
    """The raw payloads of a RecordIO stream (v1 generator)."""
    for _index, _offset, payload in recordio.iter_payloads(file, "<stream>"):
        yield payload


class RecordSerializer(BaseSerializer):
    """ndarray (1-D = one row) -> RecordIO-protobuf dense records."""

    CONTENT_TYPE = RECORDIO_CONTENT_TYPE

    def serialize(self, data: Any) -> bytes:
        array = np.asarray(data)
        if array.ndim == 1:
            array = array.reshape(1, array.shape[0])
        if array.ndim != 2:
            raise ValueError(f"Expecting a 1 or 2 dimensional array, got shape {array.shape}")
        buffer = io.BytesIO()
        recordio.write_dense(buffer, array)
        return buffer.getvalue()


class RecordDeserializer(BaseDeserializer):
    """RecordIO-protobuf response -> list of Records."""

    ACCEPT = (RECORDIO_CONTENT_TYPE,)

    def deserialize(self, stream: Any, content_type: str | None) -> list[Any]:
        return recordio.read_records(io.BytesIO(stream.read()))


class numpy_to_record_serializer(RecordSerializer):  # noqa: N801 - v1 name
    pass


class record_deserializer(RecordDeserializer):  # noqa: N801 - v1 name
    pass


class RecordPredictor(RealTimePredictor):
    """A first-party predictor (``NTMPredictor``, ``KNNPredictor``): RecordIO-protobuf both ways unless given.

    v1 ``Predictor(endpoint, sagemaker_session)``; v2 adds ``endpoint_name=``, ``serializer=``, ``deserializer=``
    and ``component_name=`` (accepted, unused: a local endpoint has one component).
    """

    def __init__(self, endpoint: str | None = None, sagemaker_session: Any = None, serializer: Any = None,
                 deserializer: Any = None, endpoint_name: str | None = None,
                 component_name: str | None = None) -> None:
        super().__init__(endpoint or endpoint_name, sagemaker_session,
                         serializer=RecordSerializer() if serializer is None else serializer,
                         deserializer=RecordDeserializer() if deserializer is None else deserializer)

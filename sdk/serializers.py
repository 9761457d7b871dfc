"""Request serializers and response deserializers, in both SDK spellings.

v1 (what the tutorials use): module-level objects ``csv_serializer``, ``json_serializer``, ``npy_serializer``,
``csv_deserializer``, ``json_deserializer``, ``numpy_deserializer``; a serializer is called as ``s(data) -> body``
and carries ``content_type``; a deserializer is called as ``d(stream, content_type)`` and carries ``accept``
(docs/contract.md §5.1). v2: classes ``CSVSerializer`` / ``JSONDeserializer`` ... with ``serialize(data)`` /
``deserialize(stream, content_type)`` and ``CONTENT_TYPE`` / ``ACCEPT``. Every class here speaks both, so either kind
of object can be put on a predictor. The CSV rules are v1's: one row -> one line, a 2-D sequence -> rows joined by
``\\n`` with no trailing newline, numbers written by ``csv.writer``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "BytesDeserializer",
    "CSVDeserializer",
    "CSVSerializer",
    "IdentitySerializer",
    "JSONDeserializer",
    "JSONSerializer",
    "NumpyDeserializer",
    "NumpySerializer",
    "StringDeserializer",
    "csv_deserializer",
    "csv_serializer",
    "json_deserializer",
    "json_serializer",
    "npy_serializer",
    "numpy_deserializer",
]


class BaseSerializer:
    """``content_type`` (v1) / ``CONTENT_TYPE`` (v2) and ``__call__`` (v1) / ``serialize`` (v2)."""

    CONTENT_TYPE = "application/octet-stream"

    def __init__(self, content_type: str | None = None) -> None:
        self.content_type = content_type or self.CONTENT_TYPE

    def serialize(self, data: Any) -> Any:
        raise NotImplementedError

    def __call__(self, data: Any) -> Any:
        return self.serialize(data)


class BaseDeserializer:
    """``accept`` (v1) / ``ACCEPT`` (v2) and ``__call__(stream, content_type)`` / ``deserialize``; closes the stream."""

    ACCEPT: tuple[str, ...] = ("*/*",)

    def __init__(self, accept: str | None = None) -> None:
        self.accept = accept or self.ACCEPT[0]

    def deserialize(self, stream: Any, content_type: str | None) -> Any:
        raise NotImplementedError

    def __call__(self, stream: Any, content_type: str | None = None) -> Any:
        try:
            return self.deserialize(stream, content_type)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()


def _is_sequence_like(obj: Any) -> bool:
    return hasattr(obj, "__iter__") and hasattr(obj, "__getitem__")


def _is_mutable_sequence_like(obj: Any) -> bool:
    return _is_sequence_like(obj) and hasattr(obj, "__setitem__")


def _to_list(data: Any) -> Any:
    return data.tolist() if isinstance(data, np.ndarray) else data


class CSVSerializer(BaseSerializer):
    """Rows as CSV text (v1 ``csv_serializer``); strings pass through unchanged, file objects are read."""

    CONTENT_TYPE = "text/csv"

    def serialize(self, data: Any) -> str:
        if _is_mutable_sequence_like(data) and len(data) > 0 and _is_sequence_like(data[0]):
            return "\n".join(self._row(row) for row in data)
        return self._row(data)

    @staticmethod
    def _row(data: Any) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, np.ndarray):
            data = np.ndarray.flatten(data)
        if hasattr(data, "__len__"):
            if len(data) == 0:
                raise ValueError("Cannot serialize empty array")
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=",").writerow(data)
            return buffer.getvalue().rstrip("\r\n")
        if hasattr(data, "read"):
            text = data.read()
            return text.decode("utf-8") if isinstance(text, bytes) else text
        raise ValueError(f"Unable to handle input format: {type(data)}")


class JSONSerializer(BaseSerializer):
    """JSON text (v1 ``json_serializer``): ndarrays become lists, a dict's ndarray values too."""

    CONTENT_TYPE = "application/json"

    def serialize(self, data: Any) -> str:
        if isinstance(data, dict):
            return json.dumps({key: _to_list(value) for key, value in data.items()})
        if hasattr(data, "read"):
            text = data.read()
            return text.decode("utf-8") if isinstance(text, bytes) else text
        return json.dumps(_to_list(data))


class NumpySerializer(BaseSerializer):
    """``.npy`` bytes (v1 ``npy_serializer``)."""

    CONTENT_TYPE = "application/x-npy"

    def __init__(self, content_type: str | None = None, dtype: Any = None) -> None:
        super().__init__(content_type)
        self.dtype = dtype

    def serialize(self, data: Any) -> bytes:
        if hasattr(data, "read"):
            return data.read()
        array = np.asarray(data, dtype=self.dtype)
        if array.size == 0:
            raise ValueError("Cannot serialize empty array")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()


class IdentitySerializer(BaseSerializer):
    """Sends the data as given (bytes or str); the v2 default."""

    def serialize(self, data: Any) -> Any:
        return data


class JSONDeserializer(BaseDeserializer):
    """Parsed JSON (v1 ``json_deserializer``)."""

    ACCEPT = ("application/json",)

    def deserialize(self, stream: Any, content_type: str | None) -> Any:
        return json.load(codecs.getreader("utf-8")(stream))


class CSVDeserializer(BaseDeserializer):
    """A list of rows, each a list of strings (v1 ``csv_deserializer``)."""

    ACCEPT = ("text/csv",)

    def __init__(self, accept: str | None = None, encoding: str = "utf-8") -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream: Any, content_type: str | None) -> list[list[str]]:
        return list(csv.reader(stream.read().decode(self.encoding).splitlines()))


class StringDeserializer(BaseDeserializer):
    ACCEPT = ("application/json",)

    def deserialize(self, stream: Any, content_type: str | None) -> str:
        return stream.read().decode("utf-8")


class BytesDeserializer(BaseDeserializer):
    """The raw response bytes; the v2 default."""

    def deserialize(self, stream: Any, content_type: str | None) -> bytes:
        return stream.read()


class NumpyDeserializer(BaseDeserializer):
    """An ndarray from CSV, JSON or ``.npy`` (never unpickled), chosen by the response content type."""

    ACCEPT = ("application/x-npy",)

    def __init__(self, accept: str | None = None, dtype: Any = None) -> None:
        super().__init__(accept)
        self.dtype = dtype

    def deserialize(self, stream: Any, content_type: str | None) -> np.ndarray:
        base = (content_type or "").split(";")[0].strip().lower()
        body = stream.read()
        if base == "text/csv":
            return np.genfromtxt(io.StringIO(body.decode("utf-8")), delimiter=",", dtype=self.dtype)
        if base == "application/json":
            return np.array(json.loads(body), dtype=self.dtype)
        if base == "application/x-npy":
            return np.load(io.BytesIO(body), allow_pickle=False)
        raise ValueError(f"cannot turn a {content_type!r} response into an ndarray; use text/csv, JSON or npy")


def content_type_of(serializer: Any) -> str | None:
    """The content type a v1 or v2 serializer declares (None when it declares none)."""
    if serializer is None:
        return None
    return getattr(serializer, "content_type", None) or getattr(serializer, "CONTENT_TYPE", None)


def accept_of(deserializer: Any) -> str | None:
    """The Accept value a v1 or v2 deserializer declares (None when it declares none)."""
    if deserializer is None:
        return None
    accept = getattr(deserializer, "accept", None)
    if accept is None:
        declared = getattr(deserializer, "ACCEPT", None)
        if isinstance(declared, Sequence) and not isinstance(declared, str):
            accept = ", ".join(declared) if declared else None
        else:
            accept = declared
    return accept


csv_serializer = CSVSerializer()
json_serializer = JSONSerializer()
npy_serializer = NumpySerializer()
csv_deserializer = CSVDeserializer()
json_deserializer = JSONDeserializer()
numpy_deserializer = NumpyDeserializer()

_V1_OBJECTS = (csv_serializer, json_serializer, npy_serializer, csv_deserializer, json_deserializer, numpy_deserializer)


def sets_headers_when_assigned(obj: Any) -> bool:
    """Whether putting ``obj`` on a predictor later changes its headers: true for v2 objects (``CSVSerializer()``,
    ``JSONDeserializer()``, any object with ``serialize`` / ``deserialize``), false for v1's module objects
    (``csv_serializer``, ``json_deserializer``, ...) and plain callables, whose headers v1 fixes in ``__init__``."""
    if obj is None or any(obj is v1 for v1 in _V1_OBJECTS):
        return False
    return callable(getattr(obj, "serialize", None)) or callable(getattr(obj, "deserialize", None))

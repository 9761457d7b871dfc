"""Real-time predictors: ``RealTimePredictor`` (v1) and ``Predictor`` (its v2 name), plus v1's serializer objects.

Headers, in both generations' terms (docs/contract.md §5.3):

* a value given as ``content_type`` / ``accept`` (at ``__init__`` or assigned later, v1 and v2.154+) is sent as is;
* else, a v2 serializer / deserializer object (``CSVSerializer()``, ``JSONDeserializer()``, ...) sets them from its
  ``CONTENT_TYPE`` / ``ACCEPT`` whenever it is the predictor's, also when assigned after ``deploy`` (v2: the
  notebooks' ``predictor.serializer = CSVSerializer()``);
* else v1's rule: computed once in ``__init__`` from the serializer / deserializer given there. v1's module objects
  (``csv_serializer``, ``json_deserializer``, ...) assigned later do not change them, so the tutorial's
  ``predictor.content_type = 'text/csv'`` + ``deserializer = json_deserializer`` sends ``Content-Type: text/csv``
  and no ``Accept`` header.

``predict`` sends each header only when it has a value (``initial_args`` ``ContentType`` / ``Accept`` /
``CustomAttributes`` override per call). ``Predictor`` (v2's name) defaults to v2's ``IdentitySerializer`` and
``BytesDeserializer``, so it always sends both headers, as v2 does. An error answer from the model raises
``opensagemaker.exceptions.ModelError`` with its status code and body.

Serializers may be v1 callables (``s(data)``) or v2 objects (``s.serialize(data)``); deserializers likewise
(``d(stream, content_type)`` or ``d.deserialize(stream, content_type)``). Without a deserializer, ``predict`` returns
the response bytes.
"""

from __future__ import annotations

import io
from typing import Any

from opensagemaker.serializers import (
    BytesDeserializer,
    IdentitySerializer,
    accept_of,
    content_type_of,
    csv_deserializer,
    csv_serializer,
    json_deserializer,
    json_serializer,
    npy_serializer,
    numpy_deserializer,
    sets_headers_when_assigned,
)

__all__ = [
    "Predictor",
    "RealTimePredictor",
    "csv_deserializer",
    "csv_serializer",
    "json_deserializer",
    "json_serializer",
    "npy_serializer",
    "numpy_deserializer",
]


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return _as_bytes(body.read())
    raise TypeError(
        f"cannot send a {type(body).__name__} to an endpoint: set predictor.serializer (e.g. csv_serializer) "
        "or pass bytes / str"
    )


class RealTimePredictor:
    """Sends requests to a named endpoint and turns the answers into Python objects."""

    def __init__(
        self,
        endpoint: str | None = None,
        sagemaker_session: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        endpoint_name: str | None = None,
    ) -> None:
        name = endpoint or endpoint_name
        if not name:
            raise ValueError("a predictor needs the endpoint name")
        if sagemaker_session is None:
            from opensagemaker.session import Session

            sagemaker_session = Session()
        self.endpoint = name
        self.sagemaker_session = sagemaker_session
        self.serializer = serializer
        self.deserializer = deserializer
        self._content_type = content_type
        self._accept = accept
        self._init_content_type = content_type_of(serializer)  # v1: computed once, here
        self._init_accept = accept_of(deserializer)
        self._model_names: list[str] = []

    @property
    def endpoint_name(self) -> str:
        return self.endpoint

    @property
    def content_type(self) -> str | None:
        """The Content-Type ``predict`` sends (None: no header); see the module docstring for where it comes from."""
        if self._content_type is not None:
            return self._content_type
        if sets_headers_when_assigned(self.serializer):
            return content_type_of(self.serializer)
        return self._init_content_type

    @content_type.setter
    def content_type(self, value: str | None) -> None:
        self._content_type = value

    @property
    def accept(self) -> str | None:
        """The Accept ``predict`` sends (None: no header); a v2 deserializer's ``ACCEPT`` tuple is joined by ``, ``."""
        if self._accept is not None:
            return self._accept
        if sets_headers_when_assigned(self.deserializer):
            return accept_of(self.deserializer)
        return self._init_accept

    @accept.setter
    def accept(self, value: str | None) -> None:
        self._accept = value

    def _serialize(self, data: Any) -> bytes:
        serializer = self.serializer
        if serializer is None:
            return _as_bytes(data)
        method = getattr(serializer, "serialize", None)
        return _as_bytes(method(data) if callable(method) else serializer(data))

    def predict(self, data: Any, initial_args: dict[str, Any] | None = None, target_model: str | None = None,
                target_variant: str | None = None) -> Any:
        """Serialize ``data``, invoke the endpoint, deserialize the answer (or return its bytes)."""
        args = initial_args or {}
        result = self.sagemaker_session.backend.invoke_endpoint(
            self.endpoint,
            self._serialize(data),
            content_type=args.get("ContentType", self.content_type),
            accept=args.get("Accept", self.accept),
            custom_attributes=args.get("CustomAttributes"),
        )
        deserializer = self.deserializer
        if deserializer is None:
            return result.body
        stream = io.BytesIO(result.body)
        method = getattr(deserializer, "deserialize", None)
        if callable(method):
            return method(stream, result.content_type)
        return deserializer(stream, result.content_type)

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        self.sagemaker_session.delete_endpoint(self.endpoint)

    def delete_model(self) -> None:
        for name in self._model_names:
            self.sagemaker_session.delete_model(name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, content_type={self.content_type!r}, accept={self.accept!r})"


class Predictor(RealTimePredictor):
    """v2 name: ``Predictor(endpoint_name, sagemaker_session=None, serializer=IdentitySerializer(),
    deserializer=BytesDeserializer())``; ``delete_predictor`` is v2's ``delete_endpoint``."""

    def __init__(self, endpoint_name: str | None = None, sagemaker_session: Any = None, serializer: Any = None,
                 deserializer: Any = None, content_type: str | None = None, accept: str | None = None,
                 endpoint: str | None = None, **_ignored: Any) -> None:
        super().__init__(endpoint_name or endpoint, sagemaker_session,
                         IdentitySerializer() if serializer is None else serializer,
                         BytesDeserializer() if deserializer is None else deserializer, content_type, accept)

    def delete_predictor(self, wait: bool = False) -> None:
        self.delete_endpoint()

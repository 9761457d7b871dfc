"""botocore's wire protocols, read and written with botocore's own service models (they ship inside botocore).

The service answers five AWS services on one loopback port. A request is routed by what botocore sends:

- ``X-Amz-Target: SageMaker.<Operation>`` / ``Logs_20140328.<Operation>``: JSON 1.1 (``sagemaker``, ``logs``);
- ``POST /endpoints/<name>/invocations``: rest-json (``sagemaker-runtime`` ``InvokeEndpoint``);
- a form body with ``Action=...``: the query protocol (``sts``, ``iam``; the SigV4 credential scope names which).

Every request is checked against the operation's input shape (``check``): unknown members, missing required
members, wrong types, enum values and length / range limits are refused with a ``ValidationException`` whose
message names the member by its path (``ResourceConfig.InstanceCount``). Every response is checked the same way
against the output shape before it is sent, so a record that drifted from AWS's names or types is a bug the tests
see (an ``InternalFailure``), never a silently different answer. Errors are written as botocore parses them:
``{"__type": code, "message": ...}`` for JSON, ``X-Amzn-ErrorType`` for rest-json, ``<ErrorResponse>`` for query.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
import uuid
from typing import Any
from xml.sax.saxutils import escape

# SDK v1 / v2 local mode's instance types: accepted wherever SageMaker takes an instance type
LOCAL_TYPES = ("local", "local_gpu")

__all__ = ["APIError", "check", "json_error", "model", "query_error", "query_response", "to_json"]


class APIError(Exception):
    """An AWS error: ``code`` (botocore's ``Error.Code``), HTTP ``status``, and modeled ``fields`` (e.g. the
    ``OriginalStatusCode`` of a ``ModelError``)."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


def validation(message: str) -> APIError:
    return APIError("ValidationException", message)


@functools.cache
def model(service: str) -> Any:
    """botocore's ``ServiceModel`` for ``service`` (``sagemaker``, ``sagemaker-runtime``, ``logs``, ``sts``, ``iam``)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def _type_error(path: str, value: Any, expected: str) -> str:
    return f"Invalid type for parameter {path}, value: {value!r:.80}, type: {type(value).__name__}, valid types: {expected}"


def check(shape: Any, value: Any, path: str, errors: list[str], *, wire: bool = True) -> Any:
    """``value`` checked against botocore ``shape``; returns it converted (JSON wire timestamps stay epoch seconds,
    blobs become bytes). Problems are appended to ``errors``, each naming ``path``. ``wire=False`` checks a
    response the service built (blobs are bytes there)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(_type_error(path, value, "dict"))
            return value
        members = shape.members
        result = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key not in members:
                errors.append(f"Unknown parameter in {path or 'input'}: \"{key}\", must be one of: {', '.join(members)}")
                continue
            if item is None:
                continue
            result[key] = check(members[key], item, where, errors, wire=wire)
        for key in shape.required_members:
            if key not in result:
                errors.append(f"Missing required parameter in {path or 'input'}: \"{key}\"")
        return result
    if kind == "list":
        if not isinstance(value, list):
            errors.append(_type_error(path, value, "list"))
            return value
        _length(shape, len(value), path, errors)
        return [check(shape.member, item, f"{path}[{i}]", errors, wire=wire) for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            errors.append(_type_error(path, value, "dict"))
            return value
        _length(shape, len(value), path, errors)
        return {check(shape.key, k, f"{path} key", errors, wire=wire): check(shape.value, v, f"{path}.{k}", errors, wire=wire)
                for k, v in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            errors.append(_type_error(path, value, "str"))
            return value
        if shape.enum and value not in shape.enum and not (path.endswith("InstanceType") and value in LOCAL_TYPES):
            errors.append(f"Value {value!r:.80} at '{path}' failed to satisfy constraint: Member must satisfy enum value "
                          f"set: [{', '.join(shape.enum[:40])}{', ...' if len(shape.enum) > 40 else ''}]")
        _length(shape, len(value), path, errors)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(_type_error(path, value, "int"))
            return value
        _range(shape, value, path, errors)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors.append(_type_error(path, value, "float"))
            return value
        _range(shape, value, path, errors)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            errors.append(_type_error(path, value, "bool"))
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            errors.append(_type_error(path, value, "timestamp (epoch seconds)"))
            return value
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                errors.append(f"Invalid timestamp for parameter {path}: {value!r:.80}")
                return value
        return float(value)
    if kind == "blob":
        if wire:
            if not isinstance(value, str):
                errors.append(_type_error(path, value, "base64 string"))
                return value
            try:
                return base64.b64decode(value, validate=True)
            except ValueError:
                errors.append(f"Invalid base64 for parameter {path}")
                return value
        if not isinstance(value, bytes):
            errors.append(_type_error(path, value, "bytes"))
        return value
    return value


def _length(shape: Any, length: int, path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        errors.append(f"Invalid length for parameter {path}, value: {length}, valid min length: {low}")
    if high is not None and length > high:
        errors.append(f"Invalid length for parameter {path}, value: {length}, valid max length: {high}")


def _range(shape: Any, value: float, path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        errors.append(f"Invalid value for parameter {path}, value: {value}, valid min value: {low}")
    if high is not None and value > high:
        errors.append(f"Invalid value for parameter {path}, value: {value}, valid max value: {high}")


def validate_input(operation: Any, params: Any) -> dict[str, Any]:
    """The request's members, checked (a ``ValidationException`` listing every problem)."""
    if operation.input_shape is None:
        return {}
    errors: list[str] = []
    checked = check(operation.input_shape, params, "", errors)
    if errors:
        count = len(errors)
        raise validation(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors[:10]))
    return checked


def validate_output(operation: Any, result: dict[str, Any]) -> None:
    """A response that does not fit the operation's output shape is the service's bug: ``InternalFailure``."""
    if operation.output_shape is None:
        return
    errors: list[str] = []
    check(operation.output_shape, result, "", errors, wire=False)
    if errors:
        raise APIError("InternalFailure", f"the local service built an invalid {operation.name} response: "
                       + "; ".join(errors[:5]), status=500)


def to_json(result: Any) -> Any:
    """A checked response as JSON 1.1 writes it (timestamps are already epoch seconds; bytes become base64)."""
    if isinstance(result, dict):
        return {k: to_json(v) for k, v in result.items()}
    if isinstance(result, list):
        return [to_json(v) for v in result]
    if isinstance(result, bytes):
        return base64.b64encode(result).decode()
    return result


def json_error(error: APIError) -> bytes:
    body = {"__type": error.code, "message": error.message, **error.fields}
    return json.dumps(body).encode()


# -- the query protocol (STS, IAM): form in, XML out --------------------------------------------------------------

def _xml(shape: Any, value: Any) -> str:
    kind = shape.type_name
    if kind == "structure":
        return "".join(f"<{k}>{_xml(shape.members[k], v)}</{k}>" for k, v in value.items() if v is not None)
    if kind == "list":
        return "".join(f"<member>{_xml(shape.member, v)}</member>" for v in value)
    if kind == "timestamp":
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def query_response(operation: Any, result: dict[str, Any], namespace: str) -> bytes:
    name = operation.name
    wrapper = operation.output_shape.serialization.get("resultWrapper", f"{name}Result")
    inner = _xml(operation.output_shape, result)
    return (f'<{name}Response xmlns="{namespace}"><{wrapper}>{inner}</{wrapper}>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{name}Response>").encode()


def query_error(error: APIError) -> bytes:
    kind = "Sender" if error.status < 500 else "Receiver"
    return (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(error.code)}</Code>"
            f"<Message>{escape(error.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
            "</ErrorResponse>").encode()

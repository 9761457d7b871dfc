"""Text formats in and out: CSV (training files and request bodies), JSON and JSON lines instances, and the
JSON / JSON lines response encoders. RecordIO-protobuf lives in ``recordio``; ``decode`` picks by media type.

CSV: one row per line, no header, the first ``label_size`` columns are labels (docs/contract.md §2.2, A3); a ``charset``
parameter names the encoding (default UTF-8). JSON: ``{"instances": [...]}`` with dense ``{"features": [...]}`` or
``{"data": {"features": {"values", "keys", "shape"}}}`` instances, or a bare array of numbers / rows (§1.8, A3).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from container_core import recordio
from container_core.batch import Batch, BatchBuilder
from container_core.errors import UnsupportedContentType, UserError
from container_core.mime import CSV, JSON, JSONLINES, RECORDIO, MediaType

# --- CSV -------------------------------------------------------------------------------------------------------------


def _decode_text(data: bytes, charset: str | None, source: str) -> str:
    encoding = (charset or "utf-8").strip().lower()
    try:
        return data.decode(encoding)
    except LookupError:
        raise UserError(f"{source}: unknown charset {charset!r}") from None
    except UnicodeError as error:  # some codecs (punycode, idna) raise the base class, with no position
        at = f" at byte {error.start}" if isinstance(error, UnicodeDecodeError) else ""
        raise UserError(
            f"{source}: not valid {encoding} text{at}; "
            "send numbers as UTF-8 or name the encoding, e.g. text/csv; charset=latin-1"
        ) from None


def parse_csv(text: str, label_size: int, feature_dim: int | None, source: str, first_line: int = 1) -> Batch:
    """Parse CSV text of numbers into a dense batch (labels = first label column when ``label_size`` > 0)."""
    text = text.replace("\r\n", "\n").strip("\n")
    if not text.strip():
        return Batch(np.zeros((0, feature_dim or 0), np.float32), None)
    newline = text.find("\n")
    columns = (text if newline < 0 else text[:newline]).count(",") + 1
    rows = text.count("\n") + 1
    matrix = _parse_csv_fast(text, rows, columns)
    checked = matrix is not None and bool(np.isfinite(matrix).all())
    if not checked:
        # The slow path names the first bad line and column; it also parses what the fast paths refused.
        matrix = _parse_csv_slow(text, source, first_line)
    return _split_labels(matrix, checked, label_size, feature_dim, source, first_line)


def parse_csv_bytes(data: bytes, label_size: int, feature_dim: int | None, source: str, first_line: int = 1,
                    charset: str | None = None) -> Batch:
    """``parse_csv(data.decode(charset), ...)``, with pandas' C parser reading the bytes themselves.

    For large UTF-8 (or ASCII) bodies this skips decoding, the newline rewrite and pandas' own re-encoding of a
    ``str``: a third of the time of a training file. Anything the direct parse does not turn into a clean
    rectangle of finite numbers goes through ``parse_csv``, which gives the same batch or names the bad line.
    """
    encoding = (charset or "utf-8").strip().lower()
    if len(data) >= _PANDAS_MIN_BYTES and encoding in _ASCII_SUPERSETS and _pandas() is not None:
        body = data.strip(b"\r\n")
        newline = body.find(b"\n")
        columns = (body if newline < 0 else body[:newline]).count(b",") + 1
        matrix = _read_with_pandas(io.BytesIO(body), body.count(b"\n") + 1, columns)
        if matrix is not None and np.isfinite(matrix).all():
            return _split_labels(matrix, True, label_size, feature_dim, source, first_line)
    return parse_csv(_decode_text(data, charset, source), label_size, feature_dim, source, first_line)


_ASCII_SUPERSETS = frozenset({"utf-8", "utf8", "ascii", "us-ascii"})


def _split_labels(matrix: np.ndarray, checked: bool, label_size: int, feature_dim: int | None, source: str,
                  first_line: int) -> Batch:
    """(rows, columns) numbers -> features and labels, with the width and (unless ``checked``) finiteness checks."""
    if label_size < 0 or matrix.shape[1] <= label_size:
        raise UserError(
            f"{source}: rows have {matrix.shape[1]} columns but label_size={label_size} leaves no features"
        )
    features = matrix[:, label_size:]
    if feature_dim is not None and features.shape[1] != feature_dim:
        raise UserError(
            f"{source}: rows have {features.shape[1]} features (after {label_size} label columns), "
            f"expected {feature_dim} (feature_dim)"
        )
    if not checked and not np.isfinite(features).all():
        bad = int(np.argwhere(~np.isfinite(features))[0][0])
        raise UserError(f"{source}: line {first_line + bad} contains NaN or infinite values")
    labels = matrix[:, 0].copy() if label_size > 0 else None
    if labels is not None and not checked and not np.isfinite(labels).all():
        bad = int(np.argwhere(~np.isfinite(labels))[0][0])
        raise UserError(f"{source}: line {first_line + bad} has a NaN or infinite label")
    return Batch(np.ascontiguousarray(features), labels)


_PANDAS_MIN_BYTES = 1 << 16


def _pandas() -> Any:
    """pandas, or None where it is not installed (the NTM image: its CSV bodies go through numpy's parser)."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _parse_csv_fast(text: str, rows: int, columns: int) -> np.ndarray | None:
    """Small bodies: numpy's separator parser (no import cost). Large ones: pandas' C parser (6x numpy.loadtxt).

    Returns None when the text is not a clean rectangle of numbers.
    """
    if len(text) >= _PANDAS_MIN_BYTES and _pandas() is not None:
        return _read_with_pandas(io.StringIO(text), rows, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            flat = np.fromstring(text.replace("\n", ","), dtype=np.float32, sep=",")
        except (DeprecationWarning, ValueError):
            return None
    return flat.reshape(rows, columns) if flat.size == rows * columns else None


def _read_with_pandas(stream: io.StringIO | io.BytesIO, rows: int, columns: int) -> np.ndarray | None:
    """pandas' C parser; None unless the result is a (rows, columns) rectangle of numbers."""
    pd = _pandas()

    try:
        with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, which the callers report by line
            frame = pd.read_csv(stream, header=None, dtype=np.float32, engine="c", na_filter=False)
    except (ValueError, pd.errors.ParserError):  # UnicodeDecodeError is a ValueError
        return None
    matrix = frame.to_numpy(dtype=np.float32)
    return matrix if matrix.shape == (rows, columns) else None


def _parse_csv_slow(text: str, source: str, first_line: int) -> np.ndarray:
    rows: list[list[float]] = []
    width = None
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        cells = line.split(",")
        if width is None:
            width = len(cells)
        elif len(cells) != width:
            raise UserError(f"{source}: line {number} has {len(cells)} columns, expected {width}")
        row = []
        for column, cell in enumerate(cells, start=1):
            try:
                row.append(float(cell))
            except ValueError:
                raise UserError(f"{source}: line {number}, column {column}: {cell.strip()[:40]!r} is not a number") from None
        rows.append(row)
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which the caller reports by line
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), width or 0)


def read_csv_batches(
    files: Iterable[Path], batch_size: int, feature_dim: int | None, label_size: int, charset: str | None = None,
    block_bytes: int = 32 << 20,
) -> Iterator[Batch]:
    """Stream CSV files as dense batches of at most ``batch_size`` rows, reading ``block_bytes`` at a time."""
    for path in files:
        line_number = 1
        carry = b""
        with open(path, "rb") as stream:
            while True:
                block = stream.read(block_bytes)
                data = carry + block
                if not block:
                    carry = b""
                else:
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        carry = data
                        continue
                    data, carry = data[: cut + 1], data[cut + 1 :]
                if data.strip():
                    batch = parse_csv_bytes(data, label_size, feature_dim, str(path), line_number, charset)
                    feature_dim = batch.width
                    for start in range(0, batch.rows, batch_size):
                        labels = None if batch.labels is None else batch.labels[start : start + batch_size]
                        yield Batch(batch.features[start : start + batch_size], labels)
                line_number += data.count(b"\n")
                if not block:
                    break


# --- JSON and JSON lines ---------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _array(values: list, dtype: type, builder: BatchBuilder, where: str, what: str) -> np.ndarray:
    """JSON numbers -> an array; an integer too large for ``dtype`` (JSON has no limit) is the caller's error."""
    try:
        with np.errstate(over="ignore"):  # floats beyond float32 become inf, reported by the finiteness check
            return np.asarray(values, dtype=dtype)
    except OverflowError:
        raise UserError(f"{builder.source}: {where}: {what} holds a number out of range") from None


def _add_instance(builder: BatchBuilder, instance: Any, where: str) -> None:
    if isinstance(instance, list):
        if not all(_is_number(v) for v in instance):
            raise UserError(f"{builder.source}: {where}: a dense row must be a list of numbers")
        builder.add_dense(_array(instance, np.float32, builder, where, "the row"), None, where)
        return
    if not isinstance(instance, dict):
        raise UserError(f"{builder.source}: {where}: an instance must be an object or a list of numbers")
    features = instance.get("features")
    if features is None and isinstance(instance.get("data"), dict):
        features = instance["data"].get("features")
    if isinstance(features, list):
        _add_instance(builder, features, where)
        return
    if not isinstance(features, dict) or "values" not in features:
        raise UserError(
            f"{builder.source}: {where}: expected {{\"features\": [...]}} or "
            "{\"data\": {\"features\": {\"values\": [...]}}}"
        )
    values = features["values"]
    keys = features.get("keys")
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise UserError(f"{builder.source}: {where}: features.values must be a list of numbers")
    if keys is None:
        builder.add_dense(_array(values, np.float32, builder, where, "features.values"), None, where)
        return
    if not isinstance(keys, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
        raise UserError(f"{builder.source}: {where}: features.keys must be a list of integers")
    shape = features.get("shape")
    width = None
    if shape is not None:
        if not isinstance(shape, list) or len(shape) != 1 or not isinstance(shape[0], int) or shape[0] < 0:
            raise UserError(f"{builder.source}: {where}: features.shape must be [width]")
        width = shape[0]
    builder.add_sparse(_array(keys, np.int64, builder, where, "features.keys"),
                       _array(values, np.float32, builder, where, "features.values"), width, None, where)


def _loads(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise UserError(f"{source}: not valid JSON: {error}") from None


def decode_json(body: bytes, media: MediaType, feature_dim: int | None, source: str = "request body") -> Batch:
    data = _loads(_decode_text(body, media.param("charset"), source), source)
    builder = BatchBuilder(feature_dim, source)
    if isinstance(data, dict):
        instances = data.get("instances")
        if instances is None and ("features" in data or "data" in data):
            instances = [data]
        if not isinstance(instances, list):
            raise UserError(f"{source}: expected {{\"instances\": [...]}} or an array of rows")
    elif isinstance(data, list):
        instances = [data] if data and all(_is_number(v) for v in data) else data
    else:
        raise UserError(f"{source}: expected {{\"instances\": [...]}} or an array of rows")
    for index, instance in enumerate(instances):
        _add_instance(builder, instance, f"instance {index}")
    return builder.build()


def decode_jsonlines(body: bytes, media: MediaType, feature_dim: int | None, source: str = "request body") -> Batch:
    text = _decode_text(body, media.param("charset"), source)
    builder = BatchBuilder(feature_dim, source)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            _add_instance(builder, _loads(line, f"{source} line {number}"), f"line {number}")
    return builder.build()


def decode_csv(body: bytes, media: MediaType, feature_dim: int | None, source: str = "request body") -> Batch:
    raw = media.param("label_size", "0")
    try:
        label_size = int(raw)
    except ValueError:
        raise UserError(f"Content type {str(media)!r}: label_size={raw!r} is not an integer") from None
    return parse_csv_bytes(body, label_size, feature_dim, source, charset=media.param("charset"))


def decode_recordio(body: bytes, media: MediaType, feature_dim: int | None, source: str = "request body") -> Batch:
    return recordio.decode_body(body, feature_dim, source)


DECODERS = {CSV: decode_csv, JSON: decode_json, JSONLINES: decode_jsonlines, RECORDIO: decode_recordio}


def decode(body: bytes, media: MediaType, feature_dim: int | None, source: str = "request body") -> Batch:
    """Decode a request body of any supported type into a batch (labels ignored)."""
    decoder = DECODERS.get(media.base)
    if decoder is None:
        raise UnsupportedContentType(
            f"Content-Type {media.base!r} is not supported; send one of: {', '.join(DECODERS)}"
        )
    return decoder(body, media, feature_dim, source)


# --- responses -------------------------------------------------------------------------------------------------------


def encode_json(predictions: list[dict[str, Any]]) -> bytes:
    return json.dumps({"predictions": predictions}, separators=(", ", ": ")).encode()


def encode_jsonlines(predictions: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(p, separators=(", ", ": ")) + "\n" for p in predictions).encode()

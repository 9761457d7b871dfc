"""Property-based fuzzing of every request decoder: any input decodes to rows of the right width or raises
``UserError`` (a 4xx); any other exception would be a 500 from the server.

Extends ``tests/unit/test_codecs.py`` (random bytes per content type) with inputs that get past the first checks:
RecordIO framing around structured-but-wrong protobuf Records (wrong tensor kinds, keys beyond the width, huge
shapes, mismatched keys and values, several feature tensors, split-record flags), JSON instance shapes of every kind
(dense, sparse, nested, numbers beyond float32 and int64), JSON lines, and CSV with hostile media-type parameters.
Runs with ``filterwarnings = error``, so a numpy overflow warning counts as a failure too.
"""

from __future__ import annotations

import json
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container_core import codecs, recordio
from container_core.errors import UserError
from container_core.mime import parse_media_type

WIDTH = 6
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_user_error(body: bytes, content_type: str) -> None:
    try:
        batch = codecs.decode(body, parse_media_type(content_type), WIDTH)
    except UserError as error:
        assert str(error).strip()  # a message a person can read
        return
    assert batch.rows == 0 or batch.width == WIDTH
    if batch.rows:
        assert np.isfinite(batch.dense()).all()


# --- RecordIO: real Records with wrong contents -----------------------------------------------------------------------

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**31), 2**31 - 1))
huge = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, WIDTH - 1, WIDTH, WIDTH + 1, 2**31, 2**63, 2**64 - 1]))


@st.composite
def tensors(draw: st.DrawFn) -> tuple[str, dict]:
    kind = draw(st.sampled_from(["float32_tensor", "float64_tensor", "int32_tensor", "bytes", None]))
    if kind is None:
        return "none", {}
    if kind == "bytes":
        return kind, {"value": draw(st.lists(st.binary(max_size=8), max_size=3))}
    count = draw(st.integers(0, 12))
    if kind == "int32_tensor":
        values = draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=count, max_size=count))
    elif kind == "float32_tensor":
        values = draw(st.lists(st.floats(width=32), min_size=count, max_size=count))
    else:
        values = draw(st.lists(st.floats(), min_size=count, max_size=count))
    fields = {"values": values}
    if draw(st.booleans()):
        fields["keys"] = draw(st.lists(huge, min_size=0, max_size=count + 2))
    if draw(st.booleans()):
        fields["shape"] = draw(st.lists(huge, min_size=0, max_size=3))
    return kind, fields


def _record(features: list[tuple[str, str, dict]], labels: list[tuple[str, str, dict]]) -> bytes:
    record = recordio.record_class()()
    for target, entries in ((record.features, features), (record.label, labels)):
        for name, kind, fields in entries:
            value = target[name]
            if kind == "none":
                continue
            message = getattr(value, kind)
            for field, items in fields.items():
                getattr(message, field).extend(items)
    return record.SerializeToString()


@st.composite
def records(draw: st.DrawFn) -> bytes:
    names = st.sampled_from(["values", "values", "other", ""])
    features = draw(st.lists(st.tuples(names, tensors()).map(lambda pair: (pair[0], *pair[1])), max_size=2))
    labels = draw(st.lists(tensors().map(lambda t: ("values", *t)), max_size=1))
    return _record(features, labels)


@st.composite
def recordio_bodies(draw: st.DrawFn) -> bytes:
    payloads = draw(st.lists(records(), min_size=1, max_size=4))
    if len(payloads) == 1 and draw(st.booleans()):
        return payloads[0]  # one bare, unframed Record (the SDK's local mode sends that)
    body = b""
    for payload in payloads:
        flag = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 7]))
        length = len(payload) if draw(st.integers(0, 9)) else draw(st.integers(0, 2**29 - 1))
        body += struct.pack("<II", recordio.MAGIC, (flag << 29) | length) + payload + b"\x00" * (-len(payload) % 4)
    cut = draw(st.integers(0, 3))
    return body[: len(body) - cut] if cut else body


@FUZZ
@given(body=recordio_bodies())
def test_recordio_structured_but_wrong_records(body: bytes) -> None:
    _decode_or_user_error(body, "application/x-recordio-protobuf")


@FUZZ
@given(rows=st.lists(st.lists(st.floats(-1e6, 1e6, width=32), min_size=WIDTH, max_size=WIDTH), min_size=1,
                     max_size=5), sparse=st.booleans())
def test_recordio_valid_bodies_decode_exactly(rows: list[list[float]], sparse: bool) -> None:
    import io

    import scipy.sparse as sp

    matrix = np.asarray(rows, np.float32)
    buffer = io.BytesIO()
    if sparse:
        recordio.write_sparse(buffer, sp.csr_matrix(matrix))
    else:
        recordio.write_dense(buffer, matrix)
    batch = codecs.decode(buffer.getvalue(), parse_media_type("application/x-recordio-protobuf"), WIDTH)
    assert np.array_equal(batch.dense(), matrix)


# --- JSON and JSON lines: every instance shape --------------------------------------------------------------------

json_numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70),
                         st.sampled_from([10**400, -(10**400), 1e308, 3.5e38, 0, -0.0]))
scalars = st.one_of(json_numbers, st.booleans(), st.none(), st.text(max_size=4))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=12)


@st.composite
def instances(draw: st.DrawFn) -> object:
    width = draw(st.sampled_from([WIDTH, WIDTH, 0, 1, WIDTH + 1, 10**6]))
    kind = draw(st.sampled_from(["dense", "features", "sparse", "sparse-data", "anything"]))
    if kind == "anything":
        return draw(json_values)
    row = draw(st.lists(json_numbers, min_size=min(width, 8), max_size=min(width, 8)))
    if kind == "dense":
        return row
    if kind == "features":
        return {"features": row}
    keys = draw(st.lists(st.one_of(st.integers(-3, WIDTH + 3), st.integers(-(2**70), 2**70), st.booleans(),
                                   st.floats()), max_size=6))
    values = draw(st.lists(json_numbers, min_size=len(keys), max_size=len(keys) + draw(st.integers(0, 1))))
    features: dict = {"keys": keys, "values": values}
    shape = draw(st.sampled_from([[WIDTH], [width], [2**70], [-1], [], [WIDTH, 2], "6", None]))
    if shape is not None:
        features["shape"] = shape
    return {"data": {"features": features}} if kind == "sparse-data" else {"features": features}


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(instances(), max_size=4))
    wrapper = draw(st.sampled_from(["instances", "bare", "one", "other"]))
    if wrapper == "instances":
        data: object = {"instances": items}
    elif wrapper == "bare":
        data = items
    elif wrapper == "one":
        data = items[0] if items else {}
    else:
        data = draw(json_values)
    return json.dumps(data).encode()


@FUZZ
@given(body=json_bodies())
def test_json_instance_shapes(body: bytes) -> None:
    _decode_or_user_error(body, "application/json")


@FUZZ
@given(lines=st.lists(instances(), max_size=5), blank=st.booleans())
def test_jsonlines_instance_shapes(lines: list, blank: bool) -> None:
    body = ("\n\n" if blank else "\n").join(json.dumps(line) for line in lines).encode()
    _decode_or_user_error(body, "application/jsonlines")


@FUZZ
@given(depth=st.integers(1, 100_000))
def test_deeply_nested_json(depth: int) -> None:
    _decode_or_user_error(b"[" * depth + b"]" * depth, "application/json")


# --- CSV with hostile parameters ---------------------------------------------------------------------------------

parameters = st.sampled_from(["", "; label_size=1", "; label_size=-1", "; label_size=99999999999999999999",
                              "; label_size=x", "; charset=latin-1", "; charset=utf-16", "; charset=utf-7",
                              "; charset=idna", "; charset=punycode", "; charset=base64", "; charset=rot13",
                              "; charset=nonsense", "; charset=", '; charset="utf-8"'])
cells = st.one_of(st.floats(width=32).map(repr), st.sampled_from(["", " ", "nan", "inf", "-inf", "1e39", "1e-50", "0x10",
                                                                  "1_000", "١", "+1", "1e", "NaN", "\x00"]))


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=WIDTH - 1, max_size=WIDTH + 1), max_size=5), parameter=parameters,
       separator=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_cells_and_parameters(rows: list[list[str]], parameter: str, separator: str) -> None:
    text = separator.join(",".join(row) for row in rows)
    encoding = "utf-16" if "utf-16" in parameter else "utf-8"
    _decode_or_user_error(text.encode(encoding, errors="replace"), "text/csv" + parameter)

"""CSV, JSON and JSON lines decoding into batches, and the response encoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container_core import codecs
from container_core.errors import UnsupportedContentType, UserError
from container_core.mime import parse_media_type


def _decode(body: bytes, content_type: str, feature_dim=None):
    return codecs.decode(body, parse_media_type(content_type), feature_dim)


def test_csv_rows_and_label_size() -> None:
    batch = _decode(b"1,2,3\n4,5,6", "text/csv")
    assert batch.dense().tolist() == [[1, 2, 3], [4, 5, 6]] and batch.labels is None
    labelled = _decode(b"7,1,2\r\n8,3,4\n", "text/csv; label_size=1")
    assert labelled.dense().tolist() == [[1, 2], [3, 4]] and labelled.labels.tolist() == [7, 8]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"1,2\n3", "line 2 has 1 columns, expected 2"),
        (b"1,2\n3,abc", "line 2, column 2: 'abc' is not a number"),
        (b"1,nan", "line 1 contains NaN or infinite values"),
        (b"1,inf", "contains NaN or infinite values"),
        (b"1,,2", "line 1, column 2: '' is not a number"),
        (b"\xff\xfe1,2", "not valid utf-8 text at byte 0"),
    ],
)
def test_csv_errors_name_the_line(body, message) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        _decode(body, "text/csv")


def test_csv_width_is_checked() -> None:
    with pytest.raises(UserError, match=r"rows have 3 features .*expected 2 \(feature_dim\)"):
        _decode(b"1,2,3", "text/csv", feature_dim=2)


def test_csv_charset_parameter() -> None:
    assert _decode("1,2".encode("utf-16"), "text/csv; charset=utf-16").dense().tolist() == [[1, 2]]


def test_json_instances_dense_sparse_and_bare() -> None:
    body = {
        "instances": [
            {"features": [1, 0, 2]},
            {"data": {"features": {"values": [1, 0, 2]}}},
            {"data": {"features": {"keys": [0, 2], "shape": [3], "values": [1, 2]}}},
        ]
    }
    batch = _decode(json.dumps(body).encode(), "application/json")
    assert batch.is_sparse and batch.dense().tolist() == [[1, 0, 2]] * 3
    assert _decode(b"[1, 2]", "application/json").dense().tolist() == [[1, 2]]
    assert _decode(b"[[1, 2], [3, 4]]", "application/json").dense().tolist() == [[1, 2], [3, 4]]


def test_jsonlines() -> None:
    body = b'{"features": [1, 2]}\n\n{"data": {"features": {"values": [3, 4]}}}\n'
    assert _decode(body, "application/jsonlines").dense().tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"instances": 3}', "expected"),
        (b'{"instances": [{"features": ["a"]}]}', "instance 0: a dense row must be a list of numbers"),
        (b'{"instances": [{"data": {"features": {"keys": [5], "values": [1], "shape": [3]}}}]}', "outside [0, 3)"),
        (b'[[1, 2], [3]]', "instance 1 has 1 features, expected 2"),
        (b'"text"', "expected"),
    ],
)
def test_json_errors(body, message) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace(")", r"\)")):
        _decode(body, "application/json")


def test_unknown_content_type_is_415() -> None:
    with pytest.raises(UnsupportedContentType):
        _decode(b"x", "image/png")


def test_read_csv_batches_streams_blocks(tmp_path) -> None:
    rows = np.arange(300, dtype=np.float32).reshape(100, 3)
    path = tmp_path / "data.csv"
    path.write_text("\n".join(",".join(str(v) for v in row) for row in rows))
    batches = list(codecs.read_csv_batches([path], batch_size=32, feature_dim=None, label_size=1, block_bytes=64))
    assert sum(b.rows for b in batches) == 100 and max(b.rows for b in batches) <= 32
    assert np.array_equal(np.concatenate([b.dense() for b in batches]), rows[:, 1:])
    assert np.array_equal(np.concatenate([b.labels for b in batches]), rows[:, 0])


def test_read_csv_batches_reports_global_line_numbers(tmp_path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("1,2\n" * 50 + "1,x\n")
    with pytest.raises(UserError, match="line 51, column 2"):
        list(codecs.read_csv_batches([path], 10, None, 0, block_bytes=16))


def test_encoders() -> None:
    assert codecs.encode_json([{"a": 1.0}]) == b'{"predictions": [{"a": 1.0}]}'
    assert codecs.encode_jsonlines([{"a": 1.0}, {"a": 2.0}]) == b'{"a": 1.0}\n{"a": 2.0}\n'


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), content_type=st.sampled_from(
    ["text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf"]))
def test_decoders_never_crash_on_garbage(body, content_type) -> None:
    """Any bytes either decode or raise UserError: never another exception (which would be a 500)."""
    try:
        batch = _decode(body, content_type, feature_dim=4)
    except UserError:
        return
    assert batch.rows == 0 or batch.width == 4


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.floats(-1e6, 1e6, width=32), min_size=3, max_size=3), min_size=1, max_size=20))
def test_csv_round_trip(rows) -> None:
    text = "\n".join(",".join(repr(v) for v in row) for row in rows).encode()
    assert np.array_equal(_decode(text, "text/csv").dense(), np.asarray(rows, np.float32))


@pytest.mark.parametrize(
    ("tail", "message"),
    [("1,x,3", "line 20001, column 2: 'x' is not a number"), ("1,2", "line 20001 has 2 columns, expected 3"),
     ("1,,3", "line 20001, column 2: '' is not a number"), ("1,nan,3", "line 20001 contains NaN")],
)
def test_large_csv_bodies_take_the_fast_parser_and_keep_exact_errors(tail, message) -> None:
    good = "1,2,3\n" * 20000
    assert _decode(good.encode(), "text/csv").rows == 20000
    with pytest.raises(UserError, match=message):
        _decode((good + tail).encode(), "text/csv")


FLAWS = ["", "\n", "\r\n", "\n\n", "1,2,3\r", ",", "1,2", "1,2,3,4", "x", "nan", "inf", "-inf", '"1"', " 1", "1e39",
         "\ufeff", "\xe9", "\x00", "1;2;3", "0x1", "1_0"]


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(1, 3), flaw=st.sampled_from(FLAWS), at=st.sampled_from(["start", "middle", "end"]),
       newline=st.sampled_from(["\n", "\r\n"]), charset=st.sampled_from([None, "utf-8", "latin-1"]),
       label_size=st.integers(0, 1))
def test_csv_bytes_parser_matches_the_text_parser(rows, flaw, at, newline, charset, label_size) -> None:
    """``parse_csv_bytes`` (pandas on the raw bytes, for bodies over 64 KB) gives what ``parse_csv`` on the decoded
    text gives, batch or error, whatever the flaw and wherever it sits."""
    good = [f"{i % 7},{i % 5}.5,{i % 3}" for i in range(30000 // rows)]
    position = {"start": 0, "middle": len(good) // 2, "end": len(good)}[at]
    lines = [*good[:position], *(good[position][:2] + flaw if flaw and at == "middle" else flaw,), *good[position:]]
    data = newline.join(lines).encode(charset or "utf-8", errors="replace")

    def outcome(parse):
        try:
            batch = parse()
        except UserError as error:
            return ("error", str(error))
        return ("batch", batch.features.tolist(), None if batch.labels is None else batch.labels.tolist())

    expected = outcome(lambda: codecs.parse_csv(codecs._decode_text(data, charset, "body"), label_size, None, "body"))
    assert outcome(lambda: codecs.parse_csv_bytes(data, label_size, None, "body", charset=charset)) == expected

"""The batched RecordIO reader (``recordio._Rows``) against the record-at-a-time one (``add_record`` +
``BatchBuilder``): on any sequence of Records, the same batch or the same error message.

The batched path only speeds up the shapes writers produce; everything else falls back to the record-at-a-time
path, so the property is exact equality, including the text of every error.
"""

from __future__ import annotations

import io
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container_core import recordio
from container_core.batch import Batch, BatchBuilder
from container_core.errors import UserError

KINDS = ("float32_tensor", "float64_tensor", "int32_tensor")
VALUES = st.one_of(st.integers(-3, 3).map(float), st.sampled_from([0.5, math.nan, math.inf, 1e300]))


@st.composite
def records(draw) -> bytes:
    """A RecordIO body of Records that are mostly well formed, with every kind of flaw now and then."""
    Record = recordio.record_class()
    sparse_batch = draw(st.booleans())
    width = draw(st.integers(0, 5))
    kind = draw(st.sampled_from(KINDS))
    out = io.BytesIO()
    for _ in range(draw(st.integers(1, 6))):
        record = Record()
        flaw = draw(st.sampled_from(["none"] * 8 + ["kind", "width", "mixed", "nan", "keys", "no-shape", "no-label",
                                                      "other-name", "label-kind"]))
        row_kind = draw(st.sampled_from(KINDS)) if flaw == "kind" else kind
        row_width = width + 1 if flaw == "width" else width
        sparse = not sparse_batch if flaw == "mixed" else sparse_batch
        name = "other" if flaw == "other-name" else "values"
        tensor = getattr(record.features[name], row_kind)
        if sparse:
            keys = sorted(draw(st.sets(st.integers(0, max(row_width - 1, 0)), max_size=row_width)))
            if flaw == "keys":
                keys = [*keys, row_width + draw(st.integers(0, 2**40))]
            tensor.keys.extend(keys)
            values = [draw(VALUES) if flaw == "nan" else float(draw(st.integers(1, 4))) for _ in keys]
            if row_kind == "int32_tensor":
                values = [int(v) if math.isfinite(v) and abs(v) < 2**31 else 1 for v in values]
            tensor.values.extend(values)
            if flaw != "no-shape":
                tensor.shape.append(row_width)
        else:
            values = [draw(VALUES) if flaw == "nan" else float(draw(st.integers(0, 4))) for _ in range(row_width)]
            if row_kind == "int32_tensor":
                values = [int(v) if math.isfinite(v) and abs(v) < 2**31 else 1 for v in values]
            tensor.values.extend(values)
        if flaw == "label-kind":
            record.label["values"].bytes.value.append(b"x")
        elif flaw != "no-label":
            record.label["values"].float32_tensor.values.append(draw(VALUES))
        out.write(recordio.frame(record.SerializeToString()))
    return out.getvalue()


def _record_at_a_time(body: bytes, width: int | None, need_label: bool | None) -> Batch:
    builder = BatchBuilder(width, "body")
    for index, offset, payload in recordio.iter_payloads(io.BytesIO(body), "body"):
        where = f"record {index} at byte {offset}"
        recordio.add_record(builder, recordio.parse_record(payload, "body", where), need_label, where)
    return builder.build()


def _batched(body: bytes, width: int | None, need_label: bool | None) -> Batch:
    rows = recordio._Rows(width, need_label)
    for index, offset, payload in recordio.iter_payloads(io.BytesIO(body), "body"):
        rows.add(payload, "body", index, offset)
    return rows.build()


def _outcome(decode, body: bytes, width: int | None, need_label: bool | None) -> tuple:
    try:
        batch = decode(body, width, need_label)
    except UserError as error:
        return ("error", str(error))
    features = batch.features.toarray() if batch.is_sparse else batch.features
    return ("batch", batch.is_sparse, features.dtype, features.tolist(),
            None if batch.labels is None else batch.labels.tolist())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=records(), width=st.sampled_from([None, 0, 3, 4]), need_label=st.sampled_from([None, False, True]))
def test_batched_reader_equals_record_at_a_time(body: bytes, width: int | None, need_label: bool | None) -> None:
    expected = _outcome(_record_at_a_time, body, width, need_label)
    assert _outcome(_batched, body, width, need_label) == expected


def _payloads(body: bytes) -> list[bytes]:
    return [payload for _, _, payload in recordio.iter_payloads(io.BytesIO(body), "body")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=records(), data=st.data(), width=st.sampled_from([None, 3, 4]),
       need_label=st.sampled_from([None, False, True]))
def test_batched_reader_equals_record_at_a_time_on_damaged_bytes(body: bytes, data, width, need_label) -> None:
    """Flipped, cut or inserted bytes inside Records (framing intact): wire layouts protobuf reads differently
    (unpacked fields, other field numbers, overlong lengths) must still give what protobuf gives."""
    payloads = [bytearray(p) for p in _payloads(body)]
    for _ in range(data.draw(st.integers(1, 3))):
        target = payloads[data.draw(st.integers(0, len(payloads) - 1))]
        if not target:
            continue
        at = data.draw(st.integers(0, len(target) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            target[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del target[at]
        else:
            target.insert(at, data.draw(st.integers(0, 255)))
    damaged = b"".join(recordio.frame(bytes(p)) for p in payloads)
    expected = _outcome(_record_at_a_time, damaged, width, need_label)
    assert _outcome(_batched, damaged, width, need_label) == expected


def test_batched_reader_takes_the_fast_path_for_writer_output(monkeypatch) -> None:
    """What ``write_sparse`` / ``write_dense`` produce never needs the replay (else the speed-up is lost)."""
    replays = []
    monkeypatch.setattr(recordio._Rows, "_replay", lambda self: replays.append(1))
    rng = np.random.default_rng(0)
    import scipy.sparse as sp

    sparse_body, dense_body = io.BytesIO(), io.BytesIO()
    recordio.write_sparse(sparse_body, sp.random(50, 40, density=0.2, format="csr", random_state=1, dtype=np.float32),
                          rng.integers(0, 3, 50).astype(np.float32))
    recordio.write_dense(dense_body, rng.normal(size=(50, 7)).astype(np.float32), np.arange(50, dtype=np.float32))
    sparse = _batched(sparse_body.getvalue(), None, True)
    dense = _batched(dense_body.getvalue(), None, True)
    assert replays == []
    assert sparse.is_sparse and sparse.features.shape == (50, 40) and sparse.labels.shape == (50,)
    assert not dense.is_sparse and dense.features.shape == (50, 7)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_varints_decode_what_protobuf_encodes(values: list[int]) -> None:
    from container_core import record_wire

    data = np.frombuffer(b"".join(map(_encode_varint, values)), np.uint8)
    assert record_wire.varints(data).tolist() == values
    if data.size:
        assert record_wire.varints(data[:-1]) is None or values[-1] < 128  # a cut varint is refused

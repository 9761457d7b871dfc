"""Our RecordIO-protobuf codec against golden files written by the real AWS SDK v1 (docs/contract.md §4).

The files in ``tests/golden/recordio/`` come from ``tests/golden/make_recordio_golden.py`` run with
``sagemaker==1.72.1``; this test needs no SDK. For every SDK-written case we check that our reader decodes the
input arrays, that our writers reproduce the SDK's bytes exactly, and that our ``read_records`` matches the SDK's.
The hand-made broken files must fail with a ``UserError`` naming the file, the record index and the byte offset.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from container_core import recordio
from container_core.batch import concat
from container_core.errors import UserError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "recordio"

SDK_CASES = sorted(p.name[: -len(".records.json")] for p in GOLDEN.glob("*.records.json"))
ERROR_CASES = sorted(p.name[: -len(".error.json")] for p in GOLDEN.glob("*.error.json"))

EXPECTED_SDK_CASES = {
    "dense_float32_labels",
    "dense_float64_nolabels",
    "dense_int64_intlabels",
    "dense_float64_float32labels",
    "dense_float32_multirow",
    "dense_float32_one_column",
    "sparse_float32_labels",
    "sparse_empty_row",
    "sparse_only_empty_row",
    "sparse_float64",
    "sparse_bow",
    "sparse_unsorted_keys",
}
EXPECTED_ERROR_CASES = {"truncated_payload", "truncated_header", "bad_magic", "not_recordio"}


def test_golden_files_present() -> None:
    # Guards against an empty or partial golden directory turning the parametrized tests into no-ops.
    assert set(SDK_CASES) == EXPECTED_SDK_CASES
    assert set(ERROR_CASES) == EXPECTED_ERROR_CASES
    for case in SDK_CASES:
        assert (GOLDEN / f"{case}.recordio").is_file()
        assert (GOLDEN / f"{case}.npz").is_file()
    for case in ERROR_CASES:
        assert (GOLDEN / f"{case}.recordio").is_file()
    for path in GOLDEN.iterdir():
        assert path.stat().st_size < 4096, path


# --- helpers ---------------------------------------------------------------------------------------------------------


class Case:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = GOLDEN / f"{name}.recordio"
        self.body = self.path.read_bytes()
        with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as npz:
            self.arrays = {key: npz[key] for key in npz.files}
        self.features: np.ndarray = self.arrays["features"]
        self.labels: np.ndarray | None = self.arrays.get("labels")
        self.sparse = bool(self.arrays["sparse"])

    def csr(self) -> sp.csr_matrix:
        """Exactly the CSR matrix the SDK was given (key order and stored zeros included)."""
        a = self.arrays
        return sp.csr_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(int(n) for n in a["shape"]))


def tensor_json(value) -> dict:
    kind = value.WhichOneof("value")
    if kind == "bytes":
        return {"type": kind, "value": [v.hex() for v in value.bytes.value], "content_type": value.bytes.content_type}
    tensor = getattr(value, kind)
    return {
        "type": kind,
        "values": [float(v) if kind != "int32_tensor" else int(v) for v in tensor.values],
        "keys": [int(k) for k in tensor.keys],
        "shape": [int(s) for s in tensor.shape],
    }


def record_json(record) -> dict:
    """The same conversion the golden script applies to the SDK's ``read_records`` output."""
    out = {
        "features": {key: tensor_json(record.features[key]) for key in sorted(record.features)},
        "label": {key: tensor_json(record.label[key]) for key in sorted(record.label)},
    }
    for field in ("uid", "metadata", "configuration"):
        if record.HasField(field):
            out[field] = getattr(record, field)
    return out


def assert_features(batch, case: Case) -> None:
    expected = case.features.astype(np.float32)
    assert batch.is_sparse == case.sparse
    assert batch.features.shape == expected.shape
    assert batch.dense().dtype == np.float32
    np.testing.assert_array_equal(batch.dense(), expected)
    if case.sparse:
        # Only the stored entries; compare as a set of (row, col) -> value after canonicalising.
        got = batch.features.tocsr(copy=True)
        got.sum_duplicates()
        want = case.csr().astype(np.float32)
        want.sum_duplicates()
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)


# --- (a) decoding ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SDK_CASES)
def test_read_batches_matches_input(name: str) -> None:
    case = Case(name)
    batches = list(recordio.read_batches([case.path], batch_size=1000))
    assert len(batches) == 1
    batch = batches[0]
    assert batch.rows == case.features.shape[0]
    assert_features(batch, case)
    if case.labels is None:
        assert batch.labels is None
    else:
        assert batch.labels is not None
        assert batch.labels.dtype == np.float32
        np.testing.assert_array_equal(batch.labels, case.labels.astype(np.float32))


@pytest.mark.parametrize("name", SDK_CASES)
def test_read_batches_small_batches(name: str) -> None:
    case = Case(name)
    rows = case.features.shape[0]
    batches = list(recordio.read_batches([case.path], batch_size=2))
    assert [b.rows for b in batches] == [min(2, rows - i) for i in range(0, rows, 2)]
    np.testing.assert_array_equal(concat(batches).dense(), case.features.astype(np.float32))


@pytest.mark.parametrize("name", SDK_CASES)
def test_read_batches_need_label(name: str) -> None:
    case = Case(name)
    if case.labels is None:
        with pytest.raises(UserError, match="record 0 at byte 0"):
            list(recordio.read_batches([case.path], batch_size=1000, need_label=True))
    else:
        (batch,) = recordio.read_batches([case.path], batch_size=1000, need_label=True)
        np.testing.assert_array_equal(batch.labels, case.labels.astype(np.float32))


@pytest.mark.parametrize("name", SDK_CASES)
def test_decode_body_matches_input(name: str) -> None:
    case = Case(name)
    batch = recordio.decode_body(case.body)
    assert batch.rows == case.features.shape[0]
    assert_features(batch, case)


def test_read_batches_across_files() -> None:
    a, b = Case("dense_float32_multirow"), Case("dense_float32_labels")
    # Same width needed across files: two copies of one file, then a width mismatch naming the second file.
    batches = list(recordio.read_batches([a.path, a.path], batch_size=1000))
    np.testing.assert_array_equal(concat(batches).dense(), np.vstack([a.features, a.features]))
    with pytest.raises(UserError) as error:
        list(recordio.read_batches([a.path, b.path], batch_size=1000))
    assert str(b.path) in str(error.value)
    assert "record 0 at byte 0" in str(error.value)


# --- (b) encoding, byte for byte -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SDK_CASES)
def test_writer_reproduces_sdk_bytes(name: str) -> None:
    case = Case(name)
    out = io.BytesIO()
    if case.sparse:
        recordio.write_sparse(out, case.csr(), case.labels)
    else:
        recordio.write_dense(out, case.features, case.labels)
    assert out.getvalue() == case.body


# Unsorted keys or stored zeros are reproduced only from the exact CSR given to the SDK (checked above).
@pytest.mark.parametrize("name", [n for n in SDK_CASES if n.startswith("sparse_") and n != "sparse_unsorted_keys"])
def test_sparse_writer_other_input_formats(name: str) -> None:
    case = Case(name)
    csr = case.csr()
    assert csr.has_sorted_indices and csr.nnz == np.count_nonzero(case.features), "case is not canonical"
    for matrix in (sp.csr_matrix(case.features), sp.coo_matrix(case.features), sp.csr_array(case.features)):
        out = io.BytesIO()
        recordio.write_sparse(out, matrix, case.labels)
        assert out.getvalue() == case.body, type(matrix)


# --- (c) read_records ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SDK_CASES)
def test_read_records_matches_sdk(name: str) -> None:
    path = GOLDEN / f"{name}.recordio"
    expected = json.loads((GOLDEN / f"{name}.records.json").read_text())
    with open(path, "rb") as stream:
        records = recordio.read_records(stream, source=str(path))
    assert [record_json(r) for r in records] == expected
    # and the parsed records serialize back to the SDK's payloads
    assert b"".join(recordio.frame(r.SerializeToString()) for r in records) == path.read_bytes()


# --- (d) broken files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ERROR_CASES)
def test_broken_file_names_file_record_and_offset(name: str) -> None:
    path = GOLDEN / f"{name}.recordio"
    expected = json.loads((GOLDEN / f"{name}.error.json").read_text())
    where = f"record {expected['record']} at byte {expected['offset']}"

    def check(error: pytest.ExceptionInfo) -> None:
        message = str(error.value)
        assert str(path) in message
        rest = message.replace(str(path), "")  # the file names contain "truncated" / "magic" themselves
        assert where in rest
        assert expected["what"] in rest

    with pytest.raises(UserError) as error:
        list(recordio.read_batches([path], batch_size=1000))
    check(error)
    with pytest.raises(UserError) as error, open(path, "rb") as stream:
        recordio.read_records(stream, source=str(path))
    check(error)
    if path.read_bytes()[:4] == b"\x0a\x23\xd7\xce":  # otherwise decode_body takes it for one bare Record
        with pytest.raises(UserError) as error:
            recordio.decode_body(path.read_bytes(), source=str(path))
        check(error)


def test_not_recordio_body_is_a_user_error() -> None:
    with pytest.raises(UserError, match="request body"):
        recordio.decode_body((GOLDEN / "not_recordio.recordio").read_bytes())


# --- docs/contract.md §4.4: the verified byte sequences -------------------------------------------------------------------

VALUES = b"values".hex()
CONTRACT_BYTES = {
    "dense float32 [[1.0, 2.0]], label [3.0]": (
        "0a23d7ce 2c000000 0a16 0a06" + VALUES + "120c 120a 0a08 0000803f 00000040"
        "1212 0a06" + VALUES + "1208 1206 0a04 00004040"
    ),
    "dense float64 [[1.5, 2.5, 0.0]]": (
        "0a23d7ce 28000000 0a26 0a06" + VALUES + "121c 1a1a 0a18"
        "000000000000f83f 0000000000000440 0000000000000000"
    ),
    "dense int64 [[1, 2]], label [7]": (
        "0a23d7ce 23000000 0a10 0a06" + VALUES + "1206 3a04 0a02 0102"
        "120f 0a06" + VALUES + "1205 3a03 0a01 07 00"
    ),
    "sparse float32 [[0, 2.0, 0, 1.0]]": (
        "0a23d7ce 1f000000 0a1d 0a06" + VALUES + "1213 1211 0a08 00000040 0000803f 1202 0103 1a01 04 00"
    ),
    "sparse all-zero row of width 5": "0a23d7ce 11000000 0a0f 0a06" + VALUES + "1205 1203 1a01 05 000000",
}


def contract_bytes(key: str) -> bytes:
    return bytes.fromhex(CONTRACT_BYTES[key].replace(" ", ""))


def test_contract_lengths() -> None:
    assert len(contract_bytes("dense float32 [[1.0, 2.0]], label [3.0]")) == 52
    assert len(contract_bytes("dense float64 [[1.5, 2.5, 0.0]]")) == 48
    assert len(contract_bytes("sparse float32 [[0, 2.0, 0, 1.0]]")) == 40
    for key in CONTRACT_BYTES:
        assert len(contract_bytes(key)) % 4 == 0, key


@pytest.mark.parametrize(
    ("key", "write"),
    [
        ("dense float32 [[1.0, 2.0]], label [3.0]",
         lambda out: recordio.write_dense(out, np.array([[1.0, 2.0]], np.float32), np.array([3.0], np.float32))),
        ("dense float64 [[1.5, 2.5, 0.0]]",
         lambda out: recordio.write_dense(out, np.array([[1.5, 2.5, 0.0]], np.float64))),
        ("dense int64 [[1, 2]], label [7]",
         lambda out: recordio.write_dense(out, np.array([[1, 2]], np.int64), np.array([7], np.int64))),
        ("sparse float32 [[0, 2.0, 0, 1.0]]",
         lambda out: recordio.write_sparse(out, sp.csr_matrix(np.array([[0, 2.0, 0, 1.0]], np.float32)))),
        ("sparse all-zero row of width 5",
         lambda out: recordio.write_sparse(out, sp.csr_matrix(np.zeros((1, 5), np.float32)))),
    ],
)
def test_contract_bytes_written(key: str, write) -> None:
    out = io.BytesIO()
    write(out)
    assert out.getvalue() == contract_bytes(key)


@pytest.mark.parametrize(
    ("key", "case"),
    [
        ("dense float32 [[1.0, 2.0]], label [3.0]", "dense_float32_labels"),
        ("dense float64 [[1.5, 2.5, 0.0]]", "dense_float64_nolabels"),
        ("dense int64 [[1, 2]], label [7]", "dense_int64_intlabels"),
        ("sparse all-zero row of width 5", "sparse_only_empty_row"),
    ],
)
def test_contract_bytes_are_first_sdk_record(key: str, case: str) -> None:
    expected = contract_bytes(key)
    assert (GOLDEN / f"{case}.recordio").read_bytes()[: len(expected)] == expected


@pytest.mark.parametrize("key", list(CONTRACT_BYTES))
def test_contract_bytes_decode(key: str) -> None:
    expected = {
        "dense float32 [[1.0, 2.0]], label [3.0]": ([[1.0, 2.0]], False),
        "dense float64 [[1.5, 2.5, 0.0]]": ([[1.5, 2.5, 0.0]], False),
        "dense int64 [[1, 2]], label [7]": ([[1, 2]], False),
        "sparse float32 [[0, 2.0, 0, 1.0]]": ([[0, 2.0, 0, 1.0]], True),
        "sparse all-zero row of width 5": ([[0.0] * 5], True),
    }[key]
    batch = recordio.decode_body(contract_bytes(key))
    assert batch.is_sparse == expected[1]
    np.testing.assert_array_equal(batch.dense(), np.array(expected[0], np.float32))

"""Write the RecordIO-protobuf golden files in ``tests/golden/recordio/`` with the real AWS SDK v1 writers.

The files are committed; this script is only needed to regenerate them. It must run with the AWS SageMaker Python
SDK v1 (``sagemaker==1.72.1``), which imports only with protobuf 3.x (docs/contract.md §5.4), so use a throwaway venv
outside the repository, never the project venv:

    python3 -m venv /tmp/awssdk-venv
    /tmp/awssdk-venv/bin/pip install sagemaker==1.72.1 'protobuf<4' numpy scipy
    /tmp/awssdk-venv/bin/python tests/golden/make_recordio_golden.py

(The SDK prints "pandas failed to import..." on import; that is harmless.)

For every SDK case ``<case>`` it writes:

* ``<case>.recordio``: the bytes written by ``sagemaker.amazon.common.write_numpy_to_dense_tensor`` or
  ``write_spmatrix_to_sparse_tensor``;
* ``<case>.npz``: the input (``features`` as a dense array in the dtype the SDK was given, ``labels`` (absent when the
  case has none), ``sparse`` (bool); sparse cases also hold the exact CSR the SDK saw: ``data``, ``indices``,
  ``indptr``, ``shape``). Loadable with ``allow_pickle=False``;
* ``<case>.records.json``: what the SDK's ``read_records`` returns for the file, as plain JSON.

Cases made by hand (no SDK writer produces them) get ``<case>.recordio`` plus ``<case>.error.json`` with the record
index and byte offset at which a reader must fail.

The output is deterministic: fixed inputs, no randomness, no timestamps; running the script twice gives identical
files. Every file is far below 4 KB (the script asserts it).
"""

from __future__ import annotations

import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

try:
    from sagemaker.amazon.common import (
        read_records,
        write_numpy_to_dense_tensor,
        write_spmatrix_to_sparse_tensor,
    )
except ImportError as error:  # pragma: no cover - only when run with the wrong interpreter
    sys.exit(f"needs sagemaker==1.72.1 with protobuf<4 (see this file's docstring): {error}")

OUT = Path(__file__).resolve().parent / "recordio"
MAX_BYTES = 4096


# --- the SDK cases ---------------------------------------------------------------------------------------------------


def dense_cases() -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    return {
        # docs/contract.md §4.4 first example, plus two more rows.
        "dense_float32_labels": (
            np.array([[1.0, 2.0], [0.5, -3.25], [0.0, 1e-3]], dtype=np.float32),
            np.array([3.0, 0.0, 1.0], dtype=np.float32),
        ),
        # float64 features, no labels -> Float64Tensor (the k-NN covtype notebook writes float64).
        "dense_float64_nolabels": (
            np.array([[1.5, 2.5, 0.0], [0.1, -7.0, 1e30]], dtype=np.float64),
            None,
        ),
        # int64 features and int64 labels -> Int32Tensor for both.
        "dense_int64_intlabels": (
            np.array([[1, 2], [-5, 300], [0, 2147483647]], dtype=np.int64),
            np.array([7, 0, 2], dtype=np.int64),
        ),
        # float64 features with float32 labels: the two resolve independently.
        "dense_float64_float32labels": (
            np.array([[0.25, 4.0, -1.0], [2.0, 0.0, 8.5]], dtype=np.float64),
            np.array([1.0, 2.0], dtype=np.float32),
        ),
        # several rows, no labels, payload lengths needing padding.
        "dense_float32_multirow": (
            np.arange(15, dtype=np.float32).reshape(5, 3) / np.float32(4.0),
            None,
        ),
        # a single column: 1-value records.
        "dense_float32_one_column": (
            np.array([[9.0], [-1.0]], dtype=np.float32),
            np.array([0.0, 1.0], dtype=np.float32),
        ),
    }


def sparse_cases() -> dict[str, tuple[sp.csr_matrix, np.ndarray | None]]:
    bow = np.zeros((6, 20), dtype=np.float32)  # a small bag-of-words: counts, varied nnz, one empty document
    bow[0, [0, 3, 7]] = [2, 1, 5]
    bow[1, [19]] = [1]
    bow[2, :] = 0  # empty document
    bow[3, [1, 2, 4, 8, 16]] = [1, 1, 3, 1, 2]
    bow[4, np.arange(0, 20, 2)] = np.arange(1, 11)
    bow[5, [5, 6]] = [4, 1]
    # A CSR with unsorted keys and an explicit stored zero: the SDK writes keys in CSR order, zeros included.
    unsorted = sp.csr_matrix(
        (
            np.array([3.0, 1.0, 0.0, 2.0], dtype=np.float32),
            np.array([4, 0, 2, 1], dtype=np.int32),
            np.array([0, 3, 4], dtype=np.int32),
        ),
        shape=(2, 6),
    )
    return {
        # docs/contract.md §4.4 sparse example as row 0.
        "sparse_float32_labels": (
            sp.csr_matrix(np.array([[0, 2.0, 0, 1.0], [1.5, 0, 0, 0], [0, 0, 0.25, 0]], dtype=np.float32)),
            np.array([1.0, 0.0, 1.0], dtype=np.float32),
        ),
        # an all-zero row in the middle and at the end: written with only `shape`.
        "sparse_empty_row": (
            sp.csr_matrix(np.array([[0, 0, 3.0, 0, 0], [0, 0, 0, 0, 0], [1.0, 0, 0, 0, 2.0], [0, 0, 0, 0, 0]],
                                   dtype=np.float32)),
            None,
        ),
        # docs/contract.md §4.4: a file that is one all-zero row of width 5.
        "sparse_only_empty_row": (sp.csr_matrix(np.zeros((1, 5), dtype=np.float32)), None),
        "sparse_float64": (
            sp.csr_matrix(np.array([[0, 0.1, 0, 0, 1e-30], [2.5, 0, 0, -4.0, 0]], dtype=np.float64)),
            None,
        ),
        # sparse float32 with int64 labels -> Int32Tensor label.
        "sparse_bow": (sp.csr_matrix(bow), np.array([0, 1, 2, 3, 4, 5], dtype=np.int64)),
        "sparse_unsorted_keys": (unsorted, None),
    }


# --- JSON of what read_records returns -------------------------------------------------------------------------------


def tensor_json(value) -> dict:
    kind = value.WhichOneof("value")
    if kind == "bytes":  # never written by the SDK writers; kept for completeness
        return {"type": kind, "value": [v.hex() for v in value.bytes.value], "content_type": value.bytes.content_type}
    tensor = getattr(value, kind)
    return {
        "type": kind,
        "values": [float(v) if kind != "int32_tensor" else int(v) for v in tensor.values],
        "keys": [int(k) for k in tensor.keys],
        "shape": [int(s) for s in tensor.shape],
    }


def record_json(record) -> dict:
    out = {
        "features": {key: tensor_json(record.features[key]) for key in sorted(record.features)},
        "label": {key: tensor_json(record.label[key]) for key in sorted(record.label)},
    }
    for field in ("uid", "metadata", "configuration"):
        if record.HasField(field):
            out[field] = getattr(record, field)
    return out


# --- writing ---------------------------------------------------------------------------------------------------------


def write(name: str, data: bytes) -> None:
    assert len(data) < MAX_BYTES, (name, len(data))
    (OUT / name).write_bytes(data)


def write_json(name: str, obj) -> None:
    """Compact JSON; a list is written one item per line so diffs stay readable."""
    if isinstance(obj, list):
        text = "[\n" + ",\n".join(json.dumps(item, sort_keys=True) for item in obj) + "\n]\n"
    else:
        text = json.dumps(obj, sort_keys=True) + "\n"
    write(name, text.encode())


def write_npz(name: str, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    # np.savez stamps zip entries with a fixed date (1980-01-01), so this is byte-stable.
    write(name, buffer.getvalue())


def sdk_case(name: str, body: bytes, arrays: dict) -> None:
    write(f"{name}.recordio", body)
    write_npz(f"{name}.npz", **arrays)
    write_json(f"{name}.records.json", [record_json(r) for r in read_records(io.BytesIO(body))])


def header_offsets(body: bytes) -> list[int]:
    """Byte offset of each record in an SDK-written (cflag 0) file."""
    offsets, at = [], 0
    while at < len(body):
        offsets.append(at)
        (length,) = struct.unpack_from("<I", body, at + 4)
        at += 8 + ((length + 3) >> 2 << 2)
    return offsets


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()

    for name, (features, labels) in dense_cases().items():
        buffer = io.BytesIO()
        write_numpy_to_dense_tensor(buffer, features, labels)
        arrays = {"features": features, "sparse": np.array(False)}
        if labels is not None:
            arrays["labels"] = labels
        sdk_case(name, buffer.getvalue(), arrays)

    for name, (matrix, labels) in sparse_cases().items():
        buffer = io.BytesIO()
        write_spmatrix_to_sparse_tensor(buffer, matrix, labels)
        arrays = {
            "features": matrix.toarray(),
            "sparse": np.array(True),
            "data": matrix.data,
            "indices": matrix.indices,
            "indptr": matrix.indptr,
            "shape": np.array(matrix.shape, dtype=np.int64),
        }
        if labels is not None:
            arrays["labels"] = labels
        sdk_case(name, buffer.getvalue(), arrays)

    # --- hand-made broken files: valid SDK records, then damage ------------------------------------------------------
    # Int32Tensor records of 35 bytes, so each carries 1 padding byte: offsets 0, 44, 88 (a reader that forgets the
    # padding reports 43 and 86).
    good = io.BytesIO()
    write_numpy_to_dense_tensor(good, np.arange(6, dtype=np.int64).reshape(3, 2), np.arange(3, dtype=np.int64))
    good = good.getvalue()
    offsets = header_offsets(good)
    assert offsets == [0, 44, 88], offsets

    # record 2's payload ends early
    write("truncated_payload.recordio", good[: offsets[2] + 8 + 5])
    write_json("truncated_payload.error.json", {"record": 2, "offset": offsets[2], "what": "truncated"})
    # record 1's header is cut after 5 bytes
    write("truncated_header.recordio", good[: offsets[1] + 5])
    write_json("truncated_header.error.json", {"record": 1, "offset": offsets[1], "what": "truncated"})
    # record 1 starts with the magic number in big-endian order
    bad = bytearray(good)
    bad[offsets[1] : offsets[1] + 4] = struct.pack(">I", 0xCED7230A)
    write("bad_magic.recordio", bytes(bad))
    write_json("bad_magic.error.json", {"record": 1, "offset": offsets[1], "what": "magic"})
    # not RecordIO at all: a CSV body
    write("not_recordio.recordio", b"1.0,2.0,3.0\n4.0,5.0,6.0\n")
    write_json("not_recordio.error.json", {"record": 0, "offset": 0, "what": "magic"})

    for path in sorted(OUT.iterdir()):
        print(f"{path.stat().st_size:6d}  {path.relative_to(OUT.parent.parent.parent)}")


if __name__ == "__main__":
    main()

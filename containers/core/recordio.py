"""RecordIO-protobuf: the MXNet RecordIO framing around ``aialgs.data.Record`` messages (docs/contract.md §4).

Byte-compatible with the AWS SDK's ``write_numpy_to_dense_tensor``, ``write_spmatrix_to_sparse_tensor`` and
``read_records`` (golden files in ``tests/golden``). The Record schema is built at run time from its descriptor, so no
generated ``_pb2`` module ties us to one protobuf release.

Reading is shape-authoritative: a sparse tensor's width is ``shape[0]`` (else the expected ``feature_dim``), and a
record with only ``shape`` is an all-zero row, not a zero-width one. Float32, Float64 and Int32 tensors are all
accepted. Errors name the file, the record index and its byte offset.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import IO, Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from container_core import record_wire
from container_core.batch import Batch, BatchBuilder, scipy_sparse
from container_core.errors import UserError

MAGIC = 0xCED7230A
_HEADER = struct.Struct("<II")
_LENGTH_MASK = (1 << 29) - 1
_PADDING = [b"", b"\x00\x00\x00", b"\x00\x00", b"\x00"]

# --- the Record schema ----------------------------------------------------------------------------------------------


@cache
def record_class() -> type:
    """The ``aialgs.data.Record`` message class (proto2, same descriptor as the AWS SDK's ``record_pb2``)."""
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="aialgs/data/record.proto", package="aialgs.data", syntax="proto2")

    def tensor(name: str, value_type: int) -> None:
        message = proto.message_type.add(name=name)
        for number, field_name, field_type in ((1, "values", value_type), (2, "keys", F.TYPE_UINT64), (3, "shape", F.TYPE_UINT64)):
            field = message.field.add(name=field_name, number=number, type=field_type, label=F.LABEL_REPEATED)
            field.options.packed = True

    tensor("Float32Tensor", F.TYPE_FLOAT)
    tensor("Float64Tensor", F.TYPE_DOUBLE)
    tensor("Int32Tensor", F.TYPE_INT32)
    raw = proto.message_type.add(name="Bytes")
    raw.field.add(name="value", number=1, type=F.TYPE_BYTES, label=F.LABEL_REPEATED)
    raw.field.add(name="content_type", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value = proto.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for number, field_name, type_name in (
        (2, "float32_tensor", "Float32Tensor"),
        (3, "float64_tensor", "Float64Tensor"),
        (7, "int32_tensor", "Int32Tensor"),
        (9, "bytes", "Bytes"),
    ):
        value.field.add(
            name=field_name, number=number, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
            type_name=f".aialgs.data.{type_name}", oneof_index=0,
        )
    record = proto.message_type.add(name="Record")
    for number, field_name, entry_name in ((1, "features", "FeaturesEntry"), (2, "label", "LabelEntry")):
        entry = record.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".aialgs.data.Value")
        record.field.add(
            name=field_name, number=number, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
            type_name=f".aialgs.data.Record.{entry_name}",
        )
    for number, field_name in ((3, "uid"), (4, "metadata"), (5, "configuration")):
        record.field.add(name=field_name, number=number, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("aialgs.data.Record"))


# --- framing ---------------------------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """One RecordIO record: magic, length (cflag 0), payload, zero padding to 4 bytes."""
    return _HEADER.pack(MAGIC, len(payload)) + payload + _PADDING[len(payload) % 4]


def iter_payloads(stream: IO[bytes], source: str) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(index, offset, payload)`` for every record; split records (cflag 1/2/3) are reassembled."""
    index = 0
    offset = 0
    pending: list[bytes] | None = None
    while True:
        header = stream.read(8)
        if not header:
            if pending is not None:
                raise UserError(f"{source}: record {index} at byte {offset}: truncated (split record never ends)")
            return
        if len(header) < 8:
            raise UserError(f"{source}: record {index} at byte {offset}: truncated header ({len(header)} of 8 bytes)")
        magic, lrecord = _HEADER.unpack(header)
        if magic != MAGIC:
            raise UserError(
                f"{source}: record {index} at byte {offset}: bad magic 0x{magic:08x}; "
                "this is not RecordIO-protobuf (write it with write_numpy_to_dense_tensor or "
                "write_spmatrix_to_sparse_tensor, or set the channel's content type)"
            )
        length = lrecord & _LENGTH_MASK
        cflag = lrecord >> 29
        payload = stream.read(length)
        if len(payload) < length:
            raise UserError(
                f"{source}: record {index} at byte {offset}: truncated payload ({len(payload)} of {length} bytes)"
            )
        pad = (4 - length % 4) % 4
        if pad:
            stream.read(pad)
        start = offset
        offset += 8 + length + pad
        if cflag == 0:
            yield index, start, payload
            index += 1
        elif cflag == 1:
            pending = [payload]
        elif cflag in (2, 3) and pending is not None:
            # dmlc drops the magic number where it split the payload; put it back between the parts.
            pending.append(struct.pack("<I", MAGIC) + payload)
            if cflag == 3:
                yield index, start, b"".join(pending)
                index += 1
                pending = None
        else:
            raise UserError(f"{source}: record {index} at byte {start}: unexpected continuation flag {cflag}")


# --- decoding --------------------------------------------------------------------------------------------------------

_TENSOR_DTYPES = {"float32_tensor": np.float32, "float64_tensor": np.float64, "int32_tensor": np.int32}


def _tensor(value: Any, source: str, where: str) -> tuple[Any, str]:
    kind = value.WhichOneof("value")
    if kind not in _TENSOR_DTYPES:
        raise UserError(f"{source}: {where}: features must be a Float32, Float64 or Int32 tensor, found {kind}")
    return getattr(value, kind), kind


def parse_record(payload: bytes, source: str, where: str) -> Any:
    record = record_class()()
    try:
        record.ParseFromString(payload)
        # proto2 strings are not checked for UTF-8 when parsed; protobuf hands such a map key out as bytes and
        # fails later, on the first lookup through it, so refuse the Record here
        if any(isinstance(key, bytes) for key in (*record.features, *record.label)):
            raise ValueError("a map key is not UTF-8")
    except Exception:  # protobuf raises its own DecodeError; the cause is always the bytes
        raise UserError(f"{source}: {where}: payload is not a valid RecordIO-protobuf Record") from None
    return record


def add_record(builder: BatchBuilder, record: Any, need_label: bool, where: str) -> None:
    """Append one Record's ``features["values"]`` (and first ``label["values"]``) to ``builder``."""
    if "values" not in record.features:
        if len(record.features) == 1:
            value = next(iter(record.features.values()))
        else:
            raise UserError(f"{builder.source}: {where}: no features['values'] tensor")
    else:
        value = record.features["values"]
    tensor, kind = _tensor(value, builder.source, where)
    label = None
    if "values" in record.label and need_label is not None:
        label_tensor, _ = _tensor(record.label["values"], builder.source, where + " (label)")
        if len(label_tensor.values):
            label = float(label_tensor.values[0])
            if not math.isfinite(label):  # as the CSV reader: a NaN label would poison k-NN votes and means
                raise UserError(f"{builder.source}: {where} has a NaN or infinite label")
    if need_label and label is None:
        raise UserError(f"{builder.source}: {where}: has no label['values']; this algorithm needs a label per record")
    dtype = _TENSOR_DTYPES[kind]
    values = np.array(tensor.values, dtype=dtype)
    if len(tensor.keys) or len(tensor.shape) and not len(tensor.values):
        width = int(tensor.shape[0]) if len(tensor.shape) else None
        builder.add_sparse(np.array(tensor.keys, dtype=np.uint64).astype(np.int64), values, width, label, where)
    elif len(tensor.shape) and len(tensor.shape) == 1 and int(tensor.shape[0]) != values.size:
        raise UserError(f"{builder.source}: {where}: shape {list(tensor.shape)} does not match {values.size} values")
    else:
        builder.add_dense(values, label, where)


class _Rows:
    """Consecutive Records gathered as byte ranges and turned into one ``Batch`` with a few numpy calls.

    Checking and converting every Record on its own (``add_record``) cost about 17 us a record, 90% of reading a
    bag-of-words file, mostly in protobuf handing out one Python number at a time. Here ``record_wire.scan`` finds
    each Record's packed fields and the batch is checked and converted at once. The fast path takes the shapes every
    writer produces (all rows sparse or all dense, one tensor type, one width); anything else (mixed rows, another
    layout, a width or label problem, a NaN) replays the Records through protobuf, ``add_record`` and
    ``BatchBuilder``, which build the batch or raise the error naming the record, exactly as before.
    """

    def __init__(self, width: int | None, need_label: bool | None) -> None:
        self.width = width
        self.need_label = need_label
        self.records: list[tuple[bytes, str, int, int]] = []  # (payload, source, index, offset) for the replay
        self.tensors: list[record_wire.Tensor] = []
        self.labels: list[float | None] = []
        self.regular = True

    def __len__(self) -> int:
        return len(self.records)

    def add(self, payload: bytes, source: str, index: int, offset: int) -> None:
        self.records.append((payload, source, index, offset))
        if not self.regular:
            return
        scanned = record_wire.scan(payload)
        if scanned is None:
            self.regular = False
            return
        features, label = scanned
        self.tensors.append(features)
        value = None
        if label is not None and self.need_label is not None:
            try:
                numbers = record_wire.numbers(payload, label.values, label.kind)
            except IndexError:
                self.regular = False
                return
            value = float(numbers[0]) if numbers else None
        self.labels.append(value)

    def build(self) -> Batch:
        batch = self._fast() if self.regular else None
        return batch if batch is not None else self._replay()

    def _fast(self) -> Batch | None:
        """The batch, or None where anything is not the plain case (the replay then decides)."""
        tensors = self.tensors
        kind = tensors[0].kind
        if any(t.kind != kind for t in tensors):
            return None
        present = [label for label in self.labels if label is not None]
        if not np.isfinite(np.asarray(present, dtype=np.float64)).all():
            return None
        if len(present) < len(self.labels):
            if self.need_label:
                return None
            labels = None
        else:
            labels = np.asarray(present, dtype=np.float32)
        payloads = [record[0] for record in self.records]
        values, value_counts = _packed(payloads, [t.values for t in tensors], kind)
        if values is None:
            return None
        rows = len(payloads)
        filled = record_wire.Tensor.filled
        sparse = [filled(t.keys) or filled(t.shape) and not value_counts[i] for i, t in enumerate(tensors)]
        if not any(sparse):
            if any(filled(t.shape) for t in tensors):
                return None  # dense rows with a shape: the record-at-a-time path checks it against the values
            width = int(value_counts[0])
            if (value_counts != width).any() or (self.width is not None and width != self.width):
                return None
            return Batch(values.reshape(rows, width), labels)
        if not all(sparse):
            return None
        try:
            widths = {int(record_wire.numbers(p, t.shape, record_wire.UINT64)[0]) if t.shape else None
                      for p, t in zip(payloads, tensors, strict=True)}
        except IndexError:
            return None
        if len(widths) != 1:
            return None
        (width,) = widths
        width = self.width if width is None else width
        if width is None or (self.width is not None and width != self.width):
            return None
        keys, key_counts = _packed(payloads, [t.keys for t in tensors], record_wire.UINT64)
        if keys is None or (key_counts != value_counts).any() or (keys.size and int(keys.max()) >= width):
            return None
        indptr = np.zeros(rows + 1, np.int64)
        np.cumsum(value_counts, out=indptr[1:])
        matrix = scipy_sparse().csr_matrix((values, keys.astype(np.int32), indptr), shape=(rows, width))
        matrix.sum_duplicates()
        return Batch(matrix, labels)

    def _replay(self) -> Batch:
        builder = BatchBuilder(self.width, self.records[0][1])
        for payload, source, index, offset in self.records:
            builder.source = source
            where = f"record {index} at byte {offset}"
            add_record(builder, parse_record(payload, source, where), self.need_label, where)
        return builder.build()


def _packed(payloads: list[bytes], spans: list[tuple[int, int] | None], kind: str
            ) -> tuple[np.ndarray | None, np.ndarray]:
    """One packed field of every row, concatenated and decoded: (float32 values or uint64 keys, count per row).

    None for the array when a field does not hold whole numbers (the replay then reports the record)."""
    chunks = [payload[span[0] : span[1]] if span else b"" for payload, span in zip(payloads, spans, strict=True)]
    lengths = np.fromiter(map(len, chunks), np.int64, len(chunks))
    data = np.frombuffer(b"".join(chunks), np.uint8)
    if kind in (record_wire.FLOAT32, record_wire.FLOAT64):
        size = 4 if kind == record_wire.FLOAT32 else 8
        with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, which the finiteness check reports
            values = data.view("<f4" if size == 4 else "<f8").astype(np.float32)
        if values.size and not np.isfinite(values).all():
            return None, lengths
        return values, lengths // size
    ends = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum(lengths, out=ends[1:])
    terminal = np.zeros(data.size + 1, np.int64)
    np.cumsum(data < 0x80, out=terminal[1:])
    counts = terminal[ends[1:]] - terminal[ends[:-1]]
    nonempty = lengths > 0
    if nonempty.any() and (data[ends[1:][nonempty] - 1] >= 0x80).any():
        return None, counts  # a varint cut at the end of its field
    numbers = record_wire.varints(data)
    if numbers is None:
        return None, counts
    if kind == record_wire.INT32:
        return numbers.view(np.int64).astype(np.int32).astype(np.float32), counts
    return numbers, counts


def read_batches(
    files: Iterable[Path], batch_size: int, feature_dim: int | None = None, need_label: bool = False
) -> Iterator[Batch]:
    """Stream RecordIO-protobuf files as batches of ``batch_size`` rows (the last may be smaller)."""
    rows = _Rows(feature_dim, need_label)
    for path in files:
        with open(path, "rb") as stream:
            source = str(path)
            for index, offset, payload in iter_payloads(io.BufferedReader(stream, 1 << 20), source):
                rows.add(payload, source, index, offset)
                if len(rows) >= batch_size:
                    batch = rows.build()
                    yield batch
                    rows = _Rows(batch.width, need_label)
    if len(rows):
        yield rows.build()


def decode_body(body: bytes, feature_dim: int | None = None, source: str = "request body") -> Batch:
    """Decode a request body: framed RecordIO records, or one bare unframed Record (SDK local mode sends that)."""
    if len(body) >= 4 and struct.unpack_from("<I", body)[0] == MAGIC:
        rows = _Rows(feature_dim, None)
        for index, offset, payload in iter_payloads(io.BytesIO(body), source):
            rows.add(payload, source, index, offset)
        return rows.build() if len(rows) else BatchBuilder(feature_dim, source).build()
    builder = BatchBuilder(feature_dim, source)
    add_record(builder, parse_record(body, source, "bare record"), None, "bare record")
    return builder.build()


# --- encoding: the AWS SDK writers, byte for byte ---------------------------------------------------------------------


def _resolve_type(dtype: np.dtype) -> str:
    if dtype == np.dtype(int) or dtype == np.dtype(np.int32):
        return "int32_tensor"
    if dtype == np.dtype(float):
        return "float64_tensor"
    if dtype == np.dtype("float32"):
        return "float32_tensor"
    raise ValueError(f"Unsupported dtype {dtype} on array")


def write_dense(out: IO[bytes], array: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Same bytes as ``sagemaker.amazon.common.write_numpy_to_dense_tensor``."""
    array = np.asarray(array)
    if len(array.shape) != 2:
        raise ValueError("Array must be a Matrix")
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels.shape) != 1:
            raise ValueError("Labels must be a Vector")
        if labels.shape[0] not in array.shape:
            raise ValueError(f"Label shape {labels.shape} not compatible with array shape {array.shape}")
        label_kind = _resolve_type(labels.dtype)
    kind = _resolve_type(array.dtype)
    Record = record_class()
    for index, row in enumerate(array):
        record = Record()
        getattr(record.features["values"], kind).values.extend(row.tolist())
        if labels is not None:
            getattr(record.label["values"], label_kind).values.extend([labels[index].item()])
        out.write(frame(record.SerializeToString()))


def write_sparse(out: IO[bytes], matrix: Any, labels: np.ndarray | None = None) -> None:
    """Same bytes as ``sagemaker.amazon.common.write_spmatrix_to_sparse_tensor``."""
    import scipy.sparse as sp  # lazily: see container_core.batch

    if not sp.issparse(matrix):
        raise TypeError("Array must be sparse")
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels.shape) != 1:
            raise ValueError("Labels must be a Vector")
        if labels.shape[0] not in matrix.shape:
            raise ValueError(f"Label shape {labels.shape} not compatible with array shape {matrix.shape}")
        label_kind = _resolve_type(labels.dtype)
    csr = sp.csr_matrix(matrix)
    kind = _resolve_type(csr.dtype)
    n_rows, n_cols = csr.shape
    Record = record_class()
    for index in range(n_rows):
        start, end = csr.indptr[index], csr.indptr[index + 1]
        record = Record()
        tensor = getattr(record.features["values"], kind)
        tensor.values.extend(csr.data[start:end].tolist())
        tensor.keys.extend(csr.indices[start:end].tolist())
        tensor.shape.extend([n_cols])
        if labels is not None:
            getattr(record.label["values"], label_kind).values.extend([labels[index].item()])
        out.write(frame(record.SerializeToString()))


def encode_label_records(rows: Iterable[dict[str, Any]]) -> bytes:
    """Response records: empty ``features``, each key of a row as ``label[key].float32_tensor.values``."""
    Record = record_class()
    chunks = []
    for row in rows:
        record = Record()
        for key, values in row.items():
            record.label[key].float32_tensor.values.extend(np.atleast_1d(np.asarray(values, dtype=np.float32)).tolist())
        chunks.append(frame(record.SerializeToString()))
    return b"".join(chunks)


def read_records(stream: IO[bytes], source: str = "<stream>") -> list[Any]:
    """All Records of a RecordIO stream, as the AWS SDK's ``read_records`` returns them."""
    return [parse_record(payload, source, f"record {i} at byte {o}") for i, o, payload in iter_payloads(stream, source)]

"""The protobuf wire bytes of a RecordIO ``Record``, read without building a message: for batches of many rows.

protobuf's Python API hands repeated fields out one Python number at a time; for a bag-of-words file that was
most of the reading time (about 70 ns per number, twice per word). ``scan`` walks the few bytes of structure of a
Record (``features["values"]`` and ``label["values"]``, each a Float32/Float64/Int32 tensor) and returns where the
packed ``values``, ``keys`` and ``shape`` lie in the payload, so a whole batch of them becomes arrays with
``np.frombuffer`` and one vectorized varint decode (``varints``).

``scan`` accepts only the plain layout the writers produce (each field once, packed, no other Record fields, a
map key of exactly ``values``) and returns None for anything else, valid or not; the caller then parses the Record
with protobuf, which also gives the errors. So this module never decides whether bytes are valid, only whether
they are the plain case.

Wire format (protobuf encoding): a field is a varint tag ``number << 3 | wire_type`` then, for wire type 2, a
varint length and that many bytes. Record: features = 1, label = 2 (map entries: key = 1, value = 2). Value:
float32_tensor = 2, float64_tensor = 3, int32_tensor = 7. Tensor: values = 1, keys = 2, shape = 3 (packed).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

FLOAT32, FLOAT64, INT32 = "float32_tensor", "float64_tensor", "int32_tensor"
UINT64 = "uint64"  # keys and shape
_VALUE_KINDS = {0x12: FLOAT32, 0x1A: FLOAT64, 0x3A: INT32}
_ENTRY_KEY = b"\x0a\x06values"
_WIDTH = {FLOAT32: 4, FLOAT64: 8}


@dataclass(frozen=True)
class Tensor:
    """Where one tensor's packed fields lie in the payload: ``(start, end)`` byte ranges, None when absent."""

    kind: str
    values: tuple[int, int] | None
    keys: tuple[int, int] | None
    shape: tuple[int, int] | None

    @staticmethod
    def filled(span: tuple[int, int] | None) -> bool:
        """Whether a field is present and holds at least one byte (one number or more)."""
        return span is not None and span[0] < span[1]


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, next position); IndexError past ``end`` (the caller treats it as 'not the plain case')."""
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise IndexError
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _field(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """A length-delimited field at ``pos``: (tag, start, stop); IndexError if it is not one or overruns."""
    tag = data[pos]
    if tag & 0x07 != 2 or tag >= 0x80:
        raise IndexError
    length = data[pos + 1]
    if length < 0x80:  # most lengths fit one byte
        start = pos + 2
    else:
        length, start = _varint(data, pos + 1, end)
    stop = start + length
    if stop > end:
        raise IndexError
    return tag, start, stop


def _tensor(data: bytes, pos: int, end: int) -> Tensor:
    """A map entry ``{key: "values", value: Value{<kind>: tensor}}`` spanning ``pos:end``."""
    if data[pos : pos + 8] != _ENTRY_KEY:
        raise IndexError
    tag, start, stop = _field(data, pos + 8, end)
    if tag != 0x12 or stop != end:
        raise IndexError
    tag, start, stop = _field(data, start, stop)
    kind = _VALUE_KINDS.get(tag)
    if kind is None or stop != end:
        raise IndexError
    found: dict[int, tuple[int, int]] = {}
    pos = start
    while pos < stop:
        tag, first, pos = _field(data, pos, stop)
        if tag not in (0x0A, 0x12, 0x1A) or tag in found:
            raise IndexError
        found[tag] = (first, pos)
    values = found.get(0x0A)
    if values is not None and kind in _WIDTH and (values[1] - values[0]) % _WIDTH[kind]:
        raise IndexError
    return Tensor(kind, values, found.get(0x12), found.get(0x1A))


def scan(payload: bytes) -> tuple[Tensor, Tensor | None] | None:
    """(features tensor, label tensor or None) of a plain Record, or None when the Record is anything else."""
    end = len(payload)
    features = label = None
    pos = 0
    try:
        while pos < end:
            tag, start, pos = _field(payload, pos, end)
            if tag == 0x0A and features is None:
                features = _tensor(payload, start, pos)
            elif tag == 0x12 and label is None:
                label = _tensor(payload, start, pos)
            else:
                raise IndexError
    except IndexError:
        return None
    return None if features is None else (features, label)


def numbers(data: bytes, span: tuple[int, int] | None, kind: str) -> list[float]:
    """The numbers of one small packed field (a label's values, a shape), decoded here; IndexError if it is cut."""
    if span is None:
        return []
    start, stop = span
    if kind in _WIDTH:
        return list(struct.unpack_from(f"<{(stop - start) // _WIDTH[kind]}{'f' if kind == FLOAT32 else 'd'}",
                                       data, start))
    out = []
    while start < stop:
        value, start = _varint(data, start, stop)
        out.append(float(_int32(value)) if kind == INT32 else value)
    return out


def _int32(value: int) -> int:
    """A varint-decoded int32 field: protobuf keeps the low 32 bits, as two's complement."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def varints(data: np.ndarray) -> np.ndarray | None:
    """Decode concatenated base-128 varints (uint8 array) into uint64, vectorized, as protobuf does (bits past 64
    dropped). None when the data does not end on a complete varint or holds one longer than 10 bytes."""
    if not data.size:
        return np.zeros(0, np.uint64)
    if data[-1] >= 0x80:
        return None
    ends = np.flatnonzero(data < 0x80)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    longest = int(lengths.max())
    if longest > 10:
        return None
    low = data & 0x7F
    out = low[starts].astype(np.uint64)
    for j in range(1, longest):  # one pass per byte position; keys below 16,384 take two bytes at most
        more = np.flatnonzero(lengths > j)
        out[more] |= low[starts[more] + j].astype(np.uint64) << np.uint64(7 * j)
    return out

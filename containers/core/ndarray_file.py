"""MXNet's NDArray file format (what ``mx.nd.save`` writes and ``mx.nd.load`` reads), without MXNet.

The built-in algorithms were MXNet programs, and code written for them reads their parameters with
``mx.nd.load('params')`` (NTM's ``arg:projection_weight`` is the topic-word matrix). This module writes and reads that
file so the artifacts stay readable by that code while MXNet (retired) is no dependency. The layout is MXNet 1.x's
``NDArray::Save`` list format (``src/ndarray/ndarray.cc``), all little-endian:

* header: ``uint64 0x112`` (``kMXAPINDArrayListMagic``), ``uint64 0`` (reserved);
* ``uint64 n`` arrays, each: ``uint32 0xF993FAC9`` (``NDARRAY_V2_MAGIC``), ``int32 0`` (dense storage),
  ``int32 ndim``, ``int64 dims[ndim]``, ``int32 1, int32 0`` (context: CPU, device 0), ``int32 dtype flag``, then the
  C-order data;
* ``uint64 n`` names, each ``uint64 length`` + UTF-8 bytes (one name per array, same order).

Only dense arrays of the dtypes in ``DTYPE_FLAGS`` are written or read; anything else is a ``ValueError`` naming
what was found. ``loads`` also reads files without names (``mx.nd.save`` of a list): it returns a list then.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np

__all__ = ["DTYPE_FLAGS", "dumps", "loads"]

LIST_MAGIC = 0x112
ARRAY_MAGIC = 0xF993FAC9
DENSE = 0
CPU = 1
# mshadow's type flags (kFloat32 = 0, kFloat64 = 1, ...)
DTYPE_FLAGS: dict[str, int] = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5, "int64": 6}
_FLAG_DTYPES = {flag: np.dtype(name).newbyteorder("<") for name, flag in DTYPE_FLAGS.items()}


def dumps(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of ``mx.nd.save(file, arrays)`` for named dense arrays (insertion order kept)."""
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    for name, value in arrays.items():
        array = np.asarray(value)
        flag = DTYPE_FLAGS.get(array.dtype.name)
        if flag is None:
            raise ValueError(f"array {name!r}: dtype {array.dtype} has no MXNet type flag ({', '.join(DTYPE_FLAGS)})")
        if array.ndim == 0:
            raise ValueError(f"array {name!r}: MXNet files cannot hold 0-d arrays")
        parts.append(struct.pack(f"<IiI{array.ndim}q", ARRAY_MAGIC, DENSE, array.ndim, *array.shape))
        parts.append(struct.pack("<iii", CPU, 0, flag))
        parts.append(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    parts.append(struct.pack("<Q", len(arrays)))
    for name in arrays:
        encoded = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(encoded)) + encoded)
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, size: int, what: str) -> memoryview:
        if self.offset + size > len(self.data):
            raise ValueError(f"truncated MXNet NDArray file: {what} needs {size} bytes at offset {self.offset}")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def loads(data: bytes) -> dict[str, np.ndarray] | list[np.ndarray]:
    """Arrays of an MXNet NDArray file: a dict name -> array, or a list when the file holds no names."""
    reader = _Reader(data)
    magic, _reserved, count = reader.unpack("<QQQ", "the header")
    if magic != LIST_MAGIC:
        raise ValueError(f"not an MXNet NDArray file: header magic {magic:#x}, expected {LIST_MAGIC:#x}")
    arrays = []
    for position in range(count):
        what = f"array {position}"
        array_magic, storage = reader.unpack("<Ii", what)
        if array_magic != ARRAY_MAGIC:
            raise ValueError(f"{what}: magic {array_magic:#x} is not NDArray v2 ({ARRAY_MAGIC:#x})")
        if storage != DENSE:
            raise ValueError(f"{what}: storage type {storage} is sparse; only dense arrays are supported")
        (ndim,) = reader.unpack("<i", what)
        if not 0 <= ndim <= 32:
            raise ValueError(f"{what}: bad number of dimensions {ndim}")
        shape = reader.unpack(f"<{ndim}q", what)
        if ndim == 0:
            arrays.append(np.zeros((0,), dtype=np.float32))  # MXNet's "none" array: nothing follows
            continue
        _device, _device_id, flag = reader.unpack("<iii", what)
        dtype = _FLAG_DTYPES.get(flag)
        if dtype is None:
            raise ValueError(f"{what}: unsupported MXNet type flag {flag}")
        size = int(np.prod(shape)) * dtype.itemsize
        arrays.append(np.frombuffer(reader.take(size, what), dtype=dtype).reshape(shape).astype(dtype.newbyteorder("=")))
    (name_count,) = reader.unpack("<Q", "the name count")
    if name_count == 0:
        return arrays
    if name_count != count:
        raise ValueError(f"MXNet NDArray file has {count} arrays but {name_count} names")
    names = []
    for position in range(name_count):
        (length,) = reader.unpack("<Q", f"name {position}")
        names.append(bytes(reader.take(length, f"name {position}")).decode("utf-8"))
    return dict(zip(names, arrays, strict=True))

"""MXNet's NDArray file format: our writer against files MXNet itself wrote, read back by an independent reader.

``tests/golden/mxnet/*.params`` were written by the real ``mx.nd.save`` (``tests/golden/make_mxnet_golden.py``, MXNet
1.9.1); ``container_core.ndarray_file.dumps`` must reproduce them byte for byte. ``_independent_load`` below is a
second reader, written here from MXNet's ``NDArray::Save`` / ``dmlc::Stream`` description rather than from our module
(it walks the file with numpy views instead of ``struct``), so a shared misreading of the format cannot pass both.
The last test hands NTM's real ``model_algo-1`` to MXNet itself.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from container_core import ndarray_file
from tests.golden.make_mxnet_golden import cases

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "mxnet"

_TYPE_FLAGS = {0: "<f4", 1: "<f8", 2: "<f2", 3: "u1", 4: "<i4", 5: "i1", 6: "<i8"}


def _independent_load(data: bytes) -> dict[str, np.ndarray]:
    """Read an ``mx.nd.save`` file of named dense arrays, from the format's description alone."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    at = 0

    def scalars(dtype: str, count: int = 1) -> np.ndarray:
        nonlocal at
        width = np.dtype(dtype).itemsize * count
        values = buffer[at:at + width].view(dtype)
        assert values.size == count, "file ends early"
        at += width
        return values

    assert scalars("<u8", 2).tolist() == [0x112, 0]  # list magic, reserved
    arrays = []
    for _ in range(int(scalars("<u8")[0])):
        assert int(scalars("<u4")[0]) == 0xF993FAC9  # NDArray v2
        assert int(scalars("<i4")[0]) == 0  # default (dense) storage
        shape = tuple(int(d) for d in scalars("<i8", int(scalars("<i4")[0])))
        device_type, _device_id, flag = (int(v) for v in scalars("<i4", 3))
        assert device_type == 1  # saved from the CPU
        dtype = _TYPE_FLAGS[flag]
        arrays.append(scalars(dtype, int(np.prod(shape))).reshape(shape))
    names = []
    for _ in range(int(scalars("<u8")[0])):
        length = int(scalars("<u8")[0])
        names.append(bytes(scalars("u1", length)).decode("utf-8"))
    assert at == len(data), "bytes left over after the names"
    return dict(zip(names, arrays, strict=True))


@pytest.mark.parametrize("case", sorted(cases()))
def test_writer_reproduces_the_bytes_mxnet_wrote(case: str) -> None:
    assert ndarray_file.dumps(cases()[case]) == (GOLDEN / f"{case}.params").read_bytes()


@pytest.mark.parametrize("case", sorted(cases()))
def test_both_readers_read_mxnets_file(case: str) -> None:
    data = (GOLDEN / f"{case}.params").read_bytes()
    for loaded in (ndarray_file.loads(data), _independent_load(data)):
        assert list(loaded) == list(cases()[case])
        for name, expected in cases()[case].items():
            assert loaded[name].dtype == expected.dtype and loaded[name].shape == expected.shape
            np.testing.assert_array_equal(loaded[name], expected)


def test_a_list_file_without_names_reads_as_a_list() -> None:
    data = ndarray_file.dumps({"x": np.ones(3, dtype=np.float32)})
    unnamed = data[: -(8 + 8 + 1)] + (0).to_bytes(8, "little")  # drop the one name, write 0 names
    loaded = ndarray_file.loads(unnamed)
    assert isinstance(loaded, list) and loaded[0].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:5], "truncated MXNet NDArray file"),
        (lambda b: b"\x00" + b[1:], "not an MXNet NDArray file"),
        (lambda b: b[:24] + b"\x00" + b[25:], "is not NDArray v2"),
        (lambda b: b[:28] + b"\x01" + b[29:], "is sparse"),
        (lambda b: b[:-30], "truncated MXNet NDArray file"),
    ],
    ids=["header", "list-magic", "array-magic", "sparse", "data"],
)
def test_damaged_files_name_what_is_wrong(damage, message: str) -> None:
    data = (GOLDEN / "ntm_decoder.params").read_bytes()
    with pytest.raises(ValueError, match=message):
        ndarray_file.loads(damage(data))


def test_unsupported_dtype_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'w': dtype complex64"):
        ndarray_file.dumps({"w": np.zeros(2, dtype=np.complex64)})


def test_mxnet_itself_loads_ntms_model_algo_1(tmp_path: Path) -> None:
    """What the built-in's notebooks do: ``unzip model_algo-1`` then ``mx.ndarray.load('params')``."""
    from tests.aws_sdks import aws_sdk_python
    from tests.unit.test_ntm_model import _saved

    folder, model = _saved(tmp_path)
    with zipfile.ZipFile(folder / "model_algo-1") as archive:
        assert archive.namelist() == ["params"]
        archive.extractall(tmp_path / "unzipped")
    script = (
        "import json, mxnet as mx\n"
        "model = mx.ndarray.load('params')\n"
        "W = model['arg:projection_weight']\n"
        "print(json.dumps({'keys': sorted(model), 'shape': list(W.shape), 'W': W.asnumpy().tolist(),"
        " 'bias': model['arg:projection_bias'].asnumpy().tolist()}))\n"
    )
    result = subprocess.run([str(aws_sdk_python("mxnet")), "-c", script], cwd=tmp_path / "unzipped",
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    weight = model.decoder.weight.detach().numpy()
    assert seen["keys"] == ["arg:projection_bias", "arg:projection_weight"]
    assert seen["shape"] == list(weight.shape)  # (vocabulary, topics): the built-in's orientation
    np.testing.assert_array_equal(np.array(seen["W"], dtype=np.float32), weight)
    np.testing.assert_array_equal(np.array(seen["W"], dtype=np.float32).T, np.load(folder / "topic_word.npy"))
    np.testing.assert_array_equal(np.array(seen["bias"], dtype=np.float32), model.decoder.bias.detach().numpy())

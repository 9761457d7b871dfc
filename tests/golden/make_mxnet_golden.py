"""Write ``tests/golden/mxnet/*.params`` with the real MXNet (``mx.nd.save``), for ``test_ndarray_file.py``.

Run with MXNet's python (``python -m tests.aws_sdks mxnet`` prints it) from the repository root:

    $(python -c "from tests.aws_sdks import aws_sdk_python; print(aws_sdk_python('mxnet'))") \\
        tests/golden/make_mxnet_golden.py

The arrays are ``CASES`` below (plain numpy, so the test can build the same ones without MXNet).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "mxnet"


def cases() -> dict[str, dict[str, np.ndarray]]:
    """name -> the named arrays of that file (insertion order is the file's order)."""
    return {
        # what NTM's model_algo-1 holds: W (vocabulary 5, topics 2) and the decoder bias
        "ntm_decoder": {
            "arg:projection_weight": ((np.arange(10, dtype=np.float32).reshape(5, 2) - 4.5) / 4).astype(np.float32),
            "arg:projection_bias": np.linspace(-1, 1, 5, dtype=np.float32),
        },
        # the other dtype flags and shapes the format has
        "dtypes_and_shapes": {
            "arg:f64": np.array([[1.5, -2.25, 3e-10], [0.0, 1e300, -7.0]], dtype=np.float64),
            "arg:i32": np.array([-2147483648, -1, 0, 2147483647], dtype=np.int32),
            "aux:cube": np.arange(8, dtype=np.float32).reshape(2, 2, 2),
            "arg:u8": np.array([0, 7, 255], dtype=np.uint8),
            "arg:i64": np.array([-(2**40), 2**40], dtype=np.int64),
        },
    }


def main() -> int:
    import mxnet as mx

    HERE.mkdir(exist_ok=True)
    for name, arrays in cases().items():
        mx.nd.save(str(HERE / f"{name}.params"), {key: mx.nd.array(value, dtype=value.dtype)
                                                 for key, value in arrays.items()})
        print(f"wrote {HERE / name}.params with MXNet {mx.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

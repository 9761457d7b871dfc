"""Bad training channels end training with a clear user error in the failure file, never a hang.

Cases for both algorithms: no train channel, an empty folder, an empty file, truncated and corrupt RecordIO, the
wrong feature width, labels missing (k-NN), non-UTF-8 CSV, NaN and infinite values. Each algorithm's cases run
through the real error boundary (``run_training`` with the real ``Algorithm``) in one subprocess with a timeout
(``train_runner``): a case that hung would fail the test, a case that crashed would exit 1 with an
``AlgorithmError`` instead of 2.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from container_core import recordio
from tests.conftest import PYTHON, OptML

RNG = np.random.default_rng(5)
DIM = 8
FEATURES = RNG.integers(0, 4, size=(40, DIM)).astype(np.float32)
LABELS = RNG.integers(0, 3, size=40).astype(np.float32)
NTM_HP = {"feature_dim": DIM, "num_topics": 2, "epochs": 1, "mini_batch_size": 16}
KNN_HP = {"feature_dim": DIM, "k": 3, "predictor_type": "classifier", "sample_size": 30}


def _recordio(features: np.ndarray, labels: np.ndarray | None) -> bytes:
    buffer = io.BytesIO()
    recordio.write_dense(buffer, features, labels)
    return buffer.getvalue()


def _good(algorithm: str) -> bytes:
    return _recordio(FEATURES, LABELS if algorithm == "knn" else None)


def _csv(features: np.ndarray, labels: np.ndarray | None) -> str:
    rows = features if labels is None else np.column_stack([labels, features])
    return "\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n"


def _good_csv(algorithm: str) -> str:
    return _csv(FEATURES, LABELS if algorithm == "knn" else None)


Setup = Callable[[str, Path], None]  # (algorithm, train folder) -> writes the files


def _write(name: str, data: Callable[[str], bytes]) -> Setup:
    return lambda algorithm, folder: (folder / name).write_bytes(data(algorithm))


def _nan_at(text: str, value: str) -> bytes:
    lines = text.splitlines()
    cells = lines[3].split(",")
    cells[-1] = value
    lines[3] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


# (id, channels of inputdataconfig, setup of the train folder, first-line fragment per algorithm)
CASES: list[tuple[str, dict[str, str | None], Setup | None, dict[str, str]]] = [
    ("no-train-channel", {"test": None}, None,
     {"ntm": "NTM needs a 'train' channel", "knn": "needs a 'train' channel"}),
    ("empty-folder", {"train": None}, None,
     {"ntm": "the train channel holds no documents", "knn": "channel 'train' holds no records"}),
    ("empty-file", {"train": None}, _write("part-0.pbr", lambda a: b""),
     {"ntm": "the train channel holds no documents", "knn": "channel 'train' holds no records"}),
    ("truncated-recordio", {"train": None}, _write("part-0.pbr", lambda a: _good(a)[:-7]),
     {"ntm": "part-0.pbr: record", "knn": "part-0.pbr: record"}),
    ("truncated-header", {"train": None}, _write("part-0.pbr", lambda a: _good(a) + b"\x0a\x1a\x93"),
     {"ntm": "part-0.pbr: record", "knn": "part-0.pbr: record"}),
    ("corrupt-recordio", {"train": None}, _write("part-0.pbr", lambda a: bytes(RNG.integers(0, 256, 4000, np.uint8))),
     {"ntm": "part-0.pbr", "knn": "part-0.pbr"}),
    ("garbage-payload", {"train": None},
     _write("part-0.pbr", lambda a: recordio.frame(b"\xff" * 64) + _good(a)),
     {"ntm": "part-0.pbr: record 0", "knn": "part-0.pbr: record 0"}),
    ("wide-recordio", {"train": None},
     _write("part-0.pbr", lambda a: _recordio(np.ones((5, DIM + 3), np.float32), LABELS[:5] if a == "knn" else None)),
     {"ntm": "feature_dim", "knn": "feature_dim"}),
    ("narrow-csv", {"train": "text/csv"},
     _write("part-0.csv", lambda a: _csv(np.ones((5, DIM - 2)), LABELS[:5] if a == "knn" else None).encode()),
     {"ntm": "feature_dim", "knn": "feature_dim"}),
    ("non-utf8-csv", {"train": "text/csv"},
     _write("part-0.csv", lambda a: _good_csv(a).encode() + b"1,\xff\xfe,3\n"),
     {"ntm": "not valid utf-8 text", "knn": "not valid utf-8 text"}),
    ("nan-csv", {"train": "text/csv"}, _write("part-0.csv", lambda a: _nan_at(_good_csv(a), "nan")),
     {"ntm": "NaN or infinite", "knn": "NaN or infinite"}),
    ("inf-csv", {"train": "text/csv"}, _write("part-0.csv", lambda a: _nan_at(_good_csv(a), "inf")),
     {"ntm": "NaN or infinite", "knn": "NaN or infinite"}),
    ("nan-recordio", {"train": None},
     _write("part-0.pbr", lambda a: _recordio(np.where(np.eye(40, DIM) > 0, np.nan, FEATURES).astype(np.float32),
                                               LABELS if a == "knn" else None)),
     {"ntm": "NaN or infinite", "knn": "NaN or infinite"}),
    ("inf-label", {"train": None},
     _write("part-0.pbr", lambda a: _recordio(FEATURES, np.where(np.arange(40) == 7, np.inf, LABELS).astype(np.float32))),
     {"ntm": "NaN or infinite label", "knn": "NaN or infinite label"}),
    ("labels-missing-recordio", {"train": None}, _write("part-0.pbr", lambda a: _recordio(FEATURES, None)),
     {"knn": "has no label['values']"}),
    ("labels-missing-csv", {"train": "text/csv"}, _write("part-0.csv", lambda a: _csv(FEATURES, None).encode()),
     {"knn": "feature_dim"}),
    ("unsupported-content-type", {"train": "application/json"}, _write("part-0.json", lambda a: b"{}"),
     {"ntm": "content type 'application/json' is not supported", "knn": "content type 'application/json'"}),
]


@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_bad_channels_fail_fast_with_a_user_error(tmp_path: Path, algorithm: str) -> None:
    trees: dict[str, tuple[str, OptML, str]] = {}
    for case_id, channels, setup, expected in CASES:
        if algorithm not in expected:
            continue
        root = tmp_path / case_id
        tree = OptML(root).configure(NTM_HP if algorithm == "ntm" else KNN_HP, channels)
        if setup is not None:
            setup(algorithm, tree.channel("train"))
        trees[str(root)] = (case_id, tree, expected[algorithm])
    results_path = tmp_path / "results.json"
    started = time.monotonic()
    run = subprocess.run([PYTHON, "-m", "tests.reliability.train_runner", algorithm, str(results_path), *trees],
                         env=next(iter(trees.values()))[1].env(), capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    codes = json.loads(results_path.read_text())
    report = []
    for root, (case_id, tree, _fragment) in trees.items():
        text = tree.failure.read_text(encoding="utf-8") if tree.failure.exists() else "(no failure file)"
        report.append(f"{case_id}: exit {codes.get(root)}: {text.splitlines()[0] if text else ''}")
    print("\n".join(report))
    for root, (case_id, tree, fragment) in trees.items():
        assert codes[root] == 2, (case_id, report)
        text = tree.failure.read_text(encoding="utf-8")
        assert fragment in text.splitlines()[0], (case_id, text)
        assert len(text) < 1024 and "Traceback" not in text, (case_id, text)
    print(f"{algorithm}: {len(trees)} bad channels in {elapsed:.1f} s")

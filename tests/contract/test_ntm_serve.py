"""NTM serving over real HTTP on loopback: every request and response format of docs/contract.md §1.7-1.9, errors,
determinism, a corrupt artifact, and single-row CSV latency (the tutorial sends 11,314 single-row requests).

The server under test runs where ``import torch`` fails (a ``torch`` package that raises comes first on its path):
serving must start and answer every request without torch."""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from container_core import recordio
from ntm_container.cli import ALGORITHM
from tests.conftest import PYTHON, OptML, Server, start_server, train_in_process
from tests.ntm_corpus import planted_corpus, write_recordio

NTM = [PYTHON, "-m", "ntm_container.cli"]
CORPUS = planted_corpus(documents=300, topics=3, words_per_topic=8, noise_words=6, seed=3)
V = CORPUS.documents.shape[1]
K = 3
ROWS = CORPUS.documents[:4].toarray()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> OptML:
    optml = OptML(tmp_path_factory.mktemp("ntm_serve") / "opt_ml")
    optml.configure({"feature_dim": V, "num_topics": K, "epochs": 5, "mini_batch_size": 32}, {"train": None})
    write_recordio(optml.channel("train") / "train.pbr", CORPUS.documents)
    assert train_in_process(ALGORITHM, optml) == 0
    return optml


NO_TORCH = "torch is not available to the NTM serving process"


@pytest.fixture(scope="module")
def without_torch(trained: OptML, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The trained tree's environment with a ``torch`` package that refuses to import first on the path."""
    shim = tmp_path_factory.mktemp("no_torch")
    (shim / "torch").mkdir()
    (shim / "torch" / "__init__.py").write_text(f"raise ImportError({NO_TORCH!r})\n")
    env = trained.env()
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    return env


@pytest.fixture(scope="module")
def server(without_torch: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server([*NTM, "serve"], without_torch, tmp_path_factory.mktemp("log") / "serve.log")
    yield started
    started.stop()


def test_the_server_runs_where_torch_cannot_be_imported(server: Server, without_torch: dict[str, str]) -> None:
    refused = subprocess.run([PYTHON, "-c", "import torch"], env=without_torch, capture_output=True, text=True)
    assert refused.returncode != 0 and NO_TORCH in refused.stderr
    assert server.client.get("/ping").status_code == 200
    assert NO_TORCH not in server.log_path.read_text()


def _csv(rows: np.ndarray) -> str:
    return "\n".join(",".join(f"{v:g}" for v in row) for row in rows)


def _weights_json(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["predictions"]
    assert all(list(p) == ["topic_weights"] for p in body["predictions"])
    return np.array([p["topic_weights"] for p in body["predictions"]])


@pytest.fixture(scope="module")
def reference(server: Server) -> np.ndarray:
    response = server.client.post("/invocations", content=_csv(ROWS), headers={"Content-Type": "text/csv"})
    return _weights_json(response)


def test_csv_single_row_without_accept_returns_json(server: Server, reference: np.ndarray) -> None:
    response = server.client.post("/invocations", content=_csv(ROWS[:1]), headers={"Content-Type": "text/csv"})
    assert response.headers["content-type"].startswith("application/json")
    weights = _weights_json(response)
    assert weights.shape == (1, K)
    assert np.isclose(weights.sum(), 1.0, atol=1e-5) and (weights >= 0).all()
    np.testing.assert_allclose(weights[0], reference[0], atol=1e-6)


def test_reference_rows_sum_to_one_and_differ(reference: np.ndarray) -> None:
    assert reference.shape == (4, K)
    np.testing.assert_allclose(reference.sum(axis=1), 1.0, atol=1e-5)
    assert np.ptp(reference, axis=0).max() > 0.05  # different documents, different mixtures


def test_deterministic(server: Server) -> None:
    bodies = [server.client.post("/invocations", content=_csv(ROWS), headers={"Content-Type": "text/csv"}).content
              for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]


def _sparse_instance(row: np.ndarray) -> dict:
    keys = np.flatnonzero(row)
    return {"data": {"features": {"keys": keys.tolist(), "shape": [V], "values": row[keys].tolist()}}}


@pytest.mark.parametrize(
    ("content_type", "make_body"),
    [
        ("text/csv; label_size=0", lambda rows: _csv(rows).encode()),
        ("text/csv; charset=utf-8", lambda rows: (_csv(rows) + "\n").encode()),
        ("application/json", lambda rows: json.dumps({"instances": [{"features": r.tolist()} for r in rows]}).encode()),
        ("application/json", lambda rows: json.dumps({"instances": [_sparse_instance(r) for r in rows]}).encode()),
        ("application/json", lambda rows: json.dumps(rows.tolist()).encode()),
        ("application/jsonlines", lambda rows: "\n".join(json.dumps({"features": r.tolist()}) for r in rows).encode()),
        ("application/jsonlines", lambda rows: "\n".join(json.dumps(_sparse_instance(r)) for r in rows).encode()),
        ("application/x-recordio-protobuf", lambda rows: _recordio(rows, sparse=False)),
        ("application/x-recordio-protobuf", lambda rows: _recordio(rows, sparse=True)),
    ],
    ids=["csv-label_size", "csv-charset", "json-dense", "json-sparse", "json-bare-array", "jsonlines-dense",
         "jsonlines-sparse", "recordio-dense", "recordio-sparse"],
)
def test_request_formats_agree(server: Server, reference: np.ndarray, content_type: str, make_body) -> None:
    response = server.client.post("/invocations", content=make_body(ROWS), headers={"Content-Type": content_type})
    np.testing.assert_allclose(_weights_json(response), reference, atol=1e-5)


def _recordio(rows: np.ndarray, sparse: bool) -> bytes:
    buffer = io.BytesIO()
    if sparse:
        recordio.write_sparse(buffer, sp.csr_matrix(rows.astype(np.float32)))
    else:
        recordio.write_dense(buffer, rows.astype(np.float32))
    return buffer.getvalue()


def test_bare_unframed_record(server: Server, reference: np.ndarray) -> None:
    record = recordio.record_class()()
    record.features["values"].float32_tensor.values.extend(ROWS[0].tolist())
    response = server.client.post("/invocations", content=record.SerializeToString(),
                                  headers={"Content-Type": "application/x-recordio-protobuf"})
    np.testing.assert_allclose(_weights_json(response)[0], reference[0], atol=1e-5)


def test_jsonlines_response_one_line_per_row(server: Server, reference: np.ndarray) -> None:
    response = server.client.post("/invocations", content=_csv(ROWS),
                                  headers={"Content-Type": "text/csv", "Accept": "application/jsonlines"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonlines")
    lines = response.text.splitlines()
    assert len(lines) == 4 and all(list(json.loads(line)) == ["topic_weights"] for line in lines)
    np.testing.assert_allclose([json.loads(line)["topic_weights"] for line in lines], reference, atol=1e-6)


def test_recordio_response(server: Server, reference: np.ndarray) -> None:
    response = server.client.post("/invocations", content=_csv(ROWS),
                                  headers={"Content-Type": "text/csv", "Accept": "application/x-recordio-protobuf"})
    assert response.status_code == 200
    records = recordio.read_records(io.BytesIO(response.content))
    assert len(records) == 4
    for record, expected in zip(records, reference, strict=True):
        assert len(record.features) == 0 and list(record.label) == ["topic_weights"]
        tensor = record.label["topic_weights"].float32_tensor
        assert len(tensor.keys) == 0
        np.testing.assert_allclose(tensor.values, expected, atol=1e-6)


@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/json, text/plain;q=0.5"])
def test_accept_json_variants(server: Server, accept: str) -> None:
    response = server.client.post("/invocations", content=_csv(ROWS[:1]),
                                  headers={"Content-Type": "text/csv", "Accept": accept})
    assert _weights_json(response).shape == (1, K)


def test_batch_transform_mini_batch_of_lines(server: Server, reference: np.ndarray) -> None:
    """A transform job with SplitType=Line sends many lines per request; jsonlines keeps one output line per input."""
    rows = np.vstack([ROWS] * 50)
    assert server.client.get("/execution-parameters").json()["BatchStrategy"] == "MULTI_RECORD"
    response = server.client.post("/invocations", content=_csv(rows) + "\n",
                                  headers={"Content-Type": "text/csv", "Accept": "application/jsonlines"})
    lines = response.text.splitlines()
    assert len(lines) == 200
    np.testing.assert_allclose(json.loads(lines[5])["topic_weights"], reference[1], atol=1e-5)


@pytest.mark.parametrize(
    ("content_type", "accept", "body", "status", "text"),
    [
        ("text/plain", None, b"1,2", 415, "Content-Type 'text/plain' is not supported"),
        ("text/csv", "text/html", b"1,2", 406, "is not supported"),
        ("text/csv", None, b"1,2,3", 400, f"expected {V} (feature_dim)"),
        ("text/csv", None, b"a,b", 400, "is not a number"),
        ("application/json", None, b"{oops", 400, "not valid JSON"),
        ("application/json", None, json.dumps({"instances": [{"data": {"features": {
            "keys": [V + 5], "shape": [V], "values": [1.0]}}}]}).encode(), 400, "outside"),
        ("application/x-recordio-protobuf", None, b"\x00\x01garbage", 400, "not a valid RecordIO"),
        ("text/csv", None, b"", 204, ""),
    ],
    ids=["415", "406", "wrong-width", "not-numbers", "bad-json", "key-out-of-range", "bad-recordio", "empty"],
)
def test_errors(server: Server, content_type: str, accept: str | None, body: bytes, status: int, text: str) -> None:
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    response = server.client.post("/invocations", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert text in response.text
    assert "Traceback" not in response.text


def test_single_row_csv_latency(server: Server) -> None:
    """End-to-end p50 over loopback HTTP for one CSV row per request (measured figure printed for the report)."""
    row = _csv(CORPUS.documents[10:11].toarray())
    headers = {"Content-Type": "text/csv"}
    for _ in range(20):
        server.client.post("/invocations", content=row, headers=headers)
    timings = []
    for _ in range(300):
        started = time.perf_counter()
        response = server.client.post("/invocations", content=row, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    p50 = statistics.median(timings) * 1000
    print(f"single-row CSV p50 {p50:.2f} ms, p90 {np.percentile(timings, 90) * 1000:.2f} ms")
    assert p50 < 25  # generous on a shared 2-core box; the report gives the measured figure


@pytest.mark.parametrize("damage", ["pickle_payload"])
def test_bad_artifact_fails_at_start_naming_the_file(trained: OptML, tmp_path: Path, damage: str) -> None:
    """Through the real server; the other kinds of damage are unit tests of ``artifacts.load``."""
    copy = OptML(tmp_path / "opt_ml")
    copy.model.mkdir(parents=True)
    for path in trained.model.iterdir():
        (copy.model / path.name).write_bytes(path.read_bytes())
    name = "model_meta.json" if damage == "corrupt_meta" else "ntm_state.safetensors"
    if damage == "missing_state":
        (copy.model / name).unlink()
    elif damage == "corrupt_state":
        (copy.model / name).write_bytes(b"\x00" * 100)
    elif damage == "corrupt_meta":
        (copy.model / name).write_text("{not json")
    else:
        import pickle

        class Evil:
            def __reduce__(self):
                return (print, ("pwned",))

        (copy.model / name).write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(RuntimeError) as raised:
        start_server([*NTM, "serve"], copy.env(), tmp_path / "serve.log", timeout=60)
    message = str(raised.value)
    assert f"NTM serve: model artifact {copy.model / name}" in message
    assert "pwned" not in message

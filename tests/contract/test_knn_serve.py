"""k-NN serving over real HTTP: every request and response format, verbose forms, neighbour order (A5),
editing k / predictor_type in the metadata before serving, and width errors."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from container_core import recordio
from tests.conftest import PYTHON, OptML, run_command, start_server

KNN = [PYTHON, "-m", "knn_container.cli"]
DIM, POINTS, K = 4, 50, 5
RNG = np.random.default_rng(7)
BASE = RNG.normal(size=(POINTS, DIM)).astype(np.float32)
IDS = np.arange(POINTS, dtype=np.float32)  # label = training row id, as the tutorial's documents
QUERIES = RNG.normal(size=(3, DIM)).astype(np.float32)


def expected(metric: str, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Brute force (labels, distances) per query in the A5 response order."""
    if metric == "L2":
        distances = np.linalg.norm(QUERIES[:, None, :] - BASE[None, :, :], axis=2)
        order = np.argsort(distances, axis=1)[:, :k]
        return IDS[order], np.take_along_axis(distances, order, axis=1)
    unit = BASE / np.linalg.norm(BASE, axis=1, keepdims=True)
    similarity = (QUERIES / np.linalg.norm(QUERIES, axis=1, keepdims=True)) @ unit.T
    order = np.argsort(-similarity, axis=1)[:, :k][:, ::-1]  # most similar last
    return IDS[order], np.take_along_axis(similarity, order, axis=1)


def _train(root, metric: str) -> OptML:
    tree = OptML(root).configure(
        {"feature_dim": DIM, "k": K, "predictor_type": "classifier", "sample_size": POINTS, "index_metric": metric},
        {"train": None},
    )
    buffer = io.BytesIO()
    recordio.write_dense(buffer, BASE, IDS)
    (tree.channel("train") / "part-0.pbr").write_bytes(buffer.getvalue())
    result = run_command([*KNN, "train"], tree.env())
    assert result.returncode == 0, result.stdout
    return tree


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, OptML]:
    root = tmp_path_factory.mktemp("knn_serve")
    return {metric: _train(root / metric, metric) for metric in ("L2", "COSINE")}


@pytest.fixture(scope="module")
def l2_server(trained, tmp_path_factory):
    server = start_server([*KNN, "serve"], trained["L2"].env(), tmp_path_factory.mktemp("log") / "l2.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cosine_server(trained, tmp_path_factory):
    server = start_server([*KNN, "serve"], trained["COSINE"].env(), tmp_path_factory.mktemp("log") / "cos.log")
    yield server
    server.stop()


def _csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()


def _recordio(rows: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    recordio.write_dense(buffer, rows)
    return buffer.getvalue()


REQUESTS = {
    "text/csv": _csv,
    "text/csv; charset=utf-8": _csv,
    "application/json": lambda rows: json.dumps({"instances": [{"features": r.tolist()} for r in rows]}).encode(),
    "application/json (data.features)": lambda rows: json.dumps(
        {"instances": [{"data": {"features": {"values": r.tolist()}}} for r in rows]}).encode(),
    "application/json (sparse)": lambda rows: json.dumps(
        {"instances": [{"data": {"features": {"keys": list(range(DIM)), "shape": [DIM], "values": r.tolist()}}}
                       for r in rows]}).encode(),
    "application/json (bare array)": lambda rows: json.dumps(rows.tolist()).encode(),
    "application/jsonlines": lambda rows: "\n".join(json.dumps({"features": r.tolist()}) for r in rows).encode(),
    "application/x-recordio-protobuf": _recordio,
}


@pytest.mark.parametrize("request_type", REQUESTS)
def test_every_request_format_gives_the_brute_force_answer(l2_server, request_type: str) -> None:
    response = l2_server.client.post(
        "/invocations", content=REQUESTS[request_type](QUERIES),
        headers={"Content-Type": request_type.split(" (")[0], "Accept": "application/json; verbose=true"},
    )
    assert response.status_code == 200, response.text
    labels, distances = expected("L2")
    predictions = response.json()["predictions"]
    assert [list(p) for p in predictions] == [["predicted_label", "distances", "labels"]] * 3  # key order
    assert [p["labels"] for p in predictions] == labels.tolist()
    assert np.allclose([p["distances"] for p in predictions], distances, atol=1e-4)
    assert all(np.all(np.diff(p["distances"]) >= 0) for p in predictions)  # L2: nearest first


def test_one_bare_record_body(l2_server) -> None:
    Record = recordio.record_class()
    record = Record()
    record.features["values"].float32_tensor.values.extend(QUERIES[0].tolist())
    payload = record.SerializeToString()
    response = l2_server.client.post("/invocations", content=payload,
                                     headers={"Content-Type": "application/x-recordio-protobuf"})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1


def test_response_formats_plain_and_verbose(l2_server) -> None:
    client = l2_server.client
    labels, distances = expected("L2")
    body = _csv(QUERIES)

    def post(accept: str | None):
        headers = {"Content-Type": "text/csv"} | ({"Accept": accept} if accept else {})
        response = client.post("/invocations", content=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    # nothing asked, */*, and plain JSON: the built-in's JSON shape; each row's prediction is a float label
    plain = post(None)
    assert plain.headers["content-type"].startswith("application/json")
    assert list(plain.json()) == ["predictions"] and all(list(p) == ["predicted_label"] for p in plain.json()["predictions"])
    assert post("*/*").json() == plain.json() == post("application/json").json()
    assert all(isinstance(p["predicted_label"], float) for p in plain.json()["predictions"])

    lines = post("application/jsonlines").text
    assert lines.endswith("\n") and [json.loads(line) for line in lines.splitlines()] == plain.json()["predictions"]
    verbose_lines = post("application/jsonlines; verbose=true")
    assert verbose_lines.headers["content-type"].startswith("application/jsonlines")
    objects = [json.loads(line) for line in verbose_lines.text.splitlines()]
    assert [o["labels"] for o in objects] == labels.tolist()
    assert objects == post("application/json; verbose=true").json()["predictions"]

    records = recordio.read_records(io.BytesIO(post("application/x-recordio-protobuf").content))
    assert [list(r.label) for r in records] == [["predicted_label"]] * 3 and all(len(r.features) == 0 for r in records)
    assert [r.label["predicted_label"].float32_tensor.values[0] for r in records] == [
        p["predicted_label"] for p in plain.json()["predictions"]]
    verbose_records = recordio.read_records(io.BytesIO(post("application/x-recordio-protobuf; verbose=true").content))
    for record, row_labels, row_distances in zip(verbose_records, labels, distances, strict=True):
        assert list(record.label["labels"].float32_tensor.values) == row_labels.tolist()
        assert np.allclose(record.label["distances"].float32_tensor.values, row_distances, atol=1e-4)
    assert post("application/json; verbose=false").json() == plain.json()


def test_cosine_lists_similarities_ascending_most_similar_last(cosine_server) -> None:
    response = cosine_server.client.post("/invocations", content=_csv(QUERIES),
                                         headers={"Content-Type": "text/csv", "Accept": "application/jsonlines; verbose=true"})
    assert response.status_code == 200
    objects = [json.loads(line) for line in response.text.splitlines()]
    labels, similarities = expected("COSINE")
    assert [o["labels"] for o in objects] == labels.tolist()
    assert np.allclose([o["distances"] for o in objects], similarities, atol=1e-5)
    # the tutorial reverses the labels to put the closest document first
    closest = [int(o["labels"][::-1][0]) for o in objects]
    unit = BASE / np.linalg.norm(BASE, axis=1, keepdims=True)
    assert closest == np.argmax(QUERIES @ unit.T, axis=1).tolist()


def test_a_thousand_rows_in_one_request(l2_server) -> None:
    rows = np.random.default_rng(3).normal(size=(1000, DIM)).astype(np.float32)
    response = l2_server.client.post("/invocations", content=_csv(rows), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1000


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("text/csv", b"1,2,3", 400, "expected 4 (feature_dim)"),
        ("application/json", b'{"instances": [{"features": [1, 2, 3, 4, 5]}]}', 400, "expected 4 (feature_dim)"),
        ("text/csv", b"1,2,x,4", 400, "column 3: 'x' is not a number"),
        ("image/png", b"1,2,3,4", 415, "not supported"),
        ("text/csv", b"", 204, ""),
    ],
)
def test_bad_requests(l2_server, content_type, body, status, message) -> None:
    response = l2_server.client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert message in response.text and "Traceback" not in response.text
    unsupported = l2_server.client.post("/invocations", content=b"1,2,3,4",
                                        headers={"Content-Type": "text/csv", "Accept": "text/html"})
    assert unsupported.status_code == 406


def test_editing_k_and_predictor_type_before_serving(trained, tmp_path, servers) -> None:
    tree = OptML(tmp_path / "edited")
    shutil.copytree(trained["L2"].model, tree.model)
    meta_path = tree.model / "model_algo-1.json"
    meta = json.loads(meta_path.read_text())
    meta.update(k=2, predictor_type="regressor")
    meta_path.write_text(json.dumps(meta))
    server = start_server([*KNN, "serve"], tree.env(), tmp_path / "edited.log")
    servers.append(server)
    predictions = server.client.post("/invocations", content=_csv(QUERIES),
                                     headers={"Content-Type": "text/csv", "Accept": "application/json; verbose=true"}
                                     ).json()["predictions"]
    labels, _ = expected("L2", k=2)
    assert [p["labels"] for p in predictions] == labels.tolist()
    assert [p["predicted_label"] for p in predictions] == pytest.approx(labels.mean(axis=1).tolist())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"k": POINTS + 1}, f"k={POINTS + 1} must be in [1, {POINTS}]"),
        ({"predictor_type": "ranker"}, "predictor_type 'ranker' is not one of classifier, regressor"),
        ({"k": "three"}, "k must be an integer"),
    ],
)
def test_bad_metadata_edits_fail_at_serve_start(trained, tmp_path, edit, message) -> None:
    tree = OptML(tmp_path / "bad")
    shutil.copytree(trained["L2"].model, tree.model)
    meta_path = tree.model / "model_algo-1.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), **edit}))
    result = run_command([*KNN, "serve"], tree.env(SAGEMAKER_BIND_TO_PORT="1"), timeout=60)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr

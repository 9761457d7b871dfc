"""The container core through a real process: train on a temp /opt/ml tree, serve over a loopback socket."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from container_core import recordio
from tests.conftest import PYTHON, OptML, run_command, start_server

TOY = [PYTHON, "-m", "tests.contract.toy_algorithm"]


def _write_train(optml: OptML, rows: np.ndarray, content_type: str | None = None) -> None:
    optml.configure({"feature_dim": rows.shape[1], "scale": 2}, {"train": content_type})
    buffer = io.BytesIO()
    recordio.write_dense(buffer, rows.astype(np.float32))
    (optml.channel("train") / "part-0.pbr").write_bytes(buffer.getvalue())
    (optml.channel("train") / ".amazon.manifest").write_text("not data")  # must be skipped


def test_train_writes_model_and_metric_line(optml: OptML) -> None:
    rows = np.array([[1, 2, 3], [3, 4, 5]], np.float32)
    _write_train(optml, rows)
    result = run_command([*TOY, "train"], optml.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert np.allclose(np.load(optml.model / "mean.npy"), [2, 3, 4])
    assert "#quality_metric: host=algo-1, train mean_norm <score>=" in result.stdout
    assert not optml.failure.exists()


def test_train_reads_csv_channel(optml: OptML) -> None:
    optml.configure({"feature_dim": 2}, {"train": "text/csv"})
    (optml.channel("train") / "data.csv").write_text("1,2\n3,4\n")
    result = run_command([*TOY, "train"], optml.env())
    assert result.returncode == 0, result.stdout
    assert np.allclose(np.load(optml.model / "mean.npy"), [2, 3])


@pytest.mark.parametrize(
    ("hyperparameters", "first_line"),
    [
        ({"feature_dim": 0}, "Hyperparameter feature_dim: '0' is not in [1, 1000]"),
        ({"feature_dim": "abc"}, "Hyperparameter feature_dim: 'abc' is not an integer"),
        ({}, "Hyperparameter feature_dim is required"),
        ({"feature_dim": 3, "scael": 1}, "Hyperparameter scael is not a toy hyperparameter; did you mean scale?"),
        ({"feature_dim": 3, "scale": 0}, "Hyperparameter scale: '0' is not in (0, 10]"),
        ({"feature_dim": 3, "mode": 3}, "Hyperparameter mode: '3' is not in {1, 2}"),
        ({"feature_dim": 3, "scale": 5}, "Hyperparameter scale must not exceed feature_dim"),
    ],
)
def test_bad_hyperparameters_write_failure_file(optml: OptML, hyperparameters: dict, first_line: str) -> None:
    optml.configure(hyperparameters, {"train": None})
    result = run_command([*TOY, "train"], optml.env())
    assert result.returncode == 2
    text = optml.failure.read_text()
    assert text.splitlines()[0].startswith(first_line), text
    assert "Traceback" not in text and len(text) < 1024
    assert "Error type: UserError" in text
    assert f"training failed: {first_line}" in result.stdout  # the log says why in one line ...
    assert "Traceback" not in result.stdout  # ... and has the traceback only with SM_LOG_LEVEL=DEBUG


def test_ignored_tuning_keys(optml: OptML) -> None:
    _write_train(optml, np.ones((2, 2)))
    hp = json.loads((optml.root / "input/config/hyperparameters.json").read_text())
    hp.update({"_tuning_objective_metric": "validation:total_loss", "sagemaker_job": "x"})
    (optml.root / "input/config/hyperparameters.json").write_text(json.dumps(hp))
    assert run_command([*TOY, "train"], optml.env()).returncode == 0


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"test": None}, "toy needs a 'train' channel"),
        ({"train": None, "extra": None}, "Channel 'extra' is not supported by toy; use one of: train, test"),
        ({"train": "image/png"}, "Channel 'train': content type 'image/png' is not supported by toy"),
    ],
)
def test_bad_channels_write_failure_file(optml: OptML, channels: dict, message: str) -> None:
    optml.configure({"feature_dim": 2}, channels)
    result = run_command([*TOY, "train"], optml.env())
    assert result.returncode == 2
    assert optml.failure.read_text().startswith(message)


def test_corrupt_recordio_names_file_record_and_offset(optml: OptML) -> None:
    _write_train(optml, np.ones((3, 2)))
    path = optml.channel("train") / "part-0.pbr"
    data = path.read_bytes()
    path.write_bytes(data + b"garbage!")  # a 4th "record" with a bad magic after 3 good ones
    result = run_command([*TOY, "train"], optml.env())
    assert result.returncode == 2
    first = optml.failure.read_text().splitlines()[0]
    assert f"part-0.pbr: record 3 at byte {len(data)}: bad magic" in first


def test_wrong_feature_width_is_a_user_error(optml: OptML) -> None:
    _write_train(optml, np.ones((2, 3)))
    hp_path = optml.root / "input/config/hyperparameters.json"
    hp_path.write_text(json.dumps({"feature_dim": "4"}))
    result = run_command([*TOY, "train"], optml.env())
    assert result.returncode == 2
    assert "has 3 features, expected 4 (feature_dim)" in optml.failure.read_text()


@pytest.fixture
def toy_server(optml: OptML, tmp_path, servers):
    _write_train(optml, np.array([[1, 0], [1, 2]], np.float32))
    assert run_command([*TOY, "train"], optml.env()).returncode == 0
    server = start_server([*TOY, "serve"], optml.env(SAGEMAKER_MAX_PAYLOAD_IN_MB="1"), tmp_path / "serve.log")
    servers.append(server)
    return server


def test_serving_status_codes(toy_server) -> None:
    client = toy_server.client
    ok = client.post("/invocations", content=b"1,2\n2,0", headers={"Content-Type": "text/csv"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/json")
    assert ok.json() == {"predictions": [{"score": 6.0}, {"score": 4.0}]}  # mean (1, 1) * scale 2
    star = client.post("/invocations", content=b"1,1", headers={"Content-Type": "text/csv", "Accept": "*/*"})
    assert star.json() == {"predictions": [{"score": 4.0}]}
    lines = client.post("/invocations", content=b"[[1, 1]]",
                        headers={"Content-Type": "application/json", "Accept": "application/jsonlines"})
    assert lines.text == '{"score": 4.0}\n'
    proto = client.post("/invocations", content=b"1,1",
                        headers={"Content-Type": "text/csv", "Accept": "application/x-recordio-protobuf"})
    record = recordio.read_records(io.BytesIO(proto.content))[0]
    assert list(record.label["score"].float32_tensor.values) == [4.0]
    cases = {
        204: client.post("/invocations", content=b"", headers={"Content-Type": "text/csv"}),
        400: client.post("/invocations", content=b"1,x", headers={"Content-Type": "text/csv"}),
        406: client.post("/invocations", content=b"1,1", headers={"Content-Type": "text/csv", "Accept": "image/png"}),
        413: client.post("/invocations", content=b"1," * (600 * 1024), headers={"Content-Type": "text/csv"}),
        415: client.post("/invocations", content=b"1,1", headers={"Content-Type": "image/png"}),
        500: client.post("/invocations", content=b"13,1", headers={"Content-Type": "text/csv"}),
    }
    for status, response in cases.items():
        assert response.status_code == status, (status, response.text)
        if status != 204:
            assert response.text.count("\n") == 1 and "Traceback" not in response.text
    assert "column 2: 'x' is not a number" in cases[400].text
    wrong_width = client.post("/invocations", content=b"1,2,3", headers={"Content-Type": "text/csv"})
    assert wrong_width.status_code == 400 and "expected 2 (feature_dim)" in wrong_width.text
    assert client.get("/ping").status_code == 200


def test_execution_parameters(toy_server) -> None:
    params = toy_server.client.get("/execution-parameters").json()
    assert params == {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}


def test_corrupt_artifact_fails_at_serve_start(optml: OptML, tmp_path) -> None:
    optml.model.mkdir(parents=True)
    (optml.model / "mean.npy").write_bytes(b"not numpy")
    result = run_command([*TOY, "serve"], optml.env(SAGEMAKER_BIND_TO_PORT="1"), timeout=60)
    assert result.returncode == 2
    assert "model artifact" in result.stderr and "corrupt" in result.stderr


@pytest.mark.parametrize("argv", [[], ["fit"]])
def test_usage_error_writes_the_failure_file(optml: OptML, argv: list[str]) -> None:
    result = run_command([*TOY, *argv], optml.env())
    assert result.returncode == 2
    failure = optml.failure.read_text()
    assert failure.startswith("toy-container: ") and "'toy-container train'" in failure
    assert "Error type: UserError" in failure
    assert "usage: toy-container" in result.stderr


def test_batch_jsonlines_leave_the_record_separator_to_assemble_with(optml: OptML, tmp_path, servers) -> None:
    """Batch transform appends a newline after each response (AssembleWith=Line): ours ends without one."""
    _write_train(optml, np.array([[1, 0], [1, 2]], np.float32))
    assert run_command([*TOY, "train"], optml.env()).returncode == 0
    server = start_server([*TOY, "serve"], optml.env(SAGEMAKER_BATCH="True"), tmp_path / "serve.log")
    servers.append(server)
    jsonlines = {"Content-Type": "text/csv", "Accept": "application/jsonlines"}
    assert server.client.post("/invocations", content=b"1,1\n2,2", headers=jsonlines).text == \
        '{"score": 4.0}\n{"score": 8.0}'
    json_document = server.client.post("/invocations", content=b"1,1", headers={"Content-Type": "text/csv"})
    assert json_document.json() == {"predictions": [{"score": 4.0}]}

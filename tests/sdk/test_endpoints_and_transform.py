"""Local endpoints (several at once, torn down by delete and at exit) and batch transform, with the toy algorithm."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from opensagemaker import Estimator
from opensagemaker.amazon.common import write_numpy_to_dense_tensor
from opensagemaker.backends.local_transform import pack, split_records
from opensagemaker.exceptions import UnexpectedStatusException
from opensagemaker.predictor import RealTimePredictor, csv_serializer, json_deserializer
from tests.conftest import REPO
from tests.sdk.conftest import ROLE, TOY_IMAGE, server_pids

ROWS = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [0.5, -1.0], [3.0, 1.0]])
MEAN = np.array([2.0, 3.0])  # the toy model is the mean of its training rows


def _put(session, bucket: str, key: str, body: bytes) -> str:
    session.s3_client().put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def _train(session, bucket: str, scale: float) -> Estimator:
    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, np.array([[1.0, 2.0], [3.0, 4.0]]))
    uri = _put(session, bucket, "toy-endpoints/train/data.pbr", buffer.getvalue())
    estimator = Estimator(TOY_IMAGE, ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge",
                          sagemaker_session=session)
    estimator.set_hyperparameters(feature_dim=2, scale=scale)
    estimator.fit({"train": uri}, logs=False)
    return estimator


@pytest.fixture(scope="module")
def trained(sdk_env):
    from opensagemaker import Session

    session = Session()
    bucket = session.default_bucket()
    return session, bucket, _train(session, bucket, 1.0), _train(session, bucket, 2.0)


def _tutorial_predictor(estimator: Estimator, **deploy_args):
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge", **deploy_args)
    predictor.content_type = "text/csv"
    predictor.serializer = csv_serializer
    predictor.deserializer = json_deserializer
    return predictor


def test_two_live_endpoints_at_once_then_delete_one(trained) -> None:
    session, _bucket, one, two = trained
    first = _tutorial_predictor(one, endpoint_name="toy-first")
    second = _tutorial_predictor(two, endpoint_name="toy-second")
    try:
        pids = server_pids("toy-first") + server_pids("toy-second")
        assert len(set(pids)) == 2 and all(_running(pid) for pid in pids)
        for row in ROWS:
            assert first.predict(row)["predictions"][0]["score"] == pytest.approx(row @ MEAN)
            assert second.predict(row)["predictions"][0]["score"] == pytest.approx(2 * row @ MEAN)
        first.delete_endpoint()
        assert not _alive(pids[0])  # stopped by pid
        assert second.predict(ROWS[0])["predictions"][0]["score"] == pytest.approx(2 * ROWS[0] @ MEAN)
        with pytest.raises(ClientError, match="Endpoint toy-first of account 000000000000 not found"):
            first.predict(ROWS[0])
        with pytest.raises(ClientError, match="already existing endpoint"):
            _tutorial_predictor(two, endpoint_name="toy-second")
    finally:
        for name in ("toy-first", "toy-second"):
            with contextlib.suppress(ValueError):
                session.delete_endpoint(name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _alive(pid: int, wait: float = 15) -> bool:
    """False as soon as ``pid`` is gone; True if it still runs after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


def test_batch_transform_output_matches_predict(trained, capsys) -> None:
    session, bucket, one, _two = trained
    text = "\n".join(",".join(f"{v:g}" for v in row) for row in ROWS) + "\n"
    data = _put(session, bucket, "toy-batch/in/rows.csv", text.encode())
    predictor = _tutorial_predictor(one, endpoint_name="toy-batch-reference")
    try:
        expected = [predictor.predict(row)["predictions"][0]["score"] for row in ROWS]
    finally:
        predictor.delete_endpoint()

    # MultiRecord, default Accept (JSON) and AssembleWith None: one request, one JSON document
    multi = one.transformer(instance_count=1, instance_type="ml.m4.xlarge", output_path=f"s3://{bucket}/toy-batch/multi")
    multi.transform(data, content_type="text/csv", split_type="Line")
    multi.wait()
    log = capsys.readouterr().out
    assert "BatchStrategy=MultiRecord, MaxPayloadInMB=6" in log  # from the container's /execution-parameters
    assert "1 request(s)" in log
    document = json.loads(session.read_s3_file(bucket, "toy-batch/multi/rows.csv.out"))
    assert [p["score"] for p in document["predictions"]] == pytest.approx(expected)

    # SingleRecord + jsonlines + AssembleWith Line: one line per record, in order
    single = one.transformer(1, "ml.m4.xlarge", strategy="SingleRecord", assemble_with="Line",
                             accept="application/jsonlines", output_path=f"s3://{bucket}/toy-batch/single")
    single.transform(data, content_type="text/csv", split_type="Line", wait=True, logs=False)
    lines = session.read_s3_file(bucket, "toy-batch/single/rows.csv.out").splitlines()
    assert [json.loads(line)["score"] for line in lines] == pytest.approx(expected)

    # RecordIO split of a RecordIO-protobuf object
    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, ROWS)
    recordio_data = _put(session, bucket, "toy-batch/in-pbr/rows.pbr", buffer.getvalue())
    framed = one.transformer(1, "ml.m4.xlarge", accept="application/jsonlines", assemble_with="Line",
                             output_path=f"s3://{bucket}/toy-batch/pbr")
    framed.transform(recordio_data, content_type="application/x-recordio-protobuf", split_type="RecordIO")
    framed.wait(logs=False)
    lines = session.read_s3_file(bucket, "toy-batch/pbr/rows.pbr.out").splitlines()
    assert [json.loads(line)["score"] for line in lines] == pytest.approx(expected)


def test_a_failing_transform_raises_with_the_model_error(trained) -> None:
    session, bucket, one, _two = trained
    data = _put(session, bucket, "toy-batch/bad/rows.txt", b"1,2\n")
    transformer = one.transformer(1, "ml.m4.xlarge", output_path=f"s3://{bucket}/toy-batch/bad-out")
    transformer.transform(data, content_type="text/x-nope", split_type="Line")
    with pytest.raises(UnexpectedStatusException, match=r"(?s)Transform job .*Failed.*415.*text/x-nope"):
        transformer.wait(logs=False)


def test_pack_respects_max_payload_and_keeps_order() -> None:
    records = [bytes([65 + i]) * size for i, size in enumerate([40, 30, 30, 50, 10, 100])]
    bodies = list(pack(iter(records), "Line", "MultiRecord", 100, "in.csv"))
    assert all(len(body) <= 100 for body in bodies)
    assert b"\n".join(bodies).split(b"\n") == records
    # 40+1+30 = 71 (+1+30 would be 102); 30+1+50+1+10 = 92; 100: separators count towards the limit
    assert [len(body) for body in bodies] == [71, 92, 100]
    assert list(pack(iter(records[:2]), "Line", "SingleRecord", 100, "in.csv")) == records[:2]
    with pytest.raises(ValueError, match="in.csv: record 1 is 101 bytes"):
        list(pack(iter([b"x", b"y" * 101]), "Line", "MultiRecord", 100, "in.csv"))


def test_split_records_by_split_type() -> None:
    assert list(split_records(b"a\n\nb\nc", "Line", "f")) == [b"a", b"b", b"c"]
    assert list(split_records(b"whole\nobject", None, "f")) == [b"whole\nobject"]
    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, ROWS)
    frames = list(split_records(buffer.getvalue(), "RecordIO", "f"))
    assert len(frames) == len(ROWS) and b"".join(frames) == buffer.getvalue()
    with pytest.raises(ValueError, match="TFRecord"):
        list(split_records(b"x", "TFRecord", "f"))


def test_an_endpoint_outlives_the_sdk_process_that_deployed_it_as_on_sagemaker(trained, sdk_env) -> None:
    """Endpoints belong to the local service: one process deploys and exits, another predicts and deletes."""
    session, _bucket, one, _two = trained
    script = textwrap.dedent(
        f"""
        from opensagemaker import Model, Session
        Model({one.model_data!r}, {TOY_IMAGE!r}, role={ROLE!r}, sagemaker_session=Session()).deploy(
            1, "local", endpoint_name="left-on")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                            env=dict(os.environ), timeout=120)
    assert result.returncode == 0, result.stderr
    (pid,) = server_pids("left-on")
    assert _running(pid)
    predictor = RealTimePredictor("left-on", session, serializer=csv_serializer, deserializer=json_deserializer,
                                  content_type="text/csv")
    assert predictor.predict(ROWS[0])["predictions"][0]["score"] == pytest.approx(ROWS[0] @ MEAN)
    session.delete_endpoint("left-on")
    assert not _alive(pid)

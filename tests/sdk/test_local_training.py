"""Local training jobs with the toy algorithm: per-host trees, real sharding, logs, artifacts, failures."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError

from opensagemaker import Estimator, TrainingInput, s3_input
from opensagemaker.amazon.common import write_numpy_to_dense_tensor
from opensagemaker.backends.local_commands import register_image_command, unregister_image_command
from opensagemaker.exceptions import UnexpectedStatusException
from tests.conftest import REPO
from tests.sdk.conftest import ROLE, TOY_IMAGE, service_record

# with several hosts the SDK prints each CloudWatch line after its stream's host part, as it does on SageMaker
# SDK v1 prefixes a line with its log stream once a job has more than one; lines read while only the first
# host's stream existed come unprefixed, so the host is taken from the metric line and checked against the prefix.
METRIC = re.compile(r"^(?:\[(algo-\d+)-\d+\] )?.*#quality_metric: host=(algo-\d+), train mean_norm <score>=(\S+)$")


def _upload_parts(session, bucket: str, prefix: str, parts: list[np.ndarray], recordio: bool = False) -> str:
    client = session.s3_client()
    for index, part in enumerate(parts):
        if recordio:
            binary = io.BytesIO()
            write_numpy_to_dense_tensor(binary, part)
            body = binary.getvalue()
        else:
            text = io.StringIO()
            np.savetxt(text, part, delimiter=",", fmt="%g")
            body = text.getvalue().encode()
        client.put_object(Bucket=bucket, Key=f"{prefix}/part-{index}.{'pbr' if recordio else 'csv'}", Body=body)
    return f"s3://{bucket}/{prefix}"


def _host_norms(output: str) -> dict[str, float]:
    norms = {}
    for line in output.splitlines():
        match = METRIC.match(line)
        if match:
            assert match.group(1) in (None, match.group(2))  # a prefix names the host that printed the line
            norms[match.group(2)] = float(match.group(3))
    return norms


def _toy(session, instance_count: int = 1, **kwargs) -> Estimator:
    estimator = Estimator(TOY_IMAGE, "arn:aws:iam::000000000000:role/test", train_instance_count=instance_count,
                          train_instance_type="ml.c4.xlarge", sagemaker_session=session, **kwargs)
    estimator.set_hyperparameters(feature_dim=2)
    return estimator


def test_two_hosts_with_sharded_by_s3_key_each_train_on_a_distinct_shard(session, bucket, capsys) -> None:
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 20, size=(5, 2)).astype(float) for _ in range(4)]
    uri = _upload_parts(session, bucket, "shard-test/train", parts)
    estimator = _toy(session, instance_count=2)
    estimator.fit({"train": s3_input(uri, distribution="ShardedByS3Key", content_type="text/csv")})
    norms = _host_norms(capsys.readouterr().out)
    # objects sorted by key, dealt round-robin: algo-1 gets parts 0 and 2, algo-2 parts 1 and 3
    expected = {
        "algo-1": np.linalg.norm(np.vstack([parts[0], parts[2]]).mean(axis=0)),
        "algo-2": np.linalg.norm(np.vstack([parts[1], parts[3]]).mean(axis=0)),
    }
    assert norms == pytest.approx(expected)
    assert norms["algo-1"] != pytest.approx(norms["algo-2"])


def test_fully_replicated_gives_every_host_everything_and_writes_the_sagemaker_tree(session, bucket, capsys) -> None:
    parts = [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 6.0]])]
    uri = _upload_parts(session, bucket, "replica-test/train", parts, recordio=True)
    test_uri = _upload_parts(session, bucket, "replica-test/test", parts)
    estimator = _toy(session, instance_count=2, output_path=f"s3://{bucket}/replica-out")
    # a plain URI: FullyReplicated and no ContentType (RecordIO-protobuf), as SDK v1 sends it
    estimator.fit({"train": uri, "test": TrainingInput(test_uri, content_type="text/csv")})
    output = capsys.readouterr().out
    assert "===== Job Complete =====" in output
    everything = np.vstack(parts).mean(axis=0)
    assert _host_norms(output) == pytest.approx({h: np.linalg.norm(everything) for h in ("algo-1", "algo-2")})

    job = estimator.latest_training_job.name
    work = Path(service_record("training-jobs", job)["_local"]["work_dir"])  # kept: OPENSAGEMAKER_KEEP_WORK
    config = work / "algo-2" / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {"feature_dim": "2"}
    assert json.loads((config / "resourceconfig.json").read_text())["hosts"] == ["algo-1", "algo-2"]
    assert json.loads((config / "resourceconfig.json").read_text())["current_host"] == "algo-2"
    data_config = json.loads((config / "inputdataconfig.json").read_text())
    assert data_config["train"] == {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                                    "RecordWrapperType": "None"}
    assert data_config["test"]["ContentType"] == "text/csv"
    assert sorted(p.name for p in (work / "algo-2" / "input" / "data" / "train").iterdir()) == ["part-0.pbr", "part-1.pbr"]

    assert estimator.model_data == f"s3://{bucket}/replica-out/{job}/output/model.tar.gz"
    body = session.s3_client().get_object(Bucket=bucket, Key=f"replica-out/{job}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert sorted(archive.getnames()) == ["mean.npy", "meta.json"]
    assert re.fullmatch(r"toy-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3}", job)


def test_file_inputs_and_file_output_path_work_locally(session, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    np.savetxt(data / "train.csv", np.array([[2.0, 0.0], [4.0, 0.0]]), delimiter=",")
    estimator = _toy(session, output_path=(tmp_path / "out").as_uri())
    estimator.fit({"train": s3_input(data.as_uri(), content_type="text/csv")}, logs=False)
    artifact = tmp_path / "out" / estimator.latest_training_job.name / "output" / "model.tar.gz"
    assert artifact.is_file()
    with tarfile.open(artifact) as archive:
        mean = np.load(io.BytesIO(archive.extractfile("mean.npy").read()))
    assert mean.tolist() == [3.0, 0.0]


def test_a_failing_job_raises_with_the_failure_file_text(session, bucket) -> None:
    uri = _upload_parts(session, bucket, "fail-test/train", [np.ones((2, 2))])
    estimator = _toy(session, instance_count=2)
    estimator.set_hyperparameters(feature_dim=2, scale=5)  # the toy's rule: scale must not exceed feature_dim
    with pytest.raises(UnexpectedStatusException) as raised:
        estimator.fit({"train": s3_input(uri, content_type="text/csv")}, logs=False)
    message = str(raised.value)
    assert estimator.latest_training_job.name in message
    assert "Hyperparameter scale must not exceed feature_dim" in message
    assert raised.value.actual_status == "Failed"


def test_an_empty_prefix_fails_the_job_naming_the_uri(session, bucket) -> None:
    estimator = _toy(session)
    with pytest.raises(UnexpectedStatusException, match=f"No S3 objects found under S3 URL \"s3://{bucket}/nothing-here\""):
        estimator.fit({"train": f"s3://{bucket}/nothing-here"}, logs=False)


def test_instance_count_and_type_are_required_and_v1_v2_names_must_agree(session) -> None:
    with pytest.raises(ValueError, match="instance_type"):
        Estimator(TOY_IMAGE, ROLE, train_instance_count=1, sagemaker_session=session)
    with pytest.raises(ValueError, match="disagree"):
        Estimator(TOY_IMAGE, ROLE, train_instance_count=1, instance_count=2, train_instance_type="local",
                  sagemaker_session=session)
    v2 = Estimator(image_uri=TOY_IMAGE, role=ROLE, instance_count=2, instance_type="local", sagemaker_session=session)
    assert (v2.train_instance_count, v2.instance_type) == (2, "local")


SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]  # a "container" that never finishes


def _host_pids(job: str, count: int) -> list[int]:
    deadline = time.monotonic() + 30
    while len(pids := service_record("training-jobs", job)["_local"].get("pids", [])) < count:
        assert time.monotonic() < deadline, f"{job}: hosts did not start"
        time.sleep(0.05)
    return pids


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_stop_training_job_ends_every_host(session, bucket) -> None:
    uri = _upload_parts(session, bucket, "stop-test/train", [np.ones((2, 2))])
    register_image_command("sleeper", SLEEPER)
    try:
        estimator = Estimator("example.com/sleeper:1", ROLE, train_instance_count=2, train_instance_type="local",
                              sagemaker_session=session)
        estimator.fit({"train": uri}, wait=False)
        job = estimator.latest_training_job.name
        pids = _host_pids(job, 2)
        session.backend.stop_training_job(job)
        with pytest.raises(UnexpectedStatusException, match=f"Error for Training job {job}: Stopped"):
            estimator.latest_training_job.wait(logs=False)
        assert len(pids) == 2 and all(_gone(pid) for pid in pids)
    finally:
        unregister_image_command("sleeper")


def test_a_job_outlives_the_sdk_process_that_started_it_as_on_sagemaker(session, bucket) -> None:
    """The job belongs to the local service: the SDK process exits, the hosts train on, another process sees the
    job and stops it."""
    uri = _upload_parts(session, bucket, "exit-test/train", [np.ones((2, 2))])
    register_image_command("sleeper", SLEEPER)
    script = textwrap.dedent(
        f"""
        from opensagemaker import Estimator, Session
        estimator = Estimator("example.com/sleeper:1", {ROLE!r}, train_instance_count=1,
                              train_instance_type="local", sagemaker_session=Session())
        estimator.fit({{"train": {uri!r}}}, wait=False)
        print(estimator.latest_training_job.name)
        """
    )
    try:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert result.returncode == 0, result.stderr
        job = result.stdout.strip().splitlines()[-1]
        (pid,) = _host_pids(job, 1)
        os.kill(pid, 0)  # still training after its SDK process ended
        assert session.backend.describe_training_job(job).status == "InProgress"
        session.backend.stop_training_job(job)
        assert _gone(pid)
    finally:
        unregister_image_command("sleeper")


# -- checkpoints (CheckpointConfig) -----------------------------------------------------------------------------

COUNTER = [sys.executable, "-c", textwrap.dedent(
    """
    import json, os, pathlib, sys
    root = pathlib.Path(os.environ["SM_OPT_ML"])
    state = root / "checkpoints" / "state" / "count.txt"
    count = int(state.read_text()) + 1 if state.exists() else 1
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(str(count))
    host = json.loads((root / "input" / "config" / "resourceconfig.json").read_text())["current_host"]
    print(f"{host} run {count}", flush=True)
    (root / "model" / "model.txt").write_text(str(count))
    if json.loads((root / "input" / "config" / "hyperparameters.json").read_text()).get("fail") == "yes":
        (root / "output" / "failure").write_text("failing on purpose")
        sys.exit(1)
    """
)]


@pytest.fixture
def counter_image() -> Iterator[str]:
    register_image_command("counter", COUNTER)
    try:
        yield "example.com/counter:1"
    finally:
        unregister_image_command("counter")


def test_checkpoints_are_restored_into_every_host_and_saved_after_success_and_failure(
    session, bucket, counter_image, capsys
) -> None:
    uri = _upload_parts(session, bucket, "ckpt-test/train", [np.ones((2, 2))])
    checkpoints = f"s3://{bucket}/ckpt-test/checkpoints"
    estimator = Estimator(counter_image, ROLE, train_instance_count=2, train_instance_type="local",
                          sagemaker_session=session, checkpoint_s3_uri=checkpoints)
    estimator.fit({"train": uri})
    assert {"algo-1 run 1", "algo-2 run 1"} <= {line.split("] ")[-1] for line in capsys.readouterr().out.splitlines()}
    stored = session.s3_client().get_object(Bucket=bucket, Key="ckpt-test/checkpoints/state/count.txt")
    assert stored["Body"].read() == b"1"

    estimator.set_hyperparameters(fail="yes")
    with pytest.raises(UnexpectedStatusException, match="failing on purpose"):
        estimator.fit({"train": uri})
    assert "algo-1 run 2" in capsys.readouterr().out  # restored from the first job

    estimator.set_hyperparameters(fail="no")
    estimator.fit({"train": uri})
    out = capsys.readouterr().out
    assert "algo-1 run 3" in out and "algo-2 run 3" in out  # the failed job's checkpoint was saved too
    assert f"Checkpoints: 1 file(s) from {checkpoints} into /opt/ml/checkpoints of every host" in out


def test_a_fresh_checkpoint_uri_starts_from_nothing_and_other_local_paths_are_refused(
    session, bucket, counter_image, capsys, tmp_path: Path
) -> None:
    uri = _upload_parts(session, bucket, "ckpt-fresh/train", [np.ones((2, 2))])
    estimator = Estimator(counter_image, ROLE, train_instance_count=1, train_instance_type="local",
                          sagemaker_session=session, checkpoint_s3_uri=(tmp_path / "none-yet").as_uri())
    estimator.fit({"train": uri})
    assert "algo-1 run 1" in capsys.readouterr().out
    assert (tmp_path / "none-yet" / "state" / "count.txt").read_text() == "1"  # file:// URIs work locally
    elsewhere = Estimator(counter_image, ROLE, train_instance_count=1, train_instance_type="local",
                          sagemaker_session=session, checkpoint_s3_uri=f"s3://{bucket}/x",
                          checkpoint_local_path="/tmp/ckpt")
    with pytest.raises(ClientError, match="checkpoint_local_path='/tmp/ckpt'.*leave checkpoint_local_path out"):
        elsewhere.fit({"train": uri})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"train_use_spot_instances": True}, "needs max_wait"),
    ({"train_use_spot_instances": True, "train_max_wait": 60, "train_max_run": 120}, "shorter than max_run=120"),
    ({"checkpoint_s3_uri": "bucket/checkpoints"}, "is not an s3:// URI"),
])
def test_spot_and_checkpoint_settings_are_checked_when_the_estimator_is_made(session, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Estimator(TOY_IMAGE, ROLE, train_instance_count=1, train_instance_type="local", sagemaker_session=session,
                  **kwargs)


def test_max_wait_without_spot_is_ignored_with_a_warning_as_sdk_v1_ignored_it(session) -> None:
    with pytest.warns(UserWarning, match="applies to Spot training only and is ignored"):
        estimator = Estimator(TOY_IMAGE, ROLE, train_instance_count=1, train_instance_type="local",
                              sagemaker_session=session, train_max_wait=3600)
    assert estimator.max_wait is None and estimator.train_max_wait is None and not estimator.use_spot_instances

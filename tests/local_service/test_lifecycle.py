"""The service's life: killed mid-job it loses no record; restarted, its endpoints serve again; the CLI starts,
shows, prints the environment of, and stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO
from tests.local_service.conftest import ECHO_IMAGE
from tests.local_service.test_boto3 import ROLE, training_args


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)


def _record(root: Path, kind: str, name: str) -> dict:
    return json.loads((root / "records" / kind / f"{name}.json").read_text())


def test_killed_mid_job_loses_no_record_and_a_restart_serves_the_endpoints_again(service, tmp_path, s3, bucket) -> None:
    from opensagemaker.local_service import LocalService

    s3.put_object(Bucket=bucket, Key="shards/part0", Body=b"x")
    s3.put_object(Bucket=bucket, Key="validation/val0", Body=b"v")
    root = tmp_path / "service"
    first = LocalService(root, service.store_root).start(persistent=True, register=False)
    sagemaker = first.client("sagemaker")
    sagemaker.create_model(ModelName="kept", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": ECHO_IMAGE})
    sagemaker.create_endpoint_config(EndpointConfigName="kept", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "kept", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName="kept", EndpointConfigName="kept")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="kept", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    sagemaker.create_training_job(**training_args("interrupted", bucket, mode="sleep", count=1))
    deadline = time.monotonic() + 30
    while not _record(root, "training-jobs", "interrupted")["_local"].get("pids"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    host_pid = _record(root, "training-jobs", "interrupted")["_local"]["pids"][0]
    server_pid = _record(root, "endpoints", "kept")["_local"]["pids"][0]
    time.sleep(0.5)  # a few log lines

    os.kill(first.pid, signal.SIGKILL)
    assert _wait_gone(first.pid)

    second = LocalService(root, service.store_root).start(persistent=True, register=False)
    try:
        assert second.pid != first.pid and second.port == first.port  # the same address: printed envs still work
        sagemaker = second.client("sagemaker")
        job = sagemaker.describe_training_job(TrainingJobName="interrupted")
        assert job["TrainingJobStatus"] == "Failed"
        assert "service stopped while this job ran" in job["FailureReason"]
        assert _wait_gone(host_pid) and _wait_gone(server_pid)  # the orphans were stopped by pid
        logs = second.client("logs")
        (stream,) = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                              logStreamNamePrefix="interrupted/")["logStreams"]
        messages = [e["message"] for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"], startFromHead=True)["events"]]
        assert any("still working 0" in m for m in messages)
        assert sagemaker.describe_model(ModelName="kept")["ModelName"] == "kept"
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="kept", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        answer = second.client("sagemaker-runtime").invoke_endpoint(EndpointName="kept", Body=b"back")
        assert json.loads(answer["Body"].read())["body"] == "back"
        new_server = _record(root, "endpoints", "kept")["_local"]["pids"][0]
        sagemaker.delete_endpoint(EndpointName="kept")
        assert _wait_gone(new_server)
    finally:
        second.stop()
    assert _wait_gone(second.pid)


def test_cli_start_status_env_stop(tmp_path) -> None:
    import boto3

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENSAGEMAKER_"))}
    env.update(OPENSAGEMAKER_STORE_DIR=str(tmp_path / "store"), PYTHONPATH=str(REPO))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "opensagemaker.local", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    assert cli("status").returncode == 1  # not running yet
    exported = cli("env")
    assert exported.returncode == 0, exported.stderr
    variables = dict(line.removeprefix("export ").split("=", 1) for line in exported.stdout.splitlines())
    for name in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
                 "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID"):
        assert name in variables
    state = json.loads((tmp_path / "service" / "service.json").read_text())
    assert variables["AWS_ENDPOINT_URL_SAGEMAKER"] == f"http://127.0.0.1:{state['port']}"
    # the process that printed the environment is gone; the service (persistent) and its store are not
    session = boto3.session.Session(aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    client = session.client("sagemaker", endpoint_url=variables["AWS_ENDPOINT_URL_SAGEMAKER"])
    assert client.list_training_jobs()["TrainingJobSummaries"] == []
    s3 = session.client("s3", endpoint_url=variables["AWS_ENDPOINT_URL_S3"])
    assert "Buckets" in s3.list_buckets()
    status = cli("status")
    assert status.returncode == 0 and f"pid {state['pid']}" in status.stdout
    store_pid = json.loads((tmp_path / "store" / "store.json").read_text())["pid"]
    stopped = cli("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert _wait_gone(state["pid"]) and _wait_gone(store_pid)
    assert cli("status").returncode == 1


def test_a_service_started_by_an_sdk_process_ends_after_its_last_client(tmp_path) -> None:
    """Started on demand (not ``start``), the service ends by itself once no client, job or endpoint is left."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENSAGEMAKER_"))}
    env.update(OPENSAGEMAKER_STORE_DIR=str(tmp_path / "store"), PYTHONPATH=str(REPO))
    script = "from opensagemaker import Session; print(Session().default_bucket())"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "sagemaker-us-east-1-000000000000"
    state = json.loads((tmp_path / "service" / "service.json").read_text())
    store_pid = json.loads((tmp_path / "store" / "store.json").read_text())["pid"]
    assert _wait_gone(state["pid"], timeout=30) and _wait_gone(store_pid, timeout=30)

"""The AWS CLI (``awscli`` from PyPI, in its own cached venv) against the service, with only environment variables."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.aws_sdks import aws_sdk_python
from tests.local_service.conftest import ECHO_IMAGE
from tests.local_service.test_boto3 import ROLE, training_args, wait_training


@pytest.fixture(scope="module")
def aws() -> str:
    return str(aws_sdk_python("awscli").parent / "aws")


def run(aws: str, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([aws, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_cli_lists_and_describes_training_jobs_and_invokes_an_endpoint(aws, env, sagemaker, s3, bucket, tmp_path) -> None:
    s3.put_object(Bucket=bucket, Key="shards/part0", Body=b"x")
    s3.put_object(Bucket=bucket, Key="validation/val0", Body=b"v")
    name = f"cli-job-{int(time.time() * 1000)}"
    sagemaker.create_training_job(**training_args(name, bucket, count=1))
    wait_training(sagemaker, name)

    listed = json.loads(run(aws, env, "sagemaker", "list-training-jobs", "--name-contains", name).stdout)
    assert [(j["TrainingJobName"], j["TrainingJobStatus"]) for j in listed["TrainingJobSummaries"]] == [(name, "Completed")]
    described = json.loads(run(aws, env, "sagemaker", "describe-training-job", "--training-job-name", name).stdout)
    assert described["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"/{name}/output/model.tar.gz")
    missing = run(aws, env, "sagemaker", "describe-training-job", "--training-job-name", "nope", check=False)
    assert missing.returncode != 0 and "ResourceNotFound" in missing.stderr

    endpoint = f"cli-echo-{int(time.time() * 1000)}"
    sagemaker.create_model(ModelName=endpoint, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": ECHO_IMAGE})
    sagemaker.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": endpoint, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    run(aws, env, "sagemaker", "create-endpoint", "--endpoint-name", endpoint, "--endpoint-config-name", endpoint)
    run(aws, env, "sagemaker", "wait", "endpoint-in-service", "--endpoint-name", endpoint)
    payload = tmp_path / "in.csv"
    payload.write_text("1,2")
    out = tmp_path / "out.json"
    answer = json.loads(run(aws, env, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", endpoint,
                            "--content-type", "text/csv", "--body", f"fileb://{payload}", str(out)).stdout)
    assert answer["ContentType"] == "application/json" and answer["InvokedProductionVariant"] == "AllTraffic"
    echo = json.loads(out.read_text())
    assert echo["body"] == "1,2" and echo["headers"]["content-type"] == "text/csv"
    run(aws, env, "sagemaker", "delete-endpoint", "--endpoint-name", endpoint)
    assert endpoint not in [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
    identity = json.loads(run(aws, env, "sts", "get-caller-identity").stdout)
    assert identity["Account"] == "000000000000"

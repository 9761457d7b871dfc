"""Plain boto3 against the local service: the whole training -> hosting -> transform flow, as a notebook does it.

Every client here is a stock ``boto3`` client made with ``endpoint_url`` and the store's keys; the jobs run the
stand-in programs of ``hosts_algorithm.py`` and ``tests/sdk/echo_server.py`` as real processes.
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.local_service.conftest import ECHO_IMAGE, HOSTS_IMAGE

ROLE = "arn:aws:iam::000000000000:role/opensagemaker-local"


def training_args(name: str, bucket: str, mode: str = "ok", count: int = 2, **extra) -> dict:
    args = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": HOSTS_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"mode": mode},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/shards/", "S3DataDistributionType": "ShardedByS3Key"}}},
            {"ChannelName": "validation", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/validation/",
                "S3DataDistributionType": "FullyReplicated"}}},
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceCount": count, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    args.update(extra)
    return args


def wait_training(sagemaker, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = sagemaker.describe_training_job(TrainingJobName=name)
        if description["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return description
        time.sleep(0.1)
    raise AssertionError(f"{name} did not end in {timeout} s")


@pytest.fixture
def shards(s3, bucket) -> str:
    for index in range(4):
        s3.put_object(Bucket=bucket, Key=f"shards/part{index}", Body=b"x")
    s3.put_object(Bucket=bucket, Key="validation/val0", Body=b"v")
    return bucket


def test_training_job_two_hosts_sharded(sagemaker, service, shards, s3) -> None:
    name = f"boto3-train-{int(time.time() * 1000)}"
    arn = sagemaker.create_training_job(**training_args(name, shards))["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}"
    description = wait_training(sagemaker, name)
    assert description["TrainingJobStatus"] == "Completed", description.get("FailureReason")
    statuses = [t["Status"] for t in description["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    artifact = description["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{shards}/output/{name}/output/model.tar.gz"
    assert s3.head_object(Bucket=shards, Key=f"output/{name}/output/model.tar.gz")["ContentLength"] > 0
    assert "FinalMetricDataList" not in description  # no MetricDefinitions for this image: nothing is scraped
    logs = service.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name + "/",
                                        orderBy="LogStreamName")["logStreams"]
    assert [s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams] == ["algo-1", "algo-2"]
    lines = {}
    for stream in streams:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=stream["logStreamName"], startFromHead=True)
        lines[stream["logStreamName"].split("/")[1][:6]] = [e["message"] for e in events["events"]]
        again = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
                                    nextToken=events["nextForwardToken"])
        assert again["events"] == [] and again["nextForwardToken"] == events["nextForwardToken"]
    # ShardedByS3Key: host 1 gets objects 0 and 2, host 2 objects 1 and 3; validation is fully replicated
    assert "algo-1 channel train: part0 part2" in lines["algo-1"]
    assert "algo-2 channel train: part1 part3" in lines["algo-2"]
    assert "algo-2 channel validation: val0" in lines["algo-2"]
    summaries = sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    assert [(s["TrainingJobName"], s["TrainingJobStatus"]) for s in summaries] == [(name, "Completed")]


def test_metric_definitions_give_final_metrics(sagemaker, shards) -> None:
    name = f"boto3-metrics-{int(time.time() * 1000)}"
    args = training_args(name, shards, count=1)
    args["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "train:loss",
                                                            "Regex": r"train total_loss <loss>=([0-9.]+)"}]
    sagemaker.create_training_job(**args)
    description = wait_training(sagemaker, name)
    assert [(m["MetricName"], m["Value"]) for m in description["FinalMetricDataList"]] == [("train:loss", 1.5)]


def test_failure_reason_is_the_root_cause_host(sagemaker, shards) -> None:
    """algo-2 (the peer that lost its connection) exits 2 s before algo-1 (the UserError): algo-1's reason wins."""
    name = f"boto3-rootcause-{int(time.time() * 1000)}"
    sagemaker.create_training_job(**training_args(name, shards, mode="root-cause"))
    description = wait_training(sagemaker, name)
    assert description["TrainingJobStatus"] == "Failed"
    reason = description["FailureReason"]
    assert reason.startswith("Hyperparameter feature_dim=7 does not match the data"), reason
    assert "UserError" in reason and "host algo-1" in reason and "lost the connection" not in reason


def test_duplicate_and_missing_jobs(sagemaker, shards) -> None:
    name = f"boto3-dup-{int(time.time() * 1000)}"
    sagemaker.create_training_job(**training_args(name, shards, count=1))
    with pytest.raises(ClientError) as duplicate:
        sagemaker.create_training_job(**training_args(name, shards, count=1))
    assert duplicate.value.response["Error"]["Code"] == "ResourceInUse"
    assert name in duplicate.value.response["Error"]["Message"]
    assert duplicate.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    wait_training(sagemaker, name)
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.describe_training_job(TrainingJobName="no-such-job")
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.stop_training_job(TrainingJobName="no-such-job")


def test_unsupported_image_is_refused_naming_it(sagemaker, shards) -> None:
    args = training_args("boto3-badimage", shards)
    args["AlgorithmSpecification"]["TrainingImage"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"
    with pytest.raises(ClientError) as error:
        sagemaker.create_training_job(**args)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "xgboost" in error.value.response["Error"]["Message"]


def test_stop_training_job(sagemaker, shards) -> None:
    name = f"boto3-stop-{int(time.time() * 1000)}"
    sagemaker.create_training_job(**training_args(name, shards, mode="sleep", count=1))
    deadline = time.monotonic() + 30
    while sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sagemaker.stop_training_job(TrainingJobName=name)
    description = wait_training(sagemaker, name)
    assert description["TrainingJobStatus"] == "Stopped"


def test_hosting_invoke_update_delete(sagemaker, runtime, service) -> None:
    name = f"boto3-echo-{int(time.time() * 1000)}"
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": ECHO_IMAGE},
                           Tags=[{"Key": "team", "Value": "local"}])
    with pytest.raises(ClientError) as existing:
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": ECHO_IMAGE})
    assert "Cannot create already existing model" in existing.value.response["Error"]["Message"]
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 2,
               "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    description = sagemaker.describe_endpoint(EndpointName=name)
    assert description["EndpointStatus"] == "InService"
    assert description["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    # headers pass exactly: no Accept when none is given, Content-Type and custom attributes as given
    answer = runtime.invoke_endpoint(EndpointName=name, Body=b"1,2", ContentType="text/csv",
                                     CustomAttributes="trace=1")
    echo = json.loads(answer["Body"].read())
    assert echo["body"] == "1,2" and echo["headers"]["content-type"] == "text/csv"
    assert "accept" not in echo["headers"] and echo["headers"]["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    assert answer["ContentType"] == "application/json" and answer["InvokedProductionVariant"] == "AllTraffic"
    accepted = json.loads(runtime.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json",
                                                  Accept="application/jsonlines; verbose=true")["Body"].read())
    assert accepted["headers"]["accept"] == "application/jsonlines; verbose=true"
    with pytest.raises(runtime.exceptions.ModelError) as model_error:
        runtime.invoke_endpoint(EndpointName=name, Body=b"fail", ContentType="text/x-nope")
    assert model_error.value.response["OriginalStatusCode"] == 415
    assert "not supported" in model_error.value.response["OriginalMessage"]
    # UpdateEndpoint to a new config: one instance now, and it still serves
    sagemaker.create_endpoint_config(EndpointConfigName=name + "-v2", ProductionVariants=[dict(variant, InitialInstanceCount=1)])
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=name + "-v2")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    description = sagemaker.describe_endpoint(EndpointName=name)
    assert description["EndpointConfigName"] == name + "-v2"
    assert description["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert json.loads(runtime.invoke_endpoint(EndpointName=name, Body=b"again")["Body"].read())["body"] == "again"
    model_arn = sagemaker.describe_model(ModelName=name)["ModelArn"]
    assert sagemaker.list_tags(ResourceArn=model_arn)["Tags"] == [{"Key": "team", "Value": "local"}]
    sagemaker.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as gone:
        sagemaker.describe_endpoint(EndpointName=name)
    assert "Could not find endpoint" in gone.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as not_serving:
        runtime.invoke_endpoint(EndpointName=name, Body=b"1")
    assert not_serving.value.response["Error"]["Code"] == "ValidationError"
    for config in (name, name + "-v2"):
        sagemaker.delete_endpoint_config(EndpointConfigName=config)
    sagemaker.delete_model(ModelName=name)
    assert name not in [m["ModelName"] for m in sagemaker.list_models()["Models"]]


def test_sts_and_iam_answer_the_local_role(service) -> None:
    identity = service.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/opensagemaker-local/opensagemaker"
    iam = service.client("iam")
    assert iam.get_role(RoleName="opensagemaker-local")["Role"]["Arn"] == ROLE
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="someone-else")

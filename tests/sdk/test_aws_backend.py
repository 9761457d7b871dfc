"""The AWS backend, offline: every request checked field by field with botocore's ``Stubber`` at the AWS boundary.

The clients are real botocore clients (fake credentials, region us-east-1); the Stubber answers each call before
anything is sent, after botocore has validated the parameters against the service model, and fails the test on
any call that was not expected or whose parameters differ from ``expected_params``. Responses are checked against
the service model too, so they have the shapes SageMaker returns. Polling intervals are 0: nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from opensagemaker.backends import register_backend, shutdown_backend
from opensagemaker.backends.aws import AWSBackend
from opensagemaker.backends.base import (
    ChannelRequest,
    EndpointRequest,
    ModelRequest,
    TrainingJobRequest,
    TransformJobRequest,
)
from opensagemaker.exceptions import ModelError, UnexpectedStatusException
from opensagemaker.images import record_push
from opensagemaker.metric_definitions import metric_definitions

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/SageMakerRole"
NTM_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/open-ntm:latest"
KNN_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/open-knn:latest"
BUILTIN_NTM = f"382416733822.dkr.ecr.{REGION}.amazonaws.com/ntm:1"
BUCKET = "sagemaker-us-east-1-123456789012"
OUTPUT = f"s3://{BUCKET}/20newsgroups/output"
SERVICES = ("sagemaker", "sagemaker-runtime", "s3", "logs", "sts", "iam")
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_LOADER = botocore.loaders.create_loader()  # service models parsed once for all tests (it caches what it reads)


class AWS:
    """Stubbed clients, their Stubbers, and an ``AWSBackend`` on them; records every call's actual parameters."""

    def __init__(self) -> None:
        session = botocore.session.Session()
        session.register_component("data_loader", _LOADER)
        session.set_credentials("testing", "testing")
        self.clients = {name: session.create_client(name, region_name=REGION) for name in SERVICES}
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        for client in self.clients.values():
            client.meta.events.register("provide-client-params", self._record)
        self.lines: list[str] = []
        self.backend = AWSBackend(region=REGION, poll_interval=0, clients=self.clients, emit=self.lines.append)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def expect(self, service: str, method: str, response: dict[str, Any], params: dict[str, Any] | None) -> None:
        self.stubbers[service].add_response(method, response, params)

    def error(self, service: str, method: str, code: str, message: str, status: int = 400,
              params: dict[str, Any] | None = None, **modeled: Any) -> None:
        self.stubbers[service].add_client_error(method, code, message, status, expected_params=params,
                                                modeled_fields=modeled or None)

    def names_of(self, operation: str, key: str) -> list[str]:
        return [params[key] for name, params in self.calls if name == operation]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS configuration of this machine leaks in; pushed images are recorded in a temporary folder."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "OPENSAGEMAKER_BACKEND":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("OPENSAGEMAKER_CONFIG_DIR", str(tmp_path / "opensagemaker"))


@pytest.fixture
def aws(aws_env: None) -> Iterator[AWS]:
    stubs = AWS()
    for stubber in stubs.stubbers.values():
        stubber.activate()
    yield stubs
    for stubber in stubs.stubbers.values():
        stubber.assert_no_pending_responses()  # every expected call was made
        stubber.deactivate()


# -- response builders (shapes validated by the Stubber) ---------------------------------------------------------


def arn(kind: str, name: str = "x") -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


def training_response(name: str, status: str, count: int = 1, reason: str | None = None,
                      image: str = NTM_IMAGE) -> dict[str, Any]:
    response: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"{OUTPUT}/{name}/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": {"InProgress": "Training", "Completed": "Completed", "Failed": "Failed"}[status],
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "ResourceConfig": {"InstanceCount": count, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": NOW,
    }
    if reason is not None:
        response["FailureReason"] = reason
    return response


def endpoint_response(name: str, status: str, reason: str | None = None) -> dict[str, Any]:
    response = {
        "EndpointName": name,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
        "EndpointConfigName": name,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    if reason is not None:
        response["FailureReason"] = reason
    return response


def transform_response(name: str, status: str, model: str, output: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "TransformJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/{name}",
        "TransformJobStatus": status,
        "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}},
        "TransformOutput": {"S3OutputPath": output},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m4.xlarge"},
        "CreationTime": NOW,
    }


def invoke_response(body: bytes, content_type: str) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": content_type}


# -- expected requests ------------------------------------------------------------------------------------------

NTM_HYPERPARAMETERS = {
    "num_topics": "30", "feature_dim": "2000", "mini_batch_size": "128", "epochs": "100",
    "num_patience_epochs": "5", "tolerance": "0.001",
}


def ntm_training_params(name: str) -> dict[str, Any]:
    """CreateTrainingJob of the tutorial's NTM: 2 hosts, train sharded, test replicated, no ContentType."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": NTM_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions("ntm"),
        },
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": OUTPUT},
        "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "HyperParameters": NTM_HYPERPARAMETERS,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/20newsgroups/train",
                    "S3DataDistributionType": "ShardedByS3Key",
                }},
            },
            {
                "ChannelName": "test",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/20newsgroups/val",
                    "S3DataDistributionType": "FullyReplicated",
                }},
            },
        ],
    }


def ntm_request(name: str) -> TrainingJobRequest:
    return TrainingJobRequest(
        job_name=name, image_uri=NTM_IMAGE, role=ROLE, instance_count=2, instance_type="ml.c4.xlarge",
        output_path=OUTPUT, hyperparameters=NTM_HYPERPARAMETERS,
        channels=(
            ChannelRequest("train", f"s3://{BUCKET}/20newsgroups/train", distribution="ShardedByS3Key"),
            ChannelRequest("test", f"s3://{BUCKET}/20newsgroups/val"),
        ),
    )


# -- training ---------------------------------------------------------------------------------------------------


def test_ntm_training_job_request_and_wait(aws: AWS) -> None:
    name = "ntm-2026-01-02-03-04-05-000"
    aws.expect("sagemaker", "create_training_job", {"TrainingJobArn": arn("training-job")}, ntm_training_params(name))
    aws.expect("sagemaker", "describe_training_job", training_response(name, "InProgress", 2), {"TrainingJobName": name})
    aws.expect("sagemaker", "describe_training_job", training_response(name, "Completed", 2), {"TrainingJobName": name})

    aws.backend.start_training_job(ntm_request(name))
    description = aws.backend.wait_for_training_job(name, logs=False)

    assert description.status == "Completed"
    assert description.model_artifacts == f"{OUTPUT}/{name}/output/model.tar.gz"
    assert description.hosts == ("algo-1", "algo-2")
    assert {d["Name"] for d in metric_definitions("ntm")} >= {"validation:total_loss", "test:total_loss"}


def test_spot_training_with_checkpoints_sends_their_fields(aws: AWS) -> None:
    name = "ntm-spot"
    expected = ntm_training_params(name)
    expected["EnableManagedSpotTraining"] = True
    expected["StoppingCondition"] = {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 90000}
    expected["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/checkpoints/ntm", "LocalPath": "/opt/ml/checkpoints"}
    aws.expect("sagemaker", "create_training_job", {"TrainingJobArn": arn("training-job")}, expected)
    request = dataclasses.replace(ntm_request(name), use_spot=True, max_wait_seconds=90000,
                                  checkpoint_s3_uri=f"s3://{BUCKET}/checkpoints/ntm",
                                  checkpoint_local_path="/opt/ml/checkpoints")
    aws.backend.start_training_job(request)
    with pytest.raises(ValueError, match="checkpoint_s3_uri 'file:///tmp/c' is not an s3:// URI"):
        aws.backend.training_job_args(dataclasses.replace(request, checkpoint_s3_uri="file:///tmp/c"))


def test_knn_training_job_request_merges_metric_definitions_and_sends_channel_options(aws: AWS) -> None:
    name = "knn-job"
    custom = {"Name": "test:accuracy", "Regex": r"my accuracy=(\S+)"}
    extra = {"Name": "my:metric", "Regex": r"mine=(\S+)"}
    expected_metrics = [custom if d["Name"] == "test:accuracy" else d for d in metric_definitions("knn")] + [extra]
    aws.expect("sagemaker", "create_training_job", {"TrainingJobArn": arn("training-job")}, {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": KNN_IMAGE, "TrainingInputMode": "File", "MetricDefinitions": expected_metrics,
        },
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/20newsgroups/knn/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"feature_dim": "30", "k": "10", "sample_size": "11314", "predictor_type": "classifier",
                            "index_metric": "COSINE"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/20newsgroups/knn/train",
                    "S3DataDistributionType": "FullyReplicated",
                }},
            },
            {
                "ChannelName": "test",
                "DataSource": {"S3DataSource": {
                    "S3DataType": "ManifestFile", "S3Uri": f"s3://{BUCKET}/knn/test.manifest",
                    "S3DataDistributionType": "FullyReplicated",
                }},
                "ContentType": "application/x-recordio-protobuf",
                "CompressionType": "Gzip",
                "RecordWrapperType": "RecordIO",
                "InputMode": "Pipe",
            },
        ],
        "Environment": {"OMP_NUM_THREADS": "4"},
        "Tags": [{"Key": "project", "Value": "recommender"}],
    })

    aws.backend.start_training_job(TrainingJobRequest(
        job_name=name, image_uri=KNN_IMAGE, role=ROLE, instance_count=1, instance_type="ml.c4.xlarge",
        output_path=f"s3://{BUCKET}/20newsgroups/knn/output",
        hyperparameters={"feature_dim": "30", "k": "10", "sample_size": "11314", "predictor_type": "classifier",
                         "index_metric": "COSINE"},
        channels=(
            ChannelRequest("train", f"s3://{BUCKET}/20newsgroups/knn/train"),
            ChannelRequest("test", f"s3://{BUCKET}/knn/test.manifest", s3_data_type="ManifestFile",
                           content_type="application/x-recordio-protobuf", compression="Gzip",
                           record_wrapping="RecordIO", input_mode="Pipe"),
        ),
        max_run_seconds=3600, environment={"OMP_NUM_THREADS": "4"}, metric_definitions=(custom, extra),
        volume_size_gb=50, tags=({"Key": "project", "Value": "recommender"},),
    ))


def test_other_images_get_only_their_own_metric_definitions(aws: AWS) -> None:
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/my-xgboost:1"
    params = {
        "TrainingJobName": "other", "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": OUTPUT},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400}, "HyperParameters": {},
    }
    aws.expect("sagemaker", "create_training_job", {"TrainingJobArn": arn("training-job")}, params)
    aws.backend.start_training_job(TrainingJobRequest("other", image, ROLE, 1, "ml.m5.large", OUTPUT))


def test_a_push_under_another_repository_name_is_recognised_as_ours(aws: AWS) -> None:
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/topics:v3"
    record_push("ntm", REGION, image)
    request = TrainingJobRequest("mine", image, ROLE, 1, "ml.m5.large", OUTPUT)
    args = aws.backend.training_job_args(request)
    assert args["AlgorithmSpecification"]["MetricDefinitions"] == metric_definitions("ntm")


def test_file_inputs_are_refused_naming_the_channel(aws: AWS) -> None:
    request = TrainingJobRequest(
        "job", NTM_IMAGE, ROLE, 1, "ml.c4.xlarge", OUTPUT,
        channels=(ChannelRequest("train", f"s3://{BUCKET}/train"), ChannelRequest("test", "file:///data/test")),
    )
    with pytest.raises(ValueError, match=r"channel 'test': 'file:///data/test' is not an s3:// URI"):
        aws.backend.start_training_job(request)
    with pytest.raises(ValueError, match=r"output_path 'file:///tmp/out' is not an s3:// URI"):
        aws.backend.start_training_job(TrainingJobRequest("job", NTM_IMAGE, ROLE, 1, "ml.c4.xlarge", "file:///tmp/out"))
    assert aws.calls == []  # refused before any request


def test_aws_builtin_images_are_refused_with_the_push_command(aws: AWS) -> None:
    request = TrainingJobRequest("job", BUILTIN_NTM, ROLE, 1, "ml.c4.xlarge", OUTPUT)
    with pytest.raises(ValueError, match=r"closed built-in ntm image.*opensagemaker\.images push --algorithm ntm "
                                         r"--region us-east-1.*OPENSAGEMAKER_BACKEND=aws"):
        aws.backend.start_training_job(request)
    with pytest.raises(ValueError, match="closed built-in ntm image"):
        aws.backend.create_model(ModelRequest("m", BUILTIN_NTM, "s3://b/model.tar.gz", ROLE))
    assert aws.calls == []


def test_a_failed_job_raises_with_its_failure_reason(aws: AWS) -> None:
    reason = "ClientError: Hyperparameter num_topics: 1 is not in [2, 1000]"
    aws.expect("sagemaker", "describe_training_job", training_response("bad-job", "Failed", reason=reason),
               {"TrainingJobName": "bad-job"})
    with pytest.raises(UnexpectedStatusException) as caught:
        aws.backend.wait_for_training_job("bad-job", logs=False)
    assert str(caught.value) == f"Error for Training job bad-job: Failed. Reason: {reason}"
    assert caught.value.actual_status == "Failed"


def test_training_logs_stream_from_cloudwatch(aws: AWS) -> None:
    name = "ntm-logs"
    group = {"logGroupName": "/aws/sagemaker/TrainingJobs"}
    streams = {"logStreams": [{"logStreamName": f"{name}/algo-1-1700000000"},
                              {"logStreamName": f"{name}/algo-2-1700000000"}]}

    def events(*messages: str) -> list[dict[str, Any]]:
        return [{"timestamp": 1, "message": m, "ingestionTime": 1} for m in messages]

    def stream(host: str, token: str | None = None) -> dict[str, Any]:
        params = {**group, "logStreamName": f"{name}/{host}-1700000000", "startFromHead": True}
        return {**params, "nextToken": token} if token else params

    # Poll 1: the job is starting, its log group does not exist yet.
    aws.expect("sagemaker", "describe_training_job", training_response(name, "InProgress", 2), {"TrainingJobName": name})
    aws.error("logs", "describe_log_streams", "ResourceNotFoundException", "The specified log group does not exist.",
              params={**group, "logStreamNamePrefix": f"{name}/"})
    # Poll 2: both hosts have written lines; each stream is read until a read returns nothing.
    aws.expect("sagemaker", "describe_training_job", training_response(name, "InProgress", 2), {"TrainingJobName": name})
    aws.expect("logs", "describe_log_streams", streams, {**group, "logStreamNamePrefix": f"{name}/"})
    aws.expect("logs", "get_log_events", {"events": events("epoch 1", "epoch 2"), "nextForwardToken": "f/a1"},
               stream("algo-1"))
    aws.expect("logs", "get_log_events", {"events": [], "nextForwardToken": "f/a1"}, stream("algo-1", "f/a1"))
    aws.expect("logs", "get_log_events", {"events": events("joined"), "nextForwardToken": "f/b1"}, stream("algo-2"))
    aws.expect("logs", "get_log_events", {"events": [], "nextForwardToken": "f/b1"}, stream("algo-2", "f/b1"))
    # Poll 3: completed; the lines written since are read from the saved tokens on.
    aws.expect("sagemaker", "describe_training_job", training_response(name, "Completed", 2), {"TrainingJobName": name})
    aws.expect("logs", "describe_log_streams", streams, {**group, "logStreamNamePrefix": f"{name}/"})
    aws.expect("logs", "get_log_events",
               {"events": events("#quality_metric: host=algo-1, test total_loss <loss>=6.5\n"),
                "nextForwardToken": "f/a2"}, stream("algo-1", "f/a1"))
    aws.expect("logs", "get_log_events", {"events": [], "nextForwardToken": "f/a2"}, stream("algo-1", "f/a2"))
    aws.expect("logs", "get_log_events", {"events": [], "nextForwardToken": "f/b1"}, stream("algo-2", "f/b1"))

    description = aws.backend.wait_for_training_job(name, logs=True)

    assert description.status == "Completed"
    assert aws.lines == [
        "[algo-1-1700000000] epoch 1",
        "[algo-1-1700000000] epoch 2",
        "[algo-2-1700000000] joined",
        "[algo-1-1700000000] #quality_metric: host=algo-1, test total_loss <loss>=6.5",
    ]


# -- hosting ----------------------------------------------------------------------------------------------------


MODEL = ModelRequest("ntm-model", NTM_IMAGE, f"{OUTPUT}/ntm-job/output/model.tar.gz", ROLE)


def test_deploy_creates_model_config_and_endpoint_and_waits_in_service(aws: AWS) -> None:
    aws.expect("sagemaker", "create_model", {"ModelArn": arn("model")}, {
        "ModelName": "ntm-model", "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": NTM_IMAGE, "Environment": {},
                             "ModelDataUrl": f"{OUTPUT}/ntm-job/output/model.tar.gz"},
    })
    aws.expect("sagemaker", "create_endpoint_config", {"EndpointConfigArn": arn("endpoint-config")}, {
        "EndpointConfigName": "ntm-endpoint",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "ntm-model", "InitialInstanceCount": 2,
                                "InstanceType": "ml.m4.xlarge", "InitialVariantWeight": 1.0}],
    })
    aws.expect("sagemaker", "create_endpoint", {"EndpointArn": arn("endpoint")},
               {"EndpointName": "ntm-endpoint", "EndpointConfigName": "ntm-endpoint"})
    for status in ("Creating", "Creating", "InService"):
        aws.expect("sagemaker", "describe_endpoint", endpoint_response("ntm-endpoint", status),
                   {"EndpointName": "ntm-endpoint"})

    aws.backend.create_model(MODEL)
    aws.backend.create_endpoint(EndpointRequest("ntm-endpoint", MODEL, 2, "ml.m4.xlarge"))


def test_a_failed_endpoint_raises_with_its_reason(aws: AWS) -> None:
    aws.expect("sagemaker", "create_endpoint_config", {"EndpointConfigArn": arn("endpoint-config")}, None)
    aws.expect("sagemaker", "create_endpoint", {"EndpointArn": arn("endpoint")}, None)
    aws.expect("sagemaker", "describe_endpoint", endpoint_response("e", "Creating"), {"EndpointName": "e"})
    aws.expect("sagemaker", "describe_endpoint",
               endpoint_response("e", "Failed", "The primary container for production variant AllTraffic did not "
                                 "pass the ping health check."), {"EndpointName": "e"})
    with pytest.raises(UnexpectedStatusException, match=r"Error hosting endpoint e: Failed\. Reason: The primary "
                                                        r"container .* did not pass the ping health check"):
        aws.backend.create_endpoint(EndpointRequest("e", MODEL))


def test_an_existing_model_is_reused_as_sdk_v1_does(aws: AWS) -> None:
    aws.error("sagemaker", "create_model", "ValidationException",
              f'Cannot create already existing model "arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/ntm-model".')
    aws.backend.create_model(MODEL)  # no error
    aws.error("sagemaker", "create_model", "ValidationException", "Could not access model data at s3://x.")
    with pytest.raises(Exception, match="Could not access model data"):
        aws.backend.create_model(MODEL)


def test_describe_model_reads_back_the_primary_container(aws: AWS) -> None:
    aws.expect("sagemaker", "describe_model", {
        "ModelName": "ntm-model", "ExecutionRoleArn": ROLE, "CreationTime": NOW, "ModelArn": arn("model"),
        "PrimaryContainer": {"Image": NTM_IMAGE, "ModelDataUrl": MODEL.model_data, "Environment": {"A": "1"}},
    }, {"ModelName": "ntm-model"})
    aws.error("sagemaker", "describe_model", "ValidationException", "Could not find model \"arn:nope\".",
              params={"ModelName": "nope"})
    assert aws.backend.describe_model("ntm-model") == ModelRequest("ntm-model", NTM_IMAGE, MODEL.model_data, ROLE,
                                                                   {"A": "1"})
    with pytest.raises(ValueError, match="Could not find model 'nope'"):
        aws.backend.describe_model("nope")


@pytest.mark.parametrize(
    ("accept", "expected_headers"),
    [(None, {"ContentType": "text/csv"}),
     ("application/jsonlines; verbose=true", {"ContentType": "text/csv",
                                              "Accept": "application/jsonlines; verbose=true"})],
    ids=["no-accept", "accept"],
)
def test_invoke_sends_content_type_and_accept_only_when_given(aws: AWS, accept: str | None,
                                                              expected_headers: dict[str, str]) -> None:
    answer = b'{"predictions": [{"topic_weights": [0.25, 0.75]}]}'
    aws.expect("sagemaker-runtime", "invoke_endpoint", invoke_response(answer, "application/json"),
               {"EndpointName": "ntm-endpoint", "Body": b"0.0,1.0,2.0", **expected_headers})
    result = aws.backend.invoke_endpoint("ntm-endpoint", b"0.0,1.0,2.0", content_type="text/csv", accept=accept)
    assert result.body == answer
    assert result.content_type == "application/json"


def test_invoke_without_any_header_and_with_custom_attributes(aws: AWS) -> None:
    aws.expect("sagemaker-runtime", "invoke_endpoint", invoke_response(b"{}", "application/json"),
               {"EndpointName": "e", "Body": b"x", "CustomAttributes": "trace=1"})
    assert aws.backend.invoke_endpoint("e", b"x", custom_attributes="trace=1").body == b"{}"


def test_a_model_error_carries_the_containers_status_and_body(aws: AWS) -> None:
    aws.error("sagemaker-runtime", "invoke_endpoint", "ModelError",
              "Received client error (415) from primary with message \"...\"", status=424,
              OriginalStatusCode=415, OriginalMessage="unsupported Content-Type: image/png",
              LogStreamArn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/e")
    with pytest.raises(ModelError) as caught:
        aws.backend.invoke_endpoint("e", b"\x89PNG", content_type="image/png")
    assert caught.value.status_code == 415
    assert caught.value.body == "unsupported Content-Type: image/png"
    assert "(415)" in str(caught.value) and "unsupported Content-Type: image/png" in str(caught.value)


def test_delete_endpoint_deletes_its_config_and_models_are_deleted_separately(aws: AWS) -> None:
    aws.expect("sagemaker", "describe_endpoint", {**endpoint_response("e", "InService"), "EndpointConfigName": "e-cfg"},
               {"EndpointName": "e"})
    aws.expect("sagemaker", "delete_endpoint", {}, {"EndpointName": "e"})
    aws.expect("sagemaker", "delete_endpoint_config", {}, {"EndpointConfigName": "e-cfg"})
    aws.expect("sagemaker", "delete_model", {}, {"ModelName": "ntm-model"})
    aws.error("sagemaker", "delete_model", "ValidationException", 'Could not find model "arn:gone".',
              params={"ModelName": "gone"})
    aws.error("sagemaker", "describe_endpoint", "ValidationException", 'Could not find endpoint "arn:gone".',
              params={"EndpointName": "gone"})

    aws.backend.delete_endpoint("e")
    aws.backend.delete_model("ntm-model")
    aws.backend.delete_model("gone")  # already gone: fine, as locally
    with pytest.raises(ValueError, match="Could not find endpoint 'gone' to delete"):
        aws.backend.delete_endpoint("gone")


# -- batch transform --------------------------------------------------------------------------------------------


def test_transform_job_with_line_split_and_csv(aws: AWS) -> None:
    output = f"s3://{BUCKET}/20newsgroups/batch/test"
    data = f"s3://{BUCKET}/20newsgroups/batch/train/trainvectors.csv"
    aws.expect("sagemaker", "create_transform_job", {"TransformJobArn": arn("transform-job")}, {
        "TransformJobName": "ntm-transform",
        "ModelName": "ntm-model",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": data}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": output},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m4.xlarge"},
    })
    aws.expect("sagemaker", "describe_transform_job",
               transform_response("ntm-transform", "InProgress", "ntm-model", output),
               {"TransformJobName": "ntm-transform"})
    aws.expect("sagemaker", "describe_transform_job",
               transform_response("ntm-transform", "Completed", "ntm-model", output),
               {"TransformJobName": "ntm-transform"})
    aws.expect("s3", "list_objects_v2",
               {"Contents": [{"Key": "20newsgroups/batch/test/trainvectors.csv.out", "Size": 10}], "KeyCount": 1,
                "IsTruncated": False},
               {"Bucket": BUCKET, "Prefix": "20newsgroups/batch/test"})

    aws.backend.start_transform_job(TransformJobRequest("ntm-transform", MODEL, data, output, content_type="text/csv",
                                                        split_type="Line"))
    description = aws.backend.wait_for_transform_job("ntm-transform", logs=False)

    assert description.status == "Completed"
    assert description.outputs == (f"{output}/trainvectors.csv.out",)


def test_transform_job_optional_fields_are_sent_when_set(aws: AWS) -> None:
    request = TransformJobRequest(
        "t", MODEL, "s3://b/in.manifest", "s3://b/out", instance_count=2, instance_type="ml.c5.xlarge",
        data_type="ManifestFile", content_type="application/x-recordio-protobuf", compression_type="Gzip",
        split_type="RecordIO", strategy="MultiRecord", assemble_with="Line", accept="application/jsonlines",
        max_payload_mb=6, max_concurrent_transforms=4, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"},
    )
    assert aws.backend.transform_job_args(request) == {
        "TransformJobName": "t",
        "ModelName": "ntm-model",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/in.manifest"}},
            "ContentType": "application/x-recordio-protobuf", "CompressionType": "Gzip", "SplitType": "RecordIO",
        },
        "TransformOutput": {"S3OutputPath": "s3://b/out", "Accept": "application/jsonlines", "AssembleWith": "Line"},
        "TransformResources": {"InstanceCount": 2, "InstanceType": "ml.c5.xlarge"},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "MaxConcurrentTransforms": 4,
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"},
    }
    aws.expect("sagemaker", "create_transform_job", {"TransformJobArn": arn("transform-job")},
               aws.backend.transform_job_args(request))  # and botocore accepts that shape
    aws.backend.start_transform_job(request)
    with pytest.raises(ValueError, match=r"transform job t: input 'file:///x.csv' is not an s3:// URI"):
        aws.backend.start_transform_job(TransformJobRequest("t", MODEL, "file:///x.csv", "s3://b/out"))


def test_a_failed_transform_job_raises_with_its_reason(aws: AWS) -> None:
    failed = {**transform_response("t", "Failed", "m", "s3://b/out"), "FailureReason": "ClientError: 415 from model"}
    aws.expect("sagemaker", "describe_transform_job", failed, {"TransformJobName": "t"})
    with pytest.raises(UnexpectedStatusException, match=r"Transform job t: Failed\. Reason: ClientError: 415"):
        aws.backend.wait_for_transform_job("t", logs=False)


# -- account, role, bucket, images ------------------------------------------------------------------------------


def test_execution_role_of_an_assumed_role_session(aws: AWS) -> None:
    identity = {"UserId": "AROA:me", "Account": ACCOUNT,
                "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/SageMakerRole/SageMaker"}
    aws.expect("sts", "get_caller_identity", identity, {})
    aws.expect("iam", "get_role", {"Role": {"Path": "/service-role/", "RoleName": "SageMakerRole", "RoleId": "AROA1234567890123456",
                                            "Arn": ROLE, "CreateDate": NOW,
                                            "AssumeRolePolicyDocument": "{}"}}, {"RoleName": "SageMakerRole"})
    assert aws.backend.execution_role() == ROLE
    aws.expect("sts", "get_caller_identity", {**identity, "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}, {})
    with pytest.raises(ValueError, match="not a role: arn:aws:iam::123456789012:user/alice"):
        aws.backend.execution_role()
    aws.expect("sts", "get_caller_identity", identity, {})
    assert aws.backend.account_id() == ACCOUNT
    assert aws.backend.environment() == {}
    assert aws.backend.s3_client() is aws.clients["s3"]


def test_ensure_bucket_creates_a_missing_bucket(aws: AWS) -> None:
    aws.expect("s3", "head_bucket", {}, {"Bucket": "exists"})
    aws.error("s3", "head_bucket", "404", "Not Found", status=404, params={"Bucket": "new"})
    aws.expect("s3", "create_bucket", {"Location": "/new"}, {"Bucket": "new"})
    aws.error("s3", "head_bucket", "403", "Forbidden", status=403, params={"Bucket": "theirs"})
    aws.backend.ensure_bucket("exists")
    aws.backend.ensure_bucket("new")
    with pytest.raises(ValueError, match="Bucket 'theirs' cannot be used by this account"):
        aws.backend.ensure_bucket("theirs")


def test_get_image_uri_gives_the_pushed_image_when_aws_is_chosen(aws_env: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from opensagemaker import get_image_uri
    from opensagemaker.image_uris import retrieve

    assert get_image_uri(REGION, "ntm") == BUILTIN_NTM  # the local backend: the repository name picks the program
    monkeypatch.setenv("OPENSAGEMAKER_BACKEND", "aws")
    with pytest.raises(ValueError, match=r"python -m opensagemaker.images push --algorithm knn --region us-east-1"):
        get_image_uri(REGION, "knn")
    record_push("ntm", REGION, NTM_IMAGE)
    record_push("knn", REGION, KNN_IMAGE)
    assert get_image_uri(REGION, "ntm") == NTM_IMAGE
    assert retrieve("knn", REGION) == KNN_IMAGE


def test_session_backend_aws_selects_this_backend_by_name(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from opensagemaker import Session

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    try:
        session = Session(backend="aws")
        assert isinstance(session.backend, AWSBackend)
        assert session.boto_region_name == "eu-west-1"
        assert Session(backend="aws").backend is session.backend  # one per process, as for the local backend
        assert "AWS_ENDPOINT_URL_S3" not in os.environ  # nothing of the local store is put into the environment
    finally:
        shutdown_backend("aws")


# -- the SDK's estimator-level flow through the AWS backend -----------------------------------------------------


@pytest.fixture
def tutorial_aws(aws: AWS, monkeypatch: pytest.MonkeyPatch) -> Iterator[AWS]:
    """``OPENSAGEMAKER_BACKEND=aws`` with pushed images, the process-wide "aws" backend being the stubbed one."""
    monkeypatch.setenv("OPENSAGEMAKER_BACKEND", "aws")
    record_push("ntm", REGION, NTM_IMAGE)
    record_push("knn", REGION, KNN_IMAGE)
    register_backend("aws", lambda: aws.backend)
    try:
        yield aws
    finally:
        shutdown_backend("aws")
        register_backend("aws", AWSBackend)


def test_tutorial_ntm_fit_deploy_predict_transform_delete(tutorial_aws: AWS) -> None:
    """Module 3's cells (minus the data), run on the AWS backend chosen by the environment variable alone."""
    import numpy as np

    import opensagemaker as sagemaker
    from opensagemaker.amazon.amazon_estimator import get_image_uri
    from opensagemaker.predictor import csv_serializer, json_deserializer
    from opensagemaker.session import s3_input

    aws = tutorial_aws
    job = ANY  # named by the SDK (<repository>-<timestamp>); the recorded calls check that every use agrees
    s3_train_data, s3_val_data = f"s3://{BUCKET}/20newsgroups/train", f"s3://{BUCKET}/20newsgroups/val"
    aws.expect("sagemaker", "create_training_job", {"TrainingJobArn": arn("training-job")}, ntm_training_params(job))
    aws.expect("sagemaker", "describe_training_job", training_response("j", "Completed", 2), {"TrainingJobName": job})
    aws.expect("logs", "describe_log_streams", {"logStreams": [{"logStreamName": "j/algo-1-1"}]},
               {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamNamePrefix": job})
    aws.expect("logs", "get_log_events", {"events": [{"timestamp": 1, "message": "training done"}],
                                          "nextForwardToken": "f/1"}, None)
    aws.expect("logs", "get_log_events", {"events": [], "nextForwardToken": "f/1"}, None)
    # deploy: the model artifact is read from the finished job, then model, config, endpoint, waiter
    aws.expect("sagemaker", "describe_training_job", training_response("j", "Completed", 2), {"TrainingJobName": job})
    aws.expect("sagemaker", "create_model", {"ModelArn": arn("model")}, {
        "ModelName": job, "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": NTM_IMAGE, "Environment": {}, "ModelDataUrl": f"{OUTPUT}/j/output/model.tar.gz"},
    })
    aws.expect("sagemaker", "create_endpoint_config", {"EndpointConfigArn": arn("endpoint-config")}, {
        "EndpointConfigName": job,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": job, "InitialInstanceCount": 1,
                                "InstanceType": "ml.m4.xlarge", "InitialVariantWeight": 1.0}],
    })
    aws.expect("sagemaker", "create_endpoint", {"EndpointArn": arn("endpoint")},
               {"EndpointName": job, "EndpointConfigName": job})
    aws.expect("sagemaker", "describe_endpoint", endpoint_response("j", "InService"), {"EndpointName": job})
    # predict: text/csv and no Accept (docs/contract.md §5.3)
    answer = json.dumps({"predictions": [{"topic_weights": [0.1, 0.9]}]}).encode()
    aws.expect("sagemaker-runtime", "invoke_endpoint", invoke_response(answer, "application/json"),
               {"EndpointName": job, "Body": b"0.0,3.0,1.0", "ContentType": "text/csv"})
    # transformer: the job's model is registered again (already exists: reused), then the transform job
    aws.expect("sagemaker", "describe_training_job", training_response("j", "Completed", 2), {"TrainingJobName": job})
    aws.error("sagemaker", "create_model", "ValidationException", 'Cannot create already existing model "arn:m".')
    aws.expect("sagemaker", "describe_model", {
        "ModelName": "j", "ExecutionRoleArn": ROLE, "CreationTime": NOW, "ModelArn": arn("model"),
        "PrimaryContainer": {"Image": NTM_IMAGE, "ModelDataUrl": f"{OUTPUT}/j/output/model.tar.gz"},
    }, {"ModelName": job})
    batch_output_path = f"s3://{BUCKET}/20newsgroups/batch/test"
    train_s3 = f"s3://{BUCKET}/20newsgroups/batch/train/trainvectors.csv"
    aws.expect("sagemaker", "create_transform_job", {"TransformJobArn": arn("transform-job")}, {
        "TransformJobName": ANY, "ModelName": "j",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train_s3}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": batch_output_path},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m4.xlarge"},
    })
    aws.expect("sagemaker", "describe_transform_job",
               transform_response("t", "Completed", "j", batch_output_path), None)
    aws.expect("logs", "describe_log_streams", {"logStreams": []}, None)
    aws.expect("s3", "list_objects_v2", {"Contents": [{"Key": "20newsgroups/batch/test/trainvectors.csv.out"}]},
               {"Bucket": BUCKET, "Prefix": "20newsgroups/batch/test"})
    # clean-up
    aws.expect("sagemaker", "describe_endpoint", endpoint_response("j", "InService"), {"EndpointName": job})
    aws.expect("sagemaker", "delete_endpoint", {}, {"EndpointName": job})
    aws.expect("sagemaker", "delete_endpoint_config", {}, {"EndpointConfigName": "j"})
    aws.expect("sagemaker", "delete_model", {}, {"ModelName": job})

    # --- the tutorial's cells ---
    container = get_image_uri(REGION, "ntm")
    sess = sagemaker.Session()
    ntm = sagemaker.estimator.Estimator(container, ROLE, train_instance_count=2, train_instance_type="ml.c4.xlarge",
                                        output_path=OUTPUT, sagemaker_session=sess)
    ntm.set_hyperparameters(num_topics=30, feature_dim=2000, mini_batch_size=128, epochs=100,
                            num_patience_epochs=5, tolerance=0.001)
    s3_train = s3_input(s3_train_data, distribution="ShardedByS3Key")
    ntm.fit({"train": s3_train, "test": s3_val_data})
    ntm_predictor = ntm.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")
    ntm_predictor.content_type = "text/csv"
    ntm_predictor.serializer = csv_serializer
    ntm_predictor.deserializer = json_deserializer
    results = ntm_predictor.predict(np.array([0.0, 3.0, 1.0]))
    ntm_transformer = ntm.transformer(instance_count=1, instance_type="ml.m4.xlarge", output_path=batch_output_path)
    ntm_transformer.transform(train_s3, content_type="text/csv", split_type="Line")
    described = ntm_transformer.wait()
    ntm_predictor.delete_endpoint()
    ntm_predictor.delete_model()

    # --- what happened ---
    assert container == NTM_IMAGE
    assert sess.backend is aws.backend
    assert results == {"predictions": [{"topic_weights": [0.1, 0.9]}]}
    assert described.outputs == (f"{batch_output_path}/trainvectors.csv.out",)
    assert aws.lines == ["training done"]  # the training log, read from CloudWatch
    (name,) = set(aws.names_of("CreateTrainingJob", "TrainingJobName"))
    assert name.startswith("open-ntm-") and ntm.latest_training_job.name == name
    assert set(aws.names_of("DescribeTrainingJob", "TrainingJobName")) == {name}
    assert aws.names_of("CreateModel", "ModelName") == [name, name]
    assert aws.names_of("CreateEndpoint", "EndpointName") == [name] == aws.names_of("InvokeEndpoint", "EndpointName")
    assert [p["logStreamNamePrefix"] for op, p in aws.calls if op == "DescribeLogStreams"] == [
        f"{name}/", f"{ntm_transformer.latest_transform_job}/"]
    assert aws.names_of("DescribeModel", "ModelName") == [name]
    assert aws.names_of("DeleteModel", "ModelName") == [name]


def test_tutorial_knn_fit_and_deploy_with_accept(tutorial_aws: AWS) -> None:
    """Module 4's estimator and predictor cells: k-NN job, endpoint with ``accept=``, a verbose JSON-lines answer."""
    import numpy as np

    import opensagemaker as sagemaker
    from opensagemaker import get_execution_role
    from opensagemaker.amazon.amazon_estimator import get_image_uri
    from opensagemaker.predictor import csv_serializer, json_deserializer

    aws = tutorial_aws
    s3_train_data = f"s3://{BUCKET}/20newsgroups/knn/train"
    output_path = f"s3://{BUCKET}/20newsgroups/knn/output"
    endpoint_name = "knn-ml-m4-xlarge-1767323045-123"
    hyperparams = {"feature_dim": 30, "k": 10, "sample_size": 11314, "predictor_type": "classifier",
                   "index_metric": "COSINE"}
    aws.expect("sts", "get_caller_identity",
               {"Account": ACCOUNT, "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/SageMakerRole/nb"}, {})
    aws.error("iam", "get_role", "AccessDenied", "not allowed", status=403)  # role path unknown: ARN without it
    role = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
    aws.expect("sagemaker", "create_training_job", {"TrainingJobArn": arn("training-job")}, {
        "TrainingJobName": ANY,
        "AlgorithmSpecification": {"TrainingImage": KNN_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": metric_definitions("knn")},
        "RoleArn": role,
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "HyperParameters": {k: str(v) for k, v in hyperparams.items()},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": s3_train_data, "S3DataDistributionType": "FullyReplicated"}}}],
    })
    aws.expect("sagemaker", "describe_training_job", training_response("k", "Completed", image=KNN_IMAGE), None)
    aws.expect("logs", "describe_log_streams", {"logStreams": []}, None)
    aws.expect("sagemaker", "describe_training_job", training_response("k", "Completed", image=KNN_IMAGE), None)
    aws.expect("sagemaker", "create_model", {"ModelArn": arn("model")}, {
        "ModelName": ANY, "ExecutionRoleArn": role,
        "PrimaryContainer": {"Image": KNN_IMAGE, "Environment": {}, "ModelDataUrl": f"{OUTPUT}/k/output/model.tar.gz"},
    })
    aws.expect("sagemaker", "create_endpoint_config", {"EndpointConfigArn": arn("endpoint-config")}, {
        "EndpointConfigName": endpoint_name,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": ANY, "InitialInstanceCount": 1,
                                "InstanceType": "ml.m4.xlarge", "InitialVariantWeight": 1.0}],
    })
    aws.expect("sagemaker", "create_endpoint", {"EndpointArn": arn("endpoint")},
               {"EndpointName": endpoint_name, "EndpointConfigName": endpoint_name})
    aws.expect("sagemaker", "describe_endpoint", endpoint_response(endpoint_name, "InService"),
               {"EndpointName": endpoint_name})
    answer = b'{"predicted_label": 3.0, "distances": [0.8, 0.9], "labels": [17.0, 4.0]}\n'
    aws.expect("sagemaker-runtime", "invoke_endpoint", invoke_response(answer, "application/jsonlines"), {
        "EndpointName": endpoint_name, "Body": b"0.25,0.75", "ContentType": "text/csv",
        "Accept": "application/jsonlines; verbose=true",
    })

    knn = sagemaker.estimator.Estimator(get_image_uri(REGION, "knn"), get_execution_role(), train_instance_count=1,
                                        train_instance_type="ml.c4.xlarge", output_path=output_path,
                                        sagemaker_session=sagemaker.Session())
    knn.set_hyperparameters(**hyperparams)
    knn.fit({"train": s3_train_data})
    knn_predictor = knn.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge", endpoint_name=endpoint_name,
                               accept="application/jsonlines; verbose=true")
    knn_predictor.content_type = "text/csv"
    knn_predictor.serializer = csv_serializer
    knn_predictor.deserializer = json_deserializer
    result = knn_predictor.predict(np.array([0.25, 0.75]))

    assert result == {"predicted_label": 3.0, "distances": [0.8, 0.9], "labels": [17.0, 4.0]}
    (name,) = set(aws.names_of("CreateTrainingJob", "TrainingJobName"))
    assert name.startswith("open-knn-")
    assert aws.names_of("CreateModel", "ModelName") == [name]

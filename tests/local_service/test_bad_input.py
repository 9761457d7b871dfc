"""Bad requests, sent raw (no client-side validation in the way): each a botocore-parseable 4xx naming the problem,
and 10,000 fuzzed requests that give no 5xx while the service keeps serving."""

from __future__ import annotations

import http.client
import json
import random

import pytest
from botocore.exceptions import ClientError


def raw(service, target: str | None, body: bytes, path: str = "/", headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        all_headers = {"Content-Type": "application/x-amz-json-1.1", **(headers or {})}
        if target is not None:
            all_headers["X-Amz-Target"] = target
        connection.request("POST", path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data.startswith(b"{") else {"raw": data.decode()}
    finally:
        connection.close()


@pytest.mark.parametrize(("body", "code", "named"), [
    (b"{not json", "SerializationException", "not valid JSON"),
    (b"{}", "ValidationException", '"TrainingJobName"'),
    (b'{"TrainingJobName": 7}', "ValidationException", "TrainingJobName"),
    (b'{"TrainingJobName": "x", "Surprise": 1}', "ValidationException", '"Surprise"'),
    (b'{"TrainingJobName": "' + b"x" * 64 + b'"}', "ValidationException", "valid max length: 63"),
])
def test_describe_training_job_bad_bodies(service, body: bytes, code: str, named: str) -> None:
    status, answer = raw(service, "SageMaker.DescribeTrainingJob", body)
    assert status == 400 and answer["__type"] == code and named in answer["message"], answer


def test_wrong_type_deep_in_a_request_names_its_path(service) -> None:
    body = {"TrainingJobName": "t", "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::000000000000:role/opensagemaker-local",
            "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
            "ResourceConfig": {"InstanceCount": "two", "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}
    status, answer = raw(service, "SageMaker.CreateTrainingJob", json.dumps(body).encode())
    assert status == 400 and answer["__type"] == "ValidationException"
    assert "ResourceConfig.InstanceCount" in answer["message"] and "'two'" in answer["message"]
    body["ResourceConfig"] = {"InstanceCount": 1, "InstanceType": "ml.nope", "VolumeSizeInGB": 1}
    status, answer = raw(service, "SageMaker.CreateTrainingJob", json.dumps(body).encode())
    assert status == 400 and "ResourceConfig.InstanceType" in answer["message"] and "enum" in answer["message"]


def test_unknown_and_unimplemented_operations_are_named(service) -> None:
    status, answer = raw(service, "SageMaker.BakeACake", b"{}")
    assert status == 400 and answer["__type"] == "UnknownOperationException" and "BakeACake" in answer["message"]
    status, answer = raw(service, "SageMaker.CreateHyperParameterTuningJob", b"{}")
    assert answer["__type"] == "UnknownOperationException" and "CreateHyperParameterTuningJob" in answer["message"]
    status, answer = raw(service, "DynamoDB_20120810.ListTables", b"{}")
    assert status == 400 and "DynamoDB_20120810.ListTables" in answer["message"]
    status, answer = raw(service, None, b"", path="/somewhere")
    assert status == 404 and "/somewhere" in answer["message"]
    status, answer = raw(service, None, b"x", path="/endpoints/e/async-invocations")
    assert "InvokeEndpointAsync" in answer["message"]


def test_botocore_parses_every_error_into_a_client_error_with_its_code(sagemaker, service) -> None:
    with pytest.raises(ClientError) as missing_model:
        sagemaker.describe_model(ModelName="not-there")
    assert missing_model.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find model" in missing_model.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing_config:
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="not-there")
    assert "Could not find endpoint configuration" in missing_config.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as bad_token:
        service.client("logs").get_log_events(logGroupName="g", logStreamName="s")
    assert bad_token.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _fuzz_value(shape, rng: random.Random, depth: int = 0):
    kind = shape.type_name
    roll = rng.random()
    if roll < 0.08:
        return rng.choice([None, 1, -1, "x", [], {}, True, 1e308, "\u0000", "💥" * 3])
    if kind == "structure" and depth < 4:
        members = list(shape.members.items())
        chosen = [m for m in members if m[0] in shape.required_members or rng.random() < 0.3]
        return {name: _fuzz_value(member, rng, depth + 1) for name, member in chosen}
    if kind == "list" and depth < 4:
        return [_fuzz_value(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "map" and depth < 4:
        return {f"k{i}": _fuzz_value(shape.value, rng, depth + 1) for i in range(rng.randint(0, 2))}
    if kind == "string":
        if shape.enum and roll < 0.7:
            return rng.choice(shape.enum)
        return rng.choice(["a", "fuzz-job", "s3://sagemaker-us-east-1-000000000000/x", "", "x" * 70,
                           "arn:aws:iam::000000000000:role/opensagemaker-local"])
    if kind in ("integer", "long"):
        return rng.choice([0, 1, 2, -5, 10**12])
    if kind in ("float", "double"):
        return rng.choice([0.0, 1.5, -1.0])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "timestamp":
        return rng.choice([0, 1_700_000_000, "2024-01-01T00:00:00Z", "yesterday"])
    return "x"


def test_ten_thousand_fuzzed_requests_give_no_5xx_and_the_service_keeps_serving(service, sagemaker) -> None:
    from opensagemaker.local_service import wire

    rng = random.Random(13)
    model = wire.model("sagemaker")
    logs = wire.model("logs")
    implemented = [name for name in ("CreateModel", "DescribeModel", "DeleteModel", "ListModels",
                                     "CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig",
                                     "DescribeEndpoint", "DeleteEndpoint", "ListEndpoints", "UpdateEndpoint",
                                     "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs",
                                     "DescribeTransformJob", "ListTransformJobs", "StopTransformJob",
                                     "AddTags", "ListTags", "DeleteTags")]
    statuses: dict[int, int] = {}
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        for index in range(10_000):
            roll = rng.random()
            if roll < 0.75:
                name = rng.choice(implemented)
                target, operation = f"SageMaker.{name}", model.operation_model(name)
            elif roll < 0.85:
                name = rng.choice(["GetLogEvents", "DescribeLogStreams", "FilterLogEvents", "DescribeLogGroups"])
                target, operation = f"Logs_20140328.{name}", logs.operation_model(name)
            else:
                target, operation = rng.choice(["SageMaker.Nope", "SageMaker.CreateAlgorithm", "X.Y", ""]), None
            if operation is not None and rng.random() < 0.9:
                body = json.dumps(_fuzz_value(operation.input_shape, rng)).encode()
            else:
                body = rng.choice([b"", b"{", b"[]", b"null", b'{"a":', bytes(rng.randrange(256) for _ in range(20))])
            connection.request("POST", "/", body=body, headers={"X-Amz-Target": target,
                                                               "Content-Type": "application/x-amz-json-1.1"})
            response = connection.getresponse()
            data = response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert response.status < 500, (index, target, body[:300], data[:500])
    finally:
        connection.close()
    assert statuses.get(400, 0) > 5000 and statuses.get(200, 0) > 100, statuses
    assert "Endpoints" in sagemaker.list_endpoints()  # still serving

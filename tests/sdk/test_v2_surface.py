"""SDK v2's names with v2's behaviour: Session, ``sagemaker.utils``, predictor headers, ``Estimator.attach``.

Headers are checked over a real socket with ``tests/sdk/echo_server.py`` (it echoes what it received); jobs are the
toy algorithm's, on the local backend.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from opensagemaker import Estimator, Model, Predictor, get_execution_role, utils
from opensagemaker.deserializers import JSONDeserializer
from opensagemaker.predictor import csv_serializer, json_deserializer
from opensagemaker.serializers import CSVSerializer, JSONSerializer
from tests.sdk.conftest import ECHO_IMAGE, TOY_IMAGE
from tests.sdk.test_local_training import _upload_parts


@pytest.fixture(scope="module")
def echo(sdk_env):
    from opensagemaker import Session

    predictor = Model(None, ECHO_IMAGE, sagemaker_session=Session()).deploy(1, "ml.m4.xlarge", endpoint_name="echo-v2")
    yield predictor
    predictor.delete_endpoint()


def test_name_helpers_behave_as_v2s() -> None:
    name = utils.name_from_base("ntm-20newsgroups")
    assert re.fullmatch(r"ntm-20newsgroups-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}", name)
    assert utils.base_from_name(name) == "ntm-20newsgroups"
    assert len(utils.name_from_base("x" * 80)) == 63 and len(utils.name_from_base("x" * 80, max_length=30)) == 30
    assert re.fullmatch(r"knn-\d{6}-\d{4}", utils.name_from_base("knn", short=True))
    assert utils.base_from_name(utils.name_from_base("knn", short=True)) == "knn"
    unique = utils.unique_name_from_base("ntm")
    assert re.fullmatch(r"ntm-\d{10}-[0-9a-f]{4}", unique) and len(utils.unique_name_from_base("y" * 80)) == 63
    assert utils.base_name_from_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/ntm:1") == "ntm"
    assert utils.base_name_from_image("knn") == "knn"
    assert utils.base_from_name("no-timestamp-here") == "no-timestamp-here"
    first, second = utils.name_from_base("a"), utils.name_from_base("a")
    assert first != second  # two names in one millisecond still differ


def test_session_setup_cell_of_current_notebooks(session) -> None:
    assert session.default_bucket_prefix is None  # v2 without a SageMaker config file
    prefix = "sagemaker/DEMO-ntm"
    if session.default_bucket_prefix:
        prefix = f"{session.default_bucket_prefix}/{prefix}"
    assert prefix == "sagemaker/DEMO-ntm"
    from opensagemaker import Session

    assert Session(default_bucket_prefix="team-a").default_bucket_prefix == "team-a"
    assert session.get_caller_identity_arn() == get_execution_role(session)
    assert session.boto_region_name == "us-east-1"
    assert session.expand_role("MyRole") == f"arn:aws:iam::{session.account_id()}:role/MyRole"
    # v2's clients reach the local SageMaker service in local mode, as they reach SageMaker on AWS
    assert session.sagemaker_client.list_training_jobs()["TrainingJobSummaries"] is not None
    assert session.sagemaker_runtime_client.meta.service_model.service_name == "sagemaker-runtime"


def test_v2_predictor_sends_its_serializers_headers(echo, session) -> None:
    predictor = Predictor(echo.endpoint_name, session)
    raw = predictor.predict(b"bytes")  # v2 defaults: IdentitySerializer, BytesDeserializer
    headers = json_deserializer(__import__("io").BytesIO(raw))["headers"]
    assert headers["content-type"] == "application/octet-stream" and headers["accept"] == "*/*"

    predictor.serializer = CSVSerializer()  # what v2 notebooks do after deploy(); no initial_args
    predictor.deserializer = JSONDeserializer()
    answer = predictor.predict(np.array([[1.0, 0.0], [2.5, 3.0]]))
    assert answer["headers"]["content-type"] == "text/csv" and answer["headers"]["accept"] == "application/json"
    assert answer["body"] == "1.0,0.0\n2.5,3.0"
    predictor.serializer = JSONSerializer()  # reassigning changes the header again
    assert predictor.predict([1, 2])["headers"]["content-type"] == "application/json"
    predictor.content_type = "application/jsonlines"  # v2.154+: an explicit value wins
    assert predictor.predict([1, 2])["headers"]["content-type"] == "application/jsonlines"


def test_deployed_predictor_takes_v2_serializers_assigned_later(echo) -> None:
    """``Estimator.deploy()`` gives a predictor with no serializer; v2 code then assigns one (issue: it sent none)."""
    echo.serializer, echo.deserializer = CSVSerializer(), JSONDeserializer()
    try:
        answer = echo.predict([0.5, 0.25])
    finally:
        echo.serializer = echo.deserializer = None
    assert answer["headers"]["content-type"] == "text/csv" and answer["headers"]["accept"] == "application/json"
    echo.serializer = csv_serializer  # v1's module object keeps v1's rule: headers fixed in __init__ (none here)
    try:
        raw = echo.predict([1])
    finally:
        echo.serializer = None
    assert "content-type" not in json_deserializer(__import__("io").BytesIO(raw))["headers"]


def test_attach_latest_training_job_and_model_data(session, bucket) -> None:
    data = _upload_parts(session, bucket, "v2/attach", [np.ones((4, 2))], recordio=True)
    estimator = Estimator(image_uri=TOY_IMAGE, role="arn:aws:iam::000000000000:role/test", instance_count=1,
                          instance_type="ml.c4.xlarge", sagemaker_session=session, base_job_name="toy-v2",
                          hyperparameters={"feature_dim": 2})
    estimator.fit({"train": data}, logs=False)
    job = estimator.latest_training_job
    described = job.describe()
    assert described["TrainingJobStatus"] == "Completed" and described["TrainingJobName"] == job.name
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == estimator.model_data
    assert estimator.model_data == f"s3://{bucket}/{job.name}/output/model.tar.gz"
    assert session.wait_for_job(job.name)["HyperParameters"] == {"feature_dim": "2"}

    attached = Estimator.attach(job.name, sagemaker_session=session)
    assert attached.latest_training_job.name == job.name and attached.model_data == estimator.model_data
    assert (attached.image_uri, attached.instance_count, attached.instance_type) == (TOY_IMAGE, 1, "ml.c4.xlarge")
    assert attached.base_job_name == "toy-v2" and attached.hyperparameters() == {"feature_dim": "2"}
    assert attached.output_path == estimator.output_path


def test_model_and_predictor_delete_model(session) -> None:
    model = Model(None, ECHO_IMAGE, sagemaker_session=session, name=f"echo-model-{int(time.time() * 1000)}")
    predictor = model.deploy(1, "ml.m4.xlarge")
    predictor.delete_endpoint()
    predictor.delete_model()
    with pytest.raises(ValueError, match="Could not find model"):
        session.backend.describe_model(model.name)


def test_deploy_with_v2_serializers_then_reassigning_one(session) -> None:
    predictor = Model(None, ECHO_IMAGE, sagemaker_session=session).deploy(
        1, "ml.m4.xlarge", endpoint_name="echo-v2-deploy", serializer=CSVSerializer(), deserializer=JSONDeserializer())
    try:
        first = predictor.predict([1, 2])
        predictor.serializer = JSONSerializer()
        second = predictor.predict([1, 2])
    finally:
        predictor.delete_endpoint()
    assert (first["headers"]["content-type"], first["headers"]["accept"]) == ("text/csv", "application/json")
    assert (first["body"], second["body"]) == ("1,2", "[1, 2]")
    assert second["headers"]["content-type"] == "application/json"


def test_first_party_predictors_take_v2_arguments(session) -> None:
    from opensagemaker.amazon.knn import KNNPredictor
    from opensagemaker.amazon.ntm import NTMPredictor

    assert NTMPredictor("e", session).content_type == "application/x-recordio-protobuf"  # v1
    v2 = NTMPredictor(endpoint_name="e", sagemaker_session=session, serializer=CSVSerializer(),
                      deserializer=JSONDeserializer())
    assert (v2.endpoint_name, v2.content_type, v2.accept) == ("e", "text/csv", "application/json")
    assert KNNPredictor(endpoint_name="k", sagemaker_session=session).accept == "application/x-recordio-protobuf"

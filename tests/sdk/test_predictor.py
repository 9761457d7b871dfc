"""Predictor header semantics (docs/contract.md §5.3) and serializers, over a real loopback socket.

The endpoint is ``tests/sdk/echo_server.py`` deployed through the local backend: it echoes the headers it received,
so the tests see exactly what went over the wire.
"""

from __future__ import annotations

import numpy as np
import pytest
from botocore.exceptions import ClientError

from opensagemaker import Model, RealTimePredictor
from opensagemaker.exceptions import ModelError
from opensagemaker.predictor import csv_serializer, json_deserializer, json_serializer
from opensagemaker.serializers import CSVSerializer, JSONDeserializer
from tests.sdk.conftest import ECHO_IMAGE


@pytest.fixture(scope="module")
def echo(sdk_env):
    from opensagemaker import Session

    session = Session()
    predictor = Model(None, ECHO_IMAGE, sagemaker_session=session).deploy(1, "ml.m4.xlarge", endpoint_name="echo-headers")
    yield predictor
    predictor.delete_endpoint()


def test_tutorial_assignments_send_content_type_and_no_accept(echo) -> None:
    assert (echo.content_type, echo.accept) == (None, None)  # what Estimator.deploy() gives the tutorial
    echo.content_type = "text/csv"
    echo.serializer = csv_serializer
    echo.deserializer = json_deserializer  # does NOT set accept (v1 computes it once, in __init__)
    try:
        answer = echo.predict(np.array([1.0, 0.0, 2.5], dtype=np.float32))
    finally:
        echo.content_type, echo.serializer, echo.deserializer = None, None, None
    assert answer["headers"]["content-type"] == "text/csv"
    assert "accept" not in answer["headers"]
    assert answer["body"] == "1.0,0.0,2.5"


def test_no_headers_at_all_when_nothing_is_set(echo) -> None:
    raw = echo.predict(b"raw bytes")
    assert isinstance(raw, bytes)
    headers = json_deserializer(__import__("io").BytesIO(raw))["headers"]
    assert "accept" not in headers and "content-type" not in headers


def test_accept_given_to_the_predictor_is_sent(echo, session) -> None:
    predictor = RealTimePredictor(echo.endpoint, session, content_type="text/csv",
                                  accept="application/jsonlines; verbose=true", deserializer=json_deserializer)
    predictor.serializer = csv_serializer
    answer = predictor.predict([0.5, 0.25])
    assert answer["headers"]["accept"] == "application/jsonlines; verbose=true"
    assert answer["body"] == "0.5,0.25"


def test_serializer_and_deserializer_given_at_init_set_both_headers(echo, session) -> None:
    predictor = RealTimePredictor(echo.endpoint, session, serializer=json_serializer, deserializer=json_deserializer)
    answer = predictor.predict({"instances": np.array([[1, 2]])})
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["headers"]["accept"] == "application/json"
    assert answer["body"] == '{"instances": [[1, 2]]}'
    override = predictor.predict([1], initial_args={"Accept": "application/jsonlines", "CustomAttributes": "a=1"})
    assert override["headers"]["accept"] == "application/jsonlines"
    assert override["headers"]["x-amzn-sagemaker-custom-attributes"] == "a=1"


def test_v2_serializer_objects_work_too(echo, session) -> None:
    predictor = RealTimePredictor(echo.endpoint, session, serializer=CSVSerializer(), deserializer=JSONDeserializer())
    answer = predictor.predict(np.array([[1, 2], [3, 4]]))
    assert answer["body"] == "1,2\n3,4"  # rows joined by newlines, no trailing newline (v1 csv_serializer)
    assert answer["headers"]["accept"] == "application/json"


def test_an_error_answer_raises_model_error_with_status_and_body(echo) -> None:
    with pytest.raises(ModelError) as raised:
        echo.predict(b"fail")
    assert raised.value.status_code == 415
    assert "(415)" in str(raised.value) and "text/x-nope" in str(raised.value)
    assert raised.value.response["Error"]["Code"] == "ModelError"


def test_unknown_endpoint_is_named(session) -> None:
    predictor = RealTimePredictor("no-such-endpoint", session)
    with pytest.raises(ClientError, match="Endpoint no-such-endpoint of account 000000000000 not found"):
        predictor.predict(b"x")


def test_csv_serializer_matches_v1() -> None:
    assert csv_serializer(np.array([1.5, 16.0])) == "1.5,16.0"
    assert csv_serializer([[1, 2], [3, 4]]) == "1,2\n3,4"
    assert csv_serializer("already,text") == "already,text"
    with pytest.raises(ValueError, match="empty array"):
        csv_serializer([])

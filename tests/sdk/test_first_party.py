"""The first-party ``NTM`` and ``KNN`` estimators with ``record_set``, against the real containers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from opensagemaker import KNN, NTM, RecordSet
from opensagemaker.backends import storage
from tests.sdk.conftest import ROLE


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_record_set_writes_one_shard_per_instance_and_a_manifest(session, rng) -> None:
    ntm = NTM(role=ROLE, train_instance_count=3, train_instance_type="ml.c4.xlarge", num_topics=2,
              sagemaker_session=session)
    matrix = sp.csr_matrix(rng.poisson(0.5, size=(10, 6)).astype(np.float32))
    records = ntm.record_set(matrix)
    assert isinstance(records, RecordSet) and (records.num_records, records.feature_dim) == (10, 6)
    assert records.s3_data.endswith("/.amazon.manifest") and records.s3_data_type == "ManifestFile"
    manifest = json.loads(storage.read_bytes(session.s3_client(), records.s3_data))
    assert manifest[1:] == ["matrix_0.pbr", "matrix_1.pbr", "matrix_2.pbr"]
    assert manifest[0]["prefix"] == records.s3_data[: -len(".amazon.manifest")]
    objects = storage.list_objects(session.s3_client(), records.s3_data, "ManifestFile")
    assert [o.relative for o in objects] == manifest[1:]
    channel = records.records_s3_input()
    assert (channel.distribution, channel.s3_data_type) == ("ShardedByS3Key", "ManifestFile")


def test_ntm_trains_deploys_and_predicts_topic_weights(session, rng) -> None:
    matrix = sp.csr_matrix(rng.poisson(0.4, size=(120, 30)).astype(np.float32))
    ntm = NTM(role=ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge", num_topics=3, epochs=2,
              encoder_layers=[6, 4], batch_norm=False, sagemaker_session=session)
    ntm.fit(ntm.record_set(matrix), mini_batch_size=32, logs=False)
    sent = ntm.hyperparameters()
    assert sent["encoder_layers"] == "[6, 4]" and sent["batch_norm"] == "False"
    assert (sent["feature_dim"], sent["mini_batch_size"], sent["num_topics"]) == ("30", "32", "3")
    predictor = ntm.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")
    try:
        assert predictor.content_type == "application/x-recordio-protobuf"
        records = predictor.predict(matrix[:4].toarray())
        weights = np.array([r.label["topic_weights"].float32_tensor.values for r in records])
        assert weights.shape == (4, 3)
        assert weights.sum(axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    finally:
        predictor.delete_endpoint()


def test_knn_trains_deploys_and_classifies(session, rng) -> None:
    points = rng.normal(size=(80, 4)).astype(np.float32)
    labels = (points[:, 0] > 0).astype(np.float32)
    knn = KNN(role=ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge", k=1, sample_size=80,
              predictor_type="classifier", sagemaker_session=session)
    knn.fit(knn.record_set(points, labels), mini_batch_size=40, logs=False)
    predictor = knn.deploy(1, "ml.m4.xlarge")
    try:
        records = predictor.predict(points[:6])
        predicted = [r.label["predicted_label"].float32_tensor.values[0] for r in records]
        assert predicted == labels[:6].tolist()  # k=1 on training points: each point is its own neighbour
    finally:
        predictor.delete_endpoint()


def test_hyperparameters_are_checked_with_the_container_schema_before_any_job(session, rng) -> None:
    ntm = NTM(role=ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge", num_topics=1,
              sagemaker_session=session)
    with pytest.raises(ValueError, match=r"Hyperparameter num_topics: '1' is not in \[2, 1000\]"):
        ntm.fit(ntm.record_set(np.ones((4, 3), dtype=np.float32)))
    assert ntm.latest_training_job is None
    with pytest.raises(ValueError, match="dimension_reduction_target"):
        KNN(role=ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge", k=1, sample_size=1, predictor_type="classifier",
            dimension_reduction_type="sign", sagemaker_session=session)
    knn = KNN(role=ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge", k=1, sample_size=10,
              predictor_type="classifier", sagemaker_session=session)
    knn.fit(knn.record_set(np.ones((10, 3), dtype=np.float32), np.zeros(10, dtype=np.float32)), logs=False)
    with pytest.raises(TypeError, match="accept"):
        knn.deploy(1, "ml.m4.xlarge", accept="application/json")


def test_ntm_fit_again_with_the_same_checkpoint_uri_continues_training(session, rng, capsys) -> None:
    """The mission's checkpoint/resume through the SDK: the second job starts from the first job's last epoch."""
    matrix = sp.csr_matrix(rng.poisson(0.4, size=(120, 30)).astype(np.float32))
    checkpoints = f"s3://{session.default_bucket()}/ntm-resume/checkpoints"
    ntm = NTM(role=ROLE, train_instance_count=1, train_instance_type="ml.c4.xlarge", num_topics=3, epochs=2,
              num_patience_epochs=50, sagemaker_session=session, checkpoint_s3_uri=checkpoints)
    records = ntm.record_set(matrix)
    ntm.fit(records, mini_batch_size=32)
    assert "continuing with epoch" not in capsys.readouterr().out
    ntm.epochs = 4
    ntm.fit(records, mini_batch_size=32)
    out = capsys.readouterr().out
    assert "epoch 2 done, continuing with epoch 3" in out
    assert "epoch=1, train total_loss" not in out and "epoch=4, train total_loss" in out

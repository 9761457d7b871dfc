"""Notebook-shaped flows written for the built-in NTM and k-NN, in both SDK generations, run under the one-line switch.

Each flow is the shape of AWS's example notebooks (``ntm_20newsgroups_topic_model``, ``k_nearest_neighbors_covtype``)
in its SDK generation's names, on a small synthetic corpus: the setup cell (v2: ``default_bucket_prefix``), data in
RecordIO-protobuf uploaded with plain boto3, a 2-host ``ShardedByS3Key`` NTM job named with
``sagemaker.utils.name_from_base``, an NTM endpoint with a CSV serializer (v2: assigned after ``deploy``, no
``initial_args``; v1: ``content_type`` + ``csv_serializer``), a k-NN job on the topic vectors and its endpoint, then
the model-exploration cells: download ``model.tar.gz``, ``tar -xzvf``, unzip ``model_algo-1``. MXNet (a cached venv,
``tests/aws_sdks.py``) then runs the notebooks' ``mx.ndarray.load('params')`` on what was unzipped, and the
topic-word matrix it reads must equal the one in the artifact the endpoint was created from. The job logs the
flow printed must hold no "Traceback" and no "ModuleNotFoundError".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.aws_sdks import aws_sdk_python

DATA = r'''
import opensagemaker.as_sagemaker  # the one-line switch
import io, json, os, subprocess, sys
import boto3
import numpy as np
import scipy.sparse as sparse
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker import get_execution_role

rng = np.random.default_rng(0)
vocab_size, num_topics = 30, 3
topic_of_word = np.arange(vocab_size) % num_topics
def document(topic):
    words = np.concatenate([rng.choice(np.flatnonzero(topic_of_word == topic), 25), rng.integers(0, vocab_size, 5)])
    return np.bincount(words, minlength=vocab_size).astype(np.float32)
labels = np.tile(np.arange(num_topics), 40)
vectors = sparse.csr_matrix(np.array([document(t) for t in labels]))
vocab_list = [f"word{i}" for i in range(vocab_size)]
'''

SETUP_V2 = r'''
sess = sagemaker.Session()
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-ntm-knn-v2"
default_bucket_prefix = sess.default_bucket_prefix
if default_bucket_prefix:  # the setup cell of AWS's current notebooks
    prefix = f"{default_bucket_prefix}/{prefix}"
role = get_execution_role()
'''

SETUP_V1 = r'''
sess = sagemaker.Session()
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-ntm-knn-v1"
role = get_execution_role()
'''

UPLOAD = r'''
def upload(matrix, key, labels=None):
    buf = io.BytesIO()
    if sparse.issparse(matrix):
        smac.write_spmatrix_to_sparse_tensor(buf, matrix, labels)
    else:
        smac.write_numpy_to_dense_tensor(buf, matrix, labels)
    buf.seek(0)
    boto3.resource("s3").Bucket(bucket).Object(f"{prefix}/{key}").upload_fileobj(buf)
    return f"s3://{bucket}/{prefix}/{key}"

upload(vectors[:60], "train/part0.pbr"); upload(vectors[60:], "train/part1.pbr")
s3_train_data = f"s3://{bucket}/{prefix}/train"
boto3.resource("s3").Bucket(bucket).Object(f"{prefix}/auxiliary/vocab.txt").put(Body="\n".join(vocab_list).encode())
s3_aux_data = f"s3://{bucket}/{prefix}/auxiliary"
output_path = f"s3://{bucket}/{prefix}/output"
'''

NTM_V2 = r'''
from sagemaker import image_uris
from sagemaker.deserializers import JSONDeserializer
from sagemaker.inputs import TrainingInput
from sagemaker.serializers import CSVSerializer
from sagemaker.utils import name_from_base

container = image_uris.retrieve("ntm", boto3.Session().region_name)
ntm = sagemaker.estimator.Estimator(container, role, instance_count=2, instance_type="ml.c4.xlarge",
                                    output_path=output_path, sagemaker_session=sess)
ntm.set_hyperparameters(num_topics=num_topics, feature_dim=vocab_size, mini_batch_size=20, epochs=8)
ntm.fit({"train": TrainingInput(s3_train_data, distribution="ShardedByS3Key"),
         "auxiliary": TrainingInput(s3_aux_data, content_type="text/plain")},
        job_name=name_from_base("ntm-notebook"))
print("Training job name: {}".format(ntm.latest_training_job.job_name))

ntm_predictor = ntm.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")
ntm_predictor.serializer = CSVSerializer()
ntm_predictor.deserializer = JSONDeserializer()
results = ntm_predictor.predict(vectors.toarray())
topic_vectors = np.array([prediction["topic_weights"] for prediction in results["predictions"]])
'''

NTM_V1 = r'''
from sagemaker.amazon.amazon_estimator import get_image_uri
from sagemaker.predictor import csv_serializer, json_deserializer
from sagemaker.session import s3_input
from sagemaker.utils import name_from_base

container = get_image_uri(boto3.Session().region_name, "ntm")
ntm = sagemaker.estimator.Estimator(container, role, train_instance_count=2, train_instance_type="ml.c4.xlarge",
                                    output_path=output_path, sagemaker_session=sess)
ntm.set_hyperparameters(num_topics=num_topics, feature_dim=vocab_size, mini_batch_size=20, epochs=8)
ntm.fit({"train": s3_input(s3_train_data, distribution="ShardedByS3Key"),
         "auxiliary": s3_input(s3_aux_data, content_type="text/plain")},
        job_name=name_from_base("ntm-notebook"))

ntm_predictor = ntm.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")
ntm_predictor.content_type = "text/csv"
ntm_predictor.serializer = csv_serializer
ntm_predictor.deserializer = json_deserializer
results = ntm_predictor.predict(vectors.toarray())
topic_vectors = np.array([prediction["topic_weights"] for prediction in results["predictions"]])
'''

KNN_V2 = r'''
s3_knn_train = upload(topic_vectors.astype("float32"), "knn/train.pbr", labels.astype("float32"))
knn = sagemaker.estimator.Estimator(image_uris.retrieve("knn", boto3.Session().region_name), role, instance_count=1,
                                    instance_type="ml.c4.xlarge", output_path=output_path, sagemaker_session=sess)
knn.set_hyperparameters(feature_dim=num_topics, k=5, sample_size=len(labels), predictor_type="classifier")
knn.fit({"train": s3_knn_train})
knn_predictor = knn.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge", serializer=CSVSerializer(),
                           deserializer=JSONDeserializer())
knn_answer = knn_predictor.predict(topic_vectors[:6])
'''

KNN_V1 = r'''
s3_knn_train = upload(topic_vectors.astype("float32"), "knn/train.pbr", labels.astype("float32"))
knn = sagemaker.estimator.Estimator(get_image_uri(boto3.Session().region_name, "knn"), role,
                                    train_instance_count=1, train_instance_type="ml.c4.xlarge",
                                    output_path=output_path, sagemaker_session=sess)
knn.set_hyperparameters(feature_dim=num_topics, k=5, sample_size=len(labels), predictor_type="classifier")
knn.fit({"train": s3_knn_train})
knn_predictor = knn.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")
knn_predictor.content_type = "text/csv"
knn_predictor.serializer = csv_serializer
knn_predictor.deserializer = json_deserializer
knn_answer = knn_predictor.predict(topic_vectors[:6])
'''

EXPLORE = r'''
# --- model exploration, as the notebooks do it ---
model_path = os.path.join(prefix, "output", ntm._current_job_name, "output/model.tar.gz")
boto3.resource("s3").Bucket(bucket).download_file(model_path, "downloaded_model.tar.gz")
subprocess.run(["tar", "-xzvf", "downloaded_model.tar.gz"], check=True)      # !tar -xzvf 'downloaded_model.tar.gz'
subprocess.run([sys.executable, "-m", "zipfile", "-e", "model_algo-1", "."], check=True)  # !unzip -o model_algo-1

# --- checks, printed as one JSON line ---
from opensagemaker.model_artifacts import load_knn, load_ntm
artifact = load_ntm(ntm.model_data)
knn_artifact = load_knn(knn.model_data)
_, nearest = knn_artifact.index.search(np.ascontiguousarray(topic_vectors[:6], dtype=np.float32), 1)
backend = sess.backend
print(json.dumps({
    "model_path": f"s3://{bucket}/{model_path}",
    "model_data": ntm.model_data,
    "endpoint_model_data": backend.describe_model(ntm.latest_training_job.name).model_data,
    "loader_projection_weight": artifact.projection_weight.tolist(),
    "loader_vocabulary": artifact.vocabulary,
    "topic_vectors_shape": list(topic_vectors.shape),
    "row_sums": topic_vectors.sum(axis=1).round(4).tolist(),
    "knn_labels": [p["predicted_label"] for p in knn_answer["predictions"]],
    "knn_index_size": int(knn_artifact.index.ntotal),
    "knn_nearest_label": knn_artifact.labels[nearest[:, 0]].tolist(),
    "knn_k": knn_artifact.metadata["k"],
}))
ntm_predictor.delete_model()
ntm_predictor.delete_endpoint()
sagemaker.Session().delete_endpoint(knn_predictor.endpoint)
'''

MX_LOAD = (
    "import json, mxnet as mx\n"
    "model = mx.ndarray.load('params')\n"
    "W = model['arg:projection_weight']\n"
    "print(json.dumps({'W': W.asnumpy().tolist(), 'keys': sorted(model)}))\n"
)

FLOWS = {
    "v2": SETUP_V2 + UPLOAD + NTM_V2 + KNN_V2 + EXPLORE,
    "v1": SETUP_V1 + UPLOAD + NTM_V1 + KNN_V1 + EXPLORE,
}


@pytest.mark.parametrize("generation", sorted(FLOWS))
def test_builtin_notebook_flow_runs_unchanged(sdk_env, session, tmp_path: Path, generation: str) -> None:
    session.default_bucket()  # the store is running; the script reuses it
    (tmp_path / "notebook.py").write_text(DATA + FLOWS[generation])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # as on a bare laptop
    result = subprocess.run([sys.executable, "notebook.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["topic_vectors_shape"] == [120, 3] and report["row_sums"] == pytest.approx([1.0] * 120, abs=1e-3)
    assert report["knn_index_size"] == 120 and report["knn_k"] == 5
    assert report["knn_nearest_label"] == [0.0, 1.0, 2.0] * 2  # the loaded index finds each point itself
    assert len(report["knn_labels"]) == 6 and set(report["knn_labels"]) <= {0.0, 1.0, 2.0}
    assert report["model_data"] == report["model_path"] == report["endpoint_model_data"]  # one artifact, served
    assert report["loader_vocabulary"] == [f"word{i}" for i in range(30)]

    mx = subprocess.run([str(aws_sdk_python("mxnet")), "-c", MX_LOAD], cwd=tmp_path, capture_output=True, text=True,
                        timeout=300)
    assert mx.returncode == 0, mx.stderr[-3000:]
    seen = json.loads(mx.stdout.strip().splitlines()[-1])
    weight = np.array(seen["W"], dtype=np.float32)
    assert weight.shape == (30, 3)  # (vocabulary, topics): one column per topic, as the built-in's
    np.testing.assert_array_equal(weight, np.array(report["loader_projection_weight"], dtype=np.float32))
    np.testing.assert_array_equal(weight.T, np.load(tmp_path / "topic_word.npy"))
    assert "arg:projection_weight" in seen["keys"]

    for marker in ("Traceback", "ModuleNotFoundError"):  # the jobs' logs, streamed by fit()
        assert marker not in result.stdout and marker not in result.stderr
    assert "===== Job Complete =====" in result.stdout

"""The tutorial's NTM and k-NN module cells, run as written after the one-line switch, on small synthetic data.

The script is: ``import opensagemaker.as_sagemaker`` + a synthetic stand-in for the tutorial's data-preparation
module (module 2: same names, 3 "newsgroups" of made-up words, vocabulary 40, 90 training and 30 test posts) + the
cells of ``tutorial_cells.py`` (see ``runnable`` for the only lines left out) + checks that print one JSON line. It
runs in a fresh interpreter, against the session's local store, with the real ``ntm-container`` and
``knn-container``: a 2-host ShardedByS3Key NTM job, an NTM endpoint, an NTM batch transform, a k-NN job and a k-NN
endpoint, both endpoints live at once, torn down at interpreter exit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sdk import tutorial_cells
from tests.sdk.conftest import server_pids

TUTORIAL = Path(__file__).resolve().parents[3] / "shared" / "design" / "TUTORIAL.md"  # the design folder beside the checkout

PRELUDE = r'''
import opensagemaker.as_sagemaker  # the one-line switch

# --- module 2, synthetic: the names the tutorial's data preparation defines ---
import io, json, os, time
import boto3
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sparse
import sagemaker
from sagemaker import get_execution_role
import sagemaker.amazon.common as smac
from sklearn.datasets._twenty_newsgroups import strip_newsgroup_footer, strip_newsgroup_header, strip_newsgroup_quoting
from sklearn.feature_extraction.text import CountVectorizer

rng = np.random.default_rng(0)
np.random.seed(0)
categories = ["alt.alpha", "comp.beta", "sci.gamma"]
topic_words = [[f"{name[-5:]}{chr(97 + i)}{chr(97 + j)}" for i in range(3) for j in range(5)] for name in categories]
common_words = [f"common{chr(97 + i)}x" for i in range(10)]

def post(category):
    words = list(rng.choice(topic_words[category], 30)) + list(rng.choice(common_words, 10))
    return "From: someone@example.com\nSubject: synthetic\n\n" + " ".join(words)

train_labels = np.repeat(np.arange(3), 30)
newsgroups_train = [post(c) for c in train_labels]
newsgroups_test = [post(c) for c in np.tile(np.arange(3), 10)]
vocab_size = 40
NUM_TOPICS = 3
NUM_NEIGHBORS = 10
role = get_execution_role()
BUCKET = sagemaker.Session().default_bucket()
bucket = BUCKET
PREFIX = "20newsgroups"
output_path = "s3://{}/{}/output".format(bucket, PREFIX)

vectorizer = CountVectorizer(input="content", analyzer="word", max_features=vocab_size)
texts = [strip_newsgroup_footer(strip_newsgroup_quoting(strip_newsgroup_header(t))) for t in newsgroups_train]
vectors = sparse.csr_matrix(vectorizer.fit_transform(texts), dtype=np.float32)
idx = np.arange(vectors.shape[0])
newidx = np.random.permutation(idx)
vectors = vectors[newidx]

def upload_shards(matrix, key, parts):
    s3 = boto3.resource("s3")  # plain boto3: the session pointed it at the local store
    for i, rows in enumerate(np.array_split(np.arange(matrix.shape[0]), parts)):
        buf = io.BytesIO()
        smac.write_spmatrix_to_sparse_tensor(buf, matrix[rows])
        buf.seek(0)
        s3.Bucket(bucket).Object("{}/{}/part{}.pbr".format(PREFIX, key, i)).upload_fileobj(buf)
    return "s3://{}/{}/{}".format(bucket, PREFIX, key)

split = int(0.8 * vectors.shape[0])
s3_train_data = upload_shards(vectors[:split], "train", 2)
s3_val_data = upload_shards(vectors[split:], "val", 1)
'''

EPILOGUE = r'''
# --- checks, printed as one JSON line ---
out = boto3.resource("s3").Object(bucket, "20newsgroups/batch/test/trainvectors.csv.out").get()["Body"].read().decode()
decoder, position, batch_rows = json.JSONDecoder(), 0, []
while position < len(out):
    document, position = decoder.raw_decode(out, position)
    batch_rows += [p["topic_weights"] for p in document["predictions"]]
    while position < len(out) and out[position].isspace():
        position += 1
own = knn_predictor.predict(predictions[0])
sm = boto3.client("sagemaker")  # plain boto3: the session pointed it at the local service
live = sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"] if e["EndpointStatus"] == "InService")
print(json.dumps({
    "predictions_shape": list(predictions.shape),
    "row_sums": [float(s) for s in predictions.sum(axis=1)[:5]],
    "transform_rows": len(batch_rows),
    "transform_max_diff": float(np.abs(np.array(batch_rows) - predictions).max()),
    "test_topics": len(test_topics),
    "recommendations": [len(p) for p in topic_predictions],
    "recommended_ids_known": bool(all(set(p) <= set(newidx.tolist()) for p in topic_predictions)),
    "own_distances": own["distances"],
    "own_labels": own["labels"],
    "own_id": int(newidx[0]),
    "live_endpoints": live,
    "knn_endpoint": endpoint_name,
    "ntm_endpoint": ntm_predictor.endpoint,
}))
'''


def test_embedded_cells_are_the_tutorials(sdk_env) -> None:
    if not TUTORIAL.exists():
        pytest.skip(f"{TUTORIAL} (the design folder) is not on this machine")
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    assert blocks[0].strip() == tutorial_cells.NTM_MODULE.strip()
    assert blocks[1].strip() == tutorial_cells.KNN_MODULE.strip()


def test_ntm_and_knn_modules_run_unchanged_after_the_switch(sdk_env, session, tmp_path: Path) -> None:
    session.default_bucket()  # the store is running; the script reuses it
    script = PRELUDE + tutorial_cells.runnable(tutorial_cells.NTM_MODULE) + tutorial_cells.runnable(
        tutorial_cells.KNN_MODULE) + EPILOGUE
    (tmp_path / "tutorial.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # as on a bare laptop
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run([sys.executable, "tutorial.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=400)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["predictions_shape"] == [90, 3]
    assert report["row_sums"] == pytest.approx([1.0] * 5, abs=1e-4)
    assert report["transform_rows"] == 90 and report["transform_max_diff"] < 1e-5  # batch output == predict
    assert report["test_topics"] == 30 and report["recommendations"] == [10] * 30
    assert report["recommended_ids_known"]
    distances = report["own_distances"]
    assert distances == sorted(distances) and len(distances) == 10  # ascending: most similar last (A5)
    assert report["own_id"] in [int(label) for label, d in zip(report["own_labels"], distances, strict=True)
                                if d == pytest.approx(distances[-1])]
    assert sorted([report["knn_endpoint"], report["ntm_endpoint"]]) == report["live_endpoints"]
    assert "===== Job Complete =====" in result.stdout and re.search(r"^\[algo-2-\d+\] ", result.stdout, re.M)
    assert "Channel train (ShardedByS3Key, 2 object(s)): algo-1: 1, algo-2: 1" in result.stdout
    assert (tmp_path / "trainvectors.csv").exists()
    # the endpoints outlive the notebook's process, as on SageMaker, until they are deleted
    pids = [pid for name in report["live_endpoints"] for pid in server_pids(name)]
    for pid in pids:
        os.kill(pid, 0)
    for name in report["live_endpoints"]:
        session.delete_endpoint(name)
    for pid in pids:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.05)
        assert not _running(pid), f"model server {pid} still runs after DeleteEndpoint"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

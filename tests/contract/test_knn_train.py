"""k-NN training through its real entry point: hyperparameter rules, index types and metrics, reductions,
test-channel score lines, failure files, and two hosts on loopback gathering one index."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import threading

import numpy as np
import pytest

from container_core import recordio
from container_core.channels import ResourceConfig
from container_core.cli import TrainingContext
from container_core.errors import UserError
from container_core.hyperparameters import Choices, Interval
from container_core.metrics import MetricsWriter
from container_core.paths import Paths
from knn_container import artifacts, train
from knn_container.hyperparameters import SCHEMA, KNNConfig
from tests.conftest import PYTHON, OptML, free_port, run_command

KNN = [PYTHON, "-m", "knn_container.cli"]
BASE = {"feature_dim": 6, "k": 3, "predictor_type": "classifier", "sample_size": 300}


def blobs(n: int, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four well separated clusters; the label is the cluster, so a k-NN classifier is (nearly) always right."""
    rng = np.random.default_rng(seed)
    centres = np.eye(4, dim) * 20
    labels = rng.integers(0, 4, size=n)
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels.astype(np.float32)


def write_recordio(path, features, labels) -> None:
    buffer = io.BytesIO()
    recordio.write_dense(buffer, features, labels)
    path.write_bytes(buffer.getvalue())


def write_csv(path, features, labels) -> None:
    np.savetxt(path, np.column_stack([labels, features]), delimiter=",", fmt="%.6g")


def setup_job(optml: OptML, hyperparameters: dict, rows: int = 400, test: str | None = "none", dim: int = 6) -> None:
    channels = {"train": None} if test == "none" else {"train": None, "test": test}
    optml.configure(hyperparameters, channels)
    features, labels = blobs(rows, dim)
    write_recordio(optml.channel("train") / "part-0.pbr", features, labels)
    if test != "none":
        test_x, test_y = blobs(120, dim, seed=9)
        if test == "text/csv":
            write_csv(optml.channel("test") / "test.csv", test_x, test_y)
        else:
            write_recordio(optml.channel("test") / "test.pbr", test_x, test_y)


def train_in_process(optml: OptML, caplog) -> artifacts.KNNModel:
    """The training function on a real /opt/ml tree, without a process per case (the matrix tests)."""
    paths = Paths(optml.root)
    context = TrainingContext(
        paths, ResourceConfig(), json.loads(paths.hyperparameters.read_text()), MetricsWriter("algo-1"),
        threading.Event(),
    )
    with caplog.at_level(logging.INFO):
        train.train(context)
    return artifacts.load(paths.model)


# --- every hyperparameter: one accepted and one rejected value, generated from the schema ------------------------


def _accepted(parameter) -> object:
    if isinstance(parameter.valid, Choices):
        return parameter.valid.values[-1]
    if isinstance(parameter.valid, Interval):
        return int(parameter.valid.low) + 1
    return "x"


def _rejected(parameter) -> object:
    if isinstance(parameter.valid, Choices):
        return "bogus" if isinstance(parameter.valid.values[0], str) else 5
    return 0


def _with(name: str, value: object) -> dict:
    """A valid set of hyperparameters in which ``name`` = ``value`` (companions set so only ``name`` matters)."""
    raw = {"feature_dim": 10, "k": 1, "predictor_type": "classifier", "sample_size": 100}
    if name.startswith("dimension_reduction"):
        raw.update(dimension_reduction_type="sign", dimension_reduction_target=2)
    if name == "faiss_index_pq_m":
        raw["index_type"] = "faiss.IVFPQ"
    raw[name] = str(value)
    return raw


@pytest.mark.parametrize("parameter", SCHEMA.parameters, ids=SCHEMA.names)
def test_every_hyperparameter_accepts_and_rejects_per_its_declaration(parameter) -> None:
    accepted = _accepted(parameter)
    assert SCHEMA.validate(_with(parameter.name, accepted))[parameter.name] == accepted
    with pytest.raises(UserError, match=rf"^Hyperparameter {parameter.name}: '{_rejected(parameter)}' is not in"):
        SCHEMA.validate(_with(parameter.name, _rejected(parameter)))


@pytest.mark.parametrize("name", [p.name for p in SCHEMA.parameters if p.required])
def test_required_hyperparameters(name: str) -> None:
    raw = dict(BASE)
    del raw[name]
    with pytest.raises(UserError, match=f"^Hyperparameter {name} is required"):
        SCHEMA.validate(raw)


def test_tolerant_parsing_and_defaults() -> None:
    config = KNNConfig.from_raw({**BASE, "index_type": "faiss.ivfflat", "index_metric": "cosine",
                                 "predictor_type": "Regressor", "faiss_index_ivf_nlists": "AUTO", "k": "3.0"})
    assert (config.index_type, config.index_metric, config.predictor_type) == ("faiss.IVFFlat", "COSINE", "regressor")
    assert (config.faiss_index_ivf_nlists, config.k, config.mini_batch_size) == ("auto", 3, 5000)
    assert KNNConfig.from_raw({**BASE, "faiss_index_ivf_nlists": "7"}).faiss_index_ivf_nlists == 7


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"dimension_reduction_type": "sign"},
         "Hyperparameter dimension_reduction_target is required when dimension_reduction_type is set"),
        ({"dimension_reduction_target": 3}, "Hyperparameter dimension_reduction_type is required when"),
        ({"dimension_reduction_type": "fjlt", "dimension_reduction_target": 6},
         "Hyperparameter dimension_reduction_target: 6 must be smaller than feature_dim (6)"),
        ({"index_type": "faiss.IVFPQ", "index_metric": "INNER_PRODUCT"},
         "Hyperparameter index_metric: INNER_PRODUCT is not supported with faiss.IVFPQ"),
        ({"index_type": "faiss.IVFPQ", "index_metric": "COSINE"},
         "Hyperparameter index_metric: COSINE is not supported with faiss.IVFPQ"),
        ({"faiss_index_pq_m": 2}, "Hyperparameter faiss_index_pq_m is only used with index_type faiss.IVFPQ"),
        ({"index_type": "faiss.IVFFlat", "faiss_index_ivf_nlists": 301},
         "Hyperparameter faiss_index_ivf_nlists: 301 is larger than sample_size (300)"),
        ({"k": 301}, "Hyperparameter k: 301 is larger than sample_size (300)"),
        ({"faiss_index_pq_m": 5, "index_type": "faiss.IVFPQ"}, "Hyperparameter faiss_index_pq_m: '5' is not in {1, 2, 3"),
        ({"sample_sise": 3}, "Hyperparameter sample_sise is not a k-NN hyperparameter; did you mean sample_size?"),
    ],
)
def test_cross_field_rules(extra: dict, message: str) -> None:
    with pytest.raises(UserError) as caught:
        SCHEMA.validate({**{k: str(v) for k, v in BASE.items()}, **{k: str(v) for k, v in extra.items()}})
    assert str(caught.value).startswith(message), str(caught.value)


# --- real processes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predictor_type", "test_type", "metric_lines"),
    [
        ("classifier", "text/csv",
         [r"#test_score \(algo-1\) : \('accuracy', (1\.0|0\.99\d*)\)",
          r"#quality_metric: host=algo-1, test accuracy <score>=(1\.0|0\.99\d*)"]),
        ("regressor", None,
         [r"#test_score \(algo-1\) : \('mse', 0\.0\d*\)", r"#quality_metric: host=algo-1, test mse <loss>=0\.0\d*"]),
    ],
)
def test_train_writes_artifacts_and_scores_the_test_channel(optml: OptML, predictor_type, test_type, metric_lines) -> None:
    setup_job(optml, {**BASE, "predictor_type": predictor_type}, test=test_type)
    result = run_command([*KNN, "train"], optml.env())
    assert result.returncode == 0, result.stdout + result.stderr
    for pattern in metric_lines:
        assert re.search(pattern, result.stdout), (pattern, result.stdout)
    assert "test mini-batch 0:" in result.stdout
    files = sorted(p.name for p in optml.model.iterdir())
    assert files == ["model_algo-1", "model_algo-1.json", "model_algo-1.labels"]
    meta = json.loads((optml.model / "model_algo-1.json").read_text())
    assert {k: meta[k] for k in ("k", "predictor_type", "dimension_reduction", "normalize", "version")} == {
        "k": 3, "predictor_type": predictor_type, "dimension_reduction": None, "normalize": False, "version": "1.0"}
    labels = np.fromfile(optml.model / "model_algo-1.labels", dtype="<f4")
    assert labels.shape == (300,) and set(labels.tolist()) <= {0.0, 1.0, 2.0, 3.0}  # sample_size of 400 rows


def test_csv_train_channel_with_label_first(optml: OptML, caplog) -> None:
    optml.configure({**BASE, "sample_size": 1000}, {"train": "text/csv"})
    features, labels = blobs(50)
    write_csv(optml.channel("train") / "train.csv", features, labels)
    model = train_in_process(optml, caplog)
    assert model.index.ntotal == 50  # fewer rows than sample_size: all of them
    assert sorted(model.labels.tolist()) == sorted(labels.tolist())


@pytest.mark.parametrize(
    ("hyperparameters", "write", "first_line"),
    [
        ({**BASE, "k": 0}, None, "Hyperparameter k: '0' is not in [1, inf)"),
        ({**BASE, "index_type": "faiss.IVFPQ", "index_metric": "COSINE"}, None,
         "Hyperparameter index_metric: COSINE is not supported with faiss.IVFPQ"),
        ({**BASE, "k": 50, "sample_size": 100}, "few", "Hyperparameter k: 50 is larger than the number of indexed points (20)"),
        (BASE, "unlabelled", "part-0.pbr: record 0 at byte 0: has no label['values']"),
    ],
)
def test_user_errors_write_the_failure_file(optml: OptML, hyperparameters, write, first_line) -> None:
    setup_job(optml, hyperparameters)
    if write == "few":
        write_recordio(optml.channel("train") / "part-0.pbr", *blobs(20))
    elif write == "unlabelled":
        write_recordio(optml.channel("train") / "part-0.pbr", blobs(5)[0], None)
    result = run_command([*KNN, "train"], optml.env())
    assert result.returncode == 2, result.stdout
    text = optml.failure.read_text()
    assert first_line in text.splitlines()[0], text
    assert "Traceback" not in text and not optml.model.exists()


# --- every index type and metric, the reductions (in-process: one training function, many layouts) -----------------

COMBINATIONS = [(t, m) for t in ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ") for m in ("L2", "INNER_PRODUCT", "COSINE")
                if not (t == "faiss.IVFPQ" and m != "L2")]


@pytest.mark.parametrize(("index_type", "metric"), COMBINATIONS)
def test_every_index_type_and_metric(optml: OptML, caplog, index_type: str, metric: str) -> None:
    extra = {"faiss_index_pq_m": 3} if index_type == "faiss.IVFPQ" else {}
    setup_job(optml, {**BASE, "index_type": index_type, "index_metric": metric, **extra})
    model = train_in_process(optml, caplog)
    meta = json.loads((optml.model / "model_algo-1.json").read_text())
    assert (meta["index_type"], meta["index_metric"], meta["normalize"]) == (index_type, metric, metric == "COSINE")
    assert model.index.ntotal == 300 and model.index.d == 6
    if index_type != "faiss.Flat":
        assert meta["index"]["nlist"] == 17  # auto = round(sqrt(300))
    queries, truth = blobs(40, seed=5)
    predictions, scores, _ = train.predict_rows(model, queries)
    if metric == "INNER_PRODUCT":
        return  # unnormalised inner product favours long vectors, not the same cluster: only that it runs
    assert (predictions == truth).mean() >= 0.95


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_reductions_are_stored_and_applied(optml: OptML, caplog, kind: str) -> None:
    setup_job(optml, {**BASE, "feature_dim": 40, "dimension_reduction_type": kind, "dimension_reduction_target": 12},
              dim=40)
    model = train_in_process(optml, caplog)
    meta = json.loads((optml.model / "model_algo-1.json").read_text())
    assert meta["dimension_reduction"] == {"type": kind, "seed": 3, "target_dim": 12, "input_dim": 40}
    assert (optml.model / "model_algo-1.reduction.npz").is_file() and model.index.d == 12
    queries, truth = blobs(40, dim=40, seed=5)
    assert (train.predict_rows(model, queries)[0] == truth).mean() >= 0.95


def test_ivfpq_pads_or_raises_the_target_to_a_multiple_of_pq_m(optml: OptML, caplog) -> None:
    setup_job(optml, {**BASE, "index_type": "faiss.IVFPQ", "faiss_index_pq_m": 4})  # 6 features -> padded to 8
    model = train_in_process(optml, caplog)
    assert (model.plan.input_dim, model.plan.dim, model.index.d) == (6, 8, 8)
    reduced = {**BASE, "feature_dim": 40, "index_type": "faiss.IVFPQ", "faiss_index_pq_m": 8,
               "dimension_reduction_type": "sign", "dimension_reduction_target": 13}
    setup_job(optml, reduced, dim=40)
    model = train_in_process(optml, caplog)
    assert (model.reduction.target_dim, model.plan.dim) == (16, 16)
    assert "dimension_reduction_target raised from 13 to 16" in caplog.text


# --- two hosts on loopback ------------------------------------------------------------------------------------------


def test_two_hosts_sample_their_shares_and_the_leader_writes_one_index(tmp_path) -> None:
    port = free_port()
    hyperparameters = {**BASE, "sample_size": 301}
    processes = []
    shards = {}
    for rank, host in enumerate(("algo-1", "algo-2")):
        host_tree = OptML(tmp_path / host).configure(hyperparameters, {"train": None}, ("algo-1", "algo-2"), host)
        features, _ = blobs(400, seed=rank)
        labels = np.full(400, 10 * (rank + 1), np.float32)  # the label says which shard a point came from
        write_recordio(host_tree.channel("train") / f"shard-{rank}.pbr", features, labels)
        shards[host] = host_tree
        env = host_tree.env(ALGO_LEADER_ADDR="127.0.0.1", ALGO_DIST_PORT=str(port))
        processes.append(subprocess.Popen([*KNN, "train"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert not shards["algo-2"].model.exists() or not any(shards["algo-2"].model.iterdir())
    labels = np.fromfile(shards["algo-1"].model / "model_algo-1.labels", dtype="<f4")
    assert labels.shape == (301,)
    assert (labels == 10).sum() == 151 and (labels == 20).sum() == 150  # remainder to the first host
    assert "host algo-2 sampled 150 of 400 rows (quota 150)" in outputs[1]


def test_a_failing_host_fails_the_other_fast(tmp_path) -> None:
    port = free_port()
    processes = []
    trees = []
    for rank, host in enumerate(("algo-1", "algo-2")):
        tree = OptML(tmp_path / host).configure(BASE, {"train": None}, ("algo-1", "algo-2"), host)
        features, labels = blobs(50, seed=rank)
        write_recordio(tree.channel("train") / "shard.pbr", features, None if rank == 1 else labels)
        trees.append(tree)
        env = tree.env(ALGO_LEADER_ADDR="127.0.0.1", ALGO_DIST_PORT=str(port))
        processes.append(subprocess.Popen([*KNN, "train"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [3, 2], outputs
    assert "training failed on host(s) algo-2" in trees[0].failure.read_text()
    assert "has no label['values']" in trees[1].failure.read_text()

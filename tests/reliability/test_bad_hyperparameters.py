"""Invalid hyperparameters for both algorithms end training with a clear, short failure file before any data is read.

The table (NTM and k-NN: out of range, wrong type, missing required, forbidden combinations, unknown keys) runs
through the real error boundary: ``container_core.cli.run_training`` with the real ``Algorithm`` objects, in one
subprocess per algorithm (``train_runner``), so the real failure file is written and a hang would hit the timeout.
A representative subset also runs as the real ``python -m <algo>_container.cli train`` command lines.

Every tree has an EMPTY train channel: had the data been read before the hyperparameters were checked, the failure
would name the channel, not the hyperparameter, so the first-line assertion also proves the order.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, OptML

DROP = object()
"""Marks a hyperparameter removed from the base set (missing required)."""

NTM_BASE = {"feature_dim": 20, "num_topics": 3}
KNN_BASE = {"feature_dim": 6, "k": 3, "predictor_type": "classifier", "sample_size": 100}

# (algorithm, changes to the base set, first-line fragments: the parameter named, then the rule)
CASES: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
    # NTM: out of range
    ("ntm", {"num_topics": 1}, ("num_topics", "is not in [2, 1000]")),
    ("ntm", {"num_topics": 1001}, ("num_topics", "is not in [2, 1000]")),
    ("ntm", {"feature_dim": 0}, ("feature_dim", "is not in [1, 1000000]")),
    ("ntm", {"feature_dim": 1_000_001}, ("feature_dim", "is not in [1, 1000000]")),
    ("ntm", {"epochs": 0}, ("epochs", "is not in [1, inf)")),
    ("ntm", {"mini_batch_size": 10001}, ("mini_batch_size", "is not in [1, 10000]")),
    ("ntm", {"learning_rate": 0}, ("learning_rate", "is not in [1e-06, 1]")),
    ("ntm", {"learning_rate": 2.0}, ("learning_rate", "is not in [1e-06, 1]")),
    ("ntm", {"clip_gradient": 0.0001}, ("clip_gradient", "is not in [0.001, inf)")),
    ("ntm", {"rescale_gradient": 1.5}, ("rescale_gradient", "is not in [0.001, 1]")),
    ("ntm", {"sub_sample": 0}, ("sub_sample", "is not in (0, 1]")),
    ("ntm", {"sub_sample": 1.1}, ("sub_sample", "is not in (0, 1]")),
    ("ntm", {"tolerance": 0.5}, ("tolerance", "is not in [1e-06, 0.1]")),
    ("ntm", {"weight_decay": -0.1}, ("weight_decay", "is not in [0, 1]")),
    ("ntm", {"num_patience_epochs": 0}, ("num_patience_epochs", "is not in [1, inf)")),
    ("ntm", {"encoder_layers": "[10, 0]"}, ("encoder_layers", "(element 0) is not in [1, inf)")),
    ("ntm", {"optimizer": "lbfgs"}, ("optimizer", "is not in {adagrad, adam, rmsprop, sgd, adadelta}")),
    ("ntm", {"encoder_layers_activation": "softmax"}, ("encoder_layers_activation", "is not in {sigmoid, tanh, relu}")),
    # NTM: wrong type
    ("ntm", {"num_topics": "ten"}, ("num_topics", "is not an integer")),
    ("ntm", {"feature_dim": "2.5"}, ("feature_dim", "is not an integer")),
    ("ntm", {"epochs": "1e400"}, ("epochs", "is not an integer")),
    ("ntm", {"learning_rate": "fast"}, ("learning_rate", "is not a number")),
    ("ntm", {"learning_rate": "nan"}, ("learning_rate", "is not a number")),
    ("ntm", {"batch_norm": "maybe"}, ("batch_norm", "is not a boolean")),
    ("ntm", {"encoder_layers": "[a, b]"}, ("encoder_layers", "is not a list of integers")),
    ("ntm", {"encoder_layers": "[]"}, ("encoder_layers", "is an empty list")),
    # NTM: missing required, unknown keys
    ("ntm", {"feature_dim": DROP}, ("feature_dim", "is required")),
    ("ntm", {"num_topics": DROP}, ("num_topics", "is required")),
    ("ntm", {"num_topic": 5}, ("num_topic", "is not a NTM hyperparameter; did you mean num_topics?")),
    ("ntm", {"predictor_type": "classifier"}, ("predictor_type", "is not a NTM hyperparameter")),
    # k-NN: out of range
    ("knn", {"k": 0}, ("k", "is not in [1, inf)")),
    ("knn", {"sample_size": 0}, ("sample_size", "is not in [1, inf)")),
    ("knn", {"feature_dim": -3}, ("feature_dim", "is not in [1, inf)")),
    ("knn", {"mini_batch_size": 0}, ("mini_batch_size", "is not in [1, inf)")),
    ("knn", {"predictor_type": "ranker"}, ("predictor_type", "is not in {classifier, regressor}")),
    ("knn", {"index_type": "faiss.HNSW"}, ("index_type", "is not in {faiss.Flat, faiss.IVFFlat, faiss.IVFPQ}")),
    ("knn", {"index_metric": "MANHATTAN"}, ("index_metric", "is not in {L2, INNER_PRODUCT, COSINE}")),
    ("knn", {"dimension_reduction_type": "pca", "dimension_reduction_target": 2},
     ("dimension_reduction_type", "is not in {sign, fjlt}")),
    ("knn", {"index_type": "faiss.IVFPQ", "faiss_index_pq_m": 5}, ("faiss_index_pq_m", "is not in {1, 2, 3, 4, 8")),
    # k-NN: wrong type
    ("knn", {"k": "three"}, ("k", "is not an integer")),
    ("knn", {"k": 2.5}, ("k", "is not an integer")),
    ("knn", {"sample_size": "True"}, ("sample_size", "is not an integer")),
    ("knn", {"faiss_index_ivf_nlists": "lots", "index_type": "faiss.IVFFlat"},
     ("faiss_index_ivf_nlists", "is not an integer")),
    # k-NN: missing required
    ("knn", {"k": DROP}, ("k", "is required")),
    ("knn", {"feature_dim": DROP}, ("feature_dim", "is required")),
    ("knn", {"predictor_type": DROP}, ("predictor_type", "is required")),
    ("knn", {"sample_size": DROP}, ("sample_size", "is required")),
    # k-NN: forbidden combinations
    ("knn", {"dimension_reduction_type": "sign"}, ("dimension_reduction_target", "is required when")),
    ("knn", {"dimension_reduction_target": 3}, ("dimension_reduction_type", "is required when")),
    ("knn", {"dimension_reduction_type": "fjlt", "dimension_reduction_target": 6},
     ("dimension_reduction_target", "must be smaller than feature_dim")),
    ("knn", {"index_type": "faiss.IVFPQ", "index_metric": "COSINE"}, ("index_metric", "is not supported with faiss.IVFPQ")),
    ("knn", {"faiss_index_pq_m": 2}, ("faiss_index_pq_m", "is only used with index_type faiss.IVFPQ")),
    ("knn", {"index_type": "faiss.IVFFlat", "faiss_index_ivf_nlists": 101},
     ("faiss_index_ivf_nlists", "is larger than sample_size")),
    ("knn", {"k": 101}, ("k", "is larger than sample_size")),
    # k-NN: unknown keys
    ("knn", {"sample_sise": 10}, ("sample_sise", "is not a k-NN hyperparameter; did you mean sample_size?")),
    ("knn", {"num_topics": 3}, ("num_topics", "is not a k-NN hyperparameter")),
]
# The real command line for a representative subset: one per kind of rule and algorithm.
CLI_SUBSET = [0, 18, 26, 28, 30, 39, 47, 54]


def _hyperparameters(algorithm: str, changes: dict[str, Any]) -> dict[str, Any]:
    values = dict(NTM_BASE if algorithm == "ntm" else KNN_BASE)
    for key, value in changes.items():
        if value is DROP:
            values.pop(key)
        else:
            values[key] = value
    return values


def _tree(root: Path, algorithm: str, changes: dict[str, Any]) -> OptML:
    return OptML(root).configure(_hyperparameters(algorithm, changes), {"train": None})  # train channel: empty


def _check_failure(tree: OptML, code: int, fragments: tuple[str, str], where: str) -> None:
    name, rule = fragments
    assert code == 2, where
    text = tree.failure.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith(f"Hyperparameter {name}"), (where, first)
    assert rule in first, (where, first)
    assert len(text) < 1024 and "Traceback" not in text and 'File "' not in text, (where, text)
    assert not tree.model.exists() or not any(tree.model.iterdir()), where


def test_the_table_is_large_and_covers_every_kind_of_rule() -> None:
    assert len(CASES) >= 40
    assert {a for a, _, _ in CASES} == {"ntm", "knn"}
    rules = " ".join(rule for _, _, (_, rule) in CASES)
    for kind in ("is not in", "is not an integer", "is not a number", "is required", "is not a NTM hyperparameter",
                 "is not a k-NN hyperparameter", "must be smaller", "is not supported with", "is larger than"):
        assert kind in rules, kind


@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_every_invalid_setting_fails_with_a_short_failure_file_naming_it(tmp_path: Path, algorithm: str) -> None:
    cases = [(i, changes, fragments) for i, (a, changes, fragments) in enumerate(CASES) if a == algorithm]
    trees = {str(tmp_path / f"case-{i}"): (_tree(tmp_path / f"case-{i}", algorithm, changes), fragments, changes)
             for i, changes, fragments in cases}
    results_path = tmp_path / "results.json"
    started = time.monotonic()
    run = subprocess.run([PYTHON, "-m", "tests.reliability.train_runner", algorithm, str(results_path), *trees],
                         env=next(iter(trees.values()))[0].env(), capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    codes = json.loads(results_path.read_text())
    assert set(codes) == set(trees)
    for root, (tree, fragments, changes) in trees.items():
        _check_failure(tree, codes[root], fragments, f"{algorithm} {changes}")
    print(f"{algorithm}: {len(trees)} invalid settings in one runner process, {elapsed:.1f} s")


def test_the_real_command_lines_refuse_a_subset(tmp_path: Path) -> None:
    """The same cases through ``python -m <algo>_container.cli train``, started together to share the start-up.
    The log gets the one-line reason; the traceback only at ``SM_LOG_LEVEL=DEBUG`` (the first case runs so)."""
    processes = []
    for position, i in enumerate(CLI_SUBSET):
        algorithm, changes, fragments = CASES[i]
        tree = _tree(tmp_path / f"cli-{i}", algorithm, changes)
        command = [PYTHON, "-m", f"{algorithm}_container.cli", "train"]
        env = {**tree.env(), **({"SM_LOG_LEVEL": "DEBUG"} if position == 0 else {})}
        processes.append((tree, fragments, changes, position == 0, subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    try:
        for tree, fragments, changes, debug, process in processes:
            output = process.communicate(timeout=120)[0]
            failed = [line for line in output.splitlines() if "ERROR" in line and "training failed: " in line]
            assert len(failed) == 1 and all(f in failed[0] for f in fragments), output[-2000:]
            assert ("Traceback" in output) == debug, output[-2000:]  # never in the failure file (_check_failure)
            assert "ModuleNotFoundError" not in output
            _check_failure(tree, process.returncode, fragments, f"{changes}: {output[-2000:]}")
    finally:
        for *_, process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

"""``opensagemaker.model_artifacts``: the topic-word matrix, vocabulary and faiss index out of a ``model.tar.gz``."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from knn_container import artifacts as knn_artifacts
from knn_container.index import IndexPlan, build
from opensagemaker.model_artifacts import load_knn, load_ntm
from tests.unit.test_ntm_model import K, V, _saved


def _tar(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=path.name)
    return target


def test_ntm_topic_word_matrix_and_vocabulary(tmp_path: Path) -> None:
    folder, model = _saved(tmp_path / "model")
    loaded = load_ntm(_tar(folder, tmp_path / "model.tar.gz"))
    weight = model.decoder.weight.detach().numpy()
    assert loaded.topic_word.shape == (K, V) and loaded.projection_weight.shape == (V, K)
    np.testing.assert_array_equal(loaded.projection_weight, weight)  # what the built-in calls arg:projection_weight
    assert loaded.vocabulary == [f"w{i}" for i in range(V)]
    assert loaded.hyperparameters["num_topics"] == K


def test_knn_index_labels_and_metadata(tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).random((50, 4), dtype=np.float32)
    plan = IndexPlan.choose("faiss.Flat", "L2", 4, 50)
    model = knn_artifacts.KNNModel(build(plan, plan.prepare(vectors)), np.arange(50, dtype=np.float32), plan, 3,
                                   "classifier", 4)
    knn_artifacts.save(model, tmp_path / "model")
    loaded = load_knn(_tar(tmp_path / "model", tmp_path / "model.tar.gz"))
    distances, ids = loaded.index.search(vectors[:5], 1)
    assert ids[:, 0].tolist() == [0, 1, 2, 3, 4] and np.allclose(distances, 0)
    assert loaded.labels[ids[:, 0]].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert loaded.metadata["k"] == 3 and loaded.index.ntotal == 50


def test_the_wrong_archive_is_named(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path / "model")
    archive = _tar(folder, tmp_path / "ntm.tar.gz")
    with pytest.raises(ValueError, match=r"no model_algo-1.json in the archive .*is it a k-NN model.tar.gz"):
        load_knn(archive)

"""Trained NTM and k-NN models shared by the serving reliability tests (trained once per session, in-process
through the real ``run_training``), and a helper that serves one of them on loopback."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from container_core import recordio
from tests.conftest import PYTHON, OptML, Server, start_server, train_in_process
from tests.ntm_corpus import planted_corpus, write_recordio

NTM_CORPUS = planted_corpus(documents=300, topics=3, words_per_topic=8, noise_words=6, seed=3)
NTM_DIM = NTM_CORPUS.documents.shape[1]
KNN_DIM = 8
KNN_POINTS = np.random.default_rng(11).normal(size=(500, KNN_DIM)).astype(np.float32)
KNN_LABELS = np.random.default_rng(12).integers(0, 5, size=500).astype(np.float32)
COMMANDS = {"ntm": [PYTHON, "-m", "ntm_container.cli", "serve"], "knn": [PYTHON, "-m", "knn_container.cli", "serve"]}
DIMS = {"ntm": NTM_DIM, "knn": KNN_DIM}


def _train(algorithm_name: str, optml: OptML) -> OptML:
    if algorithm_name == "ntm":
        from ntm_container.cli import ALGORITHM
    else:
        from knn_container.cli import ALGORITHM
    assert train_in_process(ALGORITHM, optml) == 0
    return optml


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OptML]:
    root = tmp_path_factory.mktemp("reliability_models")
    ntm = OptML(root / "ntm").configure({"feature_dim": NTM_DIM, "num_topics": 3, "epochs": 3, "mini_batch_size": 32},
                                        {"train": None})
    write_recordio(ntm.channel("train") / "train.pbr", NTM_CORPUS.documents)
    knn = OptML(root / "knn").configure({"feature_dim": KNN_DIM, "k": 5, "predictor_type": "classifier",
                                         "sample_size": 500}, {"train": None})
    buffer = io.BytesIO()
    recordio.write_dense(buffer, KNN_POINTS, KNN_LABELS)
    (knn.channel("train") / "train.pbr").write_bytes(buffer.getvalue())
    return {"ntm": _train("ntm", ntm), "knn": _train("knn", knn)}


def serve(models: dict[str, OptML], algorithm: str, log_path: Path, **env: str) -> Server:
    return start_server(COMMANDS[algorithm], models[algorithm].env(**env), log_path)

"""The built CPU images run as SageMaker runs them: ``IMAGE train`` with ``/opt/ml`` mounted, ``IMAGE serve`` with
the model mounted read-only, the job's hosts as ``algo-N`` names, host networking on loopback only.

k-NN answers are checked against a brute-force cosine search over the training rows; NTM answers for shape and
sums. The same tests also show what the images hold: k-NN's has no torch, and two k-NN hosts still train.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import OptML, free_port
from tests.images import engine
from tests.images.conftest import Image
from tests.ntm_corpus import planted_corpus, write_recordio

pytestmark = pytest.mark.slow

KNN_HYPERPARAMETERS = {"feature_dim": 6, "k": 5, "predictor_type": "classifier", "sample_size": 400,
                       "index_metric": "COSINE", "index_type": "faiss.Flat"}
NTM_HYPERPARAMETERS = {"feature_dim": 120, "num_topics": 5, "mini_batch_size": 64, "epochs": 2}
HOSTS = ("algo-1", "algo-2")
ENDPOINT_GRACE_S = 30  # SageMaker stops an endpoint's container with SIGTERM, then SIGKILL 30 s later


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    return (np.eye(4, 6)[labels] * 20 + rng.normal(size=(n, 6))).astype(np.float32), labels.astype(np.float32)


def knn_job(root: Path, hosts: tuple[str, ...] = ("algo-1",), host: str = "algo-1", seed: int = 0,
            rows: int = 400, **hyperparameters: object) -> tuple[OptML, np.ndarray, np.ndarray]:
    tree = OptML(root).configure({**KNN_HYPERPARAMETERS, **hyperparameters}, {"train": "text/csv"}, hosts, host)
    features, labels = blobs(rows, seed)
    np.savetxt(tree.channel("train") / "train.csv", np.column_stack([labels, features]), delimiter=",", fmt="%.7g")
    tree.model.mkdir(parents=True, exist_ok=True)
    return tree, features, labels


def train(image: Image, tree: OptML, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``podman run IMAGE [args]`` with the job's ``/opt/ml`` mounted; ``args`` empty means the image's default."""
    command = engine.run_args(image.tag, *args, env=env, volumes=[f"{tree.root}:/opt/ml"], hosts=HOSTS)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def wait_for_ping(container: engine.Container, port: int, timeout: float = 90) -> httpx.Client:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if container.process.poll() is not None:
            raise AssertionError(f"serve exited {container.process.returncode}:\n{container.output()}")
        try:
            if client.get("/ping", timeout=1).status_code == 200:
                return client
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /ping 200 in {timeout} s:\n{container.output()}")


def serving(image: Image, model: Path, tmp_path: Path, names: list[str], **env: str):
    """``IMAGE serve`` with ``model`` read-only at /opt/ml/model, on a free loopback port (SAGEMAKER_BIND_TO_PORT)."""
    port = free_port()
    name = f"serve-{image.algorithm}-{port}"
    names.append(name)
    settings = {"SAGEMAKER_BIND_TO_PORT": str(port), "ALGO_BIND_HOST": "127.0.0.1",
                "SAGEMAKER_MODEL_SERVER_WORKERS": "1", **env}
    return port, engine.running(image.tag, "serve", name=name, log=tmp_path / f"{name}.log", env=settings,
                                volumes=[f"{model}:/opt/ml/model:ro"])


def cosine_top_k(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Brute force: the ``k`` largest cosine similarities of each query, ascending (as the response lists them)."""
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    similarities = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    return np.sort(similarities, axis=1)[:, -k:]


def test_knn_trains_without_arguments_and_serves_the_brute_force_answer(
    images: dict[str, Image], tmp_path: Path, names: list[str]
) -> None:
    image = images["knn"]
    tree, features, labels = knn_job(tmp_path / "job")
    trained = train(image, tree)  # no command: the image's CMD is `train`, as SageMaker's `IMAGE train`
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "KNN training complete" in trained.stdout
    assert (tree.model / "model_algo-1.labels").is_file()
    assert not tree.failure.exists()

    port, container = serving(image, tree.model, tmp_path, names)
    queries, _ = blobs(20, seed=7)
    with container as running:
        client = wait_for_ping(running, port)
        body = "\n".join(",".join(f"{v:.7g}" for v in row) for row in queries)
        verbose = client.post("/invocations", content=body,
                              headers={"Content-Type": "text/csv", "Accept": "application/json; verbose=true"})
        assert verbose.status_code == 200, verbose.text
        answers = verbose.json()["predictions"]
        expected = cosine_top_k(features, queries, KNN_HYPERPARAMETERS["k"])
        np.testing.assert_allclose([a["distances"] for a in answers], expected, atol=1e-4)
        unit = features / np.linalg.norm(features, axis=1, keepdims=True)
        nearest = np.argmax((queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T, axis=1)
        assert [a["labels"][-1] for a in answers] == labels[nearest].tolist()  # most similar last
        params = client.get("/execution-parameters").json()
        assert params == {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
        bad = client.post("/invocations", content=b"1,2", headers={"Content-Type": "text/csv"})
        assert bad.status_code == 400 and "expected 6 (feature_dim)" in bad.text
        client.close()
        started = time.monotonic()
        engine.podman("stop", "--time", str(ENDPOINT_GRACE_S), running.name)  # SIGTERM, SIGKILL after the grace
        assert running.process.wait(ENDPOINT_GRACE_S) == 0, running.output()
        assert time.monotonic() - started < 10, "serve did not stop on SIGTERM"
    assert list(tree.model.iterdir())  # read-only mount: the model is still there, untouched


def test_knn_image_has_no_torch_and_two_hosts_train_one_index(images: dict[str, Image], tmp_path: Path) -> None:
    image = images["knn"]
    command = [*engine.PODMAN, "run", "--rm", "--network", "none", *engine.ULIMITS, "--entrypoint", "python",
               image.tag, "-c", "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('faiss') is None)"]
    found = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert found.stdout.split() == ["None", "False"], found.stdout + found.stderr

    port = str(free_port())
    trees = [knn_job(tmp_path / host, HOSTS, host, seed=rank, rows=300)[0] for rank, host in enumerate(HOSTS)]
    processes = [
        subprocess.Popen(engine.run_args(image.tag, "train", env={"ALGO_DIST_PORT": port},
                                         volumes=[f"{tree.root}:/opt/ml"], hosts=HOSTS),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for tree in trees
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert np.fromfile(trees[0].model / "model_algo-1.labels", dtype="<f4").shape == (400,)  # both hosts' samples
    assert not any(trees[1].model.iterdir())  # only the leader writes the model
    assert "sample sent to the leader algo-1" in outputs[1]


def test_bad_input_and_usage_errors_write_the_failure_file(images: dict[str, Image], tmp_path: Path) -> None:
    image = images["knn"]
    tree, _, _ = knn_job(tmp_path / "bad", k=0)
    result = train(image, tree, "train")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "k" in tree.failure.read_text() and "Error type: UserError" in tree.failure.read_text()

    usage = OptML(tmp_path / "usage")
    usage.root.mkdir()
    result = train(image, usage, "fit")
    assert result.returncode == 2
    assert "invalid choice: 'fit'" in usage.failure.read_text()
    assert "knn-container train" in usage.failure.read_text()


def test_ntm_trains_on_two_hosts_and_serves_topic_weights(
    images: dict[str, Image], tmp_path: Path, names: list[str]
) -> None:
    image = images["ntm"]
    corpus = planted_corpus(documents=400, topics=5, words_per_topic=20, noise_words=20, seed=1)
    port = str(free_port())
    trees = []
    for rank, host in enumerate(HOSTS):
        tree = OptML(tmp_path / host).configure(NTM_HYPERPARAMETERS, {"train": None}, HOSTS, host)
        write_recordio(tree.channel("train") / f"part-{rank}.pbr", corpus.documents[rank * 150 : (rank + 1) * 150])
        tree.model.mkdir(parents=True)
        trees.append(tree)
    processes = [
        subprocess.Popen(engine.run_args(image.tag, "train", env={"ALGO_DIST_PORT": port, "GLOO_SOCKET_IFNAME": "lo"},
                                         volumes=[f"{tree.root}:/opt/ml"], hosts=HOSTS),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for tree in trees
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert (trees[0].model / "model_meta.json").is_file()
    assert not any(trees[1].model.iterdir())
    assert "host=algo-2, epoch=2" in outputs[1]

    port_number, container = serving(image, trees[0].model, tmp_path, names)
    with container as running:
        client = wait_for_ping(running, port_number)
        rows = corpus.documents[300:310].toarray()
        body = "\n".join(",".join(str(int(v)) for v in row) for row in rows)
        answer = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
        assert answer.status_code == 200, answer.text
        weights = np.array([p["topic_weights"] for p in answer.json()["predictions"]])
        assert weights.shape == (10, NTM_HYPERPARAMETERS["num_topics"])
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)
        assert (weights >= 0).all()
        client.close()

"""AWS's own SageMaker SDKs (v1 1.72.1, v2, v3) drive the built images in local mode, as a user with Docker would.

Each generation runs ``tests/images/sdk_local_mode.py`` in its own cached venv (``tests/aws_sdks.py``), with
``docker`` / ``docker compose`` answered by podman (``tests/images/docker_adapter.py``), once per algorithm; every
step's outcome is then one test here. Data is small: the point is the contract, not the model. Where a step fails
inside the SDK itself the test is a strict xfail that only accepts a failure at the SDK line named in its reason
(``SdkLine``); docs/images.md says what to use instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.aws_sdks import aws_sdk_python
from tests.conftest import free_port
from tests.images import engine
from tests.images.conftest import Image
from tests.images.docker_adapter import RUN_LABEL, RUN_LABEL_ENV, install_shims
from tests.ntm_corpus import planted_corpus, write_recordio

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("sdk_local_mode.py")
QUERIES = 6
GENERATIONS = ("v1", "v2", "v3")
RUNS = [(generation, algorithm) for generation in GENERATIONS for algorithm in ("knn", "ntm")]
PARALLEL_RUNS = 3
NTM = {"feature_dim": 120, "num_topics": 5, "mini_batch_size": 64, "epochs": 1}
KNN = {"feature_dim": 6, "k": 5, "predictor_type": "classifier", "sample_size": 300, "index_metric": "COSINE",
       "index_type": "faiss.Flat"}


class SdkLine(Exception):
    """A step failed at a named line of the SDK's own source (the only failure a strict xfail here accepts)."""


# (generation, step) -> the SDK source line where it is known to fail, and why
KNOWN_SDK_FAILURES = {
    ("v1", "cleanup"): (
        "sagemaker/local/entities.py:181",
        "after its transform fails (sagemaker/local/entities.py:181) SDK v1 never stops the serving container",
    ),
    ("v2", "cleanup"): (
        "sagemaker/local/data.py:96",
        "after a transform fails inside it (sagemaker/local/data.py:96) SDK v2 never stops the serving container",
    ),
    ("v3", "cleanup"): (
        "sagemaker/core/local/data.py:95",
        "after a transform fails inside it (sagemaker/core/local/data.py:95) SDK v3's local engine never stops the "
        "serving container",
    ),
    ("v2", "transform_default_strategy"): (
        "sagemaker/local/data.py:96",
        "SDK v2 local mode takes BatchStrategy from /execution-parameters but accepts only 'MultiRecord' / "
        "'SingleRecord' (sagemaker/local/data.py:96), not the 'MULTI_RECORD' of the container contract; pass "
        "strategy='MultiRecord' to transformer()",
    ),
    ("v3", "transform_default_strategy"): (
        "sagemaker/core/local/data.py:95",
        "SDK v3's local engine (sagemaker.core.local) keeps v2's check: 'MULTI_RECORD' from /execution-parameters is "
        "refused at sagemaker/core/local/data.py:95; pass BatchStrategy='MultiRecord'",
    ),
    ("v3", "model_builder_local_container"): (
        "sagemaker/serve/mode/local_container_mode.py:203",
        "SDK v3's ModelBuilder local mode starts only the model servers it knows (TorchServe, Triton, DJL, TGI, "
        "MMS, TF Serving, TEI: LocalContainerMode.create_server); for any other image no container is started and "
        "sagemaker/serve/mode/local_container_mode.py:203 fails on None. Deploy a custom image with v3's "
        "low-level local engine (sagemaker.core.local) or SDK v2",
    ),
    ("v1", "transform"): (
        "sagemaker/local/entities.py:181",
        "SDK v1 1.72.1 reads /execution-parameters with json.loads(response.read()) on a body it has already read "
        "(b''), sagemaker/local/entities.py:181; use SDK v2 or v3 local mode, or this project's SDK, for batch "
        "transform",
    ),
}


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    return (np.eye(4, 6)[labels] * 20 + rng.normal(size=(n, 6))).astype(np.float32), labels.astype(np.float32)


def _job(algorithm: str, image: Image, work: Path) -> tuple[dict, dict]:
    """The job description for the driver script, and what the answers are checked against."""
    train = work / "train"
    train.mkdir(parents=True)
    if algorithm == "knn":
        features, labels = _blobs(300, seed=0)
        np.savetxt(train / "train.csv", np.column_stack([labels, features]), delimiter=",", fmt="%.7g")
        queries, _ = _blobs(QUERIES, seed=5)
        unit = features / np.linalg.norm(features, axis=1, keepdims=True)
        nearest = np.argmax((queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T, axis=1)
        job = {"hyperparameters": KNN, "content_type": "text/csv", "rows": queries.tolist()}
        return job, {"labels": labels[nearest].tolist()}
    corpus = planted_corpus(documents=260, topics=5, words_per_topic=20, noise_words=20, seed=2)
    write_recordio(train / "train.pbr", corpus.documents[:200])
    rows = corpus.documents[200 : 200 + QUERIES].toarray()
    job = {"hyperparameters": NTM, "content_type": "application/x-recordio-protobuf", "rows": rows.tolist()}
    return job, {}


@pytest.fixture(scope="session")
def sdk_runs(images: dict[str, Image], tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """``run(generation, algorithm)`` -> (step results, expected answers, driver output), each pair run once."""
    shims = install_shims(tmp_path_factory.mktemp("docker-shims"))
    # v3's ModelBuilder talks to the Docker API (docker-py), not the CLI: podman serves that API on a socket
    socket_path = tmp_path_factory.mktemp("docker-api") / "podman.sock"
    api = subprocess.Popen([*engine.PODMAN, "system", "service", "--time=0", f"unix://{socket_path}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def drive(generation: str, algorithm: str) -> tuple[dict, dict, str]:
        image = images[algorithm]
        work = tmp_path_factory.mktemp(f"sdk-{generation}-{algorithm}")
        job, expected = _job(algorithm, image, work)
        job.update(generation=generation, image=image.tag, algorithm=algorithm, train=str(work / "train"),
                   work=str(work), port=free_port())
        (work / "job.json").write_text(json.dumps(job))
        # v2 and v3 report every call to an AWS S3 bucket unless told not to; nothing here may leave the machine
        (work / "sagemaker-config.yaml").write_text(
            "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
        label = f"{RUN_LABEL}={work.name}"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYTHON", "VIRTUAL"))}
        env.update(PATH=f"{shims}{os.pathsep}{env['PATH']}", HOME=str(work), AWS_DEFAULT_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="local-mode", AWS_SECRET_ACCESS_KEY="local-mode",
                   AWS_EC2_METADATA_DISABLED="true",
                   SAGEMAKER_USER_CONFIG_OVERRIDE=str(work / "sagemaker-config.yaml"),
                   SAGEMAKER_ADMIN_CONFIG_OVERRIDE=str(work / "sagemaker-config.yaml"),
                   DOCKER_HOST=f"unix://{socket_path}", **{RUN_LABEL_ENV: work.name})
        try:
            result = subprocess.run([str(aws_sdk_python(generation)), str(SCRIPT), str(work / "job.json"),
                                     str(work / "result.json")], env=env, capture_output=True, text=True,
                                    timeout=900, cwd=work)
            output = result.stdout[-20000:] + result.stderr[-20000:]
            results = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else {}
            results["_left_running"] = engine.podman("ps", "-a", "--filter", f"label={label}", "--format",
                                                     "{{.Names}}", check=False).stdout.split()
            results["_exit"] = result.returncode
        finally:
            for name in engine.podman("ps", "-a", "--filter", f"label={label}", "-q", check=False).stdout.split():
                engine.podman("rm", "--force", name, check=False)
        return results, expected, output

    # The six runs mostly wait on containers starting and the SDKs' 5 s health-check polls: three at a time.
    pool = ThreadPoolExecutor(max_workers=PARALLEL_RUNS)
    futures: dict[tuple[str, str], Future] = {}

    selected = {(item.callspec.params["generation"], item.callspec.params["algorithm"])
                for item in request.session.items
                if item.path == Path(__file__) and hasattr(item, "callspec")}

    def run(generation: str, algorithm: str) -> tuple[dict, dict, str]:
        if not futures:  # the runs this session's tests need, started together
            for key in [key for key in RUNS if key in selected] or [(generation, algorithm)]:
                futures[key] = pool.submit(drive, *key)
        if (generation, algorithm) not in futures:
            futures[(generation, algorithm)] = pool.submit(drive, generation, algorithm)
        return futures[(generation, algorithm)].result()

    yield run
    pool.shutdown(wait=True)
    api.terminate()
    api.wait(30)


def _step(sdk_runs, generation: str, algorithm: str, step: str) -> dict:
    results, _, output = sdk_runs(generation, algorithm)
    assert results.get("_exit") == 0, output
    outcome = results.get(step)
    assert outcome is not None, f"step {step} did not run:\n{output}"
    if not outcome["ok"]:
        known = KNOWN_SDK_FAILURES.get((generation, step))
        if known and outcome.get("where", "").endswith(known[0]):
            raise SdkLine(f"{outcome['error']} at {outcome['where']}")
        raise AssertionError(f"{generation} {algorithm} {step}: {outcome['error']} at {outcome.get('where')}\n"
                             f"{outcome.get('traceback', '')}\n--- driver output ---\n{output[-8000:]}")
    return outcome


def _marks(generation: str, step: str) -> list:
    known = KNOWN_SDK_FAILURES.get((generation, step))
    return [pytest.mark.xfail(raises=SdkLine, strict=True, reason=known[1])] if known else []


def cases(steps: tuple[str, ...], generations: tuple[str, ...] = ("v1", "v2", "v3")) -> list:
    return [pytest.param(g, a, s, marks=_marks(g, s), id=f"{g}-{a}-{s}")
            for g in generations for a in ("knn", "ntm") for s in steps]


@pytest.mark.parametrize(("generation", "algorithm", "step"), cases(("fit_1", "fit_2")))
def test_fit_writes_a_model_archive(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    outcome = _step(sdk_runs, generation, algorithm, step)
    artifact = Path(outcome["value"].removeprefix("file://"))  # model.tar.gz (v1, v2), the model folder (v3)
    assert artifact.is_file() or any(artifact.iterdir()), outcome["value"]


@pytest.mark.parametrize(("generation", "algorithm", "step"), cases(("predict",)))
def test_deployed_endpoint_predicts(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    outcome = _step(sdk_runs, generation, algorithm, step)
    _, expected, _ = sdk_runs(generation, algorithm)
    predictions = outcome["value"]["predictions"]
    if algorithm == "knn":
        assert [p["predicted_label"] for p in predictions] == expected["labels"]
    else:
        weights = np.array([p["topic_weights"] for p in predictions])
        assert weights.shape == (QUERIES, NTM["num_topics"])
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(("generation", "algorithm", "step"), cases(("delete",)))
def test_delete_endpoint_stops_the_container(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    assert _step(sdk_runs, generation, algorithm, step)["value"] == []  # no container of the image is left


@pytest.mark.parametrize(("generation", "algorithm", "step"),
                         cases(("transform",)) + cases(("transform_default_strategy",), ("v2", "v3")))
def test_batch_transform_writes_one_line_per_record(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    outcome = _step(sdk_runs, generation, algorithm, step)
    _, expected, _ = sdk_runs(generation, algorithm)
    text = outcome["value"]
    assert "\n\n" not in text and text.endswith("\n"), repr(text[-200:])  # AssembleWith=Line: no blank lines
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == QUERIES
    if algorithm == "knn":
        assert [r["predicted_label"] for r in records] == expected["labels"]
    else:
        assert all(len(r["topic_weights"]) == NTM["num_topics"] for r in records)


@pytest.mark.parametrize(("generation", "algorithm", "step"), cases(("trainer_fit_1", "trainer_fit_2"), ("v3",)))
def test_v3_model_trainer_trains(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    outcome = _step(sdk_runs, generation, algorithm, step)
    assert outcome["value"], "ModelTrainer wrote no model"


@pytest.mark.parametrize(("generation", "algorithm", "step"), cases(("model_builder_local_container",), ("v3",)))
def test_v3_model_builder_serves_the_image(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    _step(sdk_runs, generation, algorithm, step)


@pytest.mark.parametrize(("generation", "algorithm", "step"), cases(("cleanup",)))
def test_no_container_is_left_running(sdk_runs, generation: str, algorithm: str, step: str) -> None:
    """After the whole run; an SDK whose transform failed inside it leaves that transform's server running."""
    results, _, output = sdk_runs(generation, algorithm)
    left = results.get("_left_running", [])
    failed_in_sdk = [
        f"{name} at {outcome['where']}" for name, outcome in results.items()
        if name.startswith("transform") and isinstance(outcome, dict) and not outcome.get("ok")
        and (generation, name) in KNOWN_SDK_FAILURES
        and outcome.get("where", "").endswith(KNOWN_SDK_FAILURES[(generation, name)][0])
    ]
    if left and failed_in_sdk:
        raise SdkLine(f"{generation} left {left} running after {', '.join(failed_in_sdk)}")
    assert left == [], output[-4000:]

"""Drive one of AWS's SageMaker SDKs in local mode against one of our images; run with that SDK's venv python.

    python sdk_local_mode.py JOB.json RESULT.json

JOB.json: ``generation`` (v1, v2, v3), ``image``, ``algorithm``, ``hyperparameters``, ``train`` (a folder),
``content_type`` of the training data, ``rows`` (CSV for predict and transform), ``work`` (a scratch folder),
``port`` (the serving port, ``local.serving_port``). Every step is tried in order and recorded in RESULT.json as
``{"ok": true, "value": ...}`` or ``{"ok": false, "error": "...", "where": "file:line"}`` (the innermost frame
of the traceback, so a failure inside the SDK names its line); a step whose prerequisite failed is recorded as
not run. Only the SDK and the standard library are imported: this runs outside the project's environment.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

ROLE = "arn:aws:iam::111111111111:role/local-mode-needs-no-role"


class Steps:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[str, dict] = {}

    def run(self, name: str, function, *needs: str):
        missing = [n for n in needs if not self.results.get(n, {}).get("ok")]
        if missing:
            self.results[name] = {"ok": False, "error": f"not run: {', '.join(missing)} failed"}
            return None
        started = time.monotonic()
        try:
            value = function()
        except BaseException as error:  # noqa: BLE001 - every failure is the result, never a crash of the script
            frames = traceback.extract_tb(error.__traceback__)
            # the innermost frame in the SDK's own code names the SDK line (a json or urllib3 frame would not)
            inside_sdk = [f for f in frames if "/site-packages/sagemaker/" in f.filename]
            frame = (inside_sdk or frames)[-1]
            self.results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:3000],
                                  "where": f"{frame.filename}:{frame.lineno}",
                                  "traceback": "".join(traceback.format_exception(error))[-6000:]}
            value = None
        else:
            self.results[name] = {"ok": True, "value": value if _jsonable(value) else None}
        self.results[name]["seconds"] = round(time.monotonic() - started, 1)
        self.path.write_text(json.dumps(self.results, indent=1))
        return value


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def containers_left(image: str, wait_s: float = 30) -> list[str]:
    """Containers of ``image`` still there after up to ``wait_s`` (``docker ps``: the CLI the SDK itself uses)."""
    import subprocess

    deadline = time.monotonic() + wait_s
    while True:
        names = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"ancestor={image}", "--filter",
                                f"label=org.opensagemaker.test-run={os.environ['OPENSAGEMAKER_TEST_RUN']}"],
                               capture_output=True, text=True, check=True).stdout.split()
        if not names or time.monotonic() > deadline:
            return names
        time.sleep(1)


def csv_body(rows: list[list[float]]) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows)


def read_output(folder: Path) -> str:
    (out,) = sorted(folder.rglob("*.out"))
    return out.read_text()


def model_file(output_path: Path) -> str:
    (archive,) = sorted(output_path.rglob("model.tar.gz"))
    return archive.as_uri()


# --- v2 (and v1, whose classes differ only in names) ----------------------------------------------------------------


def estimator_generation(job: dict, steps: Steps) -> None:
    v1 = job["generation"] == "v1"
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession

    work = Path(job["work"])
    session = LocalSession()
    session.config = local_config(job)
    if v1:  # v1 builds its runtime client before it reads any config (local_session.py:414): always port 8080
        session.sagemaker_runtime_client.serving_port = job["port"]
    train = {"train": _input(job, v1)}

    def estimator(count: int, output: str):
        common = dict(role=ROLE, hyperparameters=job["hyperparameters"], sagemaker_session=session,
                      output_path=(work / output).as_uri())
        if v1:
            return Estimator(image_name=job["image"], train_instance_count=count, train_instance_type="local",
                             **common)
        return Estimator(image_uri=job["image"], instance_count=count, instance_type="local", **common)

    one = estimator(1, "fit-1")

    def fit_1():
        one.fit(train)
        return model_file(work / "fit-1")

    def fit_2():
        two = estimator(2, "fit-2")
        two.fit(train)
        return model_file(work / "fit-2")

    steps.run("fit_1", fit_1)
    steps.run("fit_2", fit_2)
    predictor = steps.run("deploy", lambda: _deploy(one, v1), "fit_1")
    steps.run("predict", lambda: _predict(predictor, job, v1), "deploy")
    def delete():
        predictor.delete_endpoint()
        return containers_left(job["image"])

    steps.run("delete", delete, "deploy")

    def transform(strategy: str | None, name: str):
        # strategy None: the SDK takes BatchStrategy from the container's /execution-parameters
        transformer = one.transformer(1, "local", output_path=(work / name).as_uri(), strategy=strategy,
                                      accept="application/jsonlines", assemble_with="Line")
        kwargs = {} if v1 else {"logs": False}
        transformer.transform((work / "batch").as_uri(), content_type="text/csv", split_type="Line", **kwargs)
        transformer.wait(**kwargs)
        return read_output(work / name)

    _write_batch(job)
    steps.run("transform", lambda: transform("MultiRecord", "transform"), "fit_1")
    if not v1:  # v1 fails before the strategy matters (see tests/images/test_sdk_local_mode.py)
        steps.run("transform_default_strategy", lambda: transform(None, "transform-default"), "fit_1")


def _input(job: dict, v1: bool):
    uri = Path(job["train"]).as_uri()
    if v1:
        from sagemaker.session import s3_input

        return s3_input(uri, content_type=job["content_type"])
    from sagemaker.inputs import TrainingInput

    return TrainingInput(uri, content_type=job["content_type"])


def _deploy(estimator, v1: bool):
    if v1:
        from sagemaker.predictor import csv_serializer, json_deserializer

        predictor = estimator.deploy(1, "local")
        predictor.content_type = "text/csv"
        predictor.serializer = csv_serializer
        predictor.deserializer = json_deserializer
        return predictor
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import CSVSerializer

    return estimator.deploy(1, "local", serializer=CSVSerializer(), deserializer=JSONDeserializer())


def _predict(predictor, job: dict, v1: bool):
    import numpy as np

    return predictor.predict(np.array(job["rows"], dtype=np.float32))


def _write_batch(job: dict) -> None:
    folder = Path(job["work"]) / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.csv").write_text(csv_body(job["rows"]) + "\n")


# --- v3: ModelTrainer, ModelBuilder, and the low-level local engine ----------------------------------------------


def v3_generation(job: dict, steps: Steps) -> None:
    work = Path(job["work"])
    work.mkdir(parents=True, exist_ok=True)
    _write_batch(job)

    def trainer(count: int):
        from sagemaker.train import ModelTrainer
        from sagemaker.train.configs import Compute, InputData
        from sagemaker.train.model_trainer import Mode

        root = work / f"trainer-{count}"
        root.mkdir()
        model_trainer = ModelTrainer(
            training_image=job["image"], role=ROLE, training_mode=Mode.LOCAL_CONTAINER,
            compute=Compute(instance_type="local_cpu", instance_count=count),
            hyperparameters=job["hyperparameters"], local_container_root=str(root),
            input_data_config=[InputData(channel_name="train", data_source=job["train"],
                                         content_type=job["content_type"])],
        )
        model_trainer.train(wait=True, logs=False)
        return sorted(p.name for p in (root / "model").iterdir()) if (root / "model").is_dir() else \
            sorted(str(p.relative_to(root)) for p in root.rglob("model*"))

    steps.run("trainer_fit_1", lambda: trainer(1))
    steps.run("trainer_fit_2", lambda: trainer(2))

    from sagemaker.core.local.local_session import LocalSession

    session = LocalSession()
    session.config = local_config(job)
    client = session.sagemaker_client

    def create_training_job(name: str, count: int) -> str:
        client.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": job["image"], "TrainingInputMode": "File"},
            RoleArn=ROLE,
            InputDataConfig=[{"ChannelName": "train", "ContentType": job["content_type"],
                              "DataSource": {"FileDataSource": {"FileUri": Path(job["train"]).as_uri(),
                                                                "FileDataDistributionType": "FullyReplicated"}}}],
            OutputDataConfig={"S3OutputPath": (work / name).as_uri()},
            ResourceConfig={"InstanceType": "local", "InstanceCount": count, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
            HyperParameters={k: str(v) for k, v in job["hyperparameters"].items()},
        )
        return client.describe_training_job(name)["ModelArtifacts"]["S3ModelArtifacts"]

    model_data = steps.run("fit_1", lambda: create_training_job("fit-1", 1))
    steps.run("fit_2", lambda: create_training_job("fit-2", 2))

    def deploy():
        client.create_model(ModelName="model-1", PrimaryContainer={"Image": job["image"], "ModelDataUrl": model_data,
                                                                # the local engine reads it unconditionally
                                                                "Environment": {}})
        client.create_endpoint_config(EndpointConfigName="config-1", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "model-1", "InitialInstanceCount": 1, "InstanceType": "local"}])
        client.create_endpoint(EndpointName="endpoint-1", EndpointConfigName="config-1")
        return "endpoint-1"

    steps.run("deploy", deploy, "fit_1")

    def predict():
        response = session.sagemaker_runtime_client.invoke_endpoint(
            Body=csv_body(job["rows"]), EndpointName="endpoint-1", ContentType="text/csv", Accept="application/json")
        return json.loads(response["Body"].read())

    steps.run("predict", predict, "deploy")
    def delete():
        client.delete_endpoint(EndpointName="endpoint-1")
        return containers_left(job["image"])

    steps.run("delete", delete, "deploy")

    def transform(strategy: str | None, name: str):
        client.create_transform_job(
            TransformJobName=name, ModelName="model-1",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": (work / "batch").as_uri()}},
                            "ContentType": "text/csv", "SplitType": "Line"},
            TransformOutput={"S3OutputPath": (work / name).as_uri(), "Accept": "application/jsonlines",
                             "AssembleWith": "Line"},
            TransformResources={"InstanceType": "local", "InstanceCount": 1},
            **({"BatchStrategy": strategy} if strategy else {}),
        )
        return read_output(work / name)

    steps.run("transform", lambda: transform("MultiRecord", "transform"), "deploy")
    steps.run("transform_default_strategy", lambda: transform(None, "transform-default"), "deploy")

    def model_builder_local_container():
        # ModelBuilder(mode=LOCAL_CONTAINER).deploy() ends here, in LocalContainerMode.create_server, with the
        # model server it detected; called directly because ModelBuilder.build() first validates the role with
        # IAM, which local mode cannot reach. The Docker API is podman's (DOCKER_HOST, started by the test).
        import boto3
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.serve.mode.local_container_mode import LocalContainerMode

        mode = LocalContainerMode(model_server=None, inference_spec=None, schema_builder=None,
                                  session=Session(boto_session=boto3.Session(region_name="us-east-1")),
                                  model_path=str(work / "model-builder"))
        (work / "model-builder").mkdir(exist_ok=True)
        try:
            mode.create_server(image=job["image"], container_timeout_seconds=60, secret_key="",
                               container_config="host")
        finally:
            mode.destroy_server()
        return "started"

    steps.run("model_builder_local_container", model_builder_local_container, "fit_1")


def local_config(job: dict) -> dict:
    """The SDKs' ``local`` settings: the serving port (a free one, not 8080) and where job folders go."""
    (Path(job["work"]) / "containers").mkdir(parents=True, exist_ok=True)
    return {"local": {"local_code": True, "serving_port": job["port"],
                      "container_root": str(Path(job["work"]) / "containers")}}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    steps = Steps(Path(argv[1]))
    os.chdir(job["work"])
    if job["generation"] == "v3":
        v3_generation(job, steps)
    else:
        estimator_generation(job, steps)
    steps.path.write_text(json.dumps(steps.results, indent=1))
    sys.stdout.flush()
    # An SDK that failed mid-step may leave its serving thread waiting on a container forever (v1, v2 after a
    # failed transform): do not wait for it; the test removes the containers.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

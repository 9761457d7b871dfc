"""The SageMaker operations of the local service, and the jobs and endpoints they run.

Each public method is an operation (``CreateTrainingJob``, ...): it takes the request's members, already checked
against botocore's input shape, and returns the response's members in the API's names. Execution is the local
engine of ``opensagemaker.backends``: ``LocalTrainingJob`` (one process per host, ``ShardedByS3Key``,
checkpoints), ``ModelServer`` (one ``serve`` process per instance of a variant) and ``LocalTransformJob``.

What a caller sees follows SageMaker: a name in use is ``ResourceInUse`` for jobs and a ``ValidationException``
"Cannot create already existing ..." for models, configs and endpoints; a job that does not exist is
``ResourceNotFound`` where the operation declares it, else ``ValidationException`` "Could not find ...".
Training jobs report ``SecondaryStatusTransitions``, ``FinalMetricDataList`` (the last value of each metric that
the job's ``MetricDefinitions`` and this project's own definitions for NTM / k-NN find in the log), and as
``FailureReason`` the root-cause host's failure file. Job log lines go to CloudWatch-style streams
(``opensagemaker.local_service.logs``).

Restart: records marked ``InProgress`` whose processes belonged to a service that is gone become ``Failed``
(their host processes, if any survived, are stopped by pid); endpoints that were ``InService`` start their model
servers again and are ``InService`` once those answer ``/ping``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from opensagemaker.backends.base import (
    ChannelRequest,
    ModelRequest,
    TrainingJobRequest,
    TransformJobRequest,
)
from opensagemaker.backends.local_commands import command_for_image
from opensagemaker.backends.local_endpoints import ModelServer
from opensagemaker.backends.local_training import LocalTrainingJob
from opensagemaker.backends.local_transform import LocalTransformJob
from opensagemaker.exceptions import ModelError
from opensagemaker.local_service.logs import LogStore
from opensagemaker.local_service.records import Records
from opensagemaker.local_service.wire import APIError, validation

__all__ = ["ACCOUNT", "ROLE", "SageMakerAPI"]

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/opensagemaker-local"
TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_GROUP = "/aws/sagemaker/TransformJobs"
_HOST_LINE = re.compile(r"^(algo-\d+)\s*\| ?(.*)$", re.S)
_PRIVATE = "_local"  # a record's key for what only the service needs (pids); never sent


def _now() -> float:
    return round(time.time(), 3)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A record as ``Describe*`` returns it: without the service's own fields and the tags (``ListTags``)."""
    return {k: v for k, v in record.items() if k not in (_PRIVATE, "Tags")}


def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = int(params["NextToken"]) if str(params.get("NextToken", "")).isdigit() else 0
    limit = params.get("MaxResults", 10 if key != "Tags" else 50)
    result: dict[str, Any] = {key: items[start:start + limit]}
    if start + limit < len(items):
        result["NextToken"] = str(start + limit)
    return result


def _pid_is(pid: int, word: str) -> bool:
    """``pid`` is alive and its command line contains ``word`` (so a reused pid is never signalled)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return word.encode() in file.read()
    except OSError:
        return False


def _kill_group(pid: int, word: str) -> None:
    if _pid_is(pid, word):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_is(pid, word) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_is(pid, word):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


class _Endpoint:
    """The model servers of one running endpoint, by variant; invocations go round-robin over a variant's."""

    def __init__(self, config_name: str, variants: dict[str, list[ModelServer]]) -> None:
        self.config_name = config_name
        self.variants = variants
        self._cycles = {name: itertools.cycle(servers) for name, servers in variants.items()}
        self._first = next(iter(variants))

    def server(self, variant: str | None) -> tuple[str, ModelServer]:
        name = variant or self._first
        if name not in self.variants:
            raise validation(f"Variant {name} not found on this endpoint (variants: {', '.join(self.variants)})")
        return name, next(self._cycles[name])

    def stop(self) -> None:
        for servers in self.variants.values():
            for server in servers:
                server.stop()

    def pids(self) -> list[int]:
        return [s.process.pid for servers in self.variants.values() for s in servers]


class SageMakerAPI:
    """The SageMaker operations over one service folder's records; ``store`` gives the local S3 store."""

    def __init__(self, records: Records, logs: LogStore, store: Callable[[], Any], region: str = "us-east-1") -> None:
        self.records = records
        self.logs = logs
        self._store = store
        self.region = region
        self._lock = threading.RLock()
        self._training: dict[str, LocalTrainingJob] = {}
        self._transforms: dict[str, LocalTransformJob] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._threads: list[threading.Thread] = []
        self._s3_client: Any = None

    # -- helpers ------------------------------------------------------------------------------------------------

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name.lower()}"

    def _s3(self) -> Any:
        """One S3 client for every job and endpoint (boto3 clients are thread-safe; making one costs ~0.1 s)."""
        with self._lock:
            if self._s3_client is None:
                self._s3_client = self._store().client()
            return self._s3_client

    def _store_env(self) -> dict[str, str]:
        return dict(self._store().environment())

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"opensagemaker-{name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def busy(self) -> bool:
        """Something runs or serves: a job in progress, an endpoint starting or serving."""
        with self._lock:
            running = any(not job.done.is_set() for job in self._training.values())
            return running or any(t.is_alive() for t in self._threads) or bool(self._endpoints)

    def _require(self, kind: str, name: str, message: str, code: str = "ValidationException") -> dict[str, Any]:
        record = self.records.get(kind, name)
        if record is None:
            raise APIError(code, message)
        return record

    @staticmethod
    def _check_image(image: str, what: str) -> None:
        try:
            command_for_image(image)
        except ValueError as error:
            raise validation(f"{what}: {error}") from None

    # -- restart -------------------------------------------------------------------------------------------------

    def recover(self) -> None:
        """After a (re)start: jobs of a service that is gone fail, their surviving processes are stopped, and the
        endpoints that were serving start again."""
        for record in self.records.all("training-jobs"):
            if record["TrainingJobStatus"] in ("InProgress", "Stopping"):
                for pid in record.get(_PRIVATE, {}).get("pids", []):
                    _kill_group(pid, "train")
                self._finish_training(record["TrainingJobName"], "Failed", "InternalServerError: the local SageMaker "
                                      "service stopped while this job ran; create the job again under a new name")
        for record in self.records.all("transform-jobs"):
            if record["TransformJobStatus"] in ("InProgress", "Stopping"):
                self.records.update("transform-jobs", record["TransformJobName"], TransformJobStatus="Failed",
                                    FailureReason="InternalServerError: the local SageMaker service stopped while "
                                    "this job ran", TransformEndTime=_now())
        for record in self.records.all("endpoints"):
            for pid in record.get(_PRIVATE, {}).get("pids", []):
                _kill_group(pid, "serve")
            if record["EndpointStatus"] in ("InService", "Creating", "Updating"):
                name = record["EndpointName"]
                self.records.update("endpoints", name, EndpointStatus="Creating", LastModifiedTime=_now())
                self._spawn(name, lambda name=name, config=record["EndpointConfigName"]: self._bring_up(name, config))

    def shutdown(self) -> None:
        """Stop every endpoint's servers (their records stay: they serve again after a restart) and every job."""
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
            jobs = [job for job in self._training.values() if not job.done.is_set()]
        for job in jobs:
            job.stop(grace=10)
        for endpoint in endpoints:
            endpoint.stop()

    # -- training jobs -------------------------------------------------------------------------------------------

    def _training_request(self, params: dict[str, Any]) -> TrainingJobRequest:
        name = params["TrainingJobName"]
        algorithm = params["AlgorithmSpecification"]
        image = algorithm.get("TrainingImage")
        if not image:
            raise validation("AlgorithmSpecification.TrainingImage: the local service runs training images; "
                             "AlgorithmName (marketplace algorithms) is not supported")
        self._check_image(image, f"training job {name}")
        channels = []
        for channel in params.get("InputDataConfig", []):
            source = channel["DataSource"].get("S3DataSource")
            if source is None:
                raise validation(f"InputDataConfig ({channel['ChannelName']}): only S3DataSource is supported locally")
            channels.append(ChannelRequest(
                name=channel["ChannelName"], uri=source["S3Uri"],
                distribution=source.get("S3DataDistributionType", "FullyReplicated"),
                s3_data_type=source["S3DataType"], content_type=channel.get("ContentType"),
                compression=channel.get("CompressionType"), record_wrapping=channel.get("RecordWrapperType"),
                input_mode=channel.get("InputMode") or algorithm["TrainingInputMode"] or "File",
            ))
        resources = params["ResourceConfig"]
        stopping = params["StoppingCondition"]
        checkpoint = params.get("CheckpointConfig") or {}
        from opensagemaker.backends.aws import algorithm_of_image
        from opensagemaker.metric_definitions import metric_definitions

        kind = algorithm_of_image(image, self.region)
        metrics = {d["Name"]: d for d in (metric_definitions(kind) if kind else [])}
        metrics.update({d["Name"]: d for d in algorithm.get("MetricDefinitions", [])})
        return TrainingJobRequest(
            job_name=name, image_uri=image, role=params["RoleArn"],
            instance_count=resources.get("InstanceCount", 1), instance_type=resources.get("InstanceType", "ml.m5.large"),
            output_path=params["OutputDataConfig"]["S3OutputPath"],
            hyperparameters=dict(params.get("HyperParameters", {})), channels=tuple(channels),
            input_mode=algorithm.get("TrainingInputMode") or "File",
            max_run_seconds=stopping.get("MaxRuntimeInSeconds", 86400),
            environment=dict(params.get("Environment", {})), metric_definitions=tuple(metrics.values()),
            volume_size_gb=resources.get("VolumeSizeInGB", 30), tags=tuple(params.get("Tags", [])),
            use_spot=params.get("EnableManagedSpotTraining", False),
            max_wait_seconds=stopping.get("MaxWaitTimeInSeconds"),
            checkpoint_s3_uri=checkpoint.get("S3Uri"), checkpoint_local_path=checkpoint.get("LocalPath"),
        )

    def CreateTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        request = self._training_request(params)
        arn = self.arn("training-job", name)
        now = _now()
        with self._lock:
            if self.records.get("training-jobs", name) is not None:
                raise APIError("ResourceInUse", f"Training job names must be unique within an AWS account and region, "
                               f"and a training job with this name already exists ({arn})")
            try:
                job = LocalTrainingJob(request, self._s3, self._store_env(), self.region)
            except ValueError as error:
                raise validation(str(error)) from None
            record = {key: params[key] for key in (
                "TrainingJobName", "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig",
                "OutputDataConfig", "ResourceConfig", "StoppingCondition", "EnableNetworkIsolation",
                "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
                "Environment", "VpcConfig", "DebugHookConfig", "RetryStrategy") if key in params}
            record["AlgorithmSpecification"] = dict(record["AlgorithmSpecification"])
            if request.metric_definitions:
                record["AlgorithmSpecification"]["MetricDefinitions"] = [dict(d) for d in request.metric_definitions]
            record.update({
                "TrainingJobArn": arn, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting",
                "ModelArtifacts": {"S3ModelArtifacts": request.output_path.rstrip("/") + f"/{name}/output/model.tar.gz"},
                "CreationTime": now, "LastModifiedTime": now, "TrainingStartTime": now,
                "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": now,
                                                "StatusMessage": "Launching requested ML instances"}],
                "Tags": list(params.get("Tags", [])), _PRIVATE: {"pids": []},
            })
            self.records.put("training-jobs", name, record)
            self._training[name] = job
        job.on_phase = lambda status, message: self._phase(name, status, message)
        job.on_hosts_started = lambda pids: self._record_local(name, pids=pids, work_dir=str(job.root))
        self._spawn(name, lambda: self._run_training(name, job))
        return {"TrainingJobArn": arn}

    def _phase(self, name: str, status: str, message: str) -> None:
        with self.records.lock:
            record = self.records.get("training-jobs", name)
            if record is None:
                return
            now = _now()
            transitions = record["SecondaryStatusTransitions"]
            if transitions and transitions[-1]["Status"] == status:
                return
            if transitions:
                transitions[-1]["EndTime"] = now
            transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
            self.records.update("training-jobs", name, SecondaryStatus=status, SecondaryStatusTransitions=transitions,
                                LastModifiedTime=now)

    def _record_local(self, name: str, **fields: Any) -> None:
        """What only the service needs to know of a job (its host pids, its work folder), kept in its record."""
        with self.records.lock:
            record = self.records.get("training-jobs", name)
            if record is not None:
                self.records.update("training-jobs", name, **{_PRIVATE: {**record.get(_PRIVATE, {}), **fields}})

    def _run_training(self, name: str, job: LocalTrainingJob) -> None:
        streams = {host: f"{name}/{host}-{int(time.time())}" for host in job.hosts}
        patterns = [(d["Name"], re.compile(d["Regex"])) for d in job.request.metric_definitions]
        metrics: dict[str, dict[str, Any]] = {}
        runner = threading.Thread(target=job.run, name=f"opensagemaker-{name}-run", daemon=True)
        runner.start()
        for line in job.logs.follow():
            match = _HOST_LINE.match(line)
            host, message = (match[1], match[2]) if match and match[1] in streams else (job.hosts[0], line)
            self.logs.append(TRAINING_GROUP, streams[host], message)
            for metric, pattern in patterns:
                found = pattern.search(message)
                if found:
                    with contextlib.suppress(ValueError, IndexError):
                        metrics[metric] = {"MetricName": metric, "Value": float(found.group(1)), "Timestamp": _now()}
        runner.join()
        self.logs.close_streams(TRAINING_GROUP, name + "/")
        description = job.description
        reason = description.failure_reason
        if description.status == "Failed" and job.root is not None and job.root.exists():
            reason = f"{reason} (host folders kept in {job.root})"  # the log and /opt/ml trees, for debugging
        self._finish_training(name, description.status, reason, list(metrics.values()))

    def _finish_training(self, name: str, status: str, reason: str | None,
                         metrics: list[dict[str, Any]] | None = None) -> None:
        with self.records.lock:
            record = self.records.get("training-jobs", name)
            if record is None:
                return
            now = _now()
            transitions = record["SecondaryStatusTransitions"]
            if transitions:
                transitions[-1].setdefault("EndTime", now)
            secondary = {"Completed": "Completed", "Stopped": "Stopped"}.get(status, "Failed")
            transitions.append({"Status": secondary, "StartTime": now, "EndTime": now,
                                "StatusMessage": reason or "Training job completed"})
            changes: dict[str, Any] = {"TrainingJobStatus": status, "SecondaryStatus": secondary,
                                       "SecondaryStatusTransitions": transitions, "TrainingEndTime": now,
                                       "LastModifiedTime": now,
                                       _PRIVATE: {**record.get(_PRIVATE, {}), "pids": []},
                                       "TrainingTimeInSeconds": max(1, int(now - record["TrainingStartTime"])),
                                       "BillableTimeInSeconds": max(1, int(now - record["TrainingStartTime"]))}
            if reason and status != "Completed":
                changes["FailureReason"] = reason[:1024]
            if metrics:
                changes["FinalMetricDataList"] = metrics
            self.records.update("training-jobs", name, **changes)

    def DescribeTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        return _public(self._require("training-jobs", name, "Requested resource not found.", "ResourceNotFound"))

    def StopTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        record = self._require("training-jobs", name, "Requested resource not found.", "ResourceNotFound")
        if record["TrainingJobStatus"] != "InProgress":
            raise validation(f"The training job {name} is not in progress (status {record['TrainingJobStatus']})")
        self.records.update("training-jobs", name, TrainingJobStatus="Stopping", LastModifiedTime=_now())
        job = self._training.get(name)
        if job is not None:
            threading.Thread(target=job.stop, daemon=True).start()
        return {}

    def ListTrainingJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        records = self._filtered("training-jobs", params, "TrainingJobName", "TrainingJobStatus")
        keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime",
                "TrainingJobStatus", "SecondaryStatus")
        return _page([{k: r[k] for k in keys if k in r} for r in records], params, "TrainingJobSummaries")

    def _filtered(self, kind: str, params: dict[str, Any], name_key: str, status_key: str | None) -> list[dict[str, Any]]:
        records = self.records.all(kind)
        if "NameContains" in params:
            records = [r for r in records if params["NameContains"].lower() in r[name_key].lower()]
        if status_key and "StatusEquals" in params:
            records = [r for r in records if r[status_key] == params["StatusEquals"]]
        for bound, test in (("CreationTimeAfter", lambda r, t: r["CreationTime"] > t),
                            ("CreationTimeBefore", lambda r, t: r["CreationTime"] < t)):
            if bound in params:
                records = [r for r in records if test(r, params[bound])]
        sort = {"Name": name_key, "Status": status_key}.get(params.get("SortBy", ""), "CreationTime")
        records.sort(key=lambda r: (str(r.get(sort, "")) if sort != "CreationTime" else r["CreationTime"]),
                     reverse=params.get("SortOrder", "Descending" if sort == "CreationTime" else "Ascending") == "Descending")
        return records

    # -- models and endpoint configs -------------------------------------------------------------------------------

    def CreateModel(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
        if container is None or not container.get("Image"):
            raise validation("CreateModel needs PrimaryContainer.Image (or Containers[0].Image)")
        self._check_image(container["Image"], f"model {name}")
        arn = self.arn("model", name)
        with self._lock:
            if self.records.get("models", name) is not None:
                raise validation(f'Cannot create already existing model "{arn}".')
            record = {k: params[k] for k in ("ModelName", "PrimaryContainer", "Containers", "ExecutionRoleArn",
                                              "EnableNetworkIsolation", "VpcConfig") if k in params}
            record.update(ModelArn=arn, CreationTime=_now(), Tags=list(params.get("Tags", [])))
            self.records.put("models", name, record)
        return {"ModelArn": arn}

    def DescribeModel(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        record = self._require("models", name, f'Could not find model "{self.arn("model", name)}".')
        return _public(record)

    def DeleteModel(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ModelName"]
        self._require("models", name, f'Could not find model "{self.arn("model", name)}".')
        self.records.delete("models", name)
        return {}

    def ListModels(self, params: dict[str, Any]) -> dict[str, Any]:
        records = self._filtered("models", params, "ModelName", None)
        return _page([{k: r[k] for k in ("ModelName", "ModelArn", "CreationTime")} for r in records], params, "Models")

    def CreateEndpointConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        arn = self.arn("endpoint-config", name)
        for variant in params["ProductionVariants"]:
            if "ServerlessConfig" in variant and "InitialInstanceCount" not in variant:
                continue
            if self.records.get("models", variant.get("ModelName", "")) is None:
                raise validation(f"Could not find model \"{self.arn('model', variant.get('ModelName', ''))}\".")
        with self._lock:
            if self.records.get("endpoint-configs", name) is not None:
                raise validation(f'Cannot create already existing endpoint configuration "{arn}".')
            record = {k: params[k] for k in ("EndpointConfigName", "ProductionVariants", "DataCaptureConfig",
                                              "KmsKeyId", "AsyncInferenceConfig") if k in params}
            record.update(EndpointConfigArn=arn, CreationTime=_now(), Tags=list(params.get("Tags", [])))
            self.records.put("endpoint-configs", name, record)
        return {"EndpointConfigArn": arn}

    def DescribeEndpointConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        record = self._require("endpoint-configs", name,
                               f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".')
        return _public(record)

    def DeleteEndpointConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        self._require("endpoint-configs", name,
                      f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".')
        self.records.delete("endpoint-configs", name)
        return {}

    def ListEndpointConfigs(self, params: dict[str, Any]) -> dict[str, Any]:
        records = self._filtered("endpoint-configs", params, "EndpointConfigName", None)
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return _page([{k: r[k] for k in keys} for r in records], params, "EndpointConfigs")

    # -- endpoints ---------------------------------------------------------------------------------------------------

    def _model_request(self, model_name: str) -> ModelRequest:
        model = self.records.get("models", model_name)
        if model is None:
            raise ValueError(f"model {model_name} does not exist (it was deleted)")
        container = model.get("PrimaryContainer") or model["Containers"][0]
        return ModelRequest(name=model_name, image_uri=container["Image"], model_data=container.get("ModelDataUrl"),
                            role=model.get("ExecutionRoleArn"), environment=dict(container.get("Environment", {})))

    def _start_servers(self, name: str, config_name: str) -> _Endpoint:
        config = self.records.get("endpoint-configs", config_name)
        if config is None:
            raise ValueError(f"endpoint configuration {config_name} does not exist (it was deleted)")
        variants: dict[str, list[ModelServer]] = {}
        try:
            for variant in config["ProductionVariants"]:
                model = self._model_request(variant["ModelName"])
                count = max(1, variant.get("InitialInstanceCount", 1))
                servers = variants.setdefault(variant["VariantName"], [])
                for index in range(count):
                    label = name if count == 1 else f"{name}-{index + 1}"
                    servers.append(ModelServer.start(label, model, self._s3, self._store_env()))
        except BaseException:
            for servers in variants.values():
                for server in servers:
                    server.stop()
            raise
        return _Endpoint(config_name, variants)

    def _variants_status(self, config_name: str) -> list[dict[str, Any]]:
        config = self.records.get("endpoint-configs", config_name) or {"ProductionVariants": []}
        result = []
        for variant in config["ProductionVariants"]:
            count = variant.get("InitialInstanceCount", 1)
            weight = variant.get("InitialVariantWeight", 1.0)
            model = self.records.get("models", variant.get("ModelName", "")) or {}
            image = (model.get("PrimaryContainer") or {}).get("Image")
            entry: dict[str, Any] = {"VariantName": variant["VariantName"], "CurrentWeight": weight,
                                     "DesiredWeight": weight, "CurrentInstanceCount": count,
                                     "DesiredInstanceCount": count}
            if image:
                entry["DeployedImages"] = [{"SpecifiedImage": image, "ResolvedImage": image,
                                            "ResolutionTime": _now()}]
            result.append(entry)
        return result

    def _bring_up(self, name: str, config_name: str, updating: bool = False) -> None:
        """Start the servers of ``config_name`` for endpoint ``name``; InService when all answer /ping."""
        try:
            endpoint = self._start_servers(name, config_name)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"[:1024]
            if updating:  # SageMaker rolls back: the old config keeps serving
                self.records.update("endpoints", name, EndpointStatus="InService", LastModifiedTime=_now(),
                                    FailureReason=reason)
            else:
                self.records.update("endpoints", name, EndpointStatus="Failed", FailureReason=reason,
                                    LastModifiedTime=_now())
            return
        with self._lock:
            if self.records.get("endpoints", name) is None:  # deleted while starting
                endpoint.stop()
                return
            old = self._endpoints.get(name)
            self._endpoints[name] = endpoint
        self.records.update("endpoints", name, EndpointStatus="InService", EndpointConfigName=config_name,
                            ProductionVariants=self._variants_status(config_name), LastModifiedTime=_now(),
                            FailureReason=None, **{_PRIVATE: {"pids": endpoint.pids()}})
        if old is not None:
            old.stop()

    def CreateEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        config_name = params["EndpointConfigName"]
        arn = self.arn("endpoint", name)
        self._require("endpoint-configs", config_name,
                      f'Could not find endpoint configuration "{self.arn("endpoint-config", config_name)}".')
        with self._lock:
            if self.records.get("endpoints", name) is not None:
                raise validation(f'Cannot create already existing endpoint "{arn}".')
            now = _now()
            self.records.put("endpoints", name, {
                "EndpointName": name, "EndpointArn": arn, "EndpointConfigName": config_name,
                "EndpointStatus": "Creating", "CreationTime": now, "LastModifiedTime": now,
                "Tags": list(params.get("Tags", [])), _PRIVATE: {"pids": []},
            })
        self._spawn(name, lambda: self._bring_up(name, config_name))
        return {"EndpointArn": arn}

    def DescribeEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        record = self._require("endpoints", name, f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return _public(record)

    def UpdateEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        config_name = params["EndpointConfigName"]
        record = self._require("endpoints", name, f'Could not find endpoint "{self.arn("endpoint", name)}".')
        self._require("endpoint-configs", config_name,
                      f'Could not find endpoint configuration "{self.arn("endpoint-config", config_name)}".')
        if record["EndpointStatus"] != "InService":
            raise validation(f'Cannot update in-progress endpoint "{record["EndpointArn"]}".')
        self.records.update("endpoints", name, EndpointStatus="Updating", LastModifiedTime=_now())
        self._spawn(name, lambda: self._bring_up(name, config_name, updating=True))
        return {"EndpointArn": record["EndpointArn"]}

    def DeleteEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        self._require("endpoints", name, f'Could not find endpoint "{self.arn("endpoint", name)}".')
        with self._lock:
            self.records.delete("endpoints", name)
            endpoint = self._endpoints.pop(name, None)
        if endpoint is not None:
            endpoint.stop()
        return {}

    def ListEndpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        records = self._filtered("endpoints", params, "EndpointName", "EndpointStatus")
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        return _page([{k: r[k] for k in keys} for r in records], params, "Endpoints")

    def invoke(self, name: str, body: bytes, content_type: str | None, accept: str | None,
               custom_attributes: str | None, variant: str | None) -> tuple[str, Any]:
        """``InvokeEndpoint``: the variant that answered and the model's ``InvokeResult``."""
        with self._lock:
            endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise APIError("ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")
        variant_name, server = endpoint.server(variant)
        try:
            return variant_name, server.invoke(body, content_type, accept, custom_attributes)
        except ModelError as error:
            raise APIError(
                "ModelError", f"Received client error ({error.status_code}) from primary with message "
                f'"{error.body[:2000]}". See the model server log {server.log_path}.', status=424,
                OriginalStatusCode=error.status_code, OriginalMessage=error.body[:2000],
                LogStreamArn=f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            ) from None
        except RuntimeError as error:  # the server process is gone
            raise APIError("ServiceUnavailable", str(error), status=503) from None

    # -- transform jobs -----------------------------------------------------------------------------------------

    def CreateTransformJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        arn = self.arn("transform-job", name)
        try:
            model = self._model_request(params["ModelName"])
        except ValueError:
            raise validation(f"Could not find model \"{self.arn('model', params['ModelName'])}\".") from None
        source = params["TransformInput"]["DataSource"]["S3DataSource"]
        transform_input, output = params["TransformInput"], params["TransformOutput"]
        resources = params["TransformResources"]
        request = TransformJobRequest(
            job_name=name, model=model, data=source["S3Uri"], output_path=output["S3OutputPath"],
            instance_count=resources["InstanceCount"], instance_type=resources["InstanceType"],
            data_type=source["S3DataType"], content_type=transform_input.get("ContentType"),
            compression_type=transform_input.get("CompressionType"), split_type=transform_input.get("SplitType"),
            strategy=params.get("BatchStrategy"), assemble_with=output.get("AssembleWith"),
            accept=output.get("Accept"), max_payload_mb=params.get("MaxPayloadInMB"),
            max_concurrent_transforms=params.get("MaxConcurrentTransforms"),
            environment=dict(params.get("Environment", {})),
        )
        with self._lock:
            if self.records.get("transform-jobs", name) is not None:
                raise APIError("ResourceInUse", f"Transform job names must be unique within an AWS account and "
                               f"region, and a transform job with this name already exists ({arn})")
            record = {k: params[k] for k in ("TransformJobName", "ModelName", "MaxConcurrentTransforms",
                                              "MaxPayloadInMB", "BatchStrategy", "Environment", "TransformInput",
                                              "TransformOutput", "TransformResources", "DataProcessing")
                      if k in params}
            now = _now()
            record.update(TransformJobArn=arn, TransformJobStatus="InProgress", CreationTime=now,
                          TransformStartTime=now, Tags=list(params.get("Tags", [])))
            self.records.put("transform-jobs", name, record)
            job = LocalTransformJob(request, self._s3, self._store_env())
            self._transforms[name] = job
        self._spawn(name, lambda: self._run_transform(name, job))
        return {"TransformJobArn": arn}

    def _run_transform(self, name: str, job: LocalTransformJob) -> None:
        stream = f"{name}/algo-1-{int(time.time())}"
        runner = threading.Thread(target=job.run, name=f"opensagemaker-{name}-run", daemon=True)
        runner.start()
        for line in job.logs.follow():
            self.logs.append(TRANSFORM_GROUP, stream, line)
        runner.join()
        self.logs.close_streams(TRANSFORM_GROUP, name + "/")
        description = job.description
        changes: dict[str, Any] = {"TransformJobStatus": description.status, "TransformEndTime": _now()}
        if description.failure_reason:
            changes["FailureReason"] = description.failure_reason[:1024]
        self.records.update("transform-jobs", name, **changes)

    def DescribeTransformJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        record = self._require("transform-jobs", name, "Requested resource not found.", "ResourceNotFound")
        return _public(record)

    def StopTransformJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        self._require("transform-jobs", name, "Requested resource not found.", "ResourceNotFound")
        raise validation(f"Transform job {name}: StopTransformJob is not supported by the local service; "
                         "local transform jobs run to the end")

    def ListTransformJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        records = self._filtered("transform-jobs", params, "TransformJobName", "TransformJobStatus")
        keys = ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime", "LastModifiedTime",
                "TransformJobStatus", "FailureReason")
        return _page([{k: r[k] for k in keys if k in r} for r in records], params, "TransformJobSummaries")

    # -- tags ---------------------------------------------------------------------------------------------------

    _ARN_KINDS = {"training-job": "training-jobs", "model": "models", "endpoint-config": "endpoint-configs",
                  "endpoint": "endpoints", "transform-job": "transform-jobs"}

    def _by_arn(self, arn: str) -> tuple[str, str]:
        for kind, records in self._ARN_KINDS.items():
            prefix = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/"
            if arn.startswith(prefix):
                for name in self.records.names(records):
                    if name.lower() == arn[len(prefix):]:
                        return records, name
        raise validation(f"ResourceArn {arn}: no such resource in the local service")

    def AddTags(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, name = self._by_arn(params["ResourceArn"])
        with self.records.lock:
            tags = {t["Key"]: t for t in self.records.get(kind, name).get("Tags", [])}
            tags.update({t["Key"]: t for t in params["Tags"]})
            self.records.update(kind, name, Tags=list(tags.values()))
        return {"Tags": params["Tags"]}

    def ListTags(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, name = self._by_arn(params["ResourceArn"])
        return _page(self.records.get(kind, name).get("Tags", []), params, "Tags")

    def DeleteTags(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, name = self._by_arn(params["ResourceArn"])
        with self.records.lock:
            tags = [t for t in self.records.get(kind, name).get("Tags", []) if t["Key"] not in params["TagKeys"]]
            self.records.update(kind, name, Tags=tags)
        return {}

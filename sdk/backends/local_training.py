"""Local training jobs: one child process per host, each with its own ``/opt/ml`` tree, on loopback.

What SageMaker does for a job of ``instance_count=N``, done with processes (docs/contract.md §3.2, §5.5):

1. Hosts ``algo-1`` ... ``algo-N``; each gets ``<work>/<host>/`` as its ``/opt/ml`` (``SM_OPT_ML``) with
   ``input/config/hyperparameters.json`` (the strings as given), ``inputdataconfig.json`` (``TrainingInputMode``,
   ``S3DistributionType``, ``RecordWrapperType``, and ``ContentType`` only when one was given) and
   ``resourceconfig.json`` (``current_host``, ``hosts``, ``network_interface_name``).
2. Channel data is copied from the store into ``input/data/<channel>/``. ``FullyReplicated`` gives every host every
   object; ``ShardedByS3Key`` deals the objects, sorted by key, round-robin over the hosts (host *i* gets objects
   *i*, *i+N*, ...), so each host sees a distinct subset, which SageMaker local mode does not do.
3. ``<command> train`` runs per host with ``ALGO_LEADER_ADDR=127.0.0.1`` and one free ``ALGO_DIST_PORT`` (the
   containers' rendezvous, ``container_core.distributed``), ``TRAINING_JOB_NAME``, ``AWS_REGION`` and
   ``OMP_NUM_THREADS`` = CPUs / N unless set (N hosts share this machine). Output lines are kept, prefixed with the
   host name as docker-compose prints them (``algo-1  | ...``), and streamed by ``wait``.
4. If a host exits non-zero, the others are stopped (SIGTERM, then SIGKILL) and the job fails with the text of that
   host's ``/opt/ml/output/failure``. Otherwise every host's ``model/`` is merged into
   ``<output_path>/<job>/output/model.tar.gz`` (and ``output/data/`` into ``output.tar.gz``).

With ``checkpoint_s3_uri`` (``CheckpointConfig``), what lies under that URI is copied into every host's
``checkpoints/`` (``/opt/ml/checkpoints``) before the hosts start, and each host's ``checkpoints/`` is uploaded back
when the hosts end, also after a failure or a stop: running the job again resumes from it.

Work folders live under ``$OPENSAGEMAKER_WORK_DIR`` (default: the system temp folder) and are removed when the job
completes; a failed job's folder is kept and named in the error, for debugging.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opensagemaker.backends import storage
from opensagemaker.backends.archives import make_tarball
from opensagemaker.backends.base import ChannelRequest, TrainingJobDescription, TrainingJobRequest
from opensagemaker.backends.local_commands import command_for_image
from opensagemaker.backends.logstream import LogStream

__all__ = ["LocalTrainingJob", "free_port", "shard", "work_root"]

CHECKPOINTS = "/opt/ml/checkpoints"
WORK_DIR_ENV = "OPENSAGEMAKER_WORK_DIR"
KEEP_ENV = "OPENSAGEMAKER_KEEP_WORK"
# What container_core.cli writes when a collective failed because a peer host went away: a consequence, not a cause.
PEER_LOST = "lost the connection to another host"
PEER_GRACE_SECONDS = 3.0  # after a host fails, how long the others may take to fail on their own


def work_root() -> Path:
    root = Path(os.environ.get(WORK_DIR_ENV) or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shard(objects: list[Any], host_index: int, host_count: int) -> list[Any]:
    """``ShardedByS3Key``: objects sorted by key, dealt round-robin; host ``i`` gets ``sorted[i::N]``."""
    ordered = sorted(objects, key=lambda o: o.uri)
    return ordered[host_index::host_count]


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group ``process`` leads, SIGKILL after ``grace`` seconds; by pid, never by name."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(10)


class LocalTrainingJob:
    """One training job; ``run()`` does all of it (the backend calls it on a thread) and sets ``description``."""

    def __init__(self, request: TrainingJobRequest, s3_client: Callable[[], Any], store_env: dict[str, str],
                 region: str) -> None:
        if request.instance_count < 1:
            raise ValueError(f"instance_count must be at least 1, got {request.instance_count}")
        if request.checkpoint_local_path not in (None, CHECKPOINTS, CHECKPOINTS + "/"):
            raise ValueError(
                f"checkpoint_local_path={request.checkpoint_local_path!r}: local jobs sync {CHECKPOINTS} (each host's "
                "<work>/<host>/checkpoints), where the NTM and k-NN containers write; leave checkpoint_local_path out"
            )
        self.request = request
        self._s3_client = s3_client
        self.store_env = store_env
        self.region = region
        self.hosts = tuple(f"algo-{i + 1}" for i in range(request.instance_count))
        self.logs = LogStream()
        self.description = TrainingJobDescription(request.job_name, "InProgress", hosts=self.hosts)
        self.done = threading.Event()
        self.root: Path | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self._stop = threading.Event()
        # Called with SageMaker's SecondaryStatus names as the job moves on (Starting, Downloading, Training,
        # Uploading); the local service turns them into SecondaryStatusTransitions.
        self.on_phase: Callable[[str, str], None] = lambda status, message: None
        self.on_hosts_started: Callable[[list[int]], None] = lambda pids: None  # the service records them

    # -- the job ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        request = self.request
        try:
            self.root = Path(tempfile.mkdtemp(prefix=f"{request.job_name}-", dir=work_root()))
            self.description.details["work_dir"] = str(self.root)  # removed on success unless $OPENSAGEMAKER_KEEP_WORK
            command = command_for_image(request.image_uri)
            self.on_phase("Starting", "Preparing the instances for training")
            self.logs.emit(f"Creating training job {request.job_name} with {len(self.hosts)} host(s) in {self.root}")
            client = self._s3_client()
            for host in self.hosts:
                self._write_config(host)
            self.on_phase("Downloading", "Downloading input data")
            self._stage_data(client)
            self._restore_checkpoints(client)
            self.on_phase("Training", "Training image download completed. Training in progress.")
            if request.use_spot:
                self.logs.emit("Spot training: nothing to wait for locally; the job runs now")
            failure = self._run_hosts(command)
            try:
                self._save_checkpoints(client)
            except Exception as error:  # the job's own failure, if any, is the reason to report
                if failure is None:
                    raise
                self.logs.emit(f"Checkpoints could not be saved: {type(error).__name__}: {error}")
            if failure is not None:
                self._fail(failure)
                return
            self.on_phase("Uploading", "Uploading generated training model")
            model_uri = storage.join_uri(request.output_path, request.job_name, "output", "model.tar.gz")
            output_uri = storage.join_uri(request.output_path, request.job_name, "output", "output.tar.gz")
            model_tar = make_tarball([self.root / h / "model" for h in self.hosts], self.root / "model.tar.gz")
            storage.upload_file(client, model_tar, model_uri)
            output_tar = make_tarball([self.root / h / "output" / "data" for h in self.hosts], self.root / "output.tar.gz")
            storage.upload_file(client, output_tar, output_uri)
            self.description.model_artifacts = model_uri
            self.description.status = "Completed"
            self.logs.emit("===== Job Complete =====")
            if not os.environ.get(KEEP_ENV):
                shutil.rmtree(self.root, ignore_errors=True)
        except Exception as error:  # staging or upload failed: the job fails with that reason
            self._fail(f"{type(error).__name__}: {error}")
        finally:
            self.logs.close()
            self.done.set()

    def stop(self, grace: float = 120.0) -> None:
        """StopTrainingJob: SIGTERM every host (the containers checkpoint and exit), SIGKILL after ``grace`` s."""
        self._stop.set()
        for process in list(self.processes.values()):
            stop_process_group(process, grace=grace)

    def _fail(self, reason: str) -> None:
        self.description.status = "Stopped" if self._stop.is_set() else "Failed"
        self.description.failure_reason = reason
        self.logs.emit(f"Training job {self.request.job_name} {self.description.status.lower()}: {reason}")

    # -- setup --------------------------------------------------------------------------------------------------

    def _host_root(self, host: str) -> Path:
        assert self.root is not None
        return self.root / host

    def _write_config(self, host: str) -> None:
        request = self.request
        config = self._host_root(host) / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        for sub in ("model", "output/data", "checkpoints", "input/data"):
            (self._host_root(host) / sub).mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(dict(request.hyperparameters), indent=1))
        data_config = {}
        for channel in request.channels:
            entry: dict[str, str] = {
                "TrainingInputMode": channel.input_mode or request.input_mode,
                "S3DistributionType": channel.distribution,
                "RecordWrapperType": channel.record_wrapping or "None",
            }
            if channel.content_type is not None:
                entry["ContentType"] = channel.content_type
            if channel.compression is not None:
                entry["CompressionType"] = channel.compression
            data_config[channel.name] = entry
        (config / "inputdataconfig.json").write_text(json.dumps(data_config, indent=1))
        (config / "resourceconfig.json").write_text(
            json.dumps(
                {
                    "current_host": host,
                    "hosts": list(self.hosts),
                    "network_interface_name": "eth0",
                    "current_instance_type": request.instance_type,
                },
                indent=1,
            )
        )

    def _stage_data(self, client: Any) -> None:
        assert self.root is not None
        cache = self.root / ".download"
        for channel in self.request.channels:
            objects = storage.list_objects(client, channel.uri, channel.s3_data_type)
            if not objects:
                raise ValueError(
                    f"No S3 objects found under S3 URL \"{channel.uri}\" given in input data source "
                    f"(channel {channel.name!r}). Please ensure that the bucket exists and that objects exist "
                    "under that prefix"
                )
            wanted = {host: self._objects_for(channel, objects, index) for index, host in enumerate(self.hosts)}
            for host, host_objects in wanted.items():
                target_root = self._host_root(host) / "input" / "data" / channel.name
                target_root.mkdir(parents=True, exist_ok=True)
                for obj in host_objects:
                    cached = cache / channel.name / obj.relative
                    if not cached.exists():
                        storage.download(client, obj.uri, cached)
                    target = target_root / obj.relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(cached, target)
                    except OSError:
                        shutil.copyfile(cached, target)
            counts = ", ".join(f"{h}: {len(o)}" for h, o in wanted.items())
            self.logs.emit(f"Channel {channel.name} ({channel.distribution}, {len(objects)} object(s)): {counts}")

    def _restore_checkpoints(self, client: Any) -> None:
        """``CheckpointConfig``: what lies under the URI is copied into every host's ``/opt/ml/checkpoints``."""
        uri = self.request.checkpoint_s3_uri
        if uri is None:
            return
        folder = uri.rstrip("/") + "/"
        missing = uri.startswith("file://") and not storage.local_path(uri).exists()
        objects = [] if missing else storage.list_objects(client, folder)
        for host in self.hosts:
            for obj in objects:
                storage.download(client, obj.uri, self._host_root(host) / "checkpoints" / obj.relative)
        self.logs.emit(f"Checkpoints: {len(objects)} file(s) from {uri} into {CHECKPOINTS} of every host")

    def _save_checkpoints(self, client: Any) -> None:
        """After the hosts end (completed, failed or stopped), their ``/opt/ml/checkpoints`` go back to the URI.

        SageMaker syncs continuously; here the containers' own SIGTERM handling (checkpoint, then exit) makes the
        end of the processes the moment that matters. Hosts are uploaded last to first, so the leader's file wins
        where two hosts wrote the same name."""
        uri = self.request.checkpoint_s3_uri
        if uri is None:
            return
        count = 0
        for host in reversed(self.hosts):
            folder = self._host_root(host) / "checkpoints"
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                storage.upload_file(client, path, storage.join_uri(uri, path.relative_to(folder).as_posix()))
                count += 1
        self.logs.emit(f"Checkpoints: {count} file(s) from {CHECKPOINTS} saved to {uri}")

    def _objects_for(self, channel: ChannelRequest, objects: list[Any], index: int) -> list[Any]:
        if channel.distribution == "ShardedByS3Key":
            return shard(objects, index, len(self.hosts))
        return list(objects)

    # -- processes ----------------------------------------------------------------------------------------------

    def _environment(self, host: str, dist_port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.store_env)
        threads = max(1, (os.cpu_count() or 1) // len(self.hosts))
        env.setdefault("OMP_NUM_THREADS", str(threads))
        env.update(
            {
                "SM_OPT_ML": str(self._host_root(host)),
                "TRAINING_JOB_NAME": self.request.job_name,
                "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{self.region}:000000000000:training-job/{self.request.job_name}",
                "AWS_REGION": self.region,
                "ALGO_LEADER_ADDR": "127.0.0.1",
                "ALGO_DIST_PORT": str(dist_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.request.environment)
        return env

    def _run_hosts(self, command: list[str]) -> str | None:
        """Run every host to the end; None on success, else the failure reason."""
        dist_port = free_port()
        readers = []
        width = max(len(h) for h in self.hosts) + 2
        for host in self.hosts:
            process = subprocess.Popen(
                [*command, "train"],
                cwd=self._host_root(host),
                env=self._environment(host, dist_port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes[host] = process
            reader = threading.Thread(target=self._pump, args=(host.ljust(width), process), daemon=True)
            reader.start()
            readers.append(reader)
        self.on_hosts_started([p.pid for p in self.processes.values()])
        deadline = time.monotonic() + self.request.max_run_seconds
        failed: tuple[str, int] | None = None
        failed_at = 0.0
        stopping = False
        timed_out = False
        while True:
            codes = {host: p.poll() for host, p in self.processes.items()}
            bad = [(h, c) for h, c in codes.items() if c not in (None, 0)]
            if bad and failed is None:
                failed = bad[0]
                failed_at = time.monotonic()
            if failed is not None and not stopping and time.monotonic() > failed_at + PEER_GRACE_SECONDS:
                # the others had a moment to end on their own (and write their own failure file): stop the rest
                stopping = True
                for process in self.processes.values():
                    stop_process_group(process)
            if all(c is not None for c in codes.values()):
                break
            if time.monotonic() > deadline and not timed_out:
                timed_out = True
                for process in self.processes.values():
                    stop_process_group(process, grace=120)
            time.sleep(0.05)
        for reader in readers:
            reader.join(10)
        if timed_out:
            return f"MaxRuntimeExceeded: Training job took longer than the max run time of {self.request.max_run_seconds} s"
        if self._stop.is_set():
            return "Stopped by the user (StopTrainingJob)"
        if failed is None:
            return None
        return self._root_cause(failed)

    def _failure_text(self, host: str) -> str | None:
        failure_file = self._host_root(host) / "output" / "failure"
        if not failure_file.exists():
            return None
        return " ".join(failure_file.read_text(errors="replace").strip()[:1024].split("\n\n"))

    def _root_cause(self, first: tuple[str, int]) -> str:
        """The failure to report: a host's own failure (UserError, AlgorithmError, ...) wins over a peer's
        'lost the connection to another host', whichever exited first; among equals, the first to exit."""
        failed = [first] + [(h, p.returncode) for h, p in self.processes.items()
                            if p.returncode not in (None, 0) and h != first[0]]
        texts = {host: self._failure_text(host) for host, _code in failed}
        causes = [(h, c) for h, c in failed if texts[h] is not None and PEER_LOST not in texts[h]]
        host, code = (causes or [(h, c) for h, c in failed if texts[h] is not None] or failed)[0]
        text = texts[host]
        if text is not None:
            return f"{text} (host {host}, exit code {code})"
        tail = "\n".join(self.logs.tail(8))
        return f"AlgorithmError: host {host} exited with code {code} and wrote no failure file. Last log lines:\n{tail}"

    def _pump(self, prefix: str, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.logs.emit(f"{prefix}| {raw.decode('utf-8', errors='replace').rstrip()}")
        process.stdout.close()

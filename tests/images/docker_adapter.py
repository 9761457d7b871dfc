"""``docker`` and ``docker compose`` for AWS's SageMaker SDK local mode, answered by podman (test-only).

The SDKs' local mode shells out to ``docker compose -f FILE up ...`` (v2, v3), ``docker-compose`` (v1), and a few
plain ``docker`` commands. This machine has podman and no Docker daemon, so tests put this adapter first on the
SDK's ``PATH`` (``install_shims``). It implements exactly those commands, and says so when asked for anything else
(exit 125, the message naming the command) instead of guessing:

- ``compose version``, ``compose -f FILE up [--build] [--abort-on-container-exit | --detach]``, ``compose -f FILE
  down``: each service of FILE becomes one ``podman run`` (image, command or entrypoint, environment, volumes,
  container name). Networks are replaced by host networking, the only kind this machine allows: every service name
  and network alias is added as a host name for 127.0.0.1, so ``algo-1``, ``algo-2`` resolve as they do on the
  compose network, and all traffic stays on loopback. A published port ``H:C`` cannot be remapped on the host network:
  it becomes ``SAGEMAKER_BIND_TO_PORT=H`` when the image carries SageMaker's
  ``com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true`` label (ours do) and is refused otherwise; the
  server is told to bind 127.0.0.1 (``ALGO_BIND_HOST``), as ``127.0.0.1:H:C`` would publish it. For the same
  reason each ``up`` gives its hosts one free port for their rendezvous (``ALGO_DIST_PORT``, unless set): on a
  compose network every job has its own addresses, on the host network concurrent jobs would all take 29500. ``tty`` and
  ``stdin_open`` are dropped (the SDK reads the output through a pipe). A missing bind-mount source folder is
  created, as Docker does (podman refuses it). GPU reservations are refused. With ``$OPENSAGEMAKER_TEST_RUN`` set,
  every container gets the label ``org.opensagemaker.test-run`` with that value, so a test can find its own.
- ``up`` attached behaves as compose does: output lines prefixed with the service name, and with
  ``--abort-on-container-exit`` the first container to exit stops the others; the exit status is that container's.
  SIGTERM (the SDK's ``delete_endpoint``) stops every container (SIGTERM, then SIGKILL after 10 s) and exits 0.
- ``images -q IMAGE``, ``pull``, ``inspect``, ``rm``, ``stop``, ``ps``, ``info``: passed to podman unchanged.
  ``context inspect``: the one context, podman's local socket (so the SDK talks to ``localhost``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import yaml

PODMAN = ("podman", "--runtime", "runc")
ULIMITS = ("--ulimit", "nofile=1000:1000", "--ulimit", "nproc=1000:1000")
BIND_TO_PORT_LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
PASSED_THROUGH = {"images", "pull", "inspect", "rm", "stop", "ps", "info", "logs", "kill"}
STOP_TIMEOUT_S = 10
RUN_LABEL = "org.opensagemaker.test-run"
RUN_LABEL_ENV = "OPENSAGEMAKER_TEST_RUN"


class Unsupported(Exception):
    """A command or compose key this adapter does not implement."""


def install_shims(folder: Path) -> Path:
    """Write ``docker`` and ``docker-compose`` into ``folder`` (put it first on ``PATH``); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, prefix in (("docker", ""), ("docker-compose", "compose ")):
        script = folder / name
        script.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} "
            f"{prefix}\"$@\"\n"
        )
        script.chmod(0o755)
    return folder


def _image_accepts_bind_to_port(image: str) -> bool:
    result = subprocess.run([*PODMAN, "image", "inspect", "--format", "{{json .Labels}}", image],
                            capture_output=True, text=True)
    labels = json.loads(result.stdout or "null") or {}
    return labels.get(BIND_TO_PORT_LABEL) == "true"


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_command(service: str, config: dict, hosts: list[str], rendezvous_port: int) -> list[str]:
    """The ``podman run`` of one compose service (see the module docstring for what is translated and how)."""
    known = {"image", "container_name", "command", "entrypoint", "environment", "volumes", "networks", "ports",
             "tty", "stdin_open", "network_mode"}
    unknown = set(config) - known
    if unknown:
        raise Unsupported(f"service {service}: compose keys {sorted(unknown)} are not supported by this adapter")
    image = config["image"]
    command = [*PODMAN, "run", "--rm", "--network", "host", *ULIMITS,
               "--name", config.get("container_name", service)]
    if os.environ.get(RUN_LABEL_ENV):  # lets a test find (and remove) exactly the containers of its own run
        command += ["--label", f"{RUN_LABEL}={os.environ[RUN_LABEL_ENV]}"]
    for host in hosts:
        command += ["--add-host", f"{host}:127.0.0.1"]
    environment = config.get("environment") or []
    if isinstance(environment, dict):
        environment = [f"{k}={v}" for k, v in environment.items()]
    for port in config.get("ports") or []:
        host_port, _, container_port = str(port).rpartition(":")
        if not _image_accepts_bind_to_port(image):
            raise Unsupported(f"service {service}: port {port} needs a remap, which host networking cannot do, "
                              f"and {image} does not accept SAGEMAKER_BIND_TO_PORT")
        environment = [*environment, f"SAGEMAKER_BIND_TO_PORT={host_port or container_port}",
                       "ALGO_BIND_HOST=127.0.0.1"]
    if not any(item.startswith("ALGO_DIST_PORT=") for item in environment):
        environment = [*environment, f"ALGO_DIST_PORT={rendezvous_port}"]
    for item in environment:
        command += ["-e", item]
    for volume in config.get("volumes") or []:
        source = volume.split(":")[0]
        if source.startswith("/"):
            Path(source).mkdir(parents=True, exist_ok=True)  # as Docker does for a missing bind source; podman fails
        command += ["-v", volume]
    entrypoint = _as_list(config.get("entrypoint"))
    if entrypoint:
        command += ["--entrypoint", json.dumps(entrypoint[:1])]
    return [*command, image, *entrypoint[1:], *_as_list(config.get("command"))]


def _hosts(services: dict) -> list[str]:
    names = set(services)
    for config in services.values():
        networks = config.get("networks") or {}
        if isinstance(networks, dict):
            for network in networks.values():
                names.update((network or {}).get("aliases", []))
    return sorted(names)


def _stream(service: str, process: subprocess.Popen, lock: threading.Lock) -> None:
    for line in process.stdout:
        with lock:
            sys.stdout.write(f"{service}  | {line}")
            sys.stdout.flush()


def _stop(names: list[str]) -> None:
    for name in names:
        subprocess.run([*PODMAN, "stop", "--ignore", "--time", str(STOP_TIMEOUT_S), name], capture_output=True)


def up(compose: dict, options: list[str]) -> int:
    unknown = [o for o in options if o not in ("--build", "--abort-on-container-exit", "--detach", "-d")]
    if unknown:
        raise Unsupported(f"compose up {' '.join(unknown)}")
    services = compose.get("services") or {}
    for config in services.values():
        if config.get("deploy"):
            raise Unsupported("GPU reservations (deploy.resources): this machine has no GPU")
    hosts = _hosts(services)
    port = _free_port()  # one rendezvous port per job: on the host network every job shares one port space
    commands = {service: run_command(service, config, hosts, port) for service, config in services.items()}
    names = [config.get("container_name", service) for service, config in services.items()]
    if "--detach" in options or "-d" in options:
        for command in commands.values():
            at = command.index("run") + 1
            subprocess.run([*command[:at], "--detach", *command[at:]], check=True, stdout=subprocess.DEVNULL)
        return 0
    lock = threading.Lock()
    processes = {}
    stopping = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        stopping.set()
        _stop(names)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    for service, command in commands.items():
        processes[service] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                              start_new_session=True)  # our SIGTERM handler stops them, not the tty
    readers = [threading.Thread(target=_stream, args=(s, p, lock), daemon=True) for s, p in processes.items()]
    for reader in readers:
        reader.start()
    abort = "--abort-on-container-exit" in options
    first_exit: int | None = None
    remaining = dict(processes)
    while remaining:
        for service, process in list(remaining.items()):
            try:
                code = process.wait(0.2)
            except subprocess.TimeoutExpired:
                continue
            del remaining[service]
            with lock:
                print(f"{service} exited with code {code}", flush=True)
            if first_exit is None:
                first_exit = code
                if abort and remaining:
                    with lock:
                        print("Aborting on container exit...", flush=True)
                    _stop(names)
    for reader in readers:
        reader.join(5)
    if stopping.is_set():
        return 0
    return first_exit or 0


def compose(args: list[str]) -> int:
    if args[:1] == ["version"]:
        print("Docker Compose version v2.0.0 (tests/images/docker_adapter.py over podman)")
        return 0
    files = []
    while args[:1] == ["-f"]:
        files.append(args[1])
        args = args[2:]
    if len(files) != 1 or not args:
        raise Unsupported(f"compose {' '.join(args)} (one -f FILE and a command are needed)")
    document = yaml.safe_load(Path(files[0]).read_text())
    if args[0] == "up":
        return up(document, args[1:])
    if args[0] == "down":
        _stop([c.get("container_name", s) for s, c in (document.get("services") or {}).items()])
        return 0
    raise Unsupported(f"compose {args[0]}")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["compose"]:
            return compose(argv[1:])
        if argv[:2] == ["context", "inspect"]:
            print(json.dumps([{"Name": "podman", "Endpoints": {"docker": {"Host": "unix:///run/podman/podman.sock"}}}]))
            return 0
        if argv[:1] and argv[0] in PASSED_THROUGH:
            return subprocess.run([*PODMAN, *argv]).returncode
        raise Unsupported(" ".join(argv) or "(no command)")
    except Unsupported as error:
        print(f"docker (podman adapter): not supported: {error}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

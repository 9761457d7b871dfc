"""The container engine the image tests drive: podman, with the settings every build and run on CI needs.

``podman --runtime runc`` (crun, Debian's default, fails on cgroup v1 hosts), explicit ulimits (the engine's
defaults are refused there), host networking only, ``--pull=never`` (the base is local: pulled, or made by
``tests/images/base_image.py``). Where PyPI is reached through a TLS proxy and the CPU torch wheel lies on local
disk (``$OPENSAGEMAKER_WHEELS``, default ``/opt/wheels``), a build mounts the machine's CA bundle and that folder and
points ``TORCH_INDEX_URL`` at PyPI, so pip takes the local ``+cpu`` wheel; elsewhere the Dockerfile's own index
(download.pytorch.org) is used. The Dockerfiles are never changed for a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PODMAN = ("podman", "--runtime", "runc")
ULIMITS = ("--ulimit", "nofile=1000:1000", "--ulimit", "nproc=1000:1000")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} ... exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def local_wheels() -> Path | None:
    folder = Path(os.environ.get("OPENSAGEMAKER_WHEELS", "/opt/wheels"))
    return folder if any(folder.glob("torch-*.whl")) else None


def build(dockerfile: Path, tag: str, scratch: Path, log: Path, timeout: float = 1200) -> None:
    """``podman build -f dockerfile -t tag .`` from the repository root; the output goes to ``log``."""
    command = [*PODMAN, "build", "--pull=never", "--network", "host", *ULIMITS, "-f", str(dockerfile), "-t", tag]
    wheels = local_wheels()
    if wheels is not None:
        pip_conf = scratch / "pip.conf"
        pip_conf.write_text(f"[global]\nfind-links = {wheels}\n" + (f"cert = {CA_BUNDLE}\n" if CA_BUNDLE.exists() else ""))
        command += ["-v", f"{wheels}:{wheels}:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro",
                    "--build-arg", "TORCH_INDEX_URL=https://pypi.org/simple"]
        if CA_BUNDLE.exists():
            command += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    with open(log, "w") as out:
        result = subprocess.run([*command, str(REPO)], stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"building {tag} from {dockerfile} failed (exit {result.returncode}):\n"
                           + log.read_text()[-6000:])


def inspect(name: str) -> dict:
    return json.loads(podman("image", "inspect", name).stdout)[0]


def own_layers_bytes(image: str, base: str) -> int:
    """Bytes the image adds on top of ``base``: its size less the base's (the layers the Dockerfile made)."""
    return int(inspect(image)["Size"]) - int(inspect(base)["Size"])


def run_args(image: str, *args: str, env: Mapping[str, str] | None = None, volumes: Sequence[str] = (),
             hosts: Sequence[str] = (), name: str | None = None) -> list[str]:
    """``podman run`` as SageMaker runs a container: host networking, the job's ``algo-N`` names on loopback."""
    command = [*PODMAN, "run", "--rm", "--network", "host", *ULIMITS]
    if name:
        command += ["--name", name]
    for host in hosts:
        command += ["--add-host", f"{host}:127.0.0.1"]
    for key, value in (env or {}).items():
        command += ["-e", f"{key}={value}"]
    for volume in volumes:
        command += ["-v", volume]
    return [*command, image, *args]


@dataclass
class Container:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running(image: str, *args: str, name: str, log: Path, **options) -> Iterator[Container]:
    """A container in the background (its ``podman run`` is our child); removed at exit whatever happened."""
    with open(log, "wb") as out:
        process = subprocess.Popen(run_args(image, *args, name=name, **options), stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Container(name, process, log)
    finally:
        if process.poll() is None:
            podman("stop", "--time", "5", name, check=False)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        podman("rm", "--force", "--ignore", name, check=False)


def available() -> str | None:
    """Why the engine cannot be used here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed: run scripts/install-system-deps"
    if shutil.which("runc") is None:
        return "runc is not installed: run scripts/install-system-deps"
    return None

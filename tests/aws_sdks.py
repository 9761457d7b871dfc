"""AWS's own SageMaker Python SDKs, each in a virtual environment made once and cached, for tests that drive them
(and MXNet, for tests that read artifacts as code written for the built-ins does).

The real ``sagemaker`` package cannot share the project's environment: v1 needs protobuf 3, and every generation is
a package named ``sagemaker``, which the one-line switch (``opensagemaker.as_sagemaker``) refuses to load beside.
So each generation lives in its own venv under ``$OPENSAGEMAKER_AWS_SDK_CACHE`` (default
``~/.cache/opensagemaker/aws-sdk``), keyed by its exact requirements, made on first use and reused afterwards.
A file lock makes concurrent test processes wait for one build instead of racing.

    python = aws_sdk_python("v2")              # Path to that venv's python
    subprocess.run([python, "script.py"], ...)  # the script imports AWS's sagemaker, unmodified

Run ``python -m tests.aws_sdks v1 v2 v3`` to build them ahead of a test run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

# Exact pins, so a test run is reproducible; move them forward on purpose, never by accident.
GENERATIONS: dict[str, tuple[str, ...]] = {
    # v1's last release imports only with protobuf 3.x; its local mode writes compose files with PyYAML (its
    # "local" extra pins PyYAML<6, which does not build on Python 3.11; v1 only calls yaml.dump).
    "v1": ("sagemaker==1.72.1", "protobuf<4", "numpy", "scipy", "PyYAML==6.0.4"),
    "v2": ("sagemaker==2.257.7",),
    "v3": ("sagemaker==3.27.0",),
    # The AWS CLI v1 from PyPI (the v2 CLI is not on PyPI).
    "awscli": ("awscli==1.46.2",),
    # Not an SDK: MXNet, what code written for the built-in NTM reads its model_algo-1 with (mx.nd.load). Its last
    # release uses np.bool, which numpy removed in 1.24.
    "mxnet": ("mxnet==1.9.1", "numpy<1.24"),
}


def cache_root() -> Path:
    default = Path.home() / ".cache" / "opensagemaker" / "aws-sdk"
    return Path(os.environ.get("OPENSAGEMAKER_AWS_SDK_CACHE", default))


def venv_dir(generation: str) -> Path:
    requirements = GENERATIONS[generation]
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:10]
    return cache_root() / f"{generation}-{digest}"


def aws_sdk_python(generation: str) -> Path:
    """The python of a venv holding ``GENERATIONS[generation]``, made now if it is not there yet.

    Raises ``KeyError`` for an unknown generation and ``subprocess.CalledProcessError`` (pip's output in the
    exception) when the packages cannot be installed.
    """
    if generation not in GENERATIONS:
        raise KeyError(f"unknown AWS SDK generation {generation!r}; known: {', '.join(GENERATIONS)}")
    target = venv_dir(generation)
    python = target / "bin" / "python"
    done = target / ".complete"
    if done.exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():  # another process built it while this one waited
            return python
        venv.EnvBuilder(clear=True, with_pip=True).create(target)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *GENERATIONS[generation]],
            check=True,
            capture_output=True,
            text=True,
        )
        done.write_text("\n".join(GENERATIONS[generation]) + "\n")
    return python


def main(argv: list[str]) -> int:
    for generation in argv or list(GENERATIONS):
        print(f"{generation}: {aws_sdk_python(generation)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

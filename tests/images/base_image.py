"""A stand-in for the CPU Dockerfiles' base image, made from Debian's packages where it cannot be pulled.

The Dockerfiles start ``FROM python:3.11.14-slim-bookworm`` (Docker Hub). Where no registry answers (this
project's CI machine reaches Debian's mirrors and PyPI only), this module makes an image with the same shape,
Debian bookworm with Python 3.11, ``python`` and ``pip`` on ``PATH`` and pip allowed to install system-wide, and tags
it with the Dockerfile's exact ``FROM`` name, so the Dockerfiles build unchanged. It differs from the real base in
what the tests cannot see: Debian's Python 3.11 build (3.11.2 on bookworm) instead of python.org's 3.11.14, in
``/usr/bin`` instead of ``/usr/local/bin``. Test-only; the images pushed to ECR are built on the real base.

    python -m tests.images.base_image            # makes it once; a no-op when the tag exists

Made with ``debootstrap --variant=minbase`` into a temporary folder, then ``podman import``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What python:*-slim-bookworm brings that pip installs need: Python with venv and pip, and CA certificates.
PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")


def dockerfile_base(dockerfile: Path) -> str:
    """The ``FROM`` of ``dockerfile`` with its ``ARG`` defaults substituted, as Docker resolves it."""
    defaults: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        words = line.split(maxsplit=1)
        if len(words) == 2 and words[0].upper() == "ARG" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            defaults[name] = value.strip('"')
        elif len(words) == 2 and words[0].upper() == "FROM":
            return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], words[1].split()[0])
    raise ValueError(f"{dockerfile}: no FROM")


def qualified(name: str) -> str:
    """``python:3.11`` -> ``docker.io/library/python:3.11``: the name podman resolves a Docker Hub short name to."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def image_exists(tag: str) -> bool:
    return subprocess.run(["podman", "image", "exists", tag]).returncode == 0


def make_root(root: Path) -> None:
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # The python image's conventions: `python` and `pip` commands, pip free to install into the system Python
    # (PEP 668's marker is Debian's, the python image has none), no apt lists or caches.
    for command, target in (("python", "python3"), ("pip", "pip3")):
        if not (root / "usr/bin" / command).exists():
            (root / "usr/bin" / command).symlink_to(target)
    for marker in (root / "usr/lib").glob("python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for folder in ("var/lib/apt/lists", "var/cache/apt", "var/log", "tmp"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir(parents=True, exist_ok=True)


def make_base_image(tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="base-image-") as scratch:
        root = Path(scratch) / "root"
        make_root(root)
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [
                "podman", "import",
                "--change", "ENV LANG=C.UTF-8",
                "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change", 'CMD ["python3"]',
                "--message", f"stand-in for {tag}: debootstrap {SUITE} + {' '.join(PACKAGES)}",
                "-", tag,
            ],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tar.stdout.close()
        if tar.wait() != 0:
            raise subprocess.CalledProcessError(tar.returncode, "tar")


def ensure_base_image(dockerfile: Path) -> str:
    """The Dockerfile's base under its ``FROM`` name: present already (pulled or made before), or made now."""
    tag = qualified(dockerfile_base(dockerfile))
    if not image_exists(tag):
        make_base_image(tag)
    return tag


def main() -> int:
    print(ensure_base_image(REPO / "containers" / "knn" / "Dockerfile"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

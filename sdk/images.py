"""Container image URIs in Amazon ECR: build and push the open NTM and k-NN images, and remember where they went.

``push`` does from a laptop what ``buildspec.yml`` does in CodeBuild: create the ECR repository when it is missing,
log Docker in to the registry, ``docker build`` from the repository root (``containers/<algorithm>/Dockerfile``, or
``Dockerfile.gpu``), tag and ``docker push``. It then records the pushed URI in a small JSON file,
``~/.config/opensagemaker/images.json`` (``$OPENSAGEMAKER_CONFIG_DIR/images.json`` when that is set), which
``resolve_pushed`` reads, so the SDK's AWS backend can find the image later. From the command line::

    python -m opensagemaker.images push --algorithm ntm --region us-east-1 [--account 123456789012] [--tag v1] [--gpu]
    python -m opensagemaker.images resolve --algorithm ntm --region us-east-1 [--gpu]

Default repositories are ``open-ntm`` and ``open-knn`` (as in ``buildspec.yml``). GPU images go to the same
repository with ``-gpu`` appended to the tag (``open-ntm:latest-gpu``). Importing this module reads nothing and
starts nothing; boto3 is imported only by the functions that talk to AWS.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "ALGORITHMS",
    "DEFAULT_REPOSITORIES",
    "DockerUnavailableError",
    "PushError",
    "config_dir",
    "dockerfile",
    "image_uri",
    "images_file",
    "main",
    "push",
    "record_push",
    "resolve_pushed",
]

ALGORITHMS = ("ntm", "knn")
DEFAULT_REPOSITORIES = {"ntm": "open-ntm", "knn": "open-knn"}
GPU_TAG_SUFFIX = "-gpu"
CONFIG_DIR_ENV = "OPENSAGEMAKER_CONFIG_DIR"
_FORMAT_VERSION = 1
# ECR's own rules for an account id and an image tag.
_ACCOUNT = re.compile(r"\d{12}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOCKER_PROBE_TIMEOUT_S = 30


class DockerUnavailableError(RuntimeError):
    """No Docker engine can be reached, so no image can be built or pushed from this machine."""


class PushError(RuntimeError):
    """A build, tag, login or push step failed; the message names the command."""


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}")


def _registry(account: str, region: str) -> str:
    # The China and ISO regions live in partitions of their own, with their own domains.
    if region.startswith("cn-"):
        domain = "amazonaws.com.cn"
    elif region.startswith("us-iso-"):
        domain = "c2s.ic.gov"
    else:
        domain = "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}"


def image_uri(
    algorithm: str,
    region: str,
    account: str | None = None,
    repository: str | None = None,
    tag: str = "latest",
) -> str:
    """Return ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`` for one of the images.

    Args:
        algorithm: ``"ntm"`` or ``"knn"``.
        region: AWS region of the registry, e.g. ``"us-east-1"``.
        account: 12-digit AWS account id; when omitted, the account of the current AWS credentials (STS).
        repository: ECR repository name; default ``open-ntm`` / ``open-knn``.
        tag: image tag.
    """
    _check_algorithm(algorithm)
    if not region:
        raise ValueError("A region is needed to build an ECR image URI")
    if account is None:
        account = _caller_account(region)
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(f"AWS account id must be 12 digits, got {account!r}")
    if not _TAG.fullmatch(tag):
        raise ValueError(f"Invalid image tag {tag!r}: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'")
    repository = repository or DEFAULT_REPOSITORIES[algorithm]
    return f"{_registry(account, region)}/{repository}:{tag}"


def dockerfile(algorithm: str, gpu: bool = False, root: Path | None = None) -> Path:
    """Path of the Dockerfile that builds ``algorithm``'s image, inside the source tree ``root``."""
    _check_algorithm(algorithm)
    root = _source_root() if root is None else Path(root)
    return root / "containers" / algorithm / ("Dockerfile.gpu" if gpu else "Dockerfile")


def _source_root() -> Path:
    # The images are built from a source checkout (the build context is its root); an installed copy of this
    # package has no Dockerfiles next to it.
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "containers").is_dir():
        return root
    raise PushError(
        f"Building images needs the project's source tree, and {root} is not one: "
        "run from a git checkout (pip install -e .) or pass context=<checkout>"
    )


def _check_docker() -> None:
    """Raise ``DockerUnavailableError`` unless the docker CLI is installed and its engine answers."""
    if shutil.which("docker") is None:
        raise DockerUnavailableError(
            "The docker CLI is not on PATH, so no image can be built here. Install Docker, "
            "or build and push in AWS CodeBuild with the repository's buildspec.yml."
        )
    try:
        probe = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=_DOCKER_PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        detail = f"`docker version` did not answer within {_DOCKER_PROBE_TIMEOUT_S} s"
    else:
        if probe.returncode == 0:
            return
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"`docker version` exited with {probe.returncode}"
    raise DockerUnavailableError(
        f"No Docker engine is reachable ({detail}). Start the Docker daemon or point DOCKER_HOST at one, "
        "or build and push in AWS CodeBuild with the repository's buildspec.yml."
    )


def _boto3_session(region: str):
    try:
        import boto3
    except ImportError as exc:  # the sdk extra brings boto3
        raise PushError("Talking to ECR needs boto3: pip install 'open-sagemaker-algorithms[sdk]'") from exc
    return boto3.Session(region_name=region)


def _caller_account(region: str) -> str:
    return _boto3_session(region).client("sts").get_caller_identity()["Account"]


def _ensure_repository(ecr, name: str) -> None:
    """Create the ECR repository ``name`` unless it exists (``describe-repositories || create-repository``)."""
    try:
        ecr.describe_repositories(repositoryNames=[name])
    except ecr.exceptions.RepositoryNotFoundException:
        ecr.create_repository(repositoryName=name)


def _run(command: Sequence[str], *, stdin: str | None = None, quiet: bool = False) -> None:
    # Build and push output goes straight to the terminal: they are long and their progress is the point.
    result = subprocess.run(
        list(command),
        input=stdin,
        text=True,
        capture_output=quiet,
        check=False,
    )
    if result.returncode != 0:
        detail = f": {result.stderr.strip().splitlines()[-1]}" if quiet and result.stderr.strip() else ""
        raise PushError(f"`{' '.join(command)}` failed with exit code {result.returncode}{detail}")


def _docker_login(ecr, registry: str) -> None:
    # The same password `aws ecr get-login-password` prints: ECR's authorization token is base64("AWS:<password>").
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    _run(["docker", "login", "--username", user, "--password-stdin", registry], stdin=password, quiet=True)


def push(
    algorithm: str,
    region: str,
    account: str | None = None,
    tag: str = "latest",
    gpu: bool = False,
    *,
    repository: str | None = None,
    context: Path | None = None,
) -> str:
    """Build one image, push it to ECR, record it for ``resolve_pushed``, and return its URI.

    The steps of ``buildspec.yml``'s build and post_build phases: check that a Docker engine answers (before any
    AWS call), create the repository when missing, ``docker login`` with an ECR token, ``docker build`` with the
    repository root as context, tagged ``<tag>`` and ``latest`` (``-gpu`` appended to both for the GPU image),
    ``docker push`` both tags.

    Args:
        algorithm: ``"ntm"`` or ``"knn"``.
        region: AWS region of the registry.
        account: AWS account id; default: the account of the current credentials.
        tag: image tag, e.g. a git revision.
        gpu: build ``Dockerfile.gpu`` (CUDA) instead of the CPU ``Dockerfile``.
        repository: ECR repository; default ``open-ntm`` / ``open-knn``.
        context: source checkout to build from; default the checkout this module lives in.

    Raises:
        DockerUnavailableError: no docker CLI, or no engine behind it.
        PushError: a build, login or push step failed, or there is no source tree to build from.
    """
    _check_algorithm(algorithm)
    suffix = GPU_TAG_SUFFIX if gpu else ""
    # Validate names before touching Docker or AWS (any account id will do for that).
    image_uri(algorithm, region, "0" * 12, repository, tag + suffix)
    _check_docker()
    root = _source_root() if context is None else Path(context)
    file = dockerfile(algorithm, gpu, root)
    if not file.is_file():
        raise PushError(f"No Dockerfile at {file}")

    session = _boto3_session(region)
    if account is None:
        account = session.client("sts").get_caller_identity()["Account"]
    repository = repository or DEFAULT_REPOSITORIES[algorithm]
    uri = image_uri(algorithm, region, account, repository, tag + suffix)
    uris = [uri] if tag == "latest" else [uri, image_uri(algorithm, region, account, repository, "latest" + suffix)]

    ecr = session.client("ecr")
    _ensure_repository(ecr, repository)
    _docker_login(ecr, _registry(account, region))
    tags = [arg for u in uris for arg in ("--tag", u)]
    _run(["docker", "build", "--file", str(file), *tags, str(root)])
    for u in uris:
        _run(["docker", "push", u])
    record_push(algorithm, region, uri, gpu=gpu)
    return uri


def config_dir() -> Path:
    """Folder of the SDK's own settings: ``$OPENSAGEMAKER_CONFIG_DIR``, else ``~/.config/opensagemaker``."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path.home() / ".config" / "opensagemaker"


def images_file() -> Path:
    """The JSON file where pushed image URIs are recorded."""
    return config_dir() / "images.json"


def _read_images(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format_version": _FORMAT_VERSION, "images": {}}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it and push again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), dict):
        raise ValueError(f'{path} has no "images" object; delete it and push again')
    return data


def record_push(algorithm: str, region: str, uri: str, *, gpu: bool = False) -> Path:
    """Remember that ``uri`` is the image of ``algorithm`` in ``region``; return the file written.

    The file maps algorithm -> region -> ``"cpu"``/``"gpu"`` -> URI, with a ``format_version``. It is replaced
    atomically, so a reader never sees half a file.
    """
    _check_algorithm(algorithm)
    path = images_file()
    data = _read_images(path)
    data["format_version"] = _FORMAT_VERSION
    data["images"].setdefault(algorithm, {}).setdefault(region, {})["gpu" if gpu else "cpu"] = uri
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def resolve_pushed(algorithm: str, region: str, *, gpu: bool = False) -> str | None:
    """Return the URI last pushed for ``algorithm`` in ``region`` (CPU or GPU image), or None if there is none."""
    _check_algorithm(algorithm)
    data = _read_images(images_file())
    entry = data["images"].get(algorithm, {}).get(region, {})
    uri = entry.get("gpu" if gpu else "cpu") if isinstance(entry, dict) else None
    return uri if isinstance(uri, str) else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m opensagemaker.images", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    region_default = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--algorithm", required=True, choices=ALGORITHMS)
        sub.add_argument(
            "--region", default=region_default, required=region_default is None, help="default: $AWS_REGION"
        )
        sub.add_argument("--gpu", action="store_true", help="the CUDA image (Dockerfile.gpu)")

    push_cmd = commands.add_parser("push", help="build the image, push it to ECR and record its URI")
    common(push_cmd)
    push_cmd.add_argument("--account", help="AWS account id (default: that of the current credentials)")
    push_cmd.add_argument("--tag", default="latest")
    push_cmd.add_argument("--repository", help="ECR repository (default: open-ntm / open-knn)")
    resolve_cmd = commands.add_parser("resolve", help="print the URI recorded by the last push")
    common(resolve_cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        aws_errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
    except ImportError:
        aws_errors = ()
    try:
        if args.command == "push":
            print(push(args.algorithm, args.region, args.account, args.tag, args.gpu, repository=args.repository))
            return 0
        uri = resolve_pushed(args.algorithm, args.region, gpu=args.gpu)
    except (DockerUnavailableError, PushError, ValueError, *aws_errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if uri is None:
        print(f"error: no {args.algorithm} image recorded for {args.region} in {images_file()}", file=sys.stderr)
        return 1
    print(uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())

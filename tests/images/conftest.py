"""The CPU images, built once per test session from the repository's Dockerfiles (podman's layer cache makes a
rebuild of unchanged sources take seconds), and the /opt/ml trees their containers mount."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.images import engine
from tests.images.base_image import ensure_base_image

ALGORITHMS = ("ntm", "knn")


@dataclass(frozen=True)
class Image:
    algorithm: str
    tag: str
    base: str
    dockerfile: Path
    build_seconds: float


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Image]:
    """``{"ntm": Image, "knn": Image}``, both CPU images built now (the base made first where it is missing)."""
    reason = engine.available()
    if reason:
        pytest.fail(reason)
    scratch = tmp_path_factory.mktemp("image-builds")
    built = {}
    for algorithm in ALGORITHMS:
        dockerfile = engine.REPO / "containers" / algorithm / "Dockerfile"
        base = ensure_base_image(dockerfile)
        tag = f"localhost/open-{algorithm}:test"
        started = time.monotonic()
        engine.build(dockerfile, tag, scratch, scratch / f"{algorithm}-build.log")
        built[algorithm] = Image(algorithm, tag, base, dockerfile, time.monotonic() - started)
    return built


@pytest.fixture
def names(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Container names for one test, unique per test; any still there at teardown are removed."""
    made: list[str] = []
    yield made
    for name in made:
        engine.podman("rm", "--force", "--ignore", name, check=False)

"""The distribution's metadata: one version source, and the PEP 561 marker in every package it ships."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import opensagemaker

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DISTRIBUTION = PYPROJECT["project"]["name"]


def test_the_version_is_written_once() -> None:
    # pyproject.toml reads it from opensagemaker.__version__ instead of repeating it.
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "opensagemaker.__version__"}
    installed = importlib.metadata.version(DISTRIBUTION)
    assert installed == opensagemaker.__version__, (
        f"installed metadata says {installed}, opensagemaker.__version__ {opensagemaker.__version__}: "
        "reinstall with `pip install -e .`")


def test_every_top_level_package_is_marked_typed_and_ships_the_marker() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["*"]
    unmarked = [name for name, folder in setuptools["package-dir"].items() if not (REPO / folder / "py.typed").is_file()]
    assert not unmarked, f"no py.typed in {unmarked}"

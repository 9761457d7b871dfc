"""The hyperparameter docs are generated from the schemas and must match them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_hyperparameter_docs_are_current() -> None:
    spec = importlib.util.spec_from_file_location("make_hyperparameters", DOCS / "make_hyperparameters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DOCS / "hyperparameters.md").read_text() == module.render(), "run: python docs/make_hyperparameters.py"

"""Serving never imports training: a ``serve`` process loads only what answering requests needs.

Checked in a fresh interpreter per algorithm (this one has imported everything already).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

TRAINING = ("train", "sampling", "channels", "cluster", "optimizers")
CORE_TRAINING = ("container_core.cli", "container_core.channels", "container_core.distributed")


@pytest.mark.parametrize("algorithm", ["ntm_container", "knn_container"])
def test_the_serve_module_imports_no_training_module(algorithm: str) -> None:
    script = (f"import json, sys, {algorithm}.serve; "
              "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] in "
              f"({algorithm!r}, 'container_core'))))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    loaded = set(json.loads(done.stdout))
    assert f"{algorithm}.serve" in loaded and "container_core.serving" in loaded
    training = sorted(loaded & ({f"{algorithm}.{name}" for name in TRAINING} | set(CORE_TRAINING)))
    assert not training, f"{algorithm}.serve imports training code: {training}"

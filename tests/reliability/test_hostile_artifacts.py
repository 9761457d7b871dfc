"""Hostile and corrupt model artifacts, and a scan that no artifact is ever unpickled.

``model.tar.gz`` members with ``..``, absolute paths, links and device files are refused by the SDK before anything
is written: ``tests/sdk/test_archives.py`` covers ``opensagemaker.backends.archives.safe_extract``. The containers
never extract archives (SageMaker, or the SDK, hands them ``/opt/ml/model`` already extracted), so here the
serving side is tested: a model folder with a link leading outside it, or a FIFO, is refused at serve start
(``container_core.serving.check_model_dir``) before ``model_fn`` opens anything; truncated and garbage index /
state-dict files and edited metadata with bad values give a clear error naming the file at serve start, for both
containers: every case through ``load_model`` with the real handlers, a subset through the real
``<algo>_container.cli serve`` processes.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PYTHON, REPO, OptML, free_port, start_server

Damage = Callable[[Path], None]


def _truncate(name: str, keep: float = 0.5) -> Damage:
    def damage(model: Path) -> None:
        data = (model / name).read_bytes()
        (model / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def _garbage(name: str) -> Damage:
    return lambda model: (model / name).write_bytes(os.urandom(4096))


def _edit(name: str, change: Callable[[dict], None]) -> Damage:
    def damage(model: Path) -> None:
        meta = json.loads((model / name).read_text())
        change(meta)
        (model / name).write_text(json.dumps(meta))
    return damage


def _link_outside(name: str) -> Damage:
    def damage(model: Path) -> None:
        outside = model.parent / "secret.json"
        outside.write_text((model / name).read_text())  # a valid file: only the link's target is wrong
        (model / name).unlink()
        (model / name).symlink_to(outside)
    return damage


def _fifo(model: Path) -> None:
    os.mkfifo(model / "extra.pipe")


def _link_inside(name: str) -> Damage:
    """A link to a file inside the model folder is harmless and must keep working (the control case)."""
    def damage(model: Path) -> None:
        (model / f"{name}.orig").write_bytes((model / name).read_bytes())
        (model / name).unlink()
        (model / name).symlink_to(f"{name}.orig")
    return damage


NTM_META, NTM_STATE, KNN_META, KNN_INDEX = "model_meta.json", "ntm_state.safetensors", "model_algo-1.json", "model_algo-1"
# (algorithm, id, damage, fragment of the error; None: serving must start)
CASES: list[tuple[str, str, Damage, str | None]] = [
    ("ntm", "state-truncated", _truncate(NTM_STATE), f"{NTM_STATE} is corrupt"),
    ("ntm", "state-garbage", _garbage(NTM_STATE), f"{NTM_STATE} is corrupt"),
    ("ntm", "meta-truncated", _truncate(NTM_META), f"{NTM_META} is corrupt"),
    ("ntm", "meta-bad-value", _edit(NTM_META, lambda m: m["hyperparameters"].update(num_topics=1)),
     "bad hyperparameters: Hyperparameter num_topics: 1 is not in [2, 1000]"),
    ("ntm", "meta-wrong-type", _edit(NTM_META, lambda m: m["hyperparameters"].update(feature_dim="many")),
     "Hyperparameter feature_dim: 'many' is not an integer"),
    ("ntm", "meta-shape-mismatch", _edit(NTM_META, lambda m: m["hyperparameters"].update(num_topics=5)),
     f"{NTM_STATE} does not match"),
    ("ntm", "meta-version", _edit(NTM_META, lambda m: m.update(format_version=99)), "format_version 99 is not one of 1, 2"),
    ("ntm", "link-outside", _link_outside(NTM_META), "outside the model folder"),
    ("ntm", "fifo", _fifo, "is a device, FIFO or socket"),
    ("ntm", "link-inside", _link_inside(NTM_META), None),
    ("knn", "index-truncated", _truncate(KNN_INDEX), f"{KNN_INDEX} is not a faiss index"),
    ("knn", "index-garbage", _garbage(KNN_INDEX), f"{KNN_INDEX} is not a faiss index"),
    ("knn", "labels-truncated", _truncate("model_algo-1.labels"), "labels for an index of 500 points"),
    ("knn", "meta-truncated", _truncate(KNN_META), f"{KNN_META} is not valid JSON"),
    ("knn", "meta-feature-dim", _edit(KNN_META, lambda m: m.update(feature_dim=9)), "feature_dim 9 does not match"),
    ("knn", "meta-k-negative", _edit(KNN_META, lambda m: m.update(k=-2)), "k=-2 must be in [1, 500]"),
    ("knn", "meta-k-float", _edit(KNN_META, lambda m: m.update(k=2.5)), "k must be an integer"),
    ("knn", "meta-not-object", lambda model: (model / KNN_META).write_text("[1, 2]"), "must hold a JSON object"),
    ("knn", "link-outside", _link_outside(KNN_META), "outside the model folder"),
    ("knn", "fifo", _fifo, "is a device, FIFO or socket"),
    ("knn", "link-inside", _link_inside(KNN_META), None),
]


def _damaged(models: dict[str, OptML], tmp_path: Path, algorithm: str, case_id: str, damage: Damage) -> OptML:
    tree = OptML(tmp_path / algorithm / case_id / "opt_ml")
    shutil.copytree(models[algorithm].model, tree.model)
    damage(tree.model)
    return tree


@pytest.mark.parametrize(("algorithm", "case_id", "damage", "fragment"), CASES, ids=[f"{a}-{c}" for a, c, *_ in CASES])
def test_model_loading_refuses_corrupt_and_hostile_artifacts(models: dict[str, OptML], tmp_path: Path, algorithm: str,
                                                             case_id: str, damage: Damage, fragment: str | None) -> None:
    """Every case through the serving core's ``load_model`` with the real handlers (what ``serve`` calls first)."""
    from container_core.errors import UserError
    from container_core.serving import load_handlers, load_model

    tree = _damaged(models, tmp_path, algorithm, case_id, damage)
    handlers = load_handlers(f"{algorithm}_container.serve:HANDLERS")
    if fragment is None:
        assert load_model(handlers, tree.model) is not None
        return
    with pytest.raises(UserError) as raised:
        load_model(handlers, tree.model)
    assert fragment in str(raised.value)


SERVED = [case for case in CASES if case[1] in ("link-outside", "state-garbage", "index-truncated", "link-inside")]


def test_real_servers_fail_at_start_or_serve(models: dict[str, OptML], tmp_path: Path, servers: list) -> None:
    """A subset through the real ``serve`` command lines, started together: exit 2 with the message on stderr
    (no traceback there), or, for the harmless link, a healthy server."""
    started = []
    for algorithm, case_id, damage, fragment in SERVED:
        tree = _damaged(models, tmp_path, algorithm, case_id, damage)
        if fragment is None:
            servers.append(start_server([PYTHON, "-m", f"{algorithm}_container.cli", "serve"], tree.env(),
                                        tmp_path / f"{algorithm}-{case_id}.log"))
            assert servers[-1].client.get("/ping").status_code == 200
            continue
        process = subprocess.Popen([PYTHON, "-m", f"{algorithm}_container.cli", "serve"],
                                   env=tree.env(SAGEMAKER_BIND_TO_PORT=str(free_port()), ALGO_BIND_HOST="127.0.0.1"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append((algorithm, case_id, fragment, process))
    try:
        for algorithm, case_id, fragment, process in started:
            _, stderr = process.communicate(timeout=180)
            prefix = f"{algorithm.upper()} serve: "
            line = next((line for line in stderr.splitlines() if line.startswith(prefix)), "")
            assert process.returncode == 2, (algorithm, case_id, stderr[-2000:])
            assert fragment in line, (line, stderr[-2000:])
    finally:
        for *_, process in started:
            if process.poll() is None:
                process.kill()
                process.wait()


# --- no artifact is ever unpickled: a scan of every Python file we ship or run -----------------------------------

SCANNED = ("containers", "sdk", "examples", "bench")


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else "<expr>"
    return None


def unsafe_loads(source: str, filename: str) -> list[str]:
    """Calls that can unpickle: pickle/dill/joblib/cloudpickle loads, pandas read_pickle, ``allow_pickle=True``,
    ``torch.load`` without ``weights_only=True``, ``np.load`` without ``allow_pickle=False``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        where = f"{filename}:{node.lineno}"
        if _keyword(node, "allow_pickle") is True:
            found.append(f"{where}: allow_pickle=True")
        if owner in {"pickle", "cPickle", "dill", "joblib", "cloudpickle", "_pickle"} and name in {"load", "loads",
                                                                                                   "Unpickler"}:
            found.append(f"{where}: {owner}.{name}")
        elif name in {"read_pickle", "Unpickler"}:
            found.append(f"{where}: {name}")
        elif owner == "torch" and name == "load" and _keyword(node, "weights_only") is not True:
            found.append(f"{where}: torch.load without weights_only=True")
        elif owner in {"np", "numpy"} and name == "load" and _keyword(node, "allow_pickle") is not False:
            found.append(f"{where}: np.load without allow_pickle=False")
    return found


def test_the_scan_catches_each_unsafe_form() -> None:
    bad = ("import pickle, torch, numpy as np, pandas as pd\n"
           "pickle.load(f)\npickle.loads(b)\ntorch.load(p)\ntorch.load(p, weights_only=False)\nnp.load(p)\n"
           "np.load(p, allow_pickle=True)\npd.read_pickle(p)\n")
    assert len(unsafe_loads(bad, "bad.py")) == 8
    good = "torch.load(p, weights_only=True)\nnp.load(p, allow_pickle=False)\njson.load(f)\n"
    assert unsafe_loads(good, "good.py") == []


def test_no_source_file_can_unpickle_an_artifact() -> None:
    files = [path for folder in SCANNED for path in sorted((REPO / folder).rglob("*.py")) if not any(part.startswith(".") for part in path.parts)]
    assert len(files) > 40
    found = [hit for path in files for hit in unsafe_loads(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert not found, found


@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_check_model_dir_allows_the_trained_model(models: dict[str, OptML], algorithm: str) -> None:
    from container_core.serving import check_model_dir

    check_model_dir(models[algorithm].model)  # raises on anything hostile; the real artifacts are plain files
    assert any(models[algorithm].model.iterdir())

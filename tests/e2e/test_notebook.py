"""The tutorial notebook runs top to bottom (nbclient, a real kernel) on a reduced data size.

The parameters cell (tag ``parameters``) is replaced with a small run: the first 600 posts of each subset, 3 NTM
epochs, 250 t-SNE iterations. Every other cell runs as committed: the one-line switch, the local store, two NTM
training processes, both endpoints, the batch transform, the per-document predict loops and the plots. The kernel is
this interpreter (a kernelspec written into a temporary ``JUPYTER_PATH``), so it sees the same installed packages.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from recommender.newsgroups import default_archive
from recommender.prepare import prepare_corpus
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a real run: local store, training processes, endpoints (about a minute)

NOTEBOOK = REPO / "examples" / "content_recommendation.ipynb"
KERNEL = "open-sagemaker-tutorial"
PARAMETERS = "LIMIT = 600\nEPOCHS = 3\nTSNE_ITERATIONS = 250\n"


def _kernelspec(root: Path) -> Path:
    folder = root / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "tutorial test kernel", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return root


def _outputs(cell: nbformat.NotebookNode, kind: str) -> list[nbformat.NotebookNode]:
    return [output for output in cell.get("outputs", []) if output.get("output_type") == kind]


def test_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if default_archive() is None:
        pytest.fail("the 20 Newsgroups archive was not found: set NEWSGROUPS_ARCHIVE or put 20news-bydate.tar.gz "
                    "under shared/data/20newsgroups/ (the notebook test reads it offline)")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    tagged[0].source = PARAMETERS

    monkeypatch.setenv("JUPYTER_PATH", str(_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("OPENSAGEMAKER_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("OPENSAGEMAKER_WORK_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("RECOMMENDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    workdir = tmp_path / "run"
    workdir.mkdir()
    client = NotebookClient(notebook, timeout=240, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    finally:
        from opensagemaker.local_service import LocalService
        from opensagemaker.local_store import LocalStore

        LocalService(tmp_path / "service", tmp_path / "store").stop()  # and the endpoints it still serves
        LocalStore(tmp_path / "store").stop()  # the kernel stops it at exit too; this covers a killed kernel

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [output for cell in code for output in _outputs(cell, "error")]
    assert not errors, errors
    # The batch transform's output was downloaded and is one JSON document per request.
    assert (workdir / "trainvectors.csv.out").is_file()
    assert '"topic_weights"' in (workdir / "trainvectors.csv.out").read_text()[:5000]
    # The t-SNE map and the three topic-distribution plots were drawn.
    images = [output for cell in code for output in _outputs(cell, "display_data") if "image/png" in output["data"]]
    assert len(images) >= 4, f"expected the t-SNE map and 3 bar plots, got {len(images)} images"
    # The quality cell measured precision@10 over all 600 test documents.
    text = "".join(output.get("text", "") for cell in code for output in _outputs(cell, "stream"))
    match = re.search(r"precision@10 of NTM \+ k-NN over (\d+) test documents: ([0-9.]+)", text)
    assert match, "the quality cell printed no precision"
    assert int(match[1]) == 600
    # Better than recommending random training documents (the chance that a random one shares the newsgroup).
    corpus = prepare_corpus(limit=600, cache_dir=tmp_path / "cache", progress=lambda line: None)
    train_share = np.bincount(corpus.train_labels, minlength=20) / corpus.train_labels.size
    test_share = np.bincount(corpus.test_labels, minlength=20) / corpus.test_labels.size
    chance = float(train_share @ test_share)
    assert chance < float(match[2]) <= 1.0, f"precision {match[2]} is not above chance {chance:.3f}"

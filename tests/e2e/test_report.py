"""The main job on a reduced size, and its HTML report rendered in headless Chromium.

``python -m recommender.tutorial --quick`` runs as a child process (its own local store, job folder and corpus cache
under the test's temporary folder) through every step of the real run. The report it writes is then opened in
headless Chromium: a screenshot must show a page that is not blank, and a copy of the report with a small script
appended must show, after the load event, that every ``<img>`` decoded (``naturalWidth > 0``).

Chromium is a test requirement (``apt-get install -y chromium``); without it these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recommender.newsgroups import default_archive
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a real run: local store, training processes, endpoints (about a minute)

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
METHODS = ("NTM + k-NN (the tutorial's endpoints)", "TF-IDF + cosine k-NN", "LDA + cosine k-NN")
FIGURES = ("tsne.png", "topic_distribution_18.png", "topic_distribution_25.png", "topic_distribution_5000.png",
           "loss_curves.png")


def chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is needed to render the report and was not found on PATH "
                f"(looked for {', '.join(CHROMIUM_CANDIDATES)}); install it with `apt-get install -y chromium`")


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Output folder and stdout of one ``--quick`` main-job run."""
    if default_archive() is None:
        pytest.fail("the 20 Newsgroups archive was not found: set NEWSGROUPS_ARCHIVE or put 20news-bydate.tar.gz "
                    "under shared/data/20newsgroups/")
    root = tmp_path_factory.mktemp("tutorial")
    env = dict(os.environ, OPENSAGEMAKER_STORE_DIR=str(root / "store"), OPENSAGEMAKER_WORK_DIR=str(root / "jobs"),
               RECOMMENDER_CACHE=str(root / "cache"), MPLBACKEND="Agg")
    output = root / "out"
    try:
        done = subprocess.run([sys.executable, "-m", "recommender.tutorial", "--quick", "--output-dir", str(output)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    finally:
        from opensagemaker.local_service import LocalService
        from opensagemaker.local_store import LocalStore

        LocalService(root / "service", root / "store").stop()  # and the endpoints it still serves
        LocalStore(root / "store").stop()  # the job stops it at exit too; this covers a killed job
    assert done.returncode == 0, f"the main job failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return output, done.stdout


def test_main_job_writes_table_plots_and_report(quick_run: tuple[Path, str]) -> None:
    output, stdout = quick_run
    measured = json.loads((output / "quality.json").read_text())
    assert set(measured["precision_at_k"]) == set(METHODS)
    for method, value in measured["precision_at_k"].items():
        assert 0.0 < value <= 1.0, (method, value)
    # The k-NN endpoint's neighbours (reversed, closest first) are the exact cosine neighbours.
    endpoint = measured["precision_at_k"][METHODS[0]]
    assert abs(endpoint - measured["exact_cosine_precision_on_ntm_vectors"]) < 0.01
    assert measured["batch_vs_predict_max_diff"] < 1e-4
    assert measured["ntm_epochs_run"] >= 1
    for name in FIGURES:
        with Image.open(output / name) as image:
            assert image.width > 200 and image.height > 100, name
    topics = (output / "topics.md").read_text().splitlines()
    assert len(topics) == 30 and all(" TU " in line and " NPMI " in line for line in topics)
    # Progress lines, the quality table and the total time are printed; both endpoints were deleted.
    assert "| method | precision@10 |" in stdout
    assert re.search(r"total time: \d+\.\d s", stdout)
    assert stdout.count("deleted endpoint") == 2
    assert "vectorizer.transform" in stdout


def test_report_renders_in_headless_chromium(quick_run: tuple[Path, str], tmp_path: Path) -> None:
    output, _ = quick_run
    report = output / "report.html"
    text = report.read_text(encoding="utf-8")
    assert text.count("<img ") == len(FIGURES)
    assert "http://" not in text and "https://" not in text, "the report must not load anything from the network"

    screenshot = tmp_path / "report.png"
    shot = run_chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1200,3000", report.as_uri())
    assert screenshot.is_file(), f"chromium wrote no screenshot:\n{shot.stderr[-2000:]}"
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 10, "the screenshot is blank"
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 60).mean() > 0.005, "no coloured pixels: the plots did not render"

    # A copy with a probe: after the load event, the body records how many images decoded.
    probe = ("<script>window.addEventListener('load', () => { const images = [...document.images]; "
             "document.body.dataset.images = images.filter(i => i.complete && i.naturalWidth > 0).length + '/' + "
             "images.length; });</script>")
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = run_chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000", probed.as_uri())
    match = re.search(r'data-images="(\d+)/(\d+)"', dom.stdout)
    assert match, f"the probe did not run:\n{dom.stdout[:500]}\n{dom.stderr[-2000:]}"
    assert match[1] == match[2] == str(len(FIGURES)), f"images decoded: {match[1]} of {match[2]}"
    assert 'id="quality"' in dom.stdout and all(method.replace("'", "&#x27;") in dom.stdout or method in dom.stdout
                                                 for method in METHODS)

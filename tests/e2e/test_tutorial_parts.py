"""Fast checks of the main job's parts: the training-log parser, the transform-output reader and the HTML report."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from recommender.report import QualityRow, Report, TopicRow, quality_markdown, render
from recommender.training_log import final_metrics, loss_curves
from recommender.tutorial import _json_documents, parse_args, topic_weights_of

LOG = """\
algo-1  | [11/25/2026 19:09:01 INFO 1] #quality_metric: host=algo-1, epoch=1, train total_loss <loss>=921.5
algo-2  | [11/25/2026 19:09:01 INFO 2] #quality_metric: host=algo-2, epoch=1, train total_loss <loss>=921.5
algo-1  | [11/25/2026 19:09:01 INFO 1] #quality_metric: host=algo-1, epoch=1, train perplexity <loss>=1200.0
algo-1  | [11/25/2026 19:09:01 INFO 1] #quality_metric: host=algo-1, epoch=1, validation total_loss <loss>=865.25
algo-1  | [11/25/2026 19:09:02 INFO 1] #quality_metric: host=algo-1, epoch=2, train total_loss <loss>=8.1e2
algo-1  | [11/25/2026 19:09:02 INFO 1] #quality_metric: host=algo-1, epoch=2, validation total_loss <loss>=790
algo-1  | [11/25/2026 19:09:03 INFO 1] #quality_metric: host=algo-1, validation total_loss <loss>=790.0
algo-1  | [11/25/2026 19:09:03 INFO 1] #quality_metric: host=algo-1, train npmi <score>=0.35
algo-2  | [11/25/2026 19:09:03 INFO 2] #quality_metric: host=algo-2, train npmi <score>=0.99
"""


def test_loss_curves_per_channel_and_epoch_first_host_wins() -> None:
    assert loss_curves(LOG) == {"train": [(1, 921.5), (2, 810.0)], "validation": [(1, 865.25), (2, 790.0)]}
    assert loss_curves("no metric lines here") == {}


def test_final_metrics_skip_epoch_lines() -> None:
    assert final_metrics(LOG) == {"validation:total_loss": 790.0, "train:npmi": 0.35}


def test_transform_output_concatenated_or_line_separated() -> None:
    text = ('{"predictions": [{"topic_weights": [0.25, 0.75]}, {"topic_weights": [1.0, 0.0]}]}'
            '{"predictions": [{"topic_weights": [0.5, 0.5]}]}\n{"topic_weights": [0.1, 0.9]}\n')
    weights = topic_weights_of(_json_documents(text))
    np.testing.assert_allclose(weights, [[0.25, 0.75], [1.0, 0.0], [0.5, 0.5], [0.1, 0.9]])
    with pytest.raises(ValueError, match="not an NTM response"):
        topic_weights_of(_json_documents('{"predicted_label": 1.0}'))


def test_quick_flag_and_bad_values() -> None:
    quick = parse_args(["--quick"])
    assert (quick.limit, quick.epochs) == (600, 10)
    assert parse_args(["--quick", "--epochs", "2"]).epochs == 2
    with pytest.raises(SystemExit):
        parse_args(["--limit", "0"])


def test_report_embeds_images_and_escapes_text(tmp_path: Path) -> None:
    figure = Figure(figsize=(2, 1))
    figure.subplots().plot([0, 1], [1, 0])
    png = tmp_path / "plot.png"
    figure.savefig(png)
    report = Report(
        title="A <b>title</b>", k=10, queries=3,
        quality=[QualityRow("NTM & k-NN", 0.35, 12.0, "note <x>")],
        figures=[("caption", png)],
        topics=[TopicRow(0, ["<script>", "word"], 1.0, 0.25)],
    )
    page = render(report)
    assert "A &lt;b&gt;title&lt;/b&gt;" in page and "NTM &amp; k-NN" in page and "&lt;script&gt;" in page
    assert "<script>" not in page
    assert base64.b64encode(png.read_bytes()).decode() in page
    assert "| NTM & k-NN | 0.3500 | 12.0 | note <x> |" in quality_markdown(report.quality, 10)
    not_png = tmp_path / "fake.png"
    not_png.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="not a PNG"):
        render(Report("t", 10, 1, [], figures=[("fake", not_png)]))

"""The quality table committed in README.md and docs/tutorial.md is what the current code measures.

The main job writes the table (``python -m recommender.tutorial --update-docs``). This test re-measures its
precision@10 figures without endpoints: the main job's NTM training (its hyperparameters, 2 hosts, the 8 training
shards dealt as ``ShardedByS3Key`` deals them, ``validation`` and ``auxiliary`` channels) as two real
``ntm-container train`` processes, then an exact cosine k-NN over the model's topic vectors, which is what the
tutorial's k-NN endpoint returns (the main job checks the two agree); TF-IDF and LDA as the main job computes them.
Training is deterministic (seeded, one thread per host), so the figures must match to the table's 4 decimals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ntm_container import artifacts
from recommender import docs_table, quality
from recommender.newsgroups import default_archive
from recommender.prepare import prepare_corpus, write_channels
from recommender.tutorial import NUM_NEIGHBORS, NUM_TOPICS, ntm_hyperparameters, parse_args
from tests.ntm_hosts import train_on_hosts

pytestmark = pytest.mark.slow  # two NTM training processes on the full corpus and the LDA baseline (about a minute)

NTM_ROW = "NTM + k-NN (the tutorial's endpoints)"


def test_committed_quality_table_is_what_the_code_measures(tmp_path: Path) -> None:
    if default_archive() is None:
        pytest.fail("the 20 Newsgroups archive was not found: set NEWSGROUPS_ARCHIVE or put 20news-bydate.tar.gz "
                    "under shared/data/20newsgroups/")
    tables = [docs_table.table_of(path.read_text(encoding="utf-8"), str(path)) for path in docs_table.DOCUMENTS]
    assert tables[0] == tables[1], "README.md and docs/tutorial.md hold different quality tables"
    committed = docs_table.precisions(tables[0])

    settings = parse_args([])
    corpus = prepare_corpus(settings.archive)
    channels = write_channels(corpus, tmp_path / "data", train_shards=8)
    hyperparameters = ntm_hyperparameters(settings, corpus.vectors.shape[1])
    replicated = {"validation": sorted(channels.validation.iterdir()), "auxiliary": [channels.auxiliary / "vocab.txt"]}
    model_dir, _, _ = train_on_hosts(tmp_path, hyperparameters, channels.train_files, replicated, hosts=2)
    encoder = artifacts.load(model_dir).encoder  # what the NTM endpoint and batch transform compute
    train_topics, test_topics = (encoder.topic_weights(m) for m in (corpus.vectors, corpus.test_vectors))
    measured = {
        NTM_ROW: quality.knn_precision(train_topics, corpus.row_labels, test_topics, corpus.test_labels,
                                       NUM_NEIGHBORS),
        "TF-IDF + cosine k-NN": quality.tfidf_knn_precision(corpus.vectors, corpus.row_labels, corpus.test_vectors,
                                                            corpus.test_labels, NUM_NEIGHBORS).precision,
        "LDA + cosine k-NN": quality.lda_knn_precision(corpus.vectors, corpus.row_labels, corpus.test_vectors,
                                                       corpus.test_labels, NUM_NEIGHBORS, n_topics=NUM_TOPICS,
                                                       max_iter=settings.lda_iterations).precision,
    }
    rounded = {method: round(value, 4) for method, value in measured.items()}
    assert committed == rounded, (
        f"the committed table says {json.dumps(committed)} but the code measures {json.dumps(rounded)}: rerun "
        "`python -m recommender.tutorial --update-docs`")
    assert np.isfinite(list(measured.values())).all()

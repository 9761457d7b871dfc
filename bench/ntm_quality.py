"""NTM recommendation quality on 1 host against 2 hosts: the main job's NTM training as real ``ntm-container train``
processes on loopback, then precision@10 of an exact cosine k-NN over the served topic vectors.

Corpus and task are the main job's (``recommender.prepare``, 8 training shards dealt as ``ShardedByS3Key`` deals
them, ``validation`` and ``auxiliary`` channels; the k-NN index holds the 5,661 training documents, the 7,532 test
documents are the queries). Per row: precision@10, NPMI and TU of the top 10 words on the training documents, epochs
run, and the training wall time (all hosts, process start to exit). TF-IDF cosine k-NN is the no-model reference.

    PYTHONPATH=examples .venv/bin/python bench/ntm_quality.py [--hosts 1 2] [--ntm NAME=VALUE] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "examples"), str(REPO / "bench")]

from results import markdown, write_section  # noqa: E402

from ntm_container import artifacts, topics  # noqa: E402
from recommender import quality  # noqa: E402
from recommender.prepare import prepare_corpus, write_channels  # noqa: E402
from recommender.tutorial import NUM_NEIGHBORS, ntm_hyperparameters, parse_args  # noqa: E402
from tests.ntm_hosts import train_on_hosts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ntm", action="append", default=[], metavar="NAME=VALUE",
                        help="NTM hyperparameter over the main job's, e.g. --ntm mini_batch_size=32")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    load_before = os.getloadavg()
    corpus = prepare_corpus()
    root = Path(tempfile.mkdtemp(prefix="ntm-quality-"))
    channels = write_channels(corpus, root / "data", train_shards=8)
    hyperparameters = {**ntm_hyperparameters(parse_args([]), corpus.vectors.shape[1]),
                       **dict(item.split("=", 1) for item in args.ntm)}
    replicated = {"validation": sorted(channels.validation.iterdir()), "auxiliary": [channels.auxiliary / "vocab.txt"]}
    rows = [["NTM hosts", "precision@10", "NPMI (train docs, top 10)", "TU (top 10)", "epochs run (best)",
             "training wall time s"]]
    for hosts in args.hosts:
        model_dir, _, seconds = train_on_hosts(root / f"{hosts}-hosts", hyperparameters, channels.train_files,
                                               replicated, hosts)
        encoder = artifacts.load(model_dir).encoder  # what the NTM endpoint computes
        train_topics, test_topics = (encoder.topic_weights(m) for m in (corpus.vectors, corpus.test_vectors))
        precision = quality.knn_precision(train_topics, corpus.row_labels, test_topics, corpus.test_labels,
                                          NUM_NEIGHBORS)
        top = topics.top_words(np.load(model_dir / "topic_word.npy", allow_pickle=False), topics.SCORED_WORDS)
        meta = json.loads((model_dir / "model_meta.json").read_text())
        rows.append([hosts, f"{precision:.4f}", f"{topics.npmi(top, corpus.vectors).mean():.4f}",
                     f"{topics.topic_uniqueness(top).mean():.4f}",
                     f"{meta['epochs_trained']} ({meta['best_epoch']})", f"{seconds:.1f}"])
        print(rows[-1], flush=True)
    tfidf = quality.tfidf_knn_precision(corpus.vectors, corpus.row_labels, corpus.test_vectors, corpus.test_labels,
                                        NUM_NEIGHBORS)
    rows.append(["TF-IDF + cosine k-NN (no model)", f"{tfidf.precision:.4f}", "", "", "", ""])
    load_after = os.getloadavg()
    note = ("Command: `PYTHONPATH=examples .venv/bin/python bench/ntm_quality.py"
            + "".join(f" --ntm {item}" for item in args.ntm) + "`. The main job's NTM hyperparameters "
            f"({json.dumps(hyperparameters)}), real `ntm-container train` processes on loopback, 8 training shards "
            "dealt round-robin as ShardedByS3Key; precision@10 = exact cosine k-NN over the served topic vectors "
            "(what the main job's k-NN endpoint returns), 5,661 training documents indexed, 7,532 test queries. "
            f"Training is deterministic, so the quality columns repeat exactly. {os.cpu_count()} CPU cores, load "
            f"average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after: the wall times are only "
            "comparable within the table.")
    if args.no_write:
        print(markdown(rows))
    else:
        write_section("NTM quality: 1 host against 2 hosts", rows, note)


if __name__ == "__main__":
    main()

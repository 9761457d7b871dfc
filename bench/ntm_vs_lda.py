"""NTM (this container, through ``ntm-container train``) against scikit-learn's LatentDirichletAllocation on
20 Newsgroups, same topics count, same documents: NPMI and TU of the top-10 words, held-out perplexity, wall time.

Data: the tutorial's preparation (``recommender.prepare``, vocabulary 2,000; PYTHONPATH=examples) when importable,
else the bydate archive read with ``load_files`` and a plain ``CountVectorizer(max_features=2000,
stop_words='english', max_df=.95, min_df=2)``. NTM trains on the training split with the validation split as its
``validation`` channel and the 20NG test set as ``test``, using the tutorial's hyperparameters (``mini_batch_size=128,
epochs=100, num_patience_epochs=5, tolerance=0.001``, default optimizer). LDA fits the same training split
(``random_state=0``, other settings default). NPMI is measured on the training split for both (document
co-occurrence, ``ntm_container.topics``), perplexity on the test set (NTM: exp of the per-word loss; LDA:
``LatentDirichletAllocation.perplexity``; both are bounds from their variational objectives). NTM's time is the
whole ``ntm-container train`` process (interpreter start, reading RecordIO, training, topic report, artifact);
LDA's is ``fit`` alone.

    PYTHONPATH=examples .venv/bin/python bench/ntm_vs_lda.py [--topics 30] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "examples"), str(REPO / "bench")]

from results import write_section  # noqa: E402

from ntm_container import topics  # noqa: E402
from tests.ntm_corpus import write_recordio  # noqa: E402

ARCHIVE = Path("/work/shared/data/20newsgroups/20news-bydate.tar.gz")


def load_corpus() -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, list[str], str]:
    """(train, validation, test, vocabulary, description)."""
    try:
        from recommender.prepare import prepare_corpus
    except ImportError:
        return _load_plain()
    corpus = prepare_corpus()
    return (corpus.train_split, corpus.validation_split, corpus.test_vectors, list(corpus.vocabulary),
            "recommender.prepare (tutorial module 2: lemmatized, vocab 2,000, docs > 25 words, 80/20 split)")


def _load_plain() -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, list[str], str]:
    from sklearn.datasets import load_files
    from sklearn.feature_extraction.text import CountVectorizer

    folder = Path(tempfile.mkdtemp(prefix="20ng-"))
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(folder, filter="data")
    train = load_files(folder / "20news-bydate-train", encoding="latin-1", random_state=0).data
    test = load_files(folder / "20news-bydate-test", encoding="latin-1", random_state=0).data
    vectorizer = CountVectorizer(max_features=2000, stop_words="english", max_df=0.95, min_df=2)
    vectors = vectorizer.fit_transform(train).astype(np.float32).tocsr()
    vectors = vectors[np.asarray(vectors.sum(axis=1)).ravel() > 0]
    split = int(0.8 * vectors.shape[0])
    test_vectors = vectorizer.transform(test).astype(np.float32).tocsr()
    return (vectors[:split], vectors[split:], test_vectors, list(vectorizer.get_feature_names_out()),
            "load_files + CountVectorizer(max_features=2000, stop_words='english', max_df=.95, min_df=2), 80/20")


def scores(topic_word: np.ndarray, documents: sp.csr_matrix) -> tuple[float, float]:
    top = topics.top_words(topic_word, topics.SCORED_WORDS)
    return float(topics.npmi(top, documents).mean()), float(topics.topic_uniqueness(top).mean())


def run_ntm(train: sp.csr_matrix, validation: sp.csr_matrix, test: sp.csr_matrix, vocabulary: list[str],
            k: int, extra: dict[str, str]) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ntm-bench-")) / "opt_ml"
    config = root / "input" / "config"
    config.mkdir(parents=True)
    hyperparameters = {"num_topics": k, "feature_dim": train.shape[1], "mini_batch_size": 128, "epochs": 100,
                       "num_patience_epochs": 5, "tolerance": 0.001, **extra}
    (config / "hyperparameters.json").write_text(json.dumps({n: str(v) for n, v in hyperparameters.items()}))
    channels = {"train": train, "validation": validation, "test": test}
    (config / "inputdataconfig.json").write_text(json.dumps(
        {**{name: {"TrainingInputMode": "File"} for name in channels},
         "auxiliary": {"ContentType": "text/plain", "TrainingInputMode": "File"}}))
    for name, matrix in channels.items():
        write_recordio(root / "input" / "data" / name / f"{name}.pbr", matrix)
    (root / "input" / "data" / "auxiliary").mkdir(parents=True)
    (root / "input" / "data" / "auxiliary" / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    env = dict(os.environ, SM_OPT_ML=str(root), PYTHONPATH=str(REPO))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ntm_container.cli", "train"], env=env, capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"ntm-container train failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    perplexity = float(re.search(r"host=algo-1, test perplexity <loss>=(\S+)", result.stdout).group(1))
    epochs = json.loads((root / "model" / "model_meta.json").read_text())["epochs_trained"]
    topic_word = np.load(root / "model" / "topic_word.npy", allow_pickle=False)
    npmi, tu = scores(topic_word, train)
    listing = [line.split("] ", 2)[-1] for line in result.stdout.splitlines() if "] [" in line][:5]
    return {"npmi": npmi, "tu": tu, "perplexity": perplexity, "seconds": elapsed, "cpu": cpu, "epochs": epochs,
            "sample": listing}


def run_lda(train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> dict[str, float]:
    from sklearn.decomposition import LatentDirichletAllocation

    lda = LatentDirichletAllocation(n_components=k, random_state=0)
    started, cpu_started = time.perf_counter(), time.process_time()
    lda.fit(train)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    npmi, tu = scores(lda.components_, train)
    return {"npmi": npmi, "tu": tu, "perplexity": float(lda.perplexity(test)), "seconds": elapsed,
            "cpu": cpu, "epochs": lda.n_iter_}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each model, alternating (best time kept)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--ntm", action="append", default=[], metavar="NAME=VALUE",
                        help="extra NTM hyperparameter, e.g. --ntm optimizer=adam")
    args = parser.parse_args()
    train, validation, test, vocabulary, description = load_corpus()
    extra = dict(item.split("=", 1) for item in args.ntm)
    print(f"corpus: {description}; train {train.shape}, validation {validation.shape[0]}, test {test.shape[0]}")
    runs: dict[str, list[dict]] = {"ntm": [], "lda": []}
    for repeat in range(args.repeats):  # alternate, so both see the same background load
        runs["ntm"].append(run_ntm(train, validation, test, vocabulary, args.topics, extra))
        runs["lda"].append(run_lda(train, test, args.topics))
        print(f"run {repeat + 1}: NTM {runs['ntm'][-1]['seconds']:.1f} s, LDA {runs['lda'][-1]['seconds']:.1f} s")
    for name, results in runs.items():
        if len({(r["npmi"], r["tu"]) for r in results}) != 1:
            raise SystemExit(f"{name}: topics differ between repeats; seeding is broken")
    ntm, lda = (min(runs[name], key=lambda r: r["seconds"]) for name in ("ntm", "lda"))
    print("NTM topics (first 5):\n  " + "\n  ".join(ntm["sample"]))
    rows = [["model", "K", "NPMI (train docs, top 10)", "TU (top 10)", "test perplexity", "passes",
             f"wall time s (best of {args.repeats})", "CPU time s (that run)", "all wall times s"]]
    for name, result, key in (("NTM (ntm-container train)", ntm, "ntm"), ("sklearn LatentDirichletAllocation", lda, "lda")):
        rows.append([name, args.topics, f"{result['npmi']:.4f}", f"{result['tu']:.4f}", f"{result['perplexity']:.1f}",
                     result["epochs"], f"{result['seconds']:.1f}", f"{result['cpu']:.1f}",
                     " / ".join(f"{r['seconds']:.1f}" for r in runs[key])])
    verdict = ("NTM reaches at least LDA's NPMI and TU in less wall time"
               if ntm["npmi"] >= lda["npmi"] and ntm["tu"] >= lda["tu"] and ntm["seconds"] < lda["seconds"]
               else "NTM does NOT beat LDA on every criterion")
    note = (f"Command: `PYTHONPATH=examples .venv/bin/python bench/ntm_vs_lda.py --topics {args.topics}"
            + "".join(f" --ntm {item}" for item in args.ntm) + f"`. Corpus: {description}; "
            f"{train.shape[0]} training, {validation.shape[0]} validation, {test.shape[0]} test documents. "
            f"NTM hyperparameters: tutorial's (mini_batch_size=128, epochs=100, num_patience_epochs=5, "
            f"tolerance=0.001){', ' + ', '.join(args.ntm) if args.ntm else ''}; 'passes' = epochs (NTM, early "
            "stopping) or EM iterations (LDA). NTM time = the whole training process (interpreter start included); "
            "LDA time = fit. The machine is shared with other work, so each model runs several times, alternating, "
            "and the best wall time is kept; quality figures are identical across runs (seeded). "
            f"CPU: {os.cpu_count()} cores. Verdict: {verdict}.")
    if args.no_write:
        from results import markdown

        print(markdown(rows))
        print(verdict)
    else:
        write_section("NTM vs LDA", rows, note)


if __name__ == "__main__":
    main()

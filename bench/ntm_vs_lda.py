"""NTM (this container, through ``ntm-container train``) against scikit-learn's LatentDirichletAllocation (batch, the
default, and online) and gensim's LdaModel on 20 Newsgroups, same topics count, same documents: NPMI and TU of the
top-10 words, held-out perplexity, wall time, training throughput and time-to-quality.

Data: the tutorial's preparation (``recommender.prepare``, vocabulary 2,000; PYTHONPATH=examples) when importable,
else the bydate archive read with ``load_files`` and a plain ``CountVectorizer(max_features=2000,
stop_words='english', max_df=.95, min_df=2)``. NTM trains on the training split with the validation split as its
``validation`` channel and the 20NG test set as ``test``, using the tutorial's hyperparameters (``mini_batch_size=128,
epochs=100, num_patience_epochs=5, tolerance=0.001``, default optimizer). The LDAs fit the same training split
(sklearn: ``random_state=0``, other settings default, ``learning_method`` batch or online; gensim: ``LdaModel`` on
``Sparse2Corpus`` of the same CSR, ``passes=10`` like sklearn's ``max_iter=10``, ``random_state=0``,
``eval_every=None`` so no perplexity is computed while timing, other settings default: priors 1/K like sklearn's).
NPMI is measured on the training split for all (document co-occurrence, ``ntm_container.topics``), perplexity on the
test set as exp(-ELBO per test word, natural log) for all: NTM exp of its per-word loss, sklearn
``LatentDirichletAllocation.perplexity``, gensim ``exp(-log_perplexity(test))`` (gensim's own log line uses 2**, which
is not comparable). NTM's time is the whole ``ntm-container train`` process (interpreter start, reading RecordIO,
training, topic report, artifact); the LDAs' is ``fit`` / the ``LdaModel`` constructor (which trains).

Time-to-quality: the wall time from the start of training until the model first reaches the final NPMI of sklearn's
(batch) LDA. Snapshots are taken without retraining: NTM writes a checkpoint after every epoch, which the bench copies
while the process runs (polled every 20 ms; the time is when the copy was read, so it can only be late); sklearn's
``_em_step`` and gensim's end-of-pass callback copy the topic-word matrix (microseconds) and the NPMI of every
snapshot is computed after the clock stops.

    pip install -e ".[dev,bench]"      # gensim for its row (not needed by the tests)
    PYTHONPATH=examples .venv/bin/python bench/ntm_vs_lda.py [--topics 30] [--no-write]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
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


def npmi_curve(snapshots: list[tuple[float, int, np.ndarray]], documents: sp.csr_matrix) -> list[tuple[float, int, float]]:
    """(seconds since training start, pass, NPMI) of each topic-word snapshot, computed after the clock stopped."""
    return [(seconds, done, scores(topic_word, documents)[0]) for seconds, done, topic_word in snapshots]


def run_ntm(train: sp.csr_matrix, validation: sp.csr_matrix, test: sp.csr_matrix, vocabulary: list[str],
            k: int, extra: dict[str, str]) -> dict:
    import torch

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
    checkpoint = root / "checkpoints" / "ntm-checkpoint.pt"
    env = dict(os.environ, SM_OPT_ML=str(root),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    copies: list[tuple[float, bytes]] = []
    seen = None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(root / "stdout.txt", "w+") as stdout, open(root / "stderr.txt", "w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "ntm_container.cli", "train"], env=env, stdout=stdout,
                                   stderr=stderr, text=True)
        while True:  # copy every checkpoint version (written with os.replace, so a read is never torn)
            running = process.poll() is None
            try:
                status = checkpoint.stat()
                if (status.st_ino, status.st_mtime_ns) != seen:
                    seen = (status.st_ino, status.st_mtime_ns)
                    copies.append((time.perf_counter() - started, checkpoint.read_bytes()))
            except FileNotFoundError:
                pass
            if not running:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stdout.seek(0), stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise SystemExit(f"ntm-container train failed:\n{out[-3000:]}\n{err[-3000:]}")
    perplexity = float(re.search(r"host=algo-1, test perplexity <loss>=(\S+)", out).group(1))
    epochs = json.loads((root / "model" / "model_meta.json").read_text())["epochs_trained"]
    loop = sum(float(t) for t in re.findall(r"# Finished training epoch \d+ on \d+ examples in (\S+) s", out))
    snapshots = {}
    for seconds, payload in copies:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        if state["epoch"] > 0 and state["epoch"] not in snapshots:
            snapshots[state["epoch"]] = (seconds, state["epoch"], state["model"]["decoder.weight"].numpy().T.copy())
    topic_word = np.load(root / "model" / "topic_word.npy", allow_pickle=False)
    npmi, tu = scores(topic_word, train)
    listing = [line.split("] ", 2)[-1] for line in out.splitlines() if "] [" in line][:5]
    return {"npmi": npmi, "tu": tu, "perplexity": perplexity, "seconds": elapsed, "cpu": cpu, "epochs": epochs,
            "loop_seconds": loop, "curve": npmi_curve(sorted(snapshots.values(), key=lambda s: s[1]), train),
            "sample": listing}


def run_lda(train: sp.csr_matrix, test: sp.csr_matrix, k: int, method: str = "batch") -> dict:
    from sklearn.decomposition import LatentDirichletAllocation

    class Snapshotting(LatentDirichletAllocation):
        """Copies ``components_`` at the end of every pass (batch: every EM step; online: every n_batches steps)."""

        def _em_step(self, X, total_samples, batch_update, parallel=None):  # noqa: N803 (sklearn's signature)
            result = super()._em_step(X, total_samples, batch_update, parallel)
            steps.append(None)
            if len(steps) % per_pass == 0:
                snapshots.append((time.perf_counter() - started, len(steps) // per_pass, self.components_.copy()))
            return result

    lda = Snapshotting(n_components=k, random_state=0, learning_method=method)
    per_pass = 1 if method == "batch" else math.ceil(train.shape[0] / lda.batch_size)
    steps: list[None] = []
    snapshots: list[tuple[float, int, np.ndarray]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    lda.fit(train)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    npmi, tu = scores(lda.components_, train)
    return {"npmi": npmi, "tu": tu, "perplexity": float(lda.perplexity(test)), "seconds": elapsed,
            "cpu": cpu, "epochs": lda.n_iter_, "curve": npmi_curve(snapshots, train)}


def gensim_available() -> bool:
    try:
        import gensim  # noqa: F401
    except ImportError:
        return False
    return True


def run_gensim(train: sp.csr_matrix, test: sp.csr_matrix, k: int, passes: int = 10) -> dict:
    from gensim.matutils import Sparse2Corpus
    from gensim.models import LdaModel
    from gensim.models.callbacks import Metric

    class Snapshot(Metric):
        """End-of-pass callback: copies the topic-word matrix (gensim calls it after the pass's last M step when
        ``update_every=1``, the default)."""

        logger, title = None, "snapshot"

        def get_value(self, **kwargs):
            snapshots.append((time.perf_counter() - started, len(snapshots) + 1, kwargs["model"].get_topics().copy()))
            return 0.0

    corpus = list(Sparse2Corpus(train, documents_columns=False))
    test_corpus = list(Sparse2Corpus(test, documents_columns=False))
    snapshots: list[tuple[float, int, np.ndarray]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    lda = LdaModel(corpus, num_topics=k, id2word={i: str(i) for i in range(train.shape[1])}, passes=passes,
                   random_state=0, eval_every=None, callbacks=[Snapshot()])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    topic_word = lda.get_topics()
    npmi, tu = scores(topic_word, train)
    perplexity = math.exp(-lda.log_perplexity(test_corpus))
    return {"npmi": npmi, "tu": tu, "perplexity": perplexity, "seconds": elapsed, "cpu": cpu, "epochs": passes,
            "curve": npmi_curve(snapshots, train)}


def time_to_quality(curve: list[tuple[float, int, float]], target: float) -> str:
    for seconds, done, npmi in curve:
        if npmi >= target:
            return f"{seconds:.1f} (pass {done})"
    best = max((npmi for _, _, npmi in curve), default=float("nan"))
    return f"not reached (best pass NPMI {best:.4f})"


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
    models: dict[str, tuple[str, Callable[[], dict]]] = {
        "ntm": ("NTM (ntm-container train)",
                lambda: run_ntm(train, validation, test, vocabulary, args.topics, extra)),
        "lda": ("sklearn LatentDirichletAllocation (batch)", lambda: run_lda(train, test, args.topics, "batch")),
        "online": ("sklearn LatentDirichletAllocation (online)", lambda: run_lda(train, test, args.topics, "online")),
    }
    skipped = ""
    if gensim_available():
        models["gensim"] = ("gensim LdaModel", lambda: run_gensim(train, test, args.topics))
    else:
        skipped = ("gensim is not installed, so its row is skipped (install the benches' extra, "
                   "`pip install -e \".[bench]\"`, to include it)")
        print(f"NOTE: {skipped}", file=sys.stderr)
    runs: dict[str, list[dict]] = {key: [] for key in models}
    for repeat in range(args.repeats):  # alternate, so all models see the same background load
        for key, (_, run) in models.items():
            runs[key].append(run())
        print(f"run {repeat + 1}: " + ", ".join(f"{key} {runs[key][-1]['seconds']:.1f} s" for key in models))
    for name, results in runs.items():
        if len({(r["npmi"], r["tu"]) for r in results}) != 1:
            raise SystemExit(f"{name}: topics differ between repeats; seeding is broken")
    best = {key: min(runs[key], key=lambda r: r["seconds"]) for key in models}
    ntm, lda = best["ntm"], best["lda"]
    target = lda["npmi"]
    print("NTM topics (first 5):\n  " + "\n  ".join(ntm["sample"]))
    for key, result in best.items():
        print(f"{key} NPMI per pass: " + " ".join(f"{n:.3f}@{s:.1f}s" for s, _, n in result["curve"]))
    rows = [["model", "K", "NPMI (train docs, top 10)", "TU (top 10)", "test perplexity", "passes",
             f"wall time s (best of {args.repeats})", "CPU time s (that run)", "training docs/s",
             f"time-to-quality s (NPMI >= {target:.4f})", "all wall times s"]]
    documents = train.shape[0]
    for key, result in best.items():
        throughput = f"{documents * result['epochs'] / result['seconds']:.0f}"
        if key == "ntm":
            throughput += f" (epoch loop: {documents * result['epochs'] / result['loop_seconds']:.0f})"
        rows.append([models[key][0], args.topics, f"{result['npmi']:.4f}", f"{result['tu']:.4f}",
                     f"{result['perplexity']:.1f}", result["epochs"], f"{result['seconds']:.1f}",
                     f"{result['cpu']:.1f}", throughput, time_to_quality(result["curve"], target),
                     " / ".join(f"{r['seconds']:.1f}" for r in runs[key])])
    verdict = ("NTM reaches at least sklearn LDA's NPMI and TU in less wall time"
               if ntm["npmi"] >= lda["npmi"] and ntm["tu"] >= lda["tu"] and ntm["seconds"] < lda["seconds"]
               else "NTM does NOT beat sklearn LDA on every criterion")
    note = (f"Command: `PYTHONPATH=examples .venv/bin/python bench/ntm_vs_lda.py --topics {args.topics}"
            + "".join(f" --ntm {item}" for item in args.ntm) + f"`. Corpus: {description}; "
            f"{train.shape[0]} training, {validation.shape[0]} validation, {test.shape[0]} test documents. "
            f"NTM hyperparameters: tutorial's (mini_batch_size=128, epochs=100, num_patience_epochs=5, "
            f"tolerance=0.001){', ' + ', '.join(args.ntm) if args.ntm else ''}. sklearn: random_state=0, otherwise "
            "defaults (max_iter=10; online: batch_size=128). gensim: LdaModel(passes=10, random_state=0, "
            "eval_every=None), otherwise defaults (chunksize=2000, iterations=50, priors 1/K as in sklearn), on "
            "Sparse2Corpus of the same CSR. 'passes' = epochs (NTM, early stopping; the kept model is the best "
            "epoch), EM iterations (sklearn) or passes (gensim). Test perplexity = exp(-ELBO per test word, natural "
            "log) for every row (NTM: its per-word loss; sklearn: `perplexity`; gensim: `exp(-log_perplexity)`), "
            "each a bound from its own variational family, so comparable only as bounds. NTM time = the whole "
            "training process (interpreter start, reading RecordIO, per-epoch validation, topic report, artifact); "
            "LDA time = fit (gensim: the constructor, which trains). Training docs/s = training documents x passes / "
            "wall time; for NTM also over the epoch loop alone (sum of the logged epoch times). Time-to-quality = "
            "wall time from the start of training (NTM: process start) until the model first reaches the final NPMI "
            "of sklearn's batch LDA; read from per-pass snapshots without retraining (NTM: the per-epoch checkpoint, "
            "copied by the bench while the process runs, polled every 20 ms, so the time can only be late; sklearn "
            "and gensim: a copy of the topic-word matrix after every pass, NPMI computed after the clock stops), in "
            "the run whose wall time is kept. Each model runs several "
            "times, alternating, and the best wall time is kept; quality figures are identical across runs (seeded). "
            f"CPU: {os.cpu_count()} cores. Verdict: {verdict}." + (f" NOTE: {skipped}." if skipped else ""))
    if args.no_write:
        from results import markdown

        print(markdown(rows))
        print(verdict)
    else:
        write_section("NTM vs LDA", rows, note)


if __name__ == "__main__":
    main()

"""The recommender example's data side: the 20NG loader, the tutorial's data preparation, and the quality measures.

Fast and offline: the archive tests read a few posts of ``../shared/data/20newsgroups`` (skipped where it is
absent); the loader's order is checked against scikit-learn's ``load_files`` on a small synthetic archive; the
prepare test runs the whole pipeline on 300 posts per subset with a 200-word vocabulary.
"""

from __future__ import annotations

import io
import logging
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

try:
    import recommender  # noqa: F401
except ImportError:  # until pyproject maps examples/recommender as ``recommender``
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from container_core.recordio import read_batches
from recommender import newsgroups, prepare, quality
from recommender.newsgroups import CATEGORIES, load_20newsgroups

# --- loader ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive() -> Path:
    found = newsgroups.default_archive()
    if found is None:
        pytest.skip("20news-bydate.tar.gz not found (set NEWSGROUPS_ARCHIVE)")
    return found


def _synthetic_archive(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """A bydate-shaped tar.gz: every group, file names that sort differently as strings and as numbers."""
    posts: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    with tarfile.open(path, "w:gz") as tar:
        for subset, names in (("train", ("9", "10", "100")), ("test", ("7", "70"))):
            for group in reversed(CATEGORIES):  # archive order must not matter
                for name in names:
                    text = f"From: someone\nSubject: {subset} {group} {name}\n\nBody {name} caf\u00e9.\n"
                    data = text.encode("latin-1")
                    info = tarfile.TarInfo(f"20news-bydate-{subset}/{group}/{name}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                    posts[subset].append((group, name, text))
    return posts


def test_loader_order_matches_sklearn_load_files(tmp_path: Path) -> None:
    from sklearn.datasets import load_files

    path = tmp_path / "20news-bydate.tar.gz"
    _synthetic_archive(path)
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    for subset in ("train", "test"):
        # fetch_20newsgroups = load_files(...) (its own RandomState(0) shuffle) + RandomState(42) shuffle.
        bunch = load_files(tmp_path / "x" / f"20news-bydate-{subset}", encoding="latin1")
        order = np.arange(len(bunch.data))
        np.random.RandomState(42).shuffle(order)
        ours = load_20newsgroups(subset, path)
        assert ours.categories == bunch.target_names == list(CATEGORIES)
        assert ours.texts == [bunch.data[i] for i in order]
        np.testing.assert_array_equal(ours.labels, bunch.target[order])
        unshuffled = load_20newsgroups(subset, path, shuffle=False, remove=("headers",))
        assert unshuffled.texts == [bunch.data[i].partition("\n\n")[2] for i in range(len(bunch.data))]
    both = load_20newsgroups("all", path, shuffle=False)
    assert len(both.texts) == 20 * 5
    assert both.texts[:60] == load_20newsgroups("train", path, shuffle=False).texts


def test_loader_rejects_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="subset"):
        load_20newsgroups("validation", tmp_path / "none.tar.gz")
    with pytest.raises(FileNotFoundError):
        load_20newsgroups("train", tmp_path / "none.tar.gz")
    monkeypatch.setenv(newsgroups.ARCHIVE_ENV, str(tmp_path / "missing.tar.gz"))
    with pytest.raises(FileNotFoundError, match=newsgroups.ARCHIVE_ENV):
        newsgroups.default_archive()
    path = tmp_path / "mine.tar.gz"
    _synthetic_archive(path)
    monkeypatch.setenv(newsgroups.ARCHIVE_ENV, str(path))
    assert newsgroups.default_archive() == path


def test_loader_reads_the_real_archive(archive: Path) -> None:
    train = load_20newsgroups("train", archive, limit=25, shuffle=False)
    assert len(train.texts) == 25 and train.categories == list(CATEGORIES)
    assert (train.labels == 0).all()  # alt.atheism comes first
    assert all("Subject: " in text.partition("\n\n")[0] for text in train.texts)
    test = load_20newsgroups("test", archive, limit=5, remove=("headers", "footers", "quotes"))
    assert len(test.texts) == 5
    assert not any("Subject: " in text for text in test.texts)


# --- tokens ---------------------------------------------------------------------------------------------------------


def test_lemma_tokenizer() -> None:
    tokenize = prepare.LemmaTokenizer()
    text = "The Cars were RUNNING faster than 3 mice; e-mail x11r5 _foo 3d ltd etc. Studies, analyses, caf\u00e9s"
    assert tokenize(text) == ["car", "run", "fast", "mouse", "mail", "x11r5", "study", "analysis", "café"]
    # Stop words, in either form, tokenize to nothing, so scikit-learn's consistency check has nothing to report.
    assert tokenize("the was ltd made makes") == ["make"]
    assert prepare.LemmaTokenizer(skip=())("was ltd etc") == ["be", "limited", "etc"]


def test_vectorizer_matches_the_tutorial_settings() -> None:
    vectorizer = prepare.make_vectorizer()
    assert (vectorizer.max_features, vectorizer.max_df, vectorizer.min_df, vectorizer.stop_words) == (
        2000, 0.95, 2, "english")
    fixed = prepare.make_vectorizer(vocabulary=["car", "mouse", "run"])
    counts = fixed.fit_transform(["cars and mice", "Running cars, the car", "nothing here"])
    np.testing.assert_array_equal(counts.toarray(), [[1, 1, 0], [2, 0, 1], [0, 0, 0]])


# --- prepare end to end -----------------------------------------------------------------------------------------------


def test_prepare_and_write_channels(archive: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    corpus = prepare.prepare_corpus(
        archive, vocab_size=200, short_doc_words=5, limit=300, cache_dir=tmp_path / "cache", progress=messages.append
    )
    n = corpus.vectors.shape[0]
    assert 100 < n < 300 and any("dropped" in m for m in messages)
    assert sp.isspmatrix_csr(corpus.vectors) and corpus.vectors.dtype == np.float32
    assert corpus.vectors.shape[1] == len(corpus.vocabulary) == 200 == corpus.test_vectors.shape[1]
    assert corpus.test_vectors.shape[0] == corpus.test_labels.shape[0] == 300
    assert sorted(corpus.newidx) == list(range(n)) and not np.array_equal(corpus.newidx, np.arange(n))
    assert (np.asarray(corpus.vectors.sum(axis=1)).ravel() > 5).all()
    assert corpus.n_train == round(0.8 * n)
    np.testing.assert_array_equal(corpus.row_labels, corpus.train_labels[corpus.newidx])
    assert all(corpus.newidx[row] == doc for doc, row in corpus.labeldict.items())

    # Row i is document newidx[i], i.e. training post source_index[newidx[i]]; the test rows use transform().
    train = load_20newsgroups("train", archive, limit=300, remove=prepare.REMOVE)
    test = load_20newsgroups("test", archive, limit=300, remove=prepare.REMOVE)
    vectorizer = corpus.vectorizer()
    rows = [train.texts[corpus.source_index[doc]] for doc in corpus.newidx[:20]]
    np.testing.assert_array_equal(vectorizer.transform(rows).toarray(), corpus.vectors[:20].toarray())
    np.testing.assert_array_equal(vectorizer.transform(test.texts).toarray(), corpus.test_vectors.toarray())
    np.testing.assert_array_equal(corpus.test_labels, test.labels)

    messages.clear()
    again = prepare.prepare_corpus(
        archive, vocab_size=200, short_doc_words=5, limit=300, cache_dir=tmp_path / "cache", progress=messages.append
    )
    assert any("loaded" in m for m in messages)
    assert (again.vectors != corpus.vectors).nnz == 0 and (again.test_vectors != corpus.test_vectors).nnz == 0
    np.testing.assert_array_equal(again.newidx, corpus.newidx)
    assert again.vocabulary == corpus.vocabulary and again.categories == corpus.categories

    channels = prepare.write_channels(corpus, tmp_path / "data", train_shards=3)
    assert [p.name for p in channels.train_files] == ["train_part0.pbr", "train_part1.pbr", "train_part2.pbr"]
    decoded = [batch.csr() for batch in read_batches(channels.train_files, batch_size=64, feature_dim=200)]
    assert (sp.vstack(decoded, format="csr") != corpus.train_split).nnz == 0
    (val,) = read_batches(channels.validation_files, batch_size=10_000, feature_dim=200)
    assert val.labels is None and (val.csr() != corpus.validation_split).nnz == 0
    assert channels.vocab.read_text(encoding="utf-8").splitlines() == corpus.vocabulary


# --- quality --------------------------------------------------------------------------------------------------------


def test_precision_at_k() -> None:
    neighbours = np.array([[1, 1, 2, 3], [0, 0, 0, 0], [5, 5, 5, 5]])
    assert quality.precision_at_k(neighbours, np.array([1, 0, 4])) == pytest.approx((2 / 4 + 1 + 0) / 3)
    assert quality.precision_at_k(np.array([[3]]), np.array([3])) == 1.0
    with pytest.raises(ValueError):
        quality.precision_at_k(neighbours, np.array([1, 0]))


def _two_clusters() -> tuple[sp.csr_matrix, np.ndarray]:
    """20 documents; group 0 uses words 0-4, group 1 words 5-9."""
    rng = np.random.default_rng(0)
    counts = np.zeros((20, 10), dtype=np.float32)
    labels = np.repeat([0, 1], 10)
    for row, label in enumerate(labels):
        counts[row, rng.choice(5, size=3, replace=False) + 5 * label] = rng.integers(1, 4, size=3)
    return sp.csr_matrix(counts), labels


def test_cosine_knn_and_baselines() -> None:
    ids = quality.cosine_knn(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([[3.0, 0.1], [0.0, 1.0]]), 2)
    np.testing.assert_array_equal(ids, [[0, 2], [1, 2]])
    counts, labels = _two_clusters()
    assert quality.tfidf_knn_precision(counts, labels, counts, labels, k=5).precision == 1.0
    swapped = quality.tfidf_knn_precision(counts, labels, counts, 1 - labels, k=5)
    assert swapped.precision == 0.0 and swapped.seconds >= 0
    lda = quality.lda_knn_precision(counts, labels, counts, labels, k=5, n_topics=2, seed=0)
    assert lda.precision > 0.9


def test_npmi_hand_computed() -> None:
    # Documents: word 0 and 1 in docs {0, 1}; word 2 in {2, 3}; word 3 in {0, 2}; word 4 in none.
    present = np.zeros((4, 5))
    present[[0, 1], 0] = present[[0, 1], 1] = 1
    present[[2, 3], 2] = 1
    present[[0, 2], 3] = 3  # counts, not just 0/1
    pairs = np.array([[0, 1], [0, 2], [0, 3], [2, 4]])
    # always together -> log(.5 / .25) / -log(.5) = 1; never -> -1; independent (.25 = .5 * .5) -> 0; absent -> -1
    np.testing.assert_allclose(quality.npmi_per_topic(pairs, sp.csr_matrix(present)), [1, -1, 0, -1], atol=1e-12)
    assert quality.npmi(np.array([[0, 1, 2]]), present) == pytest.approx(-1 / 3)
    assert quality.npmi(np.array([[0, 1], [0, 3]]), present) == pytest.approx(0.5)
    # Both words in every document: the limit, 1.
    assert quality.npmi(np.array([[0, 1]]), np.ones((3, 2))) == 1.0
    # A partial association: p0 = .75, p1 = .5, p01 = .5.
    partial = np.array([[1, 1], [1, 1], [1, 0], [0, 0]])
    assert quality.npmi(np.array([[0, 1]]), partial) == pytest.approx(np.log(0.5 / 0.375) / -np.log(0.5))
    with pytest.raises(ValueError):
        quality.npmi(np.array([[0, 9]]), present)


def test_topic_uniqueness_hand_computed() -> None:
    same = np.tile(np.arange(10), (3, 1))
    assert quality.topic_uniqueness(same) == pytest.approx(1 / 3)
    assert quality.topic_uniqueness(np.arange(30).reshape(3, 10)) == 1.0
    np.testing.assert_allclose(quality.topic_uniqueness_per_topic(np.array([[0, 1], [0, 2]])), [0.75, 0.75])
    # Topic 0 = {0, 1, 2}, topic 1 = {0, 3, 4}, topic 2 = {0, 1, 5}: cnt(0) = 3, cnt(1) = 2, the rest 1.
    tu = quality.topic_uniqueness_per_topic(np.array([[0, 1, 2], [0, 3, 4], [0, 1, 5]]))
    np.testing.assert_allclose(tu, [(1 / 3 + 1 / 2 + 1) / 3, (1 / 3 + 2) / 3, (1 / 3 + 1 / 2 + 1) / 3])
    top = quality.top_word_ids(np.array([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]]), n=2)
    np.testing.assert_array_equal(top, [[1, 2], [0, 2]])


def test_prepare_logs_by_default(archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="recommender.prepare"):
        prepare.prepare_corpus(archive, vocab_size=50, short_doc_words=0, limit=40, cache_dir=tmp_path)
    assert any("vocabulary 50" in record.getMessage() for record in caplog.records)


def test_loader_falls_back_to_sklearn_only_without_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.datasets
    from sklearn.utils import Bunch

    calls: list[dict[str, object]] = []

    def fake_fetch(**kwargs: object) -> Bunch:
        calls.append(kwargs)
        return Bunch(data=["a", "b", "c"], target=np.array([2, 0, 1]), target_names=list(CATEGORIES))

    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups", fake_fetch)
    monkeypatch.setattr(newsgroups, "default_archive", lambda: None)
    loaded = load_20newsgroups("test", remove=("headers",), limit=2)
    assert calls == [{"subset": "test", "remove": ("headers",), "shuffle": True, "random_state": 42}]
    assert loaded.texts == ["a", "b"] and loaded.labels.tolist() == [2, 0]

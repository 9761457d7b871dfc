"""Module 2 of the tutorial, data preparation: from raw posts to RecordIO-protobuf shards and ``vocab.txt``.

Steps (AWS's NTM 20 Newsgroups notebook, which the tutorial's missing module follows; see docs/tutorial.md):

1. Read the bydate train and test posts (:mod:`recommender.newsgroups`) and strip headers, signature footers and
   quoted lines with scikit-learn's helpers.
2. Tokenize and lemmatize with :class:`LemmaTokenizer`: tokens of 2+ word characters starting with a letter, each
   replaced by its lemma. The lemmatizer is simplemma (dictionary data inside its wheel, so it works offline) where
   the tutorial had NLTK's WordNetLemmatizer, whose data needs a download.
3. ``CountVectorizer`` as in the tutorial: vocabulary 2,000, ``max_df=0.95``, ``min_df=2``, English stop words,
   fitted on the training posts. The test posts go through ``vectorizer.transform`` (the tutorial's test cell calls
   ``fit_transform``, which re-fits the vocabulary on the test set; no figure here uses that).
4. Drop short training documents: AWS's notebook keeps ``vectors.sum(axis=1) > 25`` (25 in-vocabulary words or fewer
   are dropped); test documents are all kept, since recommendations are measured over the whole test set.
5. Shuffle with a seeded permutation ``newidx`` (``vectors = vectors[newidx]``) and split 80/20 into training and
   validation rows.
6. :func:`write_channels` writes ``train/train_part<i>.pbr`` shards, ``val/val_part0.pbr`` and
   ``auxiliary/vocab.txt``.

:func:`prepare_corpus` does steps 1-5 and caches the result (``npz`` without pickles, plus ``json``), so only the
first run pays for reading and tokenizing (about 6 s for the full corpus on two cores); later runs load in
about 20 ms.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import simplemma
import sklearn
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from recommender.newsgroups import load_20newsgroups, resolve_archive

logger = logging.getLogger(__name__)

VOCAB_SIZE = 2000
MAX_DF = 0.95
MIN_DF = 2
#: Training documents with this many in-vocabulary words or fewer are dropped (AWS: ``threshold = 25``).
SHORT_DOC_WORDS = 25
VALIDATION_SHARE = 0.2
SEED = 0
CACHE_ENV = "RECOMMENDER_CACHE"
REMOVE = ("headers", "footers", "quotes")
# Bump when the preparation changes what it produces, so that old caches are not reused.
_FORMAT = 1

_TOKEN = re.compile(r"(?u)\b[^\W\d_]\w+\b")  # 2+ word characters, the first a letter (not a digit or "_")

Progress = Callable[[str], None]


# --- tokens -----------------------------------------------------------------------------------------------------------


class LemmaTokenizer:
    """``tokenizer=`` for ``CountVectorizer``: lower-cased tokens of 2+ word characters starting with a letter
    (the tutorial's ``(?u)\\b\\w\\w+\\b`` plus "starts with a letter"), each replaced by its simplemma lemma
    (``cars`` -> ``car``, ``was`` -> ``be``, ``running`` -> ``run``).

    Tokens that are themselves in ``skip`` (default: scikit-learn's English stop words) are dropped before
    lemmatizing. ``CountVectorizer(stop_words='english')`` then removes the tokens whose *lemma* is a stop word, so
    a token goes if either form is a stop word; and because every stop word tokenizes to nothing, scikit-learn's
    stop-word consistency check stays quiet (otherwise ``ltd`` -> ``limited`` or ``made`` -> ``make`` would make it
    warn). A lemma that breaks the token rule (simplemma maps ``etc`` to ``etc.``) is replaced by the token itself.

    Lemmas are memoised per instance (the 20NG training set has about 113,000 distinct token forms).
    """

    def __init__(self, lang: str = "en", skip: Iterable[str] | None = None) -> None:
        self.lang = lang
        self.skip = frozenset(ENGLISH_STOP_WORDS if skip is None else skip)
        self._lemmas: dict[str, str] = {}

    def lemma(self, token: str) -> str:
        lemma = self._lemmas.get(token)
        if lemma is None:
            lemma = simplemma.lemmatize(token, lang=self.lang).lower()
            if not _TOKEN.fullmatch(lemma):
                lemma = token
            self._lemmas[token] = lemma
        return lemma

    def __call__(self, doc: str) -> list[str]:
        return [self.lemma(token) for token in _TOKEN.findall(doc.lower()) if token not in self.skip]

    def __getstate__(self) -> dict[str, Any]:
        return {"lang": self.lang, "skip": self.skip, "_lemmas": {}}


def make_vectorizer(vocab_size: int = VOCAB_SIZE, vocabulary: Iterable[str] | None = None) -> Any:
    """The tutorial's ``CountVectorizer(input='content', analyzer='word', stop_words='english',
    tokenizer=LemmaTokenizer(), max_features=vocab_size, max_df=0.95, min_df=2)`` (plus ``token_pattern=None``,
    which the tokenizer replaces, and float32 counts). With ``vocabulary`` the word ids are fixed (``max_features``/``max_df``/``min_df`` then
    do not apply, and ``fit_transform`` does not re-fit the vocabulary)."""
    return CountVectorizer(
        input="content", analyzer="word", tokenizer=LemmaTokenizer(), token_pattern=None, stop_words="english",
        max_features=vocab_size, max_df=MAX_DF, min_df=MIN_DF, dtype=np.float32,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
    )


# --- the prepared corpus ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreparedCorpus:
    """The tutorial's module-2 variables.

    ``vectors``: (n, V) float32 CSR word counts of the kept training documents, shuffled: row ``i`` is document
    ``newidx[i]``. Document ids count the kept documents in load order (``load_20newsgroups("train")``, i.e.
    scikit-learn's order); ``source_index[d]`` is document ``d``'s position in that order.
    ``train_labels``: (n,) group ids by document id, as in the tutorial (``train_labels[newidx]`` labels the rows of
    ``vectors``; :attr:`row_labels` is that array). ``test_vectors``: (7532, V) float32 CSR counts of every test post
    (``vectorizer.transform``), ``test_labels`` their group ids. ``vocabulary``: word of each column (the lines of
    ``vocab.txt``). ``n_train``: the first ``n_train`` rows of ``vectors`` are the training split, the rest
    validation.
    """

    vectors: sp.csr_matrix
    train_labels: np.ndarray
    newidx: np.ndarray
    source_index: np.ndarray
    test_vectors: sp.csr_matrix
    test_labels: np.ndarray
    vocabulary: list[str]
    categories: list[str]
    n_train: int
    settings: dict[str, Any]

    @property
    def row_labels(self) -> np.ndarray:
        """Group id of each row of ``vectors`` (``train_labels[newidx]``)."""
        return self.train_labels[self.newidx]

    @property
    def labeldict(self) -> dict[int, int]:
        """The tutorial's ``dict(zip(newidx, idx))``: document id -> row of ``vectors``."""
        return {int(doc): row for row, doc in enumerate(self.newidx)}

    @property
    def train_split(self) -> sp.csr_matrix:
        return self.vectors[: self.n_train]

    @property
    def validation_split(self) -> sp.csr_matrix:
        return self.vectors[self.n_train :]

    def vectorizer(self) -> Any:
        """A ``CountVectorizer`` with this corpus's vocabulary, to vectorize new posts (already cleaned)."""
        return make_vectorizer(len(self.vocabulary), self.vocabulary)


def _log(progress: Progress | None) -> Progress:
    return progress if progress is not None else logger.info


def default_cache_dir() -> Path:
    """``$RECOMMENDER_CACHE``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``)``/open-sagemaker-algorithms/recommender``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "open-sagemaker-algorithms" / "recommender"


def _archive_digest(archive: Path | None) -> str:
    if archive is None:
        return "sklearn-download"
    digest = hashlib.sha256()
    with open(archive, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_corpus(
    archive: Path | None = None,
    *,
    vocab_size: int = VOCAB_SIZE,
    short_doc_words: int = SHORT_DOC_WORDS,
    validation_share: float = VALIDATION_SHARE,
    seed: int = SEED,
    limit: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> PreparedCorpus:
    """Steps 1-5 of the module docstring, cached under ``cache_dir`` (default :func:`default_cache_dir`).

    ``archive``: the 20news-bydate tar.gz (``None``: :func:`recommender.newsgroups.default_archive`, else
    scikit-learn's downloader). ``short_doc_words``: training documents with at most this many in-vocabulary words
    are dropped (0 keeps all non-empty ones, -1 keeps all). ``limit``: only the first ``limit`` posts of each subset
    (tests). ``progress``: called with one line per step (default: this module's logger at INFO).
    """
    if not 0 <= validation_share < 1:
        raise ValueError(f"validation_share must be in [0, 1), not {validation_share}")
    say = _log(progress)
    archive = resolve_archive(archive)
    settings = {
        "format": _FORMAT, "archive_sha256": _archive_digest(archive), "vocab_size": vocab_size,
        "max_df": MAX_DF, "min_df": MIN_DF, "short_doc_words": short_doc_words,
        "validation_share": validation_share, "seed": seed, "limit": limit, "remove": list(REMOVE),
        "simplemma": simplemma.__version__, "scikit-learn": sklearn.__version__,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"20news-{key}"
    if use_cache and (folder / "corpus.json").is_file():
        corpus = _load(folder)
        say(f"loaded the prepared corpus from {folder}")
        return corpus

    corpus = _prepare(archive, settings, say)
    if use_cache:
        _save(corpus, folder)
        say(f"cached the prepared corpus in {folder}")
    return corpus


def _prepare(archive: Path | None, settings: dict[str, Any], say: Progress) -> PreparedCorpus:
    start = time.perf_counter()
    limit = settings["limit"]
    train = load_20newsgroups("train", archive, remove=REMOVE, limit=limit)
    test = load_20newsgroups("test", archive, remove=REMOVE, limit=limit)
    say(f"read and cleaned {len(train.texts)} training and {len(test.texts)} test posts "
        f"({time.perf_counter() - start:.1f} s)")

    step = time.perf_counter()
    vectorizer = make_vectorizer(settings["vocab_size"])
    counts = sp.csr_matrix(vectorizer.fit_transform(train.texts), dtype=np.float32)
    vocabulary = [str(word) for word in vectorizer.get_feature_names_out()]
    say(f"tokenized, lemmatized and counted the training posts: vocabulary {len(vocabulary)} "
        f"({time.perf_counter() - step:.1f} s)")
    step = time.perf_counter()
    test_vectors = sp.csr_matrix(vectorizer.transform(test.texts), dtype=np.float32)
    say(f"counted the test posts with the training vocabulary ({time.perf_counter() - step:.1f} s)")

    words = np.asarray(counts.sum(axis=1)).ravel()
    source_index = np.flatnonzero(words > settings["short_doc_words"])
    if source_index.size < 2:
        raise ValueError(f"only {source_index.size} training documents have more than "
                         f"{settings['short_doc_words']} in-vocabulary words")
    say(f"dropped {counts.shape[0] - source_index.size} training documents with <= {settings['short_doc_words']} "
        f"in-vocabulary words; {source_index.size} kept")
    counts = counts[source_index]
    train_labels = train.labels[source_index]

    newidx = np.random.default_rng(settings["seed"]).permutation(source_index.size)
    vectors = sp.csr_matrix(counts[newidx], dtype=np.float32)
    vectors.sort_indices()
    test_vectors.sort_indices()
    n_train = int(round(vectors.shape[0] * (1 - settings["validation_share"])))
    say(f"shuffled and split: {n_train} training, {vectors.shape[0] - n_train} validation rows "
        f"(total {time.perf_counter() - start:.1f} s)")
    return PreparedCorpus(
        vectors=vectors, train_labels=train_labels, newidx=newidx, source_index=source_index,
        test_vectors=test_vectors, test_labels=test.labels, vocabulary=vocabulary, categories=list(train.categories),
        n_train=n_train, settings=settings,
    )


# --- cache --------------------------------------------------------------------------------------------------------


def _save(corpus: PreparedCorpus, folder: Path) -> None:
    arrays: dict[str, np.ndarray] = {
        "train_labels": corpus.train_labels, "newidx": corpus.newidx, "source_index": corpus.source_index,
        "test_labels": corpus.test_labels,
    }
    for name in ("vectors", "test_vectors"):
        matrix: sp.csr_matrix = getattr(corpus, name)
        arrays.update({f"{name}_data": matrix.data, f"{name}_indices": matrix.indices,
                       f"{name}_indptr": matrix.indptr, f"{name}_shape": np.asarray(matrix.shape, dtype=np.int64)})
    meta = {"vocabulary": corpus.vocabulary, "categories": corpus.categories, "n_train": corpus.n_train,
            "settings": corpus.settings}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        np.savez(staging / "corpus.npz", **arrays)
        # corpus.json last: its presence marks a complete cache entry.
        (staging / "corpus.json").write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _load(folder: Path) -> PreparedCorpus:
    meta = json.loads((folder / "corpus.json").read_text(encoding="utf-8"))
    with np.load(folder / "corpus.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}

    def csr(name: str) -> sp.csr_matrix:
        shape = tuple(int(n) for n in arrays[f"{name}_shape"])
        return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]), shape)

    return PreparedCorpus(
        vectors=csr("vectors"), train_labels=arrays["train_labels"], newidx=arrays["newidx"],
        source_index=arrays["source_index"], test_vectors=csr("test_vectors"), test_labels=arrays["test_labels"],
        vocabulary=meta["vocabulary"], categories=meta["categories"], n_train=meta["n_train"],
        settings=meta["settings"],
    )


# --- channels -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channels:
    """Where :func:`write_channels` put the data: the ``train`` and ``val`` folders (upload each as a prefix) and
    ``vocab.txt`` (in the ``auxiliary`` folder)."""

    train: Path
    validation: Path
    auxiliary: Path
    train_files: list[Path]
    validation_files: list[Path]
    vocab: Path


def write_channels(corpus: PreparedCorpus, directory: Path, train_shards: int = 8) -> Channels:
    """RecordIO-protobuf sparse float32 records (the bytes of the AWS SDK's ``write_spmatrix_to_sparse_tensor``,
    no labels): ``train/train_part<i>.pbr`` (the training split in ``train_shards`` contiguous parts, for
    ``ShardedByS3Key``), ``val/val_part0.pbr`` (the validation split) and ``auxiliary/vocab.txt`` (one word per line,
    in column order). Existing files of those names are replaced."""
    from container_core.recordio import write_sparse

    if train_shards < 1:
        raise ValueError(f"train_shards must be positive, not {train_shards}")
    directory = Path(directory)
    train_dir, val_dir, aux_dir = directory / "train", directory / "val", directory / "auxiliary"
    for folder in (train_dir, val_dir, aux_dir):
        folder.mkdir(parents=True, exist_ok=True)
    train = corpus.train_split
    bounds = np.linspace(0, train.shape[0], min(train_shards, max(train.shape[0], 1)) + 1).round().astype(int)
    train_files = []
    for part, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        path = train_dir / f"train_part{part}.pbr"
        with open(path, "wb") as out:
            write_sparse(out, train[lo:hi])
        train_files.append(path)
    validation_files = []
    if corpus.validation_split.shape[0]:
        path = val_dir / "val_part0.pbr"
        with open(path, "wb") as out:
            write_sparse(out, corpus.validation_split)
        validation_files.append(path)
    vocab = aux_dir / "vocab.txt"
    vocab.write_text("".join(f"{word}\n" for word in corpus.vocabulary), encoding="utf-8")
    return Channels(train_dir, val_dir, aux_dir, train_files, validation_files, vocab)

"""Topic quality: top words, topic uniqueness (TU), NPMI coherence and word-embedding coherence (WETC).

Pure numpy/scipy. Definitions (docs/contract.md §1.5, A2):

* top words of topic k: the ``n`` largest entries of row k of the (K, V) topic-word matrix; listings print 20,
  TU, NPMI and WETC use the top 10;
* ``TU(k) = (1/n) sum_i 1/cnt(i, k)``, ``cnt(i, k)`` = number of topics whose top-n words contain topic k's i-th
  word; TU = mean over topics, in [1/K, 1];
* NPMI of a word pair from document co-occurrence in the training data itself (so it needs no download):
  ``log(p_ij / (p_i p_j)) / -log(p_ij)``, -1 for a pair that never co-occurs, 1 for a pair in every document;
  averaged over each topic's pairs, then over topics. ``CooccurrenceCounter`` counts only the pairs it is asked
  about, one sparse mini-batch at a time, so the corpus is streamed, never held;
* WETC(k): mean pairwise cosine similarity of the embeddings of topic k's top words (Ding et al. 2018); words
  without an embedding get the zero vector (similarity 0), as the built-in uses a default vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

LISTED_WORDS = 20
SCORED_WORDS = 10


def top_words(topic_word: np.ndarray, n: int) -> np.ndarray:
    """(K, n) word ids of each topic's ``n`` largest weights, largest first (ties: lower id first)."""
    topic_word = np.asarray(topic_word)
    n = min(n, topic_word.shape[1])
    return np.argsort(-topic_word, axis=1, kind="stable")[:, :n]


def topic_uniqueness(top: np.ndarray) -> np.ndarray:
    """(K,) TU of each topic from its top-word ids."""
    top = np.asarray(top)
    words, inverse = np.unique(top, return_inverse=True)
    inverse = inverse.reshape(top.shape)
    seen = np.zeros((top.shape[0], words.size), dtype=bool)
    seen[np.repeat(np.arange(top.shape[0]), top.shape[1]), inverse.ravel()] = True
    counts = seen.sum(axis=0)
    return (1.0 / counts[inverse]).mean(axis=1)


def _pairs(top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(top.shape[1], k=1)
    return top[:, first], top[:, second]  # (K, n(n-1)/2) each


class CooccurrenceCounter:
    """Counts, over streamed document batches, the documents containing each top word and each topic's pairs."""

    def __init__(self, top: np.ndarray):
        self.top = np.asarray(top)
        left, right = _pairs(self.top)
        self.words = np.unique(self.top)
        position = {int(w): i for i, w in enumerate(self.words)}
        lookup = np.vectorize(position.__getitem__, otypes=[np.int64])
        self.left = lookup(left) if left.size else left.astype(np.int64)
        self.right = lookup(right) if right.size else right.astype(np.int64)
        # Unique pairs of positions, so a pair shared by topics is counted once.
        flat = np.stack([self.left.ravel(), self.right.ravel()], axis=1)
        self.unique_pairs, self.pair_of = np.unique(flat, axis=0, return_inverse=True)
        self.word_docs = np.zeros(self.words.size, dtype=np.int64)
        self.pair_docs = np.zeros(len(self.unique_pairs), dtype=np.int64)
        self.documents = 0

    def add(self, batch: sp.csr_matrix) -> None:
        """Count one (rows, V) batch of word counts (any non-zero = present)."""
        present = sp.csc_matrix(batch[:, self.words], dtype=np.float32)
        present.data = (present.data != 0).astype(np.float32)
        self.documents += batch.shape[0]
        self.word_docs += np.asarray(present.sum(axis=0), dtype=np.int64).ravel()
        if len(self.unique_pairs):
            both = present[:, self.unique_pairs[:, 0]].multiply(present[:, self.unique_pairs[:, 1]])
            self.pair_docs += np.asarray(both.sum(axis=0), dtype=np.int64).ravel()

    def counts(self) -> np.ndarray:
        """All counts as one int64 vector (documents, words, pairs): what hosts all-reduce."""
        return np.concatenate([[self.documents], self.word_docs, self.pair_docs])

    def set_counts(self, counts: np.ndarray) -> None:
        counts = np.asarray(counts, dtype=np.int64)
        self.documents = int(counts[0])
        self.word_docs = counts[1 : 1 + self.words.size]
        self.pair_docs = counts[1 + self.words.size :]

    def npmi(self) -> np.ndarray:
        """(K,) mean NPMI over each topic's word pairs."""
        if self.documents == 0 or not len(self.unique_pairs):
            return np.zeros(self.top.shape[0])
        n = float(self.documents)
        joint = (self.pair_docs / n)[self.pair_of].reshape(self.left.shape)
        p_left = (self.word_docs / n)[self.left]
        p_right = (self.word_docs / n)[self.right]
        value = np.full(joint.shape, -1.0)
        always = joint >= 1.0
        middle = (joint > 0) & ~always
        value[always] = 1.0
        value[middle] = np.log(joint[middle] / (p_left[middle] * p_right[middle])) / -np.log(joint[middle])
        return value.mean(axis=1)


def npmi(top: np.ndarray, documents: sp.spmatrix) -> np.ndarray:
    """(K,) NPMI of each topic over an in-memory document-word matrix (convenience for tests and benches)."""
    counter = CooccurrenceCounter(top)
    counter.add(sp.csr_matrix(documents))
    return counter.npmi()


def wetc(top: np.ndarray, vectors: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(K,) mean pairwise cosine similarity of each topic's top-word embeddings (missing words: zero vector)."""
    top = np.asarray(top)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.where((norms > 0) & found[:, None], vectors / np.maximum(norms, 1e-12), 0.0)
    left, right = _pairs(top)
    if not left.size:
        return np.zeros(top.shape[0])
    return np.einsum("kpd,kpd->kp", unit[left], unit[right]).mean(axis=1)


def listing(
    top: np.ndarray, tu: np.ndarray, vocabulary: Sequence[str] | None, wetc_values: np.ndarray | None,
    epoch: str = "final",
) -> list[str]:
    """The topic listing of docs/contract.md §1.4: a header, then ``[wetc_k, tu_k] word word ...`` per topic.

    Without WETC (no vocabulary or no embedding file) the brackets hold TU alone: ``[tu T]`` / ``[tu_k]``.
    """
    top = np.asarray(top)
    if wetc_values is not None:
        header = f"Topics from epoch:{epoch} (num_topics:{top.shape[0]}) [wetc {wetc_values.mean():.2f}, tu {tu.mean():.2f}]:"
    else:
        header = f"Topics from epoch:{epoch} (num_topics:{top.shape[0]}) [tu {tu.mean():.2f}]:"
    lines = [header]
    for k, ids in enumerate(top):
        words = " ".join(vocabulary[i] if vocabulary is not None else str(int(i)) for i in ids)
        scores = f"{wetc_values[k]:.2f}, {tu[k]:.2f}" if wetc_values is not None else f"{tu[k]:.2f}"
        lines.append(f"[{scores}] {words}")
    return lines

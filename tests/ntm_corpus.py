"""A seeded synthetic bag-of-words corpus with planted topics, and helpers to write it as NTM channels.

Topic k owns the words ``[k * words_per_topic, (k + 1) * words_per_topic)`` (most of its probability mass) and
spreads a little mass over every word as noise. Each document mixes a few topics (a sparse Dirichlet), so a topic
model should recover the word blocks; ``topic_match`` measures how well it did.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from container_core import recordio


@dataclass(frozen=True)
class PlantedCorpus:
    documents: sp.csr_matrix  # (D, V) float32 counts
    topic_word: np.ndarray  # (K, V) true word distributions
    theta: np.ndarray  # (D, K) true mixtures
    words_per_topic: int

    def planted_words(self, topic: int) -> set[int]:
        return set(range(topic * self.words_per_topic, (topic + 1) * self.words_per_topic))

    @property
    def vocabulary(self) -> list[str]:
        return [f"w{v:04d}" for v in range(self.documents.shape[1])]


def planted_corpus(
    documents: int = 2000, topics: int = 5, words_per_topic: int = 20, noise_words: int = 20,
    length: int = 60, alpha: float = 0.1, seed: int = 0,
) -> PlantedCorpus:
    rng = np.random.default_rng(seed)
    vocabulary = topics * words_per_topic + noise_words
    topic_word = np.full((topics, vocabulary), 0.05 / vocabulary)
    for k in range(topics):
        block = slice(k * words_per_topic, (k + 1) * words_per_topic)
        topic_word[k, block] += 0.95 * rng.dirichlet(np.full(words_per_topic, 5.0))
    topic_word /= topic_word.sum(axis=1, keepdims=True)
    theta = rng.dirichlet(np.full(topics, alpha), size=documents)
    word_probs = theta @ topic_word
    counts = np.stack([rng.multinomial(rng.integers(length // 2, length * 3 // 2), p) for p in word_probs])
    return PlantedCorpus(sp.csr_matrix(counts.astype(np.float32)), topic_word, theta, words_per_topic)


def topic_match(corpus: PlantedCorpus, learned_topic_word: np.ndarray, top: int = 10) -> float:
    """How well learned topics recover the planted ones, in [0, 1].

    Each planted topic is paired with a different learned topic (the pairing that maximises the total score,
    Hungarian method); a pair scores the share of the learned topic's ``top`` words that are planted words of its
    topic. 1.0 means every planted topic has its own learned topic whose top words all come from its block.
    """
    learned_top = np.argsort(-learned_topic_word, axis=1)[:, :top]
    planted = [corpus.planted_words(k) for k in range(corpus.topic_word.shape[0])]
    score = np.array([[len(words & set(found.tolist())) / top for found in learned_top] for words in planted])
    rows, columns = linear_sum_assignment(-score)
    return float(score[rows, columns].sum() / len(planted))


def write_recordio(path: Path, matrix: sp.csr_matrix | np.ndarray, sparse: bool = True) -> None:
    buffer = io.BytesIO()
    if sparse:
        recordio.write_sparse(buffer, sp.csr_matrix(matrix, dtype=np.float32))
    else:
        recordio.write_dense(buffer, np.asarray(sp.csr_matrix(matrix).toarray(), dtype=np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def write_csv(path: Path, matrix: sp.csr_matrix | np.ndarray) -> None:
    dense = np.asarray(sp.csr_matrix(matrix).toarray())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in dense) + "\n")

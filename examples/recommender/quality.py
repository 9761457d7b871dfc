"""How good the recommendations and the topics are.

Recommendations: ``precision_at_k`` is the share of a query's k recommended training documents that come from the
query's own newsgroup, averaged over queries. The baselines put a classic document representation through the same
brute-force cosine k-NN as the NTM topic vectors: TF-IDF (:func:`tfidf_knn_precision`) and scikit-learn's LDA topic
vectors (:func:`lda_knn_precision`).

Topics: :func:`npmi` (coherence against a reference corpus) and :func:`topic_uniqueness` (docs/contract.md §1.5) take a
``(K, n)`` array of top word ids; TU is the NTM container's own function (:mod:`ntm_container.topics`, numpy only).
scikit-learn and faiss are imported only inside the baseline functions.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ntm_container import topics as ntm_topics


class Baseline(NamedTuple):
    """A baseline's precision@k over the queries and its wall time in seconds (fit + transform + k-NN)."""

    precision: float
    seconds: float


# --- recommendations ------------------------------------------------------------------------------------------------


def precision_at_k(neighbour_labels: np.ndarray, query_labels: np.ndarray) -> float:
    """Mean over queries of the share of the k neighbours whose label equals the query's.

    ``neighbour_labels``: (n, k) labels of each query's k recommendations; ``query_labels``: (n,).
    """
    neighbour_labels = np.asarray(neighbour_labels)
    query_labels = np.asarray(query_labels)
    if neighbour_labels.ndim != 2 or query_labels.ndim != 1:
        raise ValueError(f"expected (n, k) and (n,) arrays, got {neighbour_labels.shape} and {query_labels.shape}")
    if neighbour_labels.shape[0] != query_labels.shape[0]:
        raise ValueError(f"{neighbour_labels.shape[0]} rows of neighbours for {query_labels.shape[0]} queries")
    if neighbour_labels.size == 0:
        raise ValueError("no queries or k = 0")
    return float(np.mean(neighbour_labels == query_labels[:, None]))


def _unit_rows(vectors: np.ndarray | sp.spmatrix) -> np.ndarray:
    """Dense float32 rows scaled to unit L2 norm; all-zero rows stay zero (cosine 0 with everything)."""
    dense = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors)
    dense = np.ascontiguousarray(dense, dtype=np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    np.divide(dense, norms, out=dense, where=norms > 0)
    return dense


def cosine_knn(train_vectors: np.ndarray | sp.spmatrix, query_vectors: np.ndarray | sp.spmatrix, k: int) -> np.ndarray:
    """Row ids (n_queries, k) of each query's k most cosine-similar training rows, closest first (exact search,
    faiss ``IndexFlatIP`` on unit vectors). A query with no non-zero feature gets arbitrary, tied neighbours."""
    import faiss

    train = _unit_rows(train_vectors)
    queries = _unit_rows(query_vectors)
    if train.shape[1] != queries.shape[1]:
        raise ValueError(f"training width {train.shape[1]} != query width {queries.shape[1]}")
    if not 0 < k <= train.shape[0]:
        raise ValueError(f"k={k} must be in [1, {train.shape[0]}]")
    index = faiss.IndexFlatIP(train.shape[1])
    index.add(train)
    _, ids = index.search(queries, k)
    return ids


def knn_precision(
    train_vectors: np.ndarray | sp.spmatrix,
    train_labels: np.ndarray,
    test_vectors: np.ndarray | sp.spmatrix,
    test_labels: np.ndarray,
    k: int = 10,
) -> float:
    """precision@k of cosine k-NN from ``test_vectors`` into ``train_vectors`` (any representation: counts,
    TF-IDF, topic weights)."""
    ids = cosine_knn(train_vectors, test_vectors, k)
    return precision_at_k(np.asarray(train_labels)[ids], np.asarray(test_labels))


def tfidf_knn_precision(
    train_counts: sp.spmatrix, train_labels: np.ndarray, test_counts: sp.spmatrix, test_labels: np.ndarray, k: int = 10
) -> Baseline:
    """TF-IDF (scikit-learn defaults: smooth idf, L2 norm; idf fitted on the training counts) + cosine k-NN."""
    from sklearn.feature_extraction.text import TfidfTransformer

    start = time.perf_counter()
    tfidf = TfidfTransformer().fit(train_counts)
    precision = knn_precision(tfidf.transform(train_counts), train_labels, tfidf.transform(test_counts), test_labels, k)
    return Baseline(precision, time.perf_counter() - start)


def lda_knn_precision(
    train_counts: sp.spmatrix,
    train_labels: np.ndarray,
    test_counts: sp.spmatrix,
    test_labels: np.ndarray,
    k: int = 10,
    n_topics: int = 30,
    seed: int = 0,
    max_iter: int = 10,
) -> Baseline:
    """scikit-learn ``LatentDirichletAllocation`` (online variational Bayes, ``n_topics`` topics, ``max_iter``
    passes) fitted on the training counts; cosine k-NN between the documents' topic proportions."""
    from sklearn.decomposition import LatentDirichletAllocation

    start = time.perf_counter()
    lda = LatentDirichletAllocation(
        n_components=n_topics, learning_method="online", max_iter=max_iter, random_state=seed
    )
    train_topics = lda.fit_transform(train_counts)
    test_topics = lda.transform(test_counts)
    precision = knn_precision(train_topics, train_labels, test_topics, test_labels, k)
    return Baseline(precision, time.perf_counter() - start)


# --- topics ---------------------------------------------------------------------------------------------------------


def top_word_ids(topic_word: np.ndarray, n: int = 10) -> np.ndarray:
    """(K, n) ids of each topic's ``n`` highest-weighted words, highest first, from a (K, V) topic-word matrix
    (for NTM's decoder ``W`` of shape (V, K), pass ``W.T``)."""
    topic_word = np.asarray(topic_word)
    if topic_word.ndim != 2 or not 0 < n <= topic_word.shape[1]:
        raise ValueError(f"need a (K, V) matrix with V >= n={n}, got shape {topic_word.shape}")
    return np.argsort(-topic_word, axis=1, kind="stable")[:, :n]


def _check_top_words(top_word_ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(top_word_ids)
    if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"top_word_ids must be a non-empty (K, n) integer array, got {ids.dtype} {ids.shape}")
    return ids


def npmi_per_topic(top_word_ids: np.ndarray, doc_word: sp.spmatrix | np.ndarray) -> np.ndarray:
    """(K,) mean NPMI over each topic's word pairs, from document co-occurrence in a reference corpus.

    ``doc_word``: (D, V) counts (any non-zero = the word occurs in the document). With ``p(w)`` and ``p(w_i, w_j)``
    the shares of documents containing ``w`` and both words, ``NPMI = log(p_ij / (p_i p_j)) / -log(p_ij)``, averaged
    over the n(n-1)/2 pairs of each topic's top-n words (Bouma 2009; Lau et al. 2014; AWS reports it for the top
    10). No epsilon smoothing; the edge cases take their limits instead: a pair that never co-occurs (including a
    word absent from the reference corpus) scores -1, a pair present in every document scores 1. A word repeated
    within a topic pairs with itself as any two words would.
    """
    ids = _check_top_words(top_word_ids)
    present = sp.csc_matrix(doc_word, dtype=np.float64)
    present.data = (present.data != 0).astype(np.float64)
    present.eliminate_zeros()
    n_docs, n_words = present.shape
    if n_docs == 0:
        raise ValueError("the reference corpus has no documents")
    if ids.min() < 0 or ids.max() >= n_words:
        raise ValueError(f"word ids must be in [0, {n_words}), got [{ids.min()}, {ids.max()}]")
    upper = np.triu_indices(ids.shape[1], k=1)
    if upper[0].size == 0:
        raise ValueError("NPMI needs at least 2 words per topic")
    scores = np.empty(ids.shape[0])
    for topic, words in enumerate(ids):
        columns = present[:, words]
        joint = (columns.T @ columns).toarray()[upper] / n_docs
        single = np.asarray(columns.sum(axis=0)).ravel() / n_docs
        marginal = single[upper[0]] * single[upper[1]]
        value = np.full(joint.shape, -1.0)
        both = joint > 0
        always = joint >= 1.0
        value[always] = 1.0
        mid = both & ~always
        value[mid] = np.log(joint[mid] / marginal[mid]) / -np.log(joint[mid])
        scores[topic] = value.mean()
    return scores


def npmi(top_word_ids: np.ndarray, doc_word: sp.spmatrix | np.ndarray) -> float:
    """Mean over topics of :func:`npmi_per_topic`; in [-1, 1], higher is more coherent."""
    return float(npmi_per_topic(top_word_ids, doc_word).mean())


def topic_uniqueness_per_topic(top_word_ids: np.ndarray) -> np.ndarray:
    """(K,) ``TU(k) = (1/n) sum_i 1/cnt(i, k)``, ``cnt(i, k)`` = number of topics whose top-n words contain topic
    k's i-th word (docs/contract.md §1.5; a topic counts once however often it lists the word): the NTM container's own
    :func:`ntm_container.topics.topic_uniqueness`, on checked input, so the report and the training log agree."""
    return ntm_topics.topic_uniqueness(_check_top_words(top_word_ids))


def topic_uniqueness(top_word_ids: np.ndarray) -> float:
    """TU = mean over topics of :func:`topic_uniqueness_per_topic`; in [1/K, 1], 1 = no word shared by topics."""
    return float(topic_uniqueness_per_topic(top_word_ids).mean())

"""Topic metrics of ``ntm_container.topics`` against hand-computed values and a brute-force reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from ntm_container import topics


def test_top_words_largest_first() -> None:
    matrix = np.array([[0.1, 0.5, 0.3, 0.5], [4.0, 1.0, 2.0, 3.0]])
    assert topics.top_words(matrix, 3).tolist() == [[1, 3, 2], [0, 3, 2]]
    assert topics.top_words(matrix, 10).shape == (2, 4)


def test_topic_uniqueness_hand_computed() -> None:
    top = np.array([[0, 1], [0, 2], [3, 4]])
    # word 0 is in two topics: topic 0 -> (1/2 + 1)/2, topic 1 the same, topic 2 -> 1
    np.testing.assert_allclose(topics.topic_uniqueness(top), [0.75, 0.75, 1.0])
    assert topics.topic_uniqueness(np.array([[0, 1], [1, 0]])).mean() == pytest.approx(0.5)  # the 1/K floor


def _npmi_reference(top: np.ndarray, documents: np.ndarray) -> np.ndarray:
    present = documents > 0
    n = present.shape[0]
    result = []
    for words in top:
        values = []
        for a, b in itertools.combinations(words, 2):
            joint = (present[:, a] & present[:, b]).sum() / n
            if joint == 0:
                values.append(-1.0)
            elif joint == 1:
                values.append(1.0)
            else:
                pa, pb = present[:, a].mean(), present[:, b].mean()
                values.append(math.log(joint / (pa * pb)) / -math.log(joint))
        result.append(np.mean(values))
    return np.array(result)


def test_npmi_matches_brute_force_and_streams() -> None:
    rng = np.random.default_rng(0)
    documents = rng.poisson(0.4, size=(300, 40)).astype(np.float32)
    documents[:, 39] = 0  # a word in no document: its pairs score -1
    top = np.array([[0, 1, 2, 3], [4, 5, 39, 0], [7, 8, 9, 10]])
    expected = _npmi_reference(top, documents)
    np.testing.assert_allclose(topics.npmi(top, sp.csr_matrix(documents)), expected, rtol=1e-12)
    counter = topics.CooccurrenceCounter(top)
    for start in range(0, 300, 37):  # streamed in uneven batches
        counter.add(sp.csr_matrix(documents[start : start + 37]))
    np.testing.assert_allclose(counter.npmi(), expected, rtol=1e-12)
    assert counter.documents == 300


def test_npmi_counts_round_trip_for_all_reduce() -> None:
    documents = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], np.float32))
    top = np.array([[0, 1, 2]])
    first, second = topics.CooccurrenceCounter(top), topics.CooccurrenceCounter(top)
    first.add(documents[:2])
    second.add(documents[2:])
    merged = topics.CooccurrenceCounter(top)
    merged.set_counts(first.counts() + second.counts())
    np.testing.assert_allclose(merged.npmi(), topics.npmi(top, documents))


def test_npmi_perfectly_co_occurring_pair() -> None:
    documents = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1]], np.float32))
    assert topics.npmi(np.array([[0, 1]]), documents)[0] == pytest.approx(1.0)


def test_wetc_hand_computed_and_missing_words() -> None:
    vectors = np.array([[1, 0], [1, 0], [0, 1], [5, 5]], np.float32)
    found = np.array([True, True, True, False])
    # topic 0: pairs (0,1)=1, (0,2)=0, (1,2)=0 -> 1/3; topic 1: (0,3)=0 since word 3 has no embedding
    np.testing.assert_allclose(topics.wetc(np.array([[0, 1, 2], [0, 3, 1]]), vectors, found), [1 / 3, 1 / 3])


def test_listing_format() -> None:
    top = np.array([[0, 1, 2], [2, 1, 0]])
    tu = np.array([0.5, 0.25])
    lines = topics.listing(top, tu, ["a", "b", "c"], np.array([0.123, 0.456]))
    assert lines == ["Topics from epoch:final (num_topics:2) [wetc 0.29, tu 0.38]:", "[0.12, 0.50] a b c",
                     "[0.46, 0.25] c b a"]
    assert topics.listing(top, tu, None, None) == ["Topics from epoch:final (num_topics:2) [tu 0.38]:",
                                                   "[0.50] 0 1 2", "[0.25] 2 1 0"]

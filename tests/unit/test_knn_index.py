"""The k-NN index against the exact answer, the prediction rules, the reductions and reservoir sampling.

Recall is measured as faiss's tests do: approximate neighbours against brute force on seeded clustered data.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from container_core.batch import Batch
from container_core.errors import UserError
from knn_container import index
from knn_container.reduction import Reduction
from knn_container.sampling import Reservoir, host_quota


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Gaussian blobs around uniform centres: the structure IVF relies on, as real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(clusters, dim))
    members = rng.integers(0, clusters, size=n)
    return (centres[members] + rng.normal(size=(n, dim))).astype(np.float32)


def brute_force(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    q, b = queries.astype(np.float64), base.astype(np.float64)
    d2 = (q * q).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * q @ b.T
    ids = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d2, ids, axis=1), ids


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    base = clustered(20_000, 32, 50, seed=0)
    rng = np.random.default_rng(1)
    queries = base[rng.choice(base.shape[0], 200, replace=False)] + rng.normal(scale=0.5, size=(200, 32)).astype(np.float32)
    truth_d2, truth_ids = brute_force(base, queries.astype(np.float32), 10)
    return base, queries.astype(np.float32), truth_d2, truth_ids


def _plan(index_type: str, metric: str = "L2", pq_m: int | None = None) -> index.IndexPlan:
    return index.IndexPlan.choose(index_type, metric, 32, 20_000, "auto", pq_m)


def test_flat_is_exact_modulo_ties(data) -> None:
    base, queries, truth_d2, truth_ids = data
    plan = _plan("faiss.Flat")
    built = index.build(plan, base, use_gpu=False)
    scores, ids = index.search(built, plan, queries, 10)
    assert np.allclose(scores, truth_d2, rtol=1e-4, atol=1e-3)
    # where distances are distinct the ids must match exactly; ties may come in either order
    distinct = np.diff(truth_d2, axis=1) > 1e-3
    for row in range(ids.shape[0]):
        for col in range(10):
            left_ok = col == 0 or distinct[row, col - 1]
            right_ok = col == 9 or distinct[row, col]
            if left_ok and right_ok:
                assert ids[row, col] == truth_ids[row, col]
    assert np.allclose(index.reported_distances(scores, "L2"), np.sqrt(truth_d2), rtol=1e-4, atol=1e-3)


def test_ivfflat_recall(data) -> None:
    base, queries, _, truth_ids = data
    plan = _plan("faiss.IVFFlat")
    assert (plan.nlist, plan.nprobe) == (141, 12)
    built = index.build(plan, base, use_gpu=False)
    _, ids = index.search(built, plan, queries, 10)
    assert recall(ids, truth_ids) >= 0.97  # measured 1.00 (see the index module docstring)


def test_ivfpq_recall(data) -> None:
    base, queries, _, truth_ids = data
    assert _plan("faiss.IVFPQ").pq_m == 16  # the default: the largest allowed value not above dim / 2
    plan = _plan("faiss.IVFPQ", pq_m=8)  # 8 codes train 3x faster than 16; the test stays short
    assert (plan.pq_m, plan.dim, plan.pq_nbits) == (8, 32, 8)
    built = index.build(plan, base, use_gpu=False)
    _, ids = index.search(built, plan, queries, 10)
    assert recall(ids, truth_ids) >= 0.62  # measured 0.70 (see the index module docstring)


def test_ivfpq_pads_dimension_to_a_multiple_of_pq_m() -> None:
    base = clustered(600, 30, 5, seed=2)
    plan = index.IndexPlan.choose("faiss.IVFPQ", "L2", 30, 600, 4, pq_m=8)
    assert plan.dim == 32 and plan.input_dim == 30 and plan.pq_nbits == 8
    built = index.build(plan, base, use_gpu=False)
    assert built.d == 32 and built.ntotal == 600
    _, ids = index.search(built, plan, base[:20], 1)
    assert (ids[:, 0] == np.arange(20)).mean() >= 0.8  # a point is (usually) its own nearest neighbour
    small = index.IndexPlan.choose("faiss.IVFPQ", "L2", 30, 100, "auto", pq_m=8)
    assert small.pq_nbits == 6  # fewer than 256 points: fewer bits per code, so PQ can still be trained


def test_nlists_larger_than_sample_is_a_user_error() -> None:
    with pytest.raises(UserError, match="faiss_index_ivf_nlists: 50 lists need at least 50 sampled points"):
        index.IndexPlan.choose("faiss.IVFFlat", "L2", 4, 10, 50)


@pytest.mark.parametrize("metric", ["INNER_PRODUCT", "COSINE"])
def test_similarity_metrics_are_exact_and_listed_most_similar_last(metric: str) -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=(500, 6)).astype(np.float32)
    queries = rng.normal(size=(7, 6)).astype(np.float32)
    plan = index.IndexPlan.choose("faiss.Flat", metric, 6, 500)
    built = index.build(plan, base, use_gpu=False)
    scores, ids = index.search(built, plan, queries, 5)
    if metric == "COSINE":
        unit = base / np.linalg.norm(base, axis=1, keepdims=True)
        expected = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    else:
        expected = queries @ base.T
    truth = np.argsort(-expected, axis=1)[:, :5]
    assert (ids == truth).all()
    reported = index.reported_distances(scores, metric)
    assert (np.diff(reported, axis=1) >= 0).all()  # ascending: the most similar neighbour is last
    assert np.allclose(reported[:, -1], expected.max(axis=1), atol=1e-5)
    assert (index.response_order(ids, metric)[:, -1] == truth[:, 0]).all()
    assert np.allclose(base[:3], base[:3].copy())  # prepare() normalised a copy, not the caller's array


def test_ivf_short_probe_is_searched_again_so_k_neighbours_come_back() -> None:
    base = clustered(400, 4, 20, seed=4)
    plan = index.IndexPlan.choose("faiss.IVFFlat", "L2", 4, 400, 20)
    built = index.build(plan, base, use_gpu=False)
    built.nprobe = 1
    short = index.IndexPlan(plan.index_type, plan.metric, 4, 4, plan.nlist, 1)
    scores, ids = index.search(built, short, base[:10], 150)  # 150 > any one list here
    assert (ids >= 0).all() and (np.diff(scores, axis=1) >= 0).all()


def test_classifier_vote_ties_go_to_the_nearest_occurrence() -> None:
    labels = np.array(
        [
            [2.0, 1.0, 1.0, 2.0, 3.0],  # 1 and 2 twice each: 2 occurs first (nearest) -> 2
            [1.0, 2.0, 2.0, 1.0, 3.0],  # -> 1
            [3.0, 1.0, 1.0, 2.0, 2.0],  # 1 and 2 tie, 1 nearer -> 1 (3 is nearest but less frequent)
            [5.0, 4.0, 4.0, 4.0, 5.0],  # plain majority -> 4
        ],
        np.float32,
    )
    assert index.predict(labels, "classifier").tolist() == [2.0, 1.0, 1.0, 4.0]
    assert index.predict(labels, "regressor").tolist() == pytest.approx([1.8, 1.8, 1.8, 4.4])
    wide = np.tile(labels, (1, 300))  # k = 1500 takes the per-row path; same answers
    assert index.predict(wide, "classifier").tolist() == [2.0, 1.0, 1.0, 4.0]


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_reductions_preserve_distances_and_round_trip(kind: str, tmp_path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 256)).astype(np.float32)
    reduction = Reduction.draw(kind, 256, 128, seed=3)
    y = reduction.apply(x)
    assert y.shape == (60, 128) and y.dtype == np.float32
    before = np.linalg.norm(x[:30] - x[30:], axis=1)
    after = np.linalg.norm(y[:30] - y[30:], axis=1)
    assert np.median(np.abs(after / before - 1)) < 0.1  # JL: distances kept within a small relative error
    path = tmp_path / "r.npz"
    reduction.save(path)
    loaded = Reduction.load(path, reduction.describe())
    assert np.array_equal(loaded.apply(x), y)
    assert np.array_equal(Reduction.draw(kind, 256, 128, seed=3).apply(x), y)  # seeded
    with pytest.raises(UserError, match="does not match"):
        Reduction.load(path, dict(reduction.describe(), input_dim=255))


def test_host_quota_splits_evenly_with_the_remainder_first() -> None:
    assert [host_quota(10, 3, r) for r in range(3)] == [4, 3, 3]
    assert [host_quota(2, 4, r) for r in range(4)] == [1, 1, 0, 0]
    assert sum(host_quota(1001, 7, r) for r in range(7)) == 1001


def test_reservoir_keeps_everything_when_the_shard_is_small() -> None:
    reservoir = Reservoir(10, 2, seed=0)
    reservoir.add(Batch(np.arange(8, dtype=np.float32).reshape(4, 2), np.arange(4, dtype=np.float32)))
    features, labels = reservoir.sample()
    assert labels.tolist() == [0, 1, 2, 3] and features[3].tolist() == [6, 7]


def test_reservoir_sampling_is_uniform() -> None:
    """Each of 100 rows must land in a 10-row sample with probability 1/10, whatever the batching.

    2,000 seeded runs give ~200 inclusions per row; a chi-square test at alpha=0.001 fails for a biased sampler
    (e.g. one that favours early or late rows, or a batch position).
    """
    n, capacity, runs = 100, 10, 2000
    counts = np.zeros(n)
    rows = np.arange(n, dtype=np.float32)
    for seed in range(runs):
        reservoir = Reservoir(capacity, 1, seed=seed)
        for start in range(0, n, 7):  # uneven batches, the fill crossing a batch boundary
            part = rows[start : start + 7]
            reservoir.add(Batch(part[:, None], part))
        _, labels = reservoir.sample()
        assert len(set(labels.tolist())) == capacity
        counts[labels.astype(int)] += 1
    expected = runs * capacity / n
    statistic, p_value = scipy.stats.chisquare(counts, np.full(n, expected))
    assert p_value > 0.001, (statistic, counts.min(), counts.max())
    assert abs(counts[:50].sum() - counts[50:].sum()) < 0.05 * counts.sum()  # no drift from early to late rows


def test_reservoir_reads_sparse_batches() -> None:
    import scipy.sparse as sp

    matrix = sp.csr_matrix(np.array([[0, 1.5, 0], [2, 0, 0], [0, 0, 3]], np.float32))
    reservoir = Reservoir(5, 3, seed=0)
    reservoir.add(Batch(matrix, np.array([1, 2, 3], np.float32)))
    features, _ = reservoir.sample()
    assert np.array_equal(features, matrix.toarray())


@pytest.mark.gpu
@pytest.mark.parametrize("index_type", ["faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ"])
def test_gpu_build_serves_like_the_cpu_build(data, index_type: str, caplog: pytest.LogCaptureFixture) -> None:
    """Where CUDA is present the index is built on the GPU (not silently on the CPU) and saved as a CPU index."""
    base, queries, _, truth_ids = data
    assert index.gpu_available(), "faiss has no GPU support here; the GPU image installs faiss-gpu-cu12"
    plan = _plan(index_type, pq_m=8 if index_type == "faiss.IVFPQ" else None)
    with caplog.at_level("INFO", logger="knn.index"):
        built = index.build(plan, base)
    assert "index built on the GPU" in caplog.text and "failed" not in caplog.text
    assert "Gpu" not in type(built).__name__  # what the container saves and serves is a CPU index
    _, ids = index.search(built, plan, queries, 10)
    expected = {"faiss.Flat": 0.999, "faiss.IVFFlat": 0.97, "faiss.IVFPQ": 0.62}[index_type]
    assert recall(ids, truth_ids) >= expected

"""The exploration pictures of the tutorial, as PNG files a person opens (no window, no ``plt.show``).

* :func:`tsne_map`: t-SNE of the training documents' topic vectors, coloured by newsgroup (the tutorial's
  ``TSNE`` + ``sns.lmplot`` cell). openTSNE (FFT-accelerated) instead of scikit-learn's Barnes-Hut: on two cores it
  took 24 s against 42 s for 11k x 30.
* :func:`topic_distribution`: the tutorial's ``plot_topic_distribution(n)``: a test document's topic weights as bars
  beside those of its nearest training documents.
* :func:`loss_curves`: training and validation ``total_loss`` per epoch, from the NTM metric lines.

Figures are drawn with :class:`matplotlib.figure.Figure` (no ``pyplot`` state), so importing this module never
changes the backend of a notebook that imports it too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

DPI = 100


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _group_colours(count: int) -> np.ndarray:
    """``count`` distinct RGBA colours: tab20 for up to 20 groups, else evenly spaced hues."""
    from matplotlib import colormaps

    if count <= 20:
        return colormaps["tab20"](np.arange(count))
    return colormaps["hsv"](np.linspace(0, 1, count, endpoint=False))


def tsne_embedding(vectors: np.ndarray, seed: int = 0, perplexity: float = 50.0, n_jobs: int = 1) -> np.ndarray:
    """(n, 2) openTSNE embedding of ``vectors``; the perplexity is lowered to ``(n - 1) / 3`` for small inputs,
    which openTSNE's nearest-neighbour search needs.

    One thread by default: on a busy two-core machine two threads made it slower, not faster (5661 x 30: 25 s with
    one, 62 s with two, while other processes kept the cores busy)."""
    from openTSNE import TSNE

    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] < 4:
        raise ValueError(f"t-SNE needs a (n >= 4, d) array, got {vectors.shape}")
    perplexity = min(perplexity, (vectors.shape[0] - 1) / 3)
    return np.asarray(TSNE(perplexity=perplexity, n_jobs=n_jobs, random_state=seed, verbose=False).fit(vectors))


def tsne_map(vectors: np.ndarray, labels: np.ndarray, categories: Sequence[str], path: Path, seed: int = 0) -> float:
    """Write the t-SNE map of ``vectors`` coloured by ``categories[labels]`` to ``path``; returns the t-SNE seconds."""
    labels = np.asarray(labels)
    if labels.shape != (np.asarray(vectors).shape[0],):
        raise ValueError(f"{labels.shape} labels for {np.asarray(vectors).shape[0]} vectors")
    start = time.perf_counter()
    points = tsne_embedding(vectors, seed=seed)
    seconds = time.perf_counter() - start
    figure = Figure(figsize=(11, 8))
    axes = figure.subplots()
    colours = _group_colours(len(categories))
    for group, name in enumerate(categories):
        chosen = labels == group
        if chosen.any():
            axes.scatter(points[chosen, 0], points[chosen, 1], s=4, color=colours[group], label=name, alpha=0.8,
                         linewidths=0)
    axes.set_axis_off()
    axes.set_title(f"t-SNE of the NTM topic vectors of {labels.size} training documents, by newsgroup")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, frameon=False, fontsize=9)
    _save(figure, path)
    return seconds


def topic_distribution(
    test_topics: np.ndarray,
    neighbour_topics: np.ndarray,
    path: Path,
    *,
    title: str,
    neighbour_names: Sequence[str] | None = None,
    test_name: str = "Test Document Distribution",
) -> Path:
    """The tutorial's ``plot_topic_distribution``: one group of bars per topic id, one bar per neighbour
    (``neighbour_topics``, (k, K), closest first) and the test document last (``test_topics``, (K,))."""
    test_topics = np.asarray(test_topics, dtype=float)
    neighbour_topics = np.asarray(neighbour_topics, dtype=float)
    if neighbour_topics.ndim != 2 or neighbour_topics.shape[1] != test_topics.shape[0]:
        raise ValueError(f"neighbours {neighbour_topics.shape} do not match a test vector of {test_topics.shape}")
    names = list(neighbour_names) if neighbour_names is not None else [str(i) for i in range(len(neighbour_topics))]
    if len(names) != len(neighbour_topics):
        raise ValueError(f"{len(names)} names for {len(neighbour_topics)} neighbours")
    series = [*neighbour_topics, test_topics]
    labels = [*names, test_name]
    topics = np.arange(test_topics.shape[0])
    width = 0.8 / len(series)
    figure = Figure(figsize=(16, 4))
    axes = figure.subplots()
    for i, (values, label) in enumerate(zip(series, labels, strict=True)):
        last = i == len(series) - 1
        axes.bar(topics - 0.4 + (i + 0.5) * width, values, width, label=label,
                 color="black" if last else None, alpha=1.0 if last else 0.75)
    fs = 12
    axes.set_xticks(topics)
    axes.tick_params(labelsize=fs)
    axes.set_ylabel("Topic assignment", fontsize=fs + 2)
    axes.set_xlabel("Topic ID", fontsize=fs + 2)
    axes.set_title(title, fontsize=fs + 1)
    axes.set_xlim(-0.6, topics[-1] + 0.6)
    axes.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _save(figure, path)


def loss_curves(curves: dict[str, list[tuple[int, float]]], path: Path, title: str = "NTM training") -> Path:
    """``total_loss`` per epoch for each channel of ``curves`` (see :func:`recommender.training_log.loss_curves`)."""
    if not any(curves.values()):
        raise ValueError("no loss values to plot: the training log held no '#quality_metric: ... epoch=' lines")
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for channel, points in curves.items():
        if points:
            epochs, values = zip(*points, strict=True)
            axes.plot(epochs, values, marker="o", markersize=3, label=f"{channel} total_loss")
    axes.set_xlabel("epoch")
    axes.set_ylabel("total_loss per document (reconstruction + KL)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)

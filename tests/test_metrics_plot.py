"""Clustering measures against brute-force definitions, and the figures."""
import numpy as np
import pytest

import node
from node import metrics, plot


def blobs(rng, spread, n=60, k=3):
    centers = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])[:k]
    y = np.arange(n) % k
    return centers[y] + spread * rng.standard_normal((n, 2)), y


def test_compactness_by_definition(rng):
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 4.0]])
    y = np.array([0, 0, 1, 1])
    # class means (1, 0) and (10, 2); overall mean (5.5, 1)
    within = 1 + 1 + 4 + 4
    between = 2 * ((1 - 5.5) ** 2 + 1) + 2 * ((10 - 5.5) ** 2 + 1)
    assert metrics.compactness(x, y) == pytest.approx(within / between)


def test_compactness_is_scale_and_shift_free_and_orders_clusterings(rng):
    x, y = blobs(rng, 0.5)
    base = metrics.compactness(x, y)
    assert metrics.compactness(10 * x + 3, y) == pytest.approx(base)
    tight, _ = blobs(np.random.default_rng(1), 0.1)
    assert metrics.compactness(tight, y) < base


def silhouette_brute_force(x, y):
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    scores = []
    for i in range(len(x)):
        own = (y == y[i]) & (np.arange(len(x)) != i)
        if not own.any():
            scores.append(0.0)
            continue
        a = d[i, own].mean()
        b = min(d[i, y == c].mean() for c in np.unique(y) if c != y[i])
        scores.append((b - a) / max(a, b))
    return np.mean(scores)


def test_silhouette_matches_brute_force_in_chunks(rng):
    x, y = blobs(rng, 1.5, n=50)
    y[0] = 7  # a class with a single point scores 0
    for chunk in (1, 7, 1000):
        assert metrics.silhouette_score(x, y, chunk_size=chunk) == pytest.approx(silhouette_brute_force(x, y), abs=1e-9)


def test_center_separation_by_definition():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 4.0]])
    y = np.array([0, 0, 1, 1])
    gap = np.hypot(9, 2)
    spread = (1 + 1 + 2 + 2) / 4
    assert metrics.center_separation(x, y) == pytest.approx(gap / spread)


def test_accuracy_and_report_accept_nodes_and_one_hot(rng):
    scores = node.Node(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]))
    assert metrics.accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert metrics.accuracy(scores, np.eye(2)[[1, 0, 1]]) == 1.0
    x, y = blobs(rng, 0.5)
    report = metrics.feature_report(node.Node(x), np.eye(3)[y])
    assert set(report) == {"compactness", "silhouette", "center_separation"} and report["silhouette"] > 0.5
    with pytest.raises(ValueError, match="at least two classes"):
        metrics.compactness(x, np.zeros(len(x), int))


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_written_headless(tmp_path, rng):
    x, y = blobs(rng, 0.5)
    plot.scatter_features(x, y, tmp_path / "scatter.png", title="features")
    frame = plot.save_epoch_frame(x, y, 3, tmp_path / "frames")
    plot.feature_panels({"a": (x, y), "b": (2 * x, y)}, tmp_path / "panels.png")
    plot.training_curves({"train loss": [2.0, 1.0, 0.5], "test accuracy": [0.5, 0.8, 0.9]}, tmp_path / "curves.png")
    assert frame == tmp_path / "frames" / "epoch=3.png"
    for name in ("scatter.png", "frames/epoch=3.png", "panels.png", "curves.png"):
        assert _is_png(tmp_path / name), name
    fig = plot.scatter_features(x, y)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match=r"2-D features"):
        plot.scatter_features(np.zeros((4, 3)), np.zeros(4, int))

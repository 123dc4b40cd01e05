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


def test_figures_show_themselves_in_jupyter_without_pyplot(rng):
    """A fresh kernel has no formatter for matplotlib Figures until pyplot's inline backend registers one."""
    import pickle
    import subprocess
    import sys

    from matplotlib.figure import Figure

    x, y = blobs(rng, 0.5)
    figures = [
        plot.scatter_features(x, y),
        plot.feature_panels({"a": (x, y), "b": (2 * x, y)}),
        plot.training_curves({"train loss": [2.0, 1.0]}),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and isinstance(fig, plot.InlineFigure)
        assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    copy = pickle.loads(pickle.dumps(figures[0]))
    assert type(copy) is plot.InlineFigure and copy._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        plot.nope  # noqa: B018 (the attribute access is what is tested)
    # IPython's own display machinery, as a kernel uses it, in a process where pyplot was never imported;
    # the process-wide backend is left as it was.
    pytest.importorskip("IPython", reason="IPython (the notebook extra) is needed to check Jupyter's display")
    code = (
        "import sys, numpy as np, matplotlib, node\n"
        "backend = matplotlib.rcParams._get_backend_or_none()\n"
        "fig = node.plot.scatter_features(np.random.rand(20, 2), np.arange(20) % 3)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "formatter = InteractiveShell.instance().display_formatter\n"
        "print(sorted(formatter.format(fig)[0]))\n"
        "from matplotlib.figure import Figure\n"
        "print(sorted(formatter.format(Figure())[0]))  # the control: a plain Figure is only text there\n"
        "assert matplotlib.rcParams._get_backend_or_none() == backend\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["['image/png', 'text/plain']", "['text/plain']"]

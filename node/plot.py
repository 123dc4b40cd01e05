"""Figures of learned features and training curves.

matplotlib is imported only when a function here is called (``import node``
stays light), and figures are drawn on the Agg canvas without pyplot, so this
works on machines with no display and never touches global plotting state.
"""
from pathlib import Path

import numpy as np

from . import backend


def _figure(width, height, layout=None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    return fig


def scatter_features_on(ax, features, labels, title=None, classes=None, point_size=2):
    """Draw 2-D features coloured by class, with a legend, on a matplotlib Axes."""
    x = np.asarray(backend.asnumpy(features))
    y = np.asarray(backend.asnumpy(labels))
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"scatter plots need 2-D features (N, 2), got {x.shape}")
    names = classes or [str(c) for c in range(int(y.max()) + 1)]
    colours = [f"C{i % 10}" for i in range(len(names))]
    for c, name in enumerate(names):
        points = x[y == c]
        if len(points):
            ax.scatter(points[:, 0], points[:, 1], s=point_size, color=colours[c], label=name, rasterized=True)
    legend = ax.legend(loc="upper right", markerscale=4, fontsize=8, frameon=True)
    legend.get_frame().set_alpha(0.8)
    if title:
        ax.set_title(title)
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")


def scatter_features(features, labels, path=None, title=None, classes=None):
    """One scatter plot of 2-D features by class (the seeds' figure); saved to ``path`` if given."""
    fig = _figure(6, 6)
    scatter_features_on(fig.add_subplot(1, 1, 1), features, labels, title, classes)
    return _save(fig, path)


def save_epoch_frame(features, labels, epoch, folder, classes=None):
    """Save the scatter of this epoch's features as ``folder/epoch=N.png`` (as seed 004 does)."""
    path = Path(folder) / f"epoch={epoch}.png"
    scatter_features(features, labels, path, title=f"epoch={epoch}", classes=classes)
    return path


def feature_panels(runs, path=None, classes=None):
    """Side-by-side scatter panels, one per run: ``runs`` maps a title to (features, labels)."""
    fig = _figure(5 * len(runs), 5, layout="constrained")  # spaces the panels so labels never run into a neighbour
    for i, (title, (features, labels)) in enumerate(runs.items()):
        scatter_features_on(fig.add_subplot(1, len(runs), i + 1), features, labels, title, classes)
    return _save(fig, path)


def training_curves(history, path=None, title=None):
    """Plot curves such as {'train loss': [...], 'test accuracy': [...]} per epoch.

    Curves whose name contains 'acc' go on the right-hand panel, the rest on the left.
    """
    fig = _figure(10, 4)
    loss_ax, acc_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, values in history.items():
        ax = acc_ax if "acc" in name else loss_ax
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    for ax, ylabel in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)

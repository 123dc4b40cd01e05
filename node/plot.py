"""Figures of learned features and training curves.

matplotlib is imported only when a function here is called (``import node``
stays light), and figures are drawn on the Agg canvas without pyplot, so this
works on machines with no display and never touches global plotting state
(the matplotlib backend included).

Every function returns an ``InlineFigure``: a matplotlib ``Figure`` that
Jupyter displays as a PNG picture when it is a cell's last expression (or is
passed to ``IPython.display.display``), in a fresh kernel, without pyplot or
``%matplotlib inline``. In scripts it is an ordinary Figure: save it with
``savefig`` or the functions' ``path`` argument.
"""
import functools
import io
from pathlib import Path

import numpy as np

from . import backend
from .fileio import atomic_write

# InlineFigure is made on first use by the module __getattr__ below, which pyflakes cannot see.
__all__ = ["InlineFigure", "feature_panels", "save_epoch_frame", "scatter_features", "scatter_features_on", "training_curves"]  # noqa: F822


@functools.cache
def _inline_figure_class():
    """Define InlineFigure on first use, so that ``import node`` does not import matplotlib."""
    from matplotlib.figure import Figure

    class InlineFigure(Figure):
        """A matplotlib ``Figure`` that shows itself as a picture in Jupyter.

        IPython displays a plain ``Figure`` as a picture only once pyplot's
        inline backend has registered a formatter for it (``%matplotlib
        inline``, or importing pyplot in a kernel); before that, a cell shows
        ``<Figure size 600x600 with 1 Axes>``. This subclass draws itself with
        ``_repr_png_`` instead, on the Agg canvas, so it needs neither pyplot
        nor a display. Where pyplot's formatter is registered, that one is
        used, so a figure is never shown twice.
        """

        def _repr_png_(self):
            """The figure as PNG bytes, cropped to its content, for Jupyter's display."""
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", bbox_inches="tight")
            return buffer.getvalue()

    InlineFigure.__module__, InlineFigure.__qualname__ = __name__, "InlineFigure"  # pickles as node.plot.InlineFigure (see __getattr__)
    return InlineFigure


def __getattr__(name):
    """``node.plot.InlineFigure``: the class is made (and matplotlib imported) when first asked for."""
    if name == "InlineFigure":
        return _inline_figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _figure(width, height, layout=None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = _inline_figure_class()(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    """Write ``fig`` to ``path`` (format from its suffix, PNG without one) through the one atomic write."""
    if path is not None:
        path = Path(path)
        with atomic_write(path) as f:  # folders made, the umask's permissions, never half a picture
            fig.savefig(f, format=path.suffix[1:].lower() or "png", bbox_inches="tight")
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
    """One scatter plot of 2-D features by class (the figure of the Center Loss experiments); saved to ``path`` if given.

    Args:
        features: (N, 2) array (NumPy or CuPy) of features.
        labels: (N,) integer labels, or (N, classes) one-hot rows.
        path: file to save the figure to (folders are created); None saves nothing.
        title: the plot's title.
        classes: names for the legend (default "0", "1", ...).

    Returns:
        InlineFigure: the figure; a cell's last expression in Jupyter shows it.
    """
    fig = _figure(6, 6)
    scatter_features_on(fig.add_subplot(1, 1, 1), features, labels, title, classes)
    return _save(fig, path)


def save_epoch_frame(features, labels, epoch, folder, classes=None):
    """Save the scatter of this epoch's features as ``folder/epoch=N.png`` (as the LeNets++ Center Loss training does)."""
    path = Path(folder) / f"epoch={epoch}.png"
    scatter_features(features, labels, path, title=f"epoch={epoch}", classes=classes)
    return path


def feature_panels(runs, path=None, classes=None):
    """Side-by-side scatter panels, one per run: ``runs`` maps a title to (features, labels).

    Returns:
        InlineFigure: the figure, saved to ``path`` first if given.
    """
    fig = _figure(5 * len(runs), 5, layout="constrained")  # spaces the panels so labels never run into a neighbour
    for i, (title, (features, labels)) in enumerate(runs.items()):
        scatter_features_on(fig.add_subplot(1, len(runs), i + 1), features, labels, title, classes)
    return _save(fig, path)


def training_curves(history, path=None, title=None):
    """Plot curves such as {'train loss': [...], 'test accuracy': [...]} per epoch.

    Curves whose name contains 'acc' go on the right-hand panel, the rest on the left.

    Returns:
        InlineFigure: the figure, saved to ``path`` first if given.
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

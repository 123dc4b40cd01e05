"""Accuracy and measures of how tightly features cluster by class.

All take features (N, D) and integer labels (N,) as arrays or Nodes on any
backend, copy them to the host, and compute in float64.

* ``compactness``: tr(S_W) / tr(S_B), within-class over between-class scatter.
  Scale-free: multiplying every feature by a constant leaves it unchanged, so a
  network cannot look compact by shrinking everything. Lower is tighter.
* ``silhouette_score``: mean over points of (b - a)/max(a, b), where a is the
  mean distance to the point's own class and b to the nearest other class.
  In [-1, 1]; higher is better separated.
* ``center_separation``: the smallest distance between two class means over
  the mean distance of a point to its class mean. Higher is better separated.

``RunningMean`` is for the training loop instead: it averages per-step values
(the loss) where they are, so a step on the GPU never waits to read one back.
"""
import numpy as np

from . import backend


def _host(features, labels):
    x = np.asarray(backend.asnumpy(features), dtype=np.float64)
    y = np.asarray(backend.asnumpy(labels))
    if y.ndim == 2:  # one-hot rows
        y = y.argmax(axis=1)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"expected features (N, D) and labels (N,), got {x.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("these measures need at least two classes")
    return x, y.astype(np.int64)


def accuracy(scores, labels):
    """Fraction of rows whose largest score is at the label (labels as integers or one-hot rows)."""
    s = backend.asnumpy(scores)
    y = backend.asnumpy(labels)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if s.ndim != 2 or len(s) != len(y):
        raise ValueError(f"accuracy: expected scores (N, C) and N labels, got {s.shape} and {y.shape}")
    return float((s.argmax(axis=1) == y).mean())


class RunningMean:
    """The mean of values added step by step, summed on their own device and read back once.

    ``float(loss.value)`` in a GPU training loop makes every step wait until the
    device has computed the loss. Adding the 0-d loss array here queues one
    more addition on the device instead; ``value()`` reads the total once::

        running = node.metrics.RunningMean()
        for x, t in loader:
            ...
            running.add(loss)          # no device sync
        print(running.value())         # one sync per epoch

    Args of ``add``: a Node, array or number, and its ``weight`` (e.g. the batch
    size, for a mean over samples rather than over steps).
    """

    def __init__(self):
        self.total = None
        self.weight = 0.0

    def add(self, value, weight=1):
        value = getattr(value, "value", value)
        if weight != 1:
            value = value * weight
        self.total = value if self.total is None else self.total + value
        self.weight += weight

    def value(self):
        """The mean so far (a Python float), or NaN before the first ``add``."""
        if self.total is None:
            return float("nan")
        return float(backend.asnumpy(self.total)) / self.weight


def class_means(features, labels):
    """(classes present, their means (K, D), their counts)."""
    x, y = _host(features, labels)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    sums = np.zeros((len(classes), x.shape[1]))
    np.add.at(sums, inverse, x)
    return classes, sums / counts[:, None], counts


def compactness(features, labels):
    """tr(S_W) / tr(S_B): Σᵢ‖xᵢ - μ_yᵢ‖² over Σ_j n_j‖μ_j - μ‖². Lower means tighter classes."""
    x, y = _host(features, labels)
    classes, means, counts = class_means(x, y)
    within = ((x - means[np.searchsorted(classes, y)]) ** 2).sum()
    between = (counts[:, None] * (means - x.mean(axis=0)) ** 2).sum()
    return float(within / between)


def center_separation(features, labels):
    """min_{j≠k} ‖μ_j - μ_k‖ / mean_i ‖xᵢ - μ_yᵢ‖. Higher means classes sit further apart than they spread."""
    x, y = _host(features, labels)
    classes, means, _ = class_means(x, y)
    spread = np.linalg.norm(x - means[np.searchsorted(classes, y)], axis=1).mean()
    gaps = np.linalg.norm(means[:, None] - means[None], axis=2)
    gaps[np.diag_indices(len(classes))] = np.inf
    return float(gaps.min() / spread)


def silhouette_score(features, labels, chunk_size=1024):
    """Mean silhouette over all points, computed a chunk of rows at a time (memory O(chunk·N))."""
    x, y = _host(features, labels)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    onehot = np.zeros((len(x), len(classes)))
    onehot[np.arange(len(x)), inverse] = 1
    sq = (x * x).sum(axis=1)
    total = 0.0
    for start in range(0, len(x), chunk_size):
        rows = slice(start, start + chunk_size)
        d2 = sq[rows, None] + sq[None, :] - 2 * x[rows] @ x.T
        dist = np.sqrt(np.maximum(d2, 0))
        sums = dist @ onehot  # (chunk, K): summed distance to every class
        own = inverse[rows]
        own_count = counts[own] - 1  # the point itself does not count
        a = np.where(own_count > 0, sums[np.arange(len(own)), own] / np.maximum(own_count, 1), 0.0)
        mean_to = sums / counts
        mean_to[np.arange(len(own)), own] = np.inf
        b = mean_to.min(axis=1)
        s = np.where(own_count > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)  # singletons score 0
        total += s.sum()
    return float(total / len(x))


def feature_report(features, labels):
    """All three clustering measures in a dict (for the examples' metrics JSON)."""
    return {
        "compactness": compactness(features, labels),
        "silhouette": silhouette_score(features, labels),
        "center_separation": center_separation(features, labels),
    }

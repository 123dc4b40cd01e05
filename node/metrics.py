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

Features of classes never trained on are judged by pairs and by ranking
(see the section "evaluation of features on classes never trained on"):
``pairs`` and ``pair_scores`` make scored pairs; ``verification`` (ROC AUC,
EER, TAR at fixed FAR, on sklearn's ``roc_curve``: ``roc_curve`` here),
``pair_accuracy`` (LFW's ten folds) and ``retrieval`` (precision@1,
R-precision, MAP@R as pytorch-metric-learning defines them) measure them.

``RunningMean`` is for the training loop instead: it averages per-step values
(the loss) where they are, so a step on the GPU never waits to read one back.
"""
import numpy as np

from . import backend, config


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


# ---- evaluation of features on classes never trained on ----------------------------------------
#
# A network trained on some classes is judged on others by its features alone:
#
# * ``pairs`` samples same-class and different-class pairs of test images and
#   ``pair_scores`` scores them (cosine similarity: higher means "same");
# * ``verification`` reads the scores as a detector of "same": the ROC, its
#   area, the equal error rate and the true-accept rate at fixed false-accept
#   rates (``roc_curve`` gives the curve itself);
# * ``pair_accuracy`` is LFW's protocol: a threshold learnt on nine folds of
#   pairs, tested on the tenth;
# * ``retrieval`` ranks every test image by similarity to each one and asks
#   whether its own class comes first (precision@1, R-precision, MAP@R).
#
# All copy their inputs to the host and compute in float64.

def _host_array(x):
    """A NumPy array of a Node, a NumPy or CuPy array, or a list."""
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        return np.asarray(x)
    return np.asarray(backend.asnumpy(x))


def _check_finite(owner, name, values):
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0]
        at = int(where[0]) if len(where) == 1 else tuple(int(w) for w in where)
        raise ValueError(f"{owner}: {name} must be finite, got {values[tuple(where)]} at {at}")


def _scored_pairs(owner, scores, same):
    """Scores (n,) as float64 and same (n,) as bool, checked: equal lengths, n >= 1, finite, both kinds present."""
    s = _host_array(scores)
    y = _host_array(same)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{owner}: scores and same must be 1-D, one entry per pair, got shapes {s.shape} and {y.shape}")
    if len(s) != len(y):
        raise ValueError(f"{owner}: {len(s)} scores but {len(y)} same flags")
    if len(s) == 0:
        raise ValueError(f"{owner}: got no pairs (empty scores)")
    if s.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: scores must be real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    _check_finite(owner, "scores", s)
    if y.dtype.kind != "b":
        if y.dtype.kind not in "iuf" or not np.isin(y, (0, 1)).all():
            raise ValueError(f"{owner}: same must be booleans (or 0/1), got values {np.unique(y)[:5]}")
        y = y == 1
    if y.all() or not y.any():
        kind = "same" if y.all() else "different"
        raise ValueError(f"{owner}: needs both same and different pairs to tell them apart, got only {kind} pairs ({len(y)})")
    return s, y


def roc_curve(scores, same, drop_intermediate=True):
    """The ROC of ``scores`` as a detector of ``same``, exactly as ``sklearn.metrics.roc_curve`` computes it.

    A pair is accepted as "same" when its score is >= the threshold. Sorting the
    scores from high to low, each *distinct* score is a threshold (tied scores
    are accepted together, so ties make one step of the curve, diagonal when
    the tie holds both kinds): fps and tps count the different and same pairs
    accepted at it, FPR = fps / #different and TPR = tps / #same. With
    ``drop_intermediate`` the points in the middle of a straight run (where
    both second differences of fps and tps are 0) are left out, which changes
    no area or crossing. The point (0, 0) is put first, with threshold +inf.

    Args:
        scores: (n,) similarities, higher meaning "same".
        same: (n,) booleans (or 0/1), True for a same-class pair.
        drop_intermediate: as sklearn's.

    Returns:
        (fpr, tpr, thresholds), float64 arrays of one length, thresholds decreasing.
    """
    s, y = _scored_pairs("roc_curve", scores, same)
    return _roc(s, y, drop_intermediate)


def _roc(s, y, drop_intermediate=True):
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last pair of each distinct score
    tps = np.cumsum(y, dtype=np.float64)[last]
    fps = 1 + last - tps
    thresholds = s[last]
    if drop_intermediate and len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps, thresholds = np.r_[0, fps], np.r_[0, tps], np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def _far_levels(far):
    levels = (far,) if np.isscalar(far) else tuple(far)
    for level in levels:
        if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.integer, np.floating)) or not 0 <= level <= 1:
            raise ValueError(f"verification: far must be numbers in [0, 1], got {far!r:.60}")
    return tuple(float(level) for level in levels)


def equal_error_rate(fpr, tpr, thresholds):
    """(EER, threshold at EER): where the ROC polyline crosses FPR = FNR = 1 - TPR.

    FPR - FNR never decreases along the curve, from -1 at (0, 0) to 1 at (1, 1).
    Between the last point i-1 where it is < 0 and the first point i where it
    is >= 0 the curve is taken as a straight segment; the crossing is at the
    fraction t = -g(i-1) / (g(i) - g(i-1)) of it (g = FPR - FNR), so
    EER = FPR(i-1) + t·(FPR(i) - FPR(i-1)) (which equals FNR there), and the
    threshold is interpolated by the same t. When the segment starts at the
    curve's first point, whose threshold is +inf, the threshold is point i's.
    """
    gap = fpr - (1 - tpr)
    i = int(np.argmax(gap >= 0))
    if gap[i] == 0:
        return float(fpr[i]), float(thresholds[i])
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    low, high = thresholds[i - 1], thresholds[i]
    threshold = high if np.isinf(low) else low + t * (high - low)
    return float(eer), float(threshold)


def verification(scores, same, far=(1e-2, 1e-3, 1e-4)):
    """How well pair scores separate same-class from different-class pairs: AUC, EER and TAR at fixed FARs.

    Computed on the ROC of :func:`roc_curve` (sklearn's, ties included, with
    its default ``drop_intermediate=True``):

    * ``"auc"``: the area under it by the trapezoidal rule, as
      ``sklearn.metrics.roc_auc_score`` (ties count half, as the diagonal step
      they make).
    * ``"eer"`` and ``"threshold_at_eer"``: the equal error rate, where
      FPR = FNR on the ROC polyline, linearly interpolated between its two
      points around the crossing (see :func:`equal_error_rate`). They are
      computed on the curve with every distinct threshold
      (``drop_intermediate=False``): the crossing, hence the EER, is the same
      point on sklearn's default curve, but the threshold is interpolated
      between two consecutive distinct scores rather than across a run of
      them. (The common recipe ``brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)``
      gives the same EER.)
    * ``"tar@far"``: {FAR: TAR} for each level in ``far``: the largest TPR of a
      ROC point with FPR <= FAR (0 when only (0, 0) qualifies). No
      interpolation: a TAR that some threshold actually achieves.

    Args:
        scores: (n,) similarities of pairs, higher meaning "same" (a Node or array, any backend).
        same: (n,) booleans (or 0/1): True for pairs of one class.
        far: the false-accept rates to report, a number or a sequence of them in [0, 1].

    Returns:
        dict with "auc", "eer", "threshold_at_eer" (floats) and "tar@far" (dict float -> float).

    Raises:
        ValueError: no pairs, lengths that differ, scores that are NaN or
            infinite, same flags that are not booleans, or pairs of one kind only.
    """
    s, y = _scored_pairs("verification", scores, same)
    levels = _far_levels(far)
    fpr, tpr, thresholds = _roc(s, y)
    eer, threshold = equal_error_rate(*_roc(s, y, drop_intermediate=False))
    return {
        "auc": float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)),
        "eer": eer,
        "threshold_at_eer": threshold,
        "tar@far": {level: float(tpr[fpr <= level].max()) for level in levels},
    }


def best_threshold(scores, same):
    """The threshold that classifies the most pairs right as "same when score >= threshold".

    Candidates are one below every score (-inf: all accepted), the midpoints
    between consecutive distinct scores, and one above all (+inf: none
    accepted). Of the candidates with the highest accuracy the lowest wins.
    """
    values, index = np.unique(scores, return_inverse=True)
    same_count = np.bincount(index, weights=same, minlength=len(values))
    diff_count = np.bincount(index, weights=~same, minlength=len(values))
    # accepting values[k:] gets the same pairs from k on and the different ones before k right
    correct = np.r_[np.cumsum(same_count[::-1])[::-1], 0] + np.r_[0, np.cumsum(diff_count)]
    candidates = np.r_[-np.inf, (values[1:] + values[:-1]) / 2, np.inf]
    return float(candidates[int(np.argmax(correct))])


def pair_accuracy(scores, same, folds=10):
    """Verification accuracy by LFW's protocol: a threshold chosen on nine folds, tested on the tenth.

    The pairs are cut into ``folds`` contiguous folds in their given order, as
    LFW's fixed folds are (``np.array_split``: the first n mod folds folds
    get one pair more). For each fold, :func:`best_threshold` picks the
    threshold that classifies the other folds' pairs best ("same" when
    score >= threshold), and the fold's accuracy is measured with it. Pass the
    pairs in an order that mixes both kinds in every fold (``pairs`` shuffles them).

    Args:
        scores: (n,) pair similarities, higher meaning "same".
        same: (n,) booleans (or 0/1).
        folds: the number of folds, an integer >= 2 (and <= n).

    Returns:
        (mean, std) of the folds' accuracies, floats; std is the population
        standard deviation (``np.std``, ddof=0).
    """
    s, y = _scored_pairs("pair_accuracy", scores, same)
    if isinstance(folds, (bool, np.bool_)) or not isinstance(folds, (int, np.integer)):
        raise TypeError(f"pair_accuracy: folds must be an integer >= 2, got {type(folds).__name__} {folds!r:.40}")
    if not 2 <= folds <= len(s):
        raise ValueError(f"pair_accuracy: folds must be an integer in [2, {len(s)}] (the number of pairs), got {folds}")
    accuracies = []
    for test in np.array_split(np.arange(len(s)), folds):
        train = np.ones(len(s), dtype=bool)
        train[test] = False
        threshold = best_threshold(s[train], y[train])
        accuracies.append(np.mean((s[test] >= threshold) == y[test]))
    return float(np.mean(accuracies)), float(np.std(accuracies))


def _features_and_labels(owner, features, labels):
    """Features (N, D) in float64 and labels (N,), checked: N >= 2, finite, at least two classes."""
    x = _host_array(features)
    y = _host_array(labels)
    if y.ndim == 2:  # one-hot rows
        y = y.argmax(axis=1)
    if x.ndim != 2 or y.ndim != 1:
        raise ValueError(f"{owner}: expected features (N, D) and labels (N,), got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{owner}: {len(x)} features but {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{owner}: got no features (empty input)")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: features must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    _check_finite(owner, "features", x)
    if len(np.unique(y)) < 2:
        raise ValueError(f"{owner}: needs at least two classes, got one only ({len(y)} samples of label {y[0].item()!r})")
    return x, y


def _metric(owner, metric):
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"{owner}: metric must be 'cosine' or 'euclidean', got {metric!r:.40}")
    return metric


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pair_scores(features, i, j, metric="cosine"):
    """The similarity of each pair (i[k], j[k]) of rows of ``features``: higher means more alike.

    ``metric="cosine"``: x̂ᵢ·x̂ⱼ with x̂ = x / max(‖x‖, 1e-12) (0 for a zero
    feature), in [-1, 1]. ``metric="euclidean"``: -‖xᵢ - xⱼ‖, so that
    higher is still "more alike". Computed 65,536 pairs at a time.

    Returns: (n,) float64 scores for :func:`verification` and :func:`pair_accuracy`.
    """
    metric = _metric("pair_scores", metric)
    x = _host_array(features)
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise ValueError(f"pair_scores: features must be a real (N, D) array, got {x.dtype} {x.shape}")
    x = x.astype(np.float64)
    _check_finite("pair_scores", "features", x)
    i, j = _host_array(i), _host_array(j)
    if i.shape != j.shape or i.ndim != 1 or i.dtype.kind not in "iu" or j.dtype.kind not in "iu":
        raise ValueError(f"pair_scores: i and j must be integer arrays of one length, got {i.dtype} {i.shape} and {j.dtype} {j.shape}")
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= len(x)):
        raise ValueError(f"pair_scores: indices must be in [0, {len(x) - 1}] (the rows of features)")
    if metric == "cosine":
        x = _unit(x)
    scores = np.empty(len(i))
    for start in range(0, len(i), 65536):
        a, b = x[i[start:start + 65536]], x[j[start:start + 65536]]
        scores[start:start + 65536] = (a * b).sum(axis=1) if metric == "cosine" else -np.linalg.norm(a - b, axis=1)
    return scores


def _count(owner, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r:.40}")
    return int(value)


def _unrank(ranks, per_row, first_partner):
    """The pairs (p, q) numbered ``ranks`` when row p has ``per_row[p]`` partners first_partner[p], first_partner[p] + 1, ..."""
    ends = np.cumsum(per_row)
    p = np.searchsorted(ends, ranks, side="right")
    return p, first_partner[p] + ranks - (ends[p] - per_row[p])


def pairs(features, labels, n_same, n_diff, rng):
    """Sample ``n_same`` same-class and ``n_diff`` different-class pairs of samples, none twice.

    A pair is unordered and of two different samples: (i, j) with i < j. The
    samples are sorted by label; all same-class pairs are numbered (row by
    row: for each p, its partners q > p in p's class) and ``n_same`` numbers
    drawn without replacement (``rng.choice(total, n_same, replace=False)``),
    then the different-class pairs likewise (partners q in later classes), then
    the order of all of them is shuffled (``rng.permutation``), so contiguous
    folds of :func:`pair_accuracy` mix both kinds. So every pair of a kind is
    equally likely and the same ``rng`` seed gives the same pairs. Score them
    with :func:`pair_scores`.

    Args:
        features: (N, D), only checked here (shape and finite values), so that
            a NaN fails before any scoring.
        labels: (N,) class labels (or one-hot rows).
        n_same, n_diff: how many pairs of each kind, integers >= 0.
        rng: a ``numpy.random.Generator`` or an int seed (see ``node.config.as_generator``).

    Returns:
        (i, j, same): int64 arrays i < j of the pairs' sample indices and a
        boolean array, True for same-class pairs; n_same + n_diff of each.

    Raises:
        ValueError: fewer pairs of a kind than asked for, one class only, empty
            input, NaN features, or lengths that differ.
    """
    x, y = _features_and_labels("pairs", features, labels)
    n_same, n_diff = _count("pairs", "n_same", n_same), _count("pairs", "n_diff", n_diff)
    generator = config.as_generator(rng)
    order = np.argsort(y, kind="stable")
    _, inverse, counts = np.unique(y[order], return_inverse=True, return_counts=True)
    end = np.cumsum(counts)[inverse]  # one past the last position of each sample's class
    position = np.arange(len(y))
    kinds = (("same-class", n_same, end - position - 1, position + 1), ("different-class", n_diff, len(y) - end, end))
    drawn = []
    for kind, wanted, per_row, first_partner in kinds:
        total = int(per_row.sum())
        if wanted > total:
            raise ValueError(f"pairs: asked for {wanted} {kind} pairs, but these labels make only {total}")
        p, q = _unrank(generator.choice(total, size=wanted, replace=False), per_row, first_partner)
        drawn.append((order[p], order[q]))
    a = np.concatenate([drawn[0][0], drawn[1][0]])
    b = np.concatenate([drawn[0][1], drawn[1][1]])
    same = np.r_[np.ones(n_same, dtype=bool), np.zeros(n_diff, dtype=bool)]
    shuffle = generator.permutation(len(same))
    i, j = np.minimum(a, b)[shuffle], np.maximum(a, b)[shuffle]
    return i.astype(np.int64), j.astype(np.int64), same[shuffle]


def retrieval(features, labels, metric="cosine", block_size=None):
    """Retrieval of each sample's class among all others: precision@1, R-precision and MAP@R.

    Defined as pytorch-metric-learning's ``AccuracyCalculator`` defines them
    with the query set as the reference set (``ref_includes_query=True``, its
    default ``k=None``, ``avg_of_avgs=False``). Each sample q is a query; the
    others are ranked by similarity to it, most similar first (its own
    embedding is left out). With R = (number of samples of q's class) - 1, and
    rel(k) = 1 when the k-th ranked sample has q's label:

        precision@1 = rel(1)
        R-precision = (1/R) Σ_{k≤R} rel(k)
        MAP@R       = (1/R) Σ_{k≤R} rel(k)·P(k),   P(k) = (1/k) Σ_{i≤k} rel(i)

    each averaged over the queries whose class has another sample (lone labels,
    R = 0, are skipped). Ties in similarity are ranked by sample index, lowest
    first (a stable sort); pytorch-metric-learning leaves their order to
    ``torch.topk`` or faiss, which is unspecified (and computes in float32,
    where near-ties become ties). Similarities are summed in one fixed order
    (``einsum``, not BLAS's ``@``, whose rounding of a row changes with the
    block's shape), so equal features tie exactly and the result does not
    depend on ``block_size``.

    Similarity: ``"cosine"`` (default, x̂ᵢ·x̂ⱼ with x̂ = x / max(‖x‖, 1e-12)) or
    ``"euclidean"`` (the negative distance; ranks as pytorch-metric-learning's
    default faiss L2 search does).

    Memory: the queries go ``block_size`` at a time (default: rows of about 4
    million similarities in all, 32 MB of float64), so 10,000 samples need a
    few blocks of (block_size, N), not an (N, N) matrix.

    Returns:
        dict with "precision_at_1", "r_precision", "map_at_r" (floats).

    Raises:
        ValueError: empty input, lengths that differ, NaN features, one class
            only, or every label alone.
    """
    x, y = _features_and_labels("retrieval", features, labels)
    metric = _metric("retrieval", metric)
    n = len(x)
    if block_size is None:
        block_size = max(1, 2**22 // n)
    elif isinstance(block_size, (bool, np.bool_)) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"retrieval: block_size must be an integer >= 1 or None, got {block_size!r:.40}")
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    relevant = counts[inverse] - 1  # R for each query
    queries = np.flatnonzero(relevant > 0)
    if len(queries) == 0:
        raise ValueError("retrieval: every label occurs once, so no query has another sample of its class")
    if metric == "cosine":
        x = _unit(x)
    width = int(relevant.max())
    totals = np.zeros(3)
    for start in range(0, len(queries), block_size):
        q = queries[start:start + block_size]
        totals += _retrieval_block(x, inverse, q, relevant[q], width, metric)
    mean = totals / len(queries)
    return {"precision_at_1": float(mean[0]), "r_precision": float(mean[1]), "map_at_r": float(mean[2])}


def _retrieval_block(x, classes, q, r, width, metric):
    """Summed (precision@1, R-precision, AP@R) of the queries ``q`` (their R in ``r``), ranking the first ``width``."""
    similarity = np.einsum("qd,nd->qn", x[q], x)  # not @: BLAS rounds a row differently as the block's shape changes
    if metric == "euclidean":
        similarity = -np.sqrt(np.maximum((x[q] ** 2).sum(axis=1)[:, None] + (x ** 2).sum(axis=1)[None, :] - 2 * similarity, 0))
    rows = np.arange(len(q))
    similarity[rows, q] = -np.inf  # the query itself ranks last, then is cut off
    ranked = np.argsort(-similarity, axis=1, kind="stable")[:, :width]
    hit = classes[ranked] == classes[q][:, None]  # rel(k), (B, width)
    hit &= np.arange(width)[None, :] < r[:, None]  # only the first R count
    precision = np.cumsum(hit, axis=1) / np.arange(1, width + 1)
    return np.array([hit[:, 0].sum(), (hit.sum(axis=1) / r).sum(), ((precision * hit).sum(axis=1) / r).sum()])

"""node.metrics on classes never trained on: verification, pair accuracy, retrieval, pairs.

Against NumPy written here from the definitions (ROC by brute force over
thresholds, retrieval by loops), hand-computed small cases with ties, and, when
installed, scikit-learn and pytorch-metric-learning.
"""
import numpy as np
import pytest

import node
from node import metrics


# ---- references from the definitions ------------------------------------------------------------
def roc_by_thresholds(s, y):
    """Every distinct score as a threshold (accept score >= t), from high to low, after (0, 0) at +inf."""
    thresholds = np.r_[np.inf, np.unique(s)[::-1]]
    fpr = np.array([((s >= t) & ~y).sum() / (~y).sum() for t in thresholds])
    tpr = np.array([((s >= t) & y).sum() / y.sum() for t in thresholds])
    return fpr, tpr, thresholds


def auc_by_pairs(s, y):
    """P(score of a same pair > score of a different pair) + ½ P(equal): the ROC area, ties included."""
    a, b = s[y][:, None], s[~y][None, :]
    return ((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size) if a.size else np.nan


def eer_by_bisection(fpr, tpr):
    """Where the polyline (fpr, tpr) meets FPR = 1 - TPR, by bisection on the curve's arc parameter."""
    def gap(u):  # u in [0, len - 1]: along the polyline
        k = min(int(u), len(fpr) - 2)
        t = u - k
        f = fpr[k] + t * (fpr[k + 1] - fpr[k])
        return f - (1 - (tpr[k] + t * (tpr[k + 1] - tpr[k]))), f
    lo, hi = 0.0, len(fpr) - 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gap(mid)[0] < 0 else (lo, mid)
    return gap(hi)[1]


def retrieval_by_loops(x, y):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = np.einsum("qd,nd->qn", u, u)  # the same rounding as retrieval's, so that its ties are the same ties
    p1, rp, mapr, queries = 0.0, 0.0, 0.0, 0
    for q in range(len(x)):
        r = (y == y[q]).sum() - 1
        if r == 0:
            continue
        others = [j for j in sorted(range(len(x)), key=lambda j: (-sims[q, j], j)) if j != q]
        rel = [y[j] == y[q] for j in others]
        p1 += rel[0]
        rp += sum(rel[:r]) / r
        mapr += sum(sum(rel[: k + 1]) / (k + 1) for k in range(r) if rel[k]) / r
        queries += 1
    return p1 / queries, rp / queries, mapr / queries


def random_pairs(rng, n, tied=False):
    y = rng.random(n) < 0.4
    y[:2] = [True, False]
    s = rng.integers(0, 5, n).astype(float) if tied else rng.standard_normal(n) + y
    return s, y


# ---- verification ------------------------------------------------------------------------------
def test_roc_matches_every_distinct_threshold():
    rng = np.random.default_rng(0)
    for tied in (False, True):
        s, y = random_pairs(rng, 60, tied)
        fpr, tpr, thresholds = metrics.roc_curve(s, y, drop_intermediate=False)
        for got, expected in zip((fpr, tpr, thresholds), roc_by_thresholds(s, y)):
            np.testing.assert_allclose(got, expected, rtol=1e-12)
        short = metrics.roc_curve(s, y)  # the kept points lie on the full curve
        assert set(zip(*short)) <= set(zip(fpr, tpr, thresholds))


def test_verification_by_hand_with_ties():
    # sorted: 0.9 same; 0.5 same, diff, diff (a tie); 0.1 diff
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5])
    same = np.array([True, True, False, False, False])
    result = metrics.verification(scores, same, far=(0.0, 0.5, 2 / 3, 1.0))
    # ROC: (0, 0) +inf, (0, 0.5) 0.9, (2/3, 1) 0.5, (1, 1) 0.1
    assert result["auc"] == pytest.approx(0.5 * (2 / 3) * (0.5 + 1) / 1 + 1 / 3)
    # FPR - FNR: -1, -0.5, 2/3: the crossing at t = 0.5 / (2/3 + 0.5) = 3/7 of (0, 0.5) -> (2/3, 1)
    assert result["eer"] == pytest.approx(3 / 7 * 2 / 3)
    assert result["threshold_at_eer"] == pytest.approx(0.9 + 3 / 7 * (0.5 - 0.9))
    assert result["tar@far"] == {0.0: 0.5, 0.5: 0.5, 2 / 3: 1.0, 1.0: 1.0}
    assert result["auc"] == pytest.approx(auc_by_pairs(scores, same))


def test_verification_exact_crossing_and_all_tied():
    result = metrics.verification([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    assert (result["eer"], result["threshold_at_eer"]) == (0.5, 0.4)  # the ROC point (0.5, 0.5) itself
    tied = metrics.verification([1.0, 1.0, 1.0, 1.0], [0, 1, 0, 1])
    assert tied["auc"] == 0.5 and tied["eer"] == 0.5 and tied["threshold_at_eer"] == 1.0
    assert tied["tar@far"] == {1e-2: 0.0, 1e-3: 0.0, 1e-4: 0.0}
    perfect = metrics.verification([3.0, 2.0, 1.0, 0.0], [1, 1, 0, 0])
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["tar@far"][1e-4] == 1.0


def test_verification_against_definitions_on_random_and_tied_data():
    rng = np.random.default_rng(1)
    for trial in range(40):
        s, y = random_pairs(rng, int(rng.integers(2, 80)), tied=trial % 2 == 1)
        result = metrics.verification(s, y, far=(0.05, 0.2))
        fpr, tpr, _ = roc_by_thresholds(s, y)
        assert result["auc"] == pytest.approx(auc_by_pairs(s, y), abs=1e-12)
        assert result["eer"] == pytest.approx(eer_by_bisection(fpr, tpr), abs=1e-9)
        for level in (0.05, 0.2):
            assert result["tar@far"][level] == pytest.approx(tpr[fpr <= level].max())


def test_verification_against_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    for trial in range(40):
        s, y = random_pairs(rng, int(rng.integers(2, 200)), tied=trial % 2 == 1)
        for drop in (True, False):
            for got, expected in zip(metrics.roc_curve(s, y, drop), sklearn_metrics.roc_curve(y, s, drop_intermediate=drop)):
                np.testing.assert_array_equal(got, expected)
        assert metrics.verification(s, y)["auc"] == sklearn_metrics.roc_auc_score(y, s)


def test_verification_takes_nodes_and_integer_flags():
    s = node.Node(np.array([0.3, 0.2, 0.9]))
    assert metrics.verification(s, np.array([0, 1, 1]))["auc"] == 0.5


BAD_PAIRS = [
    (([], []), ValueError, r"^verification: got no pairs \(empty scores\)$"),
    (([0.1, 0.2], [True]), ValueError, r"^verification: 2 scores but 1 same flags$"),
    (([0.1, np.nan], [True, False]), ValueError, r"^verification: scores must be finite, got nan at 1$"),
    (([0.1, 0.2], [True, True]), ValueError, r"^verification: needs both same and different pairs .*, got only same pairs \(2\)$"),
    (([0.1, 0.2], [0, 0]), ValueError, r"only different pairs"),
    (([0.1, 0.2], [0, 2]), ValueError, r"^verification: same must be booleans \(or 0/1\)"),
    (([[0.1, 0.2]], [[0, 1]]), ValueError, r"^verification: scores and same must be 1-D"),
]


@pytest.mark.parametrize("args, error, message", BAD_PAIRS, ids=[f"bad{i}" for i in range(len(BAD_PAIRS))])
def test_verification_refuses_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        metrics.verification(*args)


def test_far_levels_are_checked():
    with pytest.raises(ValueError, match=r"^verification: far must be numbers in \[0, 1\]"):
        metrics.verification([0.1, 0.2], [0, 1], far=(0.1, 2))
    assert list(metrics.verification([0.1, 0.2], [0, 1], far=0.5)["tar@far"]) == [0.5]


# ---- pair accuracy -----------------------------------------------------------------------------
def test_best_threshold_by_hand():
    # accept >= t: between 0.4 and 0.6 all four are right
    assert metrics.best_threshold(np.array([0.1, 0.4, 0.6, 0.9]), np.array([False, False, True, True])) == 0.5
    # ties: (0.5 same, 0.5 diff) cannot be split; the best keeps 3 of 4 and the lowest best threshold wins
    s, y = np.array([0.5, 0.5, 0.9, 0.1]), np.array([True, False, True, False])
    assert metrics.best_threshold(s, y) == pytest.approx(0.3)
    assert metrics.best_threshold(np.array([1.0, 2.0]), np.array([True, True])) == -np.inf


def pair_accuracy_by_loops(s, y, folds):
    bounds = np.cumsum([0] + [len(part) for part in np.array_split(np.arange(len(s)), folds)])
    accuracies = []
    for k in range(folds):
        test = np.zeros(len(s), dtype=bool)
        test[bounds[k]:bounds[k + 1]] = True
        values = np.unique(s[~test])
        candidates = [-np.inf] + list((values[1:] + values[:-1]) / 2) + [np.inf]
        train_acc = [((s[~test] >= t) == y[~test]).mean() for t in candidates]
        t = candidates[int(np.argmax(train_acc))]
        accuracies.append(((s[test] >= t) == y[test]).mean())
    return np.mean(accuracies), np.std(accuracies)


def test_pair_accuracy_against_loops():
    rng = np.random.default_rng(3)
    for trial in range(10):
        s, y = random_pairs(rng, int(rng.integers(10, 90)), tied=trial % 2 == 1)
        folds = int(rng.integers(2, 11))
        got = metrics.pair_accuracy(s, y, folds)
        assert got == pytest.approx(pair_accuracy_by_loops(s, y, folds), abs=1e-12)


def test_pair_accuracy_uses_contiguous_folds():
    # 20 pairs, folds of 2: fold k holds pairs 2k, 2k+1. Separable by 0 except the last fold, flipped.
    s = np.tile([1.0, -1.0], 10)
    y = np.tile([True, False], 10)
    y[18:] = ~y[18:]
    mean, std = metrics.pair_accuracy(s, y, folds=10)
    assert mean == pytest.approx(0.9) and std == pytest.approx(0.3)


def test_pair_accuracy_checks_folds():
    with pytest.raises(ValueError, match=r"^pair_accuracy: folds must be an integer in \[2, 3\]"):
        metrics.pair_accuracy([0.1, 0.2, 0.3], [0, 1, 1], folds=10)
    with pytest.raises(TypeError, match=r"^pair_accuracy: folds must be an integer >= 2, got float 2\.0$"):
        metrics.pair_accuracy([0.1, 0.2, 0.3], [0, 1, 1], folds=2.0)
    with pytest.raises(ValueError, match=r"^pair_accuracy: needs both same and different pairs"):
        metrics.pair_accuracy([0.1, 0.2, 0.3], [1, 1, 1])


# ---- retrieval ---------------------------------------------------------------------------------
def test_retrieval_by_hand():
    # on a line (cosine of 2-D directions): angles 0, 10, 20 (class 0), 90, 100 (class 1), 200 (class 2, alone)
    angles = np.radians([0, 10, 20, 90, 100, 200])
    x = np.c_[np.cos(angles), np.sin(angles)]
    y = np.array([0, 0, 0, 1, 1, 2])
    got = metrics.retrieval(x, y)
    # every non-lone query's nearest neighbour is of its class; R-precision and MAP@R:
    # q0: R=2, ranked 10, 20 -> 1, 1;  q1: 0 and 20 -> 1, 1;  q2: 10, 0 -> 1, 1;
    # q3: R=1, nearest 100 -> 1;  q4: nearest 90 -> 1.  q5 is alone: skipped
    assert got == {"precision_at_1": 1.0, "r_precision": 1.0, "map_at_r": 1.0}
    y = np.array([0, 1, 0, 1, 0, 2])
    # q0 (class 0, R=2): ranked 1(c1), 2(c0) -> rel 0, 1: R-prec 1/2, AP 1/2 * 1/2 = 1/4; P@1 0
    # q2: ranked 1(c1), 0(c0) -> same as q0; q4 (R=2): ranked 3(c1), 2(c0) -> 1/2, 1/4
    # q1 (class 1, R=1): ranked 0 or 2 (both 10 degrees away: tie, lower index first: 0) -> 0
    # q3 (R=1): ranked 4(c0) -> 0
    got = metrics.retrieval(x, y)
    assert got["precision_at_1"] == 0.0
    assert got["r_precision"] == pytest.approx((0.5 * 3 + 0 + 0) / 5)
    assert got["map_at_r"] == pytest.approx((0.25 * 3) / 5)


def test_retrieval_against_loops_in_blocks_with_ties():
    rng = np.random.default_rng(4)
    for trial in range(8):
        n = int(rng.integers(4, 60))
        x = rng.integers(-2, 3, (n, 3)).astype(float) if trial % 2 else rng.standard_normal((n, 3))
        x[np.all(x == 0, axis=1)] = 1.0
        y = rng.integers(0, 4, n)
        y[:2] = [0, 1]
        expected = retrieval_by_loops(x, y)
        for block in (1, 7, None):
            got = metrics.retrieval(x, y, block_size=block)
            assert (got["precision_at_1"], got["r_precision"], got["map_at_r"]) == pytest.approx(expected, abs=1e-12)


def test_retrieval_euclidean_ranks_by_distance():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.0, 0.2], [10.0, 0.0]])  # cosine would tie 1..4
    y = np.array([0, 0, 1, 1, 0])
    got = metrics.retrieval(x, y, metric="euclidean")
    assert got["precision_at_1"] == pytest.approx(4 / 5)  # query 4's nearest is class 1


def test_retrieval_against_pytorch_metric_learning():
    pytest.importorskip("pytorch_metric_learning")
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    calculator = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"), knn_func=CustomKNN(CosineSimilarity())
    )
    rng = np.random.default_rng(5)
    for _ in range(5):
        n = int(rng.integers(20, 200))
        x = rng.standard_normal((n, 16)).astype(np.float32)  # 16-D: no near-ties at float32's precision
        y = rng.integers(0, 6, n)
        expected = calculator.get_accuracy(torch.tensor(x), torch.tensor(y))
        got = metrics.retrieval(x, y, block_size=17)
        assert got["precision_at_1"] == pytest.approx(expected["precision_at_1"], abs=1e-9)
        assert got["r_precision"] == pytest.approx(expected["r_precision"], abs=1e-9)
        assert got["map_at_r"] == pytest.approx(expected["mean_average_precision_at_r"], abs=1e-9)


def test_retrieval_refuses_bad_input():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"^retrieval: needs at least two classes, got one only \(3 samples of label 4\)$"):
        metrics.retrieval(x, np.array([4, 4, 4]))
    with pytest.raises(ValueError, match=r"^retrieval: got no features \(empty input\)$"):
        metrics.retrieval(np.ones((0, 2)), np.array([], dtype=int))
    with pytest.raises(ValueError, match=r"^retrieval: 3 features but 2 labels$"):
        metrics.retrieval(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^retrieval: features must be finite, got nan at \(1, 0\)$"):
        metrics.retrieval(np.array([[0.0, 1], [np.nan, 1], [1, 1]]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"^retrieval: every label occurs once"):
        metrics.retrieval(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"^retrieval: metric must be 'cosine' or 'euclidean', got 'dot'$"):
        metrics.retrieval(x, np.array([0, 1, 1]), metric="dot")


def test_retrieval_memory_is_in_blocks():
    # 3000 samples in blocks of 100: the work arrays are (100, 3000), never (3000, 3000)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((3000, 8)), rng.integers(0, 5, 3000)
    import tracemalloc

    tracemalloc.start()
    metrics.retrieval(x, y, block_size=100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3000 * 3000 * 8 / 4  # a quarter of one full float64 similarity matrix


# ---- pairs and pair_scores ---------------------------------------------------------------------
def test_pairs_are_distinct_of_the_right_kind_and_seeded():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((40, 3)), rng.integers(0, 4, 40)
    i, j, same = metrics.pairs(x, y, 50, 70, rng=0)
    assert i.dtype == j.dtype == np.int64 and same.dtype == bool and len(i) == 120
    assert (i < j).all() and len(set(zip(i, j))) == 120
    np.testing.assert_array_equal(same, y[i] == y[j])
    assert same.sum() == 50
    assert not (same[:50].all() or not same[60:].any())  # shuffled: both kinds spread through
    again = metrics.pairs(x, y, 50, 70, rng=np.random.default_rng(0))
    for a, b in zip((i, j, same), again):
        np.testing.assert_array_equal(a, b)


def test_pairs_can_take_every_pair():
    y = np.array([0, 0, 1, 1, 1, 2])
    i, j, same = metrics.pairs(np.zeros((6, 1)), y, 4, 11, rng=1)  # C(2,2)+C(3,2) = 4 same, 15 - 4 = 11 different
    assert set(zip(i, j)) == {(a, b) for a in range(6) for b in range(a + 1, 6)}
    with pytest.raises(ValueError, match=r"^pairs: asked for 5 same-class pairs, but these labels make only 4$"):
        metrics.pairs(np.zeros((6, 1)), y, 5, 0, rng=1)
    with pytest.raises(ValueError, match=r"^pairs: asked for 12 different-class pairs, but these labels make only 11$"):
        metrics.pairs(np.zeros((6, 1)), y, 0, 12, rng=1)


def test_pairs_refuses_bad_input():
    with pytest.raises(ValueError, match=r"^pairs: needs at least two classes, got one only"):
        metrics.pairs(np.zeros((4, 2)), np.zeros(4, dtype=int), 1, 1, rng=0)
    with pytest.raises(ValueError, match=r"^pairs: features must be finite"):
        metrics.pairs(np.array([[np.nan], [1.0]]), np.array([0, 1]), 0, 1, rng=0)
    with pytest.raises(ValueError, match=r"^pairs: n_same must be an integer >= 0, got -1$"):
        metrics.pairs(np.zeros((4, 2)), np.array([0, 0, 1, 1]), -1, 1, rng=0)


def test_pair_scores():
    x = np.array([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0]])
    i, j = np.array([0, 0, 1]), np.array([1, 2, 1])
    np.testing.assert_allclose(metrics.pair_scores(x, i, j), [0.8, 0.0, 1.0])
    np.testing.assert_allclose(metrics.pair_scores(x, i, j, metric="euclidean"), [-np.hypot(3, 2), -5.0, 0.0])
    with pytest.raises(ValueError, match=r"^pair_scores: indices must be in \[0, 2\]"):
        metrics.pair_scores(x, np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match=r"^pair_scores: metric must be"):
        metrics.pair_scores(x, i, j, metric="l2")


def test_pairs_scores_verification_end_to_end():
    rng = np.random.default_rng(8)
    y = np.repeat(np.arange(5), 40)
    x = np.eye(5)[y] * 3 + rng.standard_normal((200, 5))  # five separated clusters
    i, j, same = metrics.pairs(x, y, 300, 300, rng=rng)
    scores = metrics.pair_scores(x, i, j)
    result = metrics.verification(scores, same)
    assert result["auc"] > 0.9 and result["eer"] < 0.2
    mean, std = metrics.pair_accuracy(scores, same)
    assert mean > 0.8 and std < 0.1


def test_inputs_on_the_backend(xp):
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    i, j, same = metrics.pairs(xp.asarray(x), xp.asarray(y), 20, 20, rng=0)
    np.testing.assert_array_equal(same, y[i] == y[j])
    scores = metrics.pair_scores(node.Node(xp.asarray(x)), i, j)
    np.testing.assert_allclose(scores, metrics.pair_scores(x, i, j), rtol=1e-12)
    assert metrics.verification(xp.asarray(scores), xp.asarray(same)) == metrics.verification(scores, same)
    assert metrics.retrieval(node.Node(xp.asarray(x)), xp.asarray(y)) == metrics.retrieval(x, y)

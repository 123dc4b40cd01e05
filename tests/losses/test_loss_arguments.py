"""The Center Loss family checks its arguments, its targets and its features (issue 25, areas 2, 3, 4 and 9).

* Constructors: a table of bad calls, each with the exception and message.
* Targets: integer labels and exact one-hot rows only; soft targets (label
  smoothing, mixup) are refused, not reduced to their argmax.
* Features: CenterLoss moves its centers inside forward, so a NaN or inf
  feature is refused there, before the update: the centers stay bit-identical.
"""
import numpy as np
import pytest

import node

LOSSES = {
    "CenterLoss": lambda **kw: node.CenterLoss(3, 2, rng=0, dtype="float64", **kw),
    "LearnableCenterLoss": lambda **kw: node.LearnableCenterLoss(3, 2, rng=0, dtype="float64", **kw),
    "PCLoss": lambda **kw: node.PCLoss(3, 2, rng=0, dtype="float64", **kw),
}

BAD = [
    (lambda: node.CenterLoss(10, -1), ValueError, r"^CenterLoss: num_features must be an integer >= 1, got -1$"),
    (lambda: node.CenterLoss(0, 2), ValueError, r"^CenterLoss: num_classes must be an integer >= 1, got 0$"),
    (lambda: node.CenterLoss(10.0, 2), TypeError, r"^CenterLoss: num_classes must be an integer >= 1, got float 10\.0$"),
    (lambda: node.CenterLoss(10, "2"), TypeError, r"^CenterLoss: num_features must be an integer >= 1, got str '2'$"),
    (lambda: node.CenterLoss(10, 2, lambda_=-1), ValueError, r"^CenterLoss: lambda_ must be a finite number >= 0, got -1\.0$"),
    (lambda: node.CenterLoss(10, 2, lambda_=float("nan")), ValueError, r"^CenterLoss: lambda_ must be a finite number >= 0, got nan$"),
    (lambda: node.CenterLoss(10, 2, lambda_=None), TypeError, r"^CenterLoss: lambda_ must be a finite number >= 0, got NoneType None$"),
    (lambda: node.CenterLoss(10, 2, alpha=1.5), ValueError, r"^CenterLoss: alpha must be a finite number in \[0, 1\], got 1\.5$"),
    (lambda: node.CenterLoss(10, 2, alpha=-0.1), ValueError, r"^CenterLoss: alpha must be a finite number in \[0, 1\], got -0\.1$"),
    (lambda: node.CenterLoss(10, 2, alpha="0.5"), TypeError, r"^CenterLoss: alpha must be a finite number in \[0, 1\], got str '0\.5'$"),
    (lambda: node.CenterLoss(10, 2, dtype="int8"), ValueError, r"^CenterLoss: dtype must be a floating-point dtype .*, got int8$"),
    (lambda: node.LearnableCenterLoss(10, 0), ValueError, r"^LearnableCenterLoss: num_features must be an integer >= 1, got 0$"),
    (lambda: node.LearnableCenterLoss(-3, 2), ValueError, r"^LearnableCenterLoss: num_classes must be an integer >= 1, got -3$"),
    (lambda: node.LearnableCenterLoss(10, 2, lambda_=-1), ValueError, r"^LearnableCenterLoss: lambda_ must be a finite number >= 0, got -1\.0$"),
    (lambda: node.LearnableCenterLoss(10, 2, lambda_=float("inf")), ValueError, r"^LearnableCenterLoss: lambda_ must be a finite number >= 0, got inf$"),
    (lambda: node.LearnableCenterLoss(10, 2, scale_centers_by_lambda="yes"), TypeError, r"^LearnableCenterLoss: scale_centers_by_lambda must be True or False, got str 'yes'$"),
    (lambda: node.PCLoss(1, 2), ValueError, r"^PCLoss: num_classes must be an integer >= 2, got 1$"),
    (lambda: node.PCLoss(10, 2.0), TypeError, r"^PCLoss: num_features must be an integer >= 1, got float 2\.0$"),
    (lambda: node.PCLoss(10, 2, lambda_=-1e-4), ValueError, r"^PCLoss: lambda_ must be a finite number >= 0, got -0\.0001$"),
    (lambda: node.PCLoss(10, 2, scale_centers_by_lambda=None), TypeError, r"^PCLoss: scale_centers_by_lambda must be True or False, got NoneType None$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_constructor_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("name", LOSSES)
def test_lambda_zero_gives_a_zero_loss(name):
    loss = LOSSES[name](lambda_=0)
    assert float(loss(node.Node(np.ones((2, 2))), np.array([0, 1])).value) == 0


def test_alpha_zero_leaves_the_centers_where_they_are_and_alpha_one_moves_them():
    frozen, full = node.CenterLoss(2, 2, alpha=0, rng=0, dtype="float64"), node.CenterLoss(2, 2, alpha=1, rng=0, dtype="float64")
    before = frozen.centers.copy()
    x, t = node.Node(np.array([[1.0, 2.0], [3.0, 4.0]])), np.array([0, 0])
    frozen(x, t)
    full(x, t)
    np.testing.assert_array_equal(frozen.centers, before)
    assert not np.array_equal(full.centers[0], before[0]) and np.array_equal(full.centers[1], before[1])


# ---- targets: integer labels or exact one-hot rows -------------------------------------------
SOFT = {
    "label smoothing": np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]),
    "mixup": np.array([[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]]),
    "two halves": np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]),
    "all zero": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "two ones": np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
    "scaled": np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]]),
    "negative": np.array([[-1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]),
    "nan": np.array([[np.nan, 1.0, 0.0], [0.0, 1.0, 0.0]]),
    "integer counts": np.array([[2, 0, 0], [0, 1, 0]]),
}


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("kind", SOFT)
def test_soft_targets_are_refused_not_reduced_to_their_argmax(name, kind):
    loss = LOSSES[name]()
    before = node.asnumpy(getattr(loss.centers, "value", loss.centers)).copy()
    target = SOFT[kind]
    bad_row = int(np.argmin([((r == 0) | (r == 1)).all() and (r == 1).sum() == 1 for r in target]))
    with pytest.raises(ValueError, match=rf"^{name}: target row {bad_row} is \[.*\], not one-hot; .*soft targets \(label smoothing, mixup\) are refused"):
        loss(node.Node(np.ones((2, 2))), node.Node(target))
    np.testing.assert_array_equal(node.asnumpy(getattr(loss.centers, "value", loss.centers)), before)


@pytest.mark.parametrize("name", LOSSES)
def test_integer_labels_and_exact_one_hot_rows_of_any_dtype_give_the_same_loss(name):
    x = np.array([[0.5, -1.0], [2.0, 0.25], [1.0, 1.0]])
    labels = np.array([2, 0, 2])
    values = []
    for target in (labels, labels.astype(np.uint8), np.eye(3)[labels], np.eye(3, dtype=np.float32)[labels], np.eye(3, dtype=np.int64)[labels], np.eye(3, dtype=bool)[labels]):
        loss = LOSSES[name]()
        loss.eval()  # no center update between the variants
        values.append(float(loss(node.Node(x), target).value))
    assert values[0] > 0 and values == [values[0]] * len(values)


@pytest.mark.parametrize("name", LOSSES)
def test_wrong_target_shapes_are_refused(name):
    loss = LOSSES[name]()
    with pytest.raises(ValueError, match="does not have 3 classes"):
        loss(node.Node(np.ones((2, 2))), np.eye(4)[:2])
    with pytest.raises(ValueError, match=r"must be integer labels \(M,\) or one-hot rows \(M, 3\), got float64 \(2,\)"):
        loss(node.Node(np.ones((2, 2))), np.array([0.0, 1.0]))


# ---- features: never a non-finite center ------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_center_loss_refuses_non_finite_features_before_moving_the_centers(bad):
    loss = node.CenterLoss(3, 2, alpha=0.5, rng=0, dtype="float64")
    before = loss.centers.copy()
    x = np.array([[1.0, 2.0], [3.0, bad], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"^CenterLoss: features of sample 1 are not finite .*the centers were left unchanged"):
        loss(node.Node(x, requires_grad=True), np.array([0, 1, 2]))
    assert loss.centers.tobytes() == before.tobytes()  # bit-identical, every class (not only the NaN sample's)
    loss(node.Node(np.nan_to_num(x, posinf=0, neginf=0)), np.array([0, 1, 2]))  # a finite batch then moves them
    assert not np.array_equal(loss.centers, before) and np.isfinite(loss.centers).all()


def test_center_loss_update_centers_called_directly_refuses_nan_too():
    loss = node.CenterLoss(3, 2, rng=0, dtype="float64")
    before = loss.centers.copy()
    with pytest.raises(ValueError, match="features of sample 0 are not finite"):
        loss.update_centers(np.array([[np.nan, 0.0]]), np.array([1]))
    assert loss.centers.tobytes() == before.tobytes()


def test_center_loss_in_eval_mode_returns_nan_for_nan_features_and_moves_nothing():
    loss = node.CenterLoss(3, 2, rng=0, dtype="float64").eval()
    before = loss.centers.copy()
    value = loss(node.Node(np.array([[np.nan, 0.0]])), np.array([1]))
    assert np.isnan(float(value.value)) and loss.centers.tobytes() == before.tobytes()


def test_center_loss_on_the_device_skips_the_update_for_non_finite_features(xp):
    """On the GPU the check would make every step wait: the update is masked out there instead, and the loss is NaN."""
    loss = node.CenterLoss(3, 2, alpha=0.5, rng=0, dtype="float64")
    before = node.asnumpy(loss.centers).copy()
    x = xp.asarray(np.array([[1.0, 2.0], [3.0, np.nan]]))
    labels = xp.asarray(np.array([0, 1]))
    if xp is np:
        with pytest.raises(ValueError, match="not finite"):
            loss(node.Node(x), labels)
    else:
        assert np.isnan(float(node.asnumpy(loss(node.Node(x), labels).value)))
    assert node.asnumpy(loss.centers).tobytes() == before.tobytes()
    loss(node.Node(xp.asarray(np.array([[1.0, 2.0], [3.0, 4.0]]))), labels)
    moved = node.asnumpy(loss.centers)
    assert np.isfinite(moved).all() and not np.array_equal(moved[:2], before[:2]) and np.array_equal(moved[2], before[2])

"""Center Loss (both forms), PC loss and soft-target sigmoid cross entropy."""
import re

import numpy as np
import pytest

import node
import node.functions as F

from helpers import REPO, gradcheck_layer


def centers_of(loss):
    return node.asnumpy(loss.centers.value if isinstance(loss.centers, node.Node) else loss.centers)


# ---- CenterLoss, the paper's form ------------------------------------------------------------
def test_one_sample_moves_its_center_by_half_alpha_of_the_gap(xp):
    loss = node.CenterLoss(4, 2, alpha=0.3, rng=0, dtype="float64")
    before = centers_of(loss).copy()
    x = np.array([[5.0, -7.0]])
    loss(node.Node(xp.asarray(x)), xp.asarray([2]))
    after = centers_of(loss)
    np.testing.assert_allclose(after[2], before[2] + 0.3 / 2 * (x[0] - before[2]), rtol=1e-12)
    np.testing.assert_array_equal(np.delete(after, 2, axis=0), np.delete(before, 2, axis=0))  # absent classes stay


def test_center_update_matches_the_paper_rule(xp, rng):
    loss = node.CenterLoss(5, 3, alpha=0.5, rng=1, dtype="float64")
    c = centers_of(loss).copy()
    x = rng.standard_normal((12, 3))
    y = np.array([0, 0, 1, 3, 3, 3, 0, 1, 3, 0, 1, 1])  # class 2 and 4 absent
    loss(node.Node(xp.asarray(x)), xp.asarray(y))
    expected = c.copy()
    for j in range(5):
        members = x[y == j]
        delta = (c[j] - members).sum(axis=0) / (1 + len(members))
        expected[j] = c[j] - 0.5 * delta
    np.testing.assert_allclose(centers_of(loss), expected, rtol=1e-12)


def test_value_and_gradient(xp, rng):
    loss = node.CenterLoss(4, 2, alpha=0.5, lambda_=0.7, rng=2, dtype="float64")
    x = rng.standard_normal((6, 2))
    y = rng.integers(0, 4, 6)
    c = centers_of(loss).copy()
    value = loss(node.Node(xp.asarray(x)), xp.asarray(y))
    assert float(value.value) == pytest.approx(0.7 / (2 * 6) * ((x - c[y]) ** 2).sum(), rel=1e-12)
    node.gradcheck(lambda a: loss(a, xp.asarray(y)), xp.asarray(x))  # numeric pass first: centers held still


def test_lambda_never_changes_the_center_step(xp, rng):
    x, y = xp.asarray(rng.standard_normal((8, 2))), xp.asarray(rng.integers(0, 3, 8))
    small, large = node.CenterLoss(3, 2, rng=5, lambda_=0.003), node.CenterLoss(3, 2, rng=5, lambda_=10.0)
    small(node.Node(x), y)
    large(node.Node(x), y)
    np.testing.assert_array_equal(centers_of(small), centers_of(large))


def test_no_update_in_eval_mode_or_without_grad(xp, rng):
    loss = node.CenterLoss(3, 2, rng=0)
    before = centers_of(loss).copy()
    x, y = node.Node(xp.asarray(rng.standard_normal((4, 2)))), xp.asarray([0, 1, 2, 0])
    with node.no_grad():
        loss(x, y)
    loss.eval()
    loss(x, y)
    np.testing.assert_array_equal(centers_of(loss), before)
    loss.train()
    loss(x, y)
    assert not np.array_equal(centers_of(loss), before)


def test_one_hot_and_integer_labels_agree(xp, rng):
    x = rng.standard_normal((5, 2))
    y = np.array([1, 0, 2, 2, 1])
    a, b = node.CenterLoss(3, 2, rng=3), node.CenterLoss(3, 2, rng=3)
    la = a(node.Node(xp.asarray(x)), xp.asarray(y))
    lb = b(node.Node(xp.asarray(x)), node.Node(xp.asarray(np.eye(3, dtype=np.float32)[y]), requires_grad=False))
    assert float(la.value) == float(lb.value)
    np.testing.assert_array_equal(centers_of(a), centers_of(b))


def test_matches_the_seed_notebook_center_loss():
    """Our paper-form CenterLoss(alpha, lambda_=gain) reproduces the notebook's class step for step."""
    cell = re.split(r"^# In \[[^\]]*\]:\n", (REPO / "examples" / "seed_notebook.py").read_text(encoding="utf-8"), flags=re.M)[2]
    namespace = {"node": node, "np": np}
    exec(cell, namespace)
    notebook = namespace["CenterLoss"](2, 10, alpha=0.01, gain=1.0)
    ours = node.CenterLoss(10, 2, alpha=0.01, lambda_=1.0, dtype="float64")
    notebook.centroids = centers_of(ours).copy()
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 10, 32)
        x = node.Node(rng.standard_normal((32, 2)))
        onehot = node.Node(np.eye(10)[y], requires_grad=False)
        assert float(notebook(x, onehot).value) == pytest.approx(float(ours(x, onehot).value), rel=1e-12)
        np.testing.assert_allclose(notebook.centroids, centers_of(ours), rtol=1e-12)


def test_center_loss_checks_its_inputs(xp):
    loss = node.CenterLoss(3, 2, rng=0)
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        loss(node.Node(xp.zeros((2, 2))), np.asarray([0, 3]))  # device labels: see test_errors.py
    with pytest.raises(ValueError, match=r"features must have shape \(M, 2\), got \(2, 5\)"):
        loss(node.Node(xp.zeros((2, 5))), xp.asarray([0, 1]))
    with pytest.raises(ValueError, match="2 features but 3 labels"):
        loss(node.Node(xp.zeros((2, 2))), xp.asarray([0, 1, 2]))
    with pytest.raises(ValueError, match="does not have 3 classes"):
        loss(node.Node(xp.zeros((2, 2))), xp.zeros((2, 4)))


def test_centers_are_saved_with_the_model(tmp_path):
    loss = node.CenterLoss(3, 2, rng=0)
    loss(node.Node(np.ones((2, 2), np.float32)), np.array([0, 1]))
    loss.save(tmp_path / "c.npz")
    other = node.CenterLoss(3, 2, rng=9)
    other.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(other.centers, loss.centers)


# ---- LearnableCenterLoss ---------------------------------------------------------------------------
def test_learnable_center_loss_gradients(xp, rng):
    x, y = xp.asarray(rng.standard_normal((6, 3))), xp.asarray(rng.integers(0, 4, 6))
    plain = node.LearnableCenterLoss(4, 3, lambda_=0.25, scale_centers_by_lambda=True, rng=0, dtype="float64").to(node.get_backend())
    gradcheck_layer(plain, x, y)  # the true gradient, centers included

    divided = node.LearnableCenterLoss(4, 3, lambda_=0.25, rng=0, dtype="float64").to(node.get_backend())
    for loss in (plain, divided):
        loss(node.Node(x), y).backward()
    np.testing.assert_allclose(node.asnumpy(divided.centers.grad), node.asnumpy(plain.centers.grad) / 0.25, rtol=1e-12)
    c = node.asnumpy(plain.centers.value)
    expected = np.zeros_like(c)
    xn, yn = node.asnumpy(x), node.asnumpy(y)
    for i in range(6):
        expected[yn[i]] += 0.25 * (c[yn[i]] - xn[i]) / 6
    np.testing.assert_allclose(node.asnumpy(plain.centers.grad), expected, rtol=1e-12)


def test_learnable_centers_follow_their_own_optimizer(rng):
    loss = node.LearnableCenterLoss(2, 2, lambda_=0.001, rng=0)
    opt = node.SGD(loss.parameters(), lr=0.5)
    x = node.Node(np.array([[3.0, 3.0], [3.0, 3.0]], np.float32), requires_grad=False)
    start = np.linalg.norm(loss.centers.value[0] - 3)
    for _ in range(20):
        opt.zero_grad()
        loss(x, np.array([0, 0])).backward()
        opt.step()
    assert np.linalg.norm(loss.centers.value[0] - 3) < 0.01 * start  # λ=0.001 did not slow the centers down


# ---- PCLoss ------------------------------------------------------------------------------------------
def pc_reference(x, y, c, lam):
    b, k = len(x), len(c)
    total = 0.0
    for i in range(b):
        for j in range(k):
            if j != y[i]:
                total += ((x[i] - c[j]) ** 2).sum() + ((c[y[i]] - c[j]) ** 2).sum()
    return lam * total / (b * (k - 1))


def test_pc_loss_value_and_gradients(xp, rng):
    x, y = rng.standard_normal((5, 2)), rng.integers(0, 4, 5)
    loss = node.PCLoss(4, 2, lambda_=0.5, rng=0, dtype="float64").to(node.get_backend())  # λ scales the centers' gradient
    value = loss(node.Node(xp.asarray(x)), xp.asarray(y))
    assert float(value.value) == pytest.approx(pc_reference(x, y, centers_of(loss), 0.5), rel=1e-12)
    gradcheck_layer(loss, xp.asarray(x), xp.asarray(y))

    divided = node.PCLoss(4, 2, lambda_=0.5, scale_centers_by_lambda=False, rng=0, dtype="float64").to(node.get_backend())
    for l in (loss, divided):
        l.centers.grad = None
        (-l(node.Node(xp.asarray(x)), xp.asarray(y))).backward()  # subtracted, as in training
    np.testing.assert_allclose(node.asnumpy(divided.centers.grad), node.asnumpy(loss.centers.grad) / 0.5, rtol=1e-12)


def test_scale_grad_is_identity_forward_and_scales_backward(xp):
    x = node.Node(xp.asarray([1.0, -2.0]))
    y = F.scale_grad(x, 3.0)
    np.testing.assert_array_equal(node.asnumpy(y.value), [1.0, -2.0])
    (y * y).sum().backward()
    np.testing.assert_allclose(node.asnumpy(x.grad), 3.0 * 2 * np.array([1.0, -2.0]))


# ---- sigmoid cross entropy, the custom Function of seed 002 ----------------------------------------------
def primitive_sigmoid_cross_entropy(x, t):
    """The same loss built from primitive ops; autograd derives its backward."""
    p = x.sigmoid()
    return -(t * (p + 1e-30).log() + (1 - t) * (1 - p + 1e-30).log()).sum() / len(x)


def test_sigmoid_cross_entropy_matches_the_primitive_version(xp, rng):
    x = xp.asarray(rng.standard_normal((8, 5)) * 2)
    t = xp.asarray(rng.random((8, 5)))
    a, b = node.Node(x), node.Node(x)
    fused, primitive = F.sigmoid_cross_entropy(a, t), primitive_sigmoid_cross_entropy(b, t)
    assert float(fused.value) == pytest.approx(float(primitive.value), rel=1e-10)
    fused.backward()
    primitive.backward()
    np.testing.assert_allclose(node.asnumpy(a.grad), node.asnumpy(b.grad), rtol=1e-8)
    sig = 1 / (1 + np.exp(-node.asnumpy(x)))
    np.testing.assert_allclose(node.asnumpy(a.grad), (sig - node.asnumpy(t)) / 8, rtol=1e-10)  # (σ(x) - t)/N


def test_sigmoid_cross_entropy_is_stable_for_large_logits(xp):
    x = node.Node(xp.asarray([[1e4, -1e4, 50.0]], dtype="float32"))
    t = xp.asarray([[1.0, 0.0, 0.5]], dtype="float32")
    loss = F.sigmoid_cross_entropy(x, t)
    loss.backward()
    assert float(loss.value) == pytest.approx(50 * 0.5, rel=1e-5)  # only the soft target pays
    assert np.isfinite(node.asnumpy(x.grad)).all()
    with pytest.raises(ValueError, match="same shape"):
        F.sigmoid_cross_entropy(x, xp.zeros((1, 2)))

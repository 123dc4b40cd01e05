"""The losses with PyTorch's options (node/functions/loss.py): every option against a NumPy reference
written here, the same cases against torch where it is installed, and the argument errors."""
import itertools
import warnings

import numpy as np
import pytest

import node
import node.functions as F


# ---- NumPy references (PyTorch's documented formulas, written independently of node's code) ----
def log_softmax_np(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def reduce_np(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction] if reduction != "batchmean" else loss.sum() / len(loss)


def nll_np(logp, t, w, ignore, reduction):
    """loss[n, d] = -w[t]·logp[n, t, d] (0 where ignored); 'mean' divides by Σ w[t] over labels not ignored."""
    w = np.ones(logp.shape[1]) if w is None else w
    keep = t != ignore
    safe = np.where(keep, t, 0)
    w_t = w[safe] * keep
    loss = -w_t * np.take_along_axis(logp, np.expand_dims(safe, 1), axis=1)[:, 0]
    return loss.sum() / w_t.sum() if reduction == "mean" else reduce_np(loss, reduction)


def cross_entropy_np(x, t, w, ignore, reduction, eps):
    """(1 - ε)·nll + ε/C·smooth, smooth = -Σ_c w_c·logp_c (0 where ignored), as torch's cross_entropy."""
    single = x.ndim == 1
    if single:
        x, t = x[None], np.asarray(t)[None]
    c = x.shape[1]
    logp = log_softmax_np(x, 1)
    wb = (np.ones(c) if w is None else w).reshape((1, c) + (1,) * (x.ndim - 2))
    if t.dtype.kind == "f":
        loss = -(((1 - eps) * t + eps / c) * wb * logp).sum(axis=1)
        out = reduce_np(loss, reduction)
    else:
        keep = t != ignore
        smooth = -(logp * wb).sum(axis=1) * keep
        if reduction == "mean":
            w_t = (np.ones(c) if w is None else w)[np.where(keep, t, 0)] * keep
            out = ((1 - eps) * nll_np(logp, t, w, ignore, "sum") + eps / c * smooth.sum()) / w_t.sum()
        else:
            out = (1 - eps) * nll_np(logp, t, w, ignore, reduction) + eps / c * reduce_np(smooth, reduction)
    return out[0] if single and reduction == "none" else out


def softplus_np(x):
    return np.logaddexp(0, x)


def bce_np(x, t, w, reduction, pw):
    p = 1 if pw is None else pw
    loss = (1 if w is None else w) * (p * t * softplus_np(-x) + (1 - t) * softplus_np(x))
    return reduce_np(loss, reduction)


def huber_np(x, t, delta):
    d = np.abs(x - t)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def smooth_l1_np(x, t, beta):
    d = np.abs(x - t)
    return d if beta == 0 else np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def kl_np(x, t, log_target):
    if log_target:
        return np.exp(t) * (t - x)
    return np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x


def cosine_embedding_np(a, b, y, margin):
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, np.maximum(cos - margin, 0))


# ---- the cases: (name, node call, NumPy reference, torch call) -------------------------------
rng = np.random.default_rng(0)
W4 = rng.random(4) + 0.5
SHAPES = {"(N, C)": (6, 4), "(N, C, d1, d2)": (3, 4, 2, 3), "(C,)": (4,)}


def _labels(shape, ignore):
    t = rng.integers(0, 4, () if len(shape) == 1 else (shape[0],) + shape[2:])
    if t.ndim:
        t.reshape(-1)[::3] = ignore if ignore in (-100, 7) else 1  # ignored positions (or, with ignore_index=1, class 1)
    return t


CLASS_CASES = []
for (shape_name, shape), weighted, ignore, reduction, eps in itertools.product(
    SHAPES.items(), (False, True), (-100, 1), ("mean", "sum", "none"), (0.0, 0.25)
):
    CLASS_CASES.append((f"{shape_name} weight={weighted} ignore={ignore} {reduction} eps={eps}",
                        rng.standard_normal(shape), _labels(shape, ignore), W4 if weighted else None, ignore, reduction, eps))
PROB_CASES = []
for (shape_name, shape), weighted, reduction, eps in itertools.product(SHAPES.items(), (False, True), ("mean", "sum", "none"), (0.0, 0.3)):
    p = rng.random(shape)
    PROB_CASES.append((f"{shape_name} probabilities weight={weighted} {reduction} eps={eps}", rng.standard_normal(shape),
                       p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True), W4 if weighted else None, -100, reduction, eps))


@pytest.mark.parametrize("name, x, t, w, ignore, reduction, eps", CLASS_CASES + PROB_CASES, ids=[c[0] for c in CLASS_CASES + PROB_CASES])
def test_cross_entropy_options(name, x, t, w, ignore, reduction, eps):
    got = F.cross_entropy(x, t, weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(got.numpy(), cross_entropy_np(x, t, w, ignore, reduction, eps), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, x, t, w, ignore, reduction, eps", [c for c in CLASS_CASES if c[6] == 0], ids=[c[0] for c in CLASS_CASES if c[6] == 0])
def test_nll_loss_options(name, x, t, w, ignore, reduction, eps):
    axis = 0 if x.ndim == 1 else 1
    logp = log_softmax_np(x, axis)
    got = F.nll_loss(logp, t, weight=w, ignore_index=ignore, reduction=reduction)
    expected = cross_entropy_np(x, t, w, ignore, reduction, 0.0)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_defaults_give_the_one_op_losses_exactly():
    x, t = rng.standard_normal((5, 3)).astype(np.float32), rng.integers(0, 3, 5)
    for ours, old in [(F.cross_entropy(x, t), F.softmax_cross_entropy(x, t)), (F.nll_loss(x, t), -x[np.arange(5), t].mean())]:
        np.testing.assert_array_equal(node.asnumpy(ours), node.asnumpy(old))
    assert type(F.cross_entropy(node.Node(x), t).creator).__name__ == "SoftmaxCrossEntropy"


def test_a_label_equal_to_ignore_index_is_not_out_of_range():
    x = rng.standard_normal((3, 4))
    got = F.cross_entropy(x, np.array([2, -100, 0]))
    np.testing.assert_allclose(got.numpy(), cross_entropy_np(x, np.array([2, -100, 0]), None, -100, "mean", 0.0))


def test_every_label_ignored_gives_nan_as_torch_does():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(F.cross_entropy(rng.standard_normal((2, 3)), np.array([-100, -100])).numpy())


ELEMENTWISE = []
X, T01, T = rng.standard_normal((4, 3)) * 2, rng.random((4, 3)), rng.standard_normal((4, 3))
for reduction in ("mean", "sum", "none"):
    for w, pw in [(None, None), (rng.random((4, 3)), None), (None, rng.random(3) * 3), (rng.random(3), rng.random(3) * 3)]:
        ELEMENTWISE.append((f"bce {reduction} weight={w is not None} pos_weight={pw is not None}",
                            lambda r=reduction, w=w, pw=pw: F.binary_cross_entropy_with_logits(X, T01, weight=w, reduction=r, pos_weight=pw),
                            bce_np(X, T01, w, reduction, pw)))
    ELEMENTWISE += [
        (f"mse_loss {reduction}", lambda r=reduction: F.mse_loss(X, T, r), reduce_np((X - T) ** 2, reduction)),
        (f"l1_loss {reduction}", lambda r=reduction: F.l1_loss(X, T, r), reduce_np(np.abs(X - T), reduction)),
    ]
    for delta in (0.5, 1.0, 2.5):
        ELEMENTWISE.append((f"huber_loss {reduction} delta={delta}", lambda r=reduction, d=delta: F.huber_loss(X, T, r, delta=d),
                            reduce_np(huber_np(X, T, delta), reduction)))
    for beta in (0.0, 0.5, 1.0):
        ELEMENTWISE.append((f"smooth_l1_loss {reduction} beta={beta}", lambda r=reduction, b=beta: F.smooth_l1_loss(X, T, r, beta=b),
                            reduce_np(smooth_l1_np(X, T, beta), reduction)))
    for margin in (0.0, -0.5, 0.3):
        A, B, Y = X[:, :2], T[:, 1:], np.array([1, -1, -1, 1])
        ELEMENTWISE.append((f"cosine_embedding_loss {reduction} margin={margin}",
                            lambda r=reduction, m=margin, a=A, b=B, y=Y: F.cosine_embedding_loss(a, b, y, m, r),
                            reduce_np(cosine_embedding_np(A, B, Y, margin), reduction)))
LOGP, P = np.log(rng.random((4, 3))), rng.random((4, 3))
P[0, 0] = 0.0  # t = 0 contributes 0 (0·log 0 = 0)
for reduction in ("mean", "sum", "none", "batchmean"):
    ELEMENTWISE.append((f"kl_div {reduction}", lambda r=reduction: F.kl_div(LOGP, P, r), reduce_np(kl_np(LOGP, P, False), reduction)))
    ELEMENTWISE.append((f"kl_div log_target {reduction}", lambda r=reduction: F.kl_div(LOGP, T, r, log_target=True),
                        reduce_np(kl_np(LOGP, T, True), reduction)))


@pytest.mark.parametrize("name, call, expected", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_losses(name, call, expected):
    np.testing.assert_allclose(call().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_bce_with_logits_is_stable_for_large_logits():
    x = np.array([[-1000.0, 1000.0, 50.0]], dtype=np.float32)
    t = np.array([[1.0, 0.0, 1.0]], dtype=np.float32)
    xn = node.Node(x)
    loss = F.binary_cross_entropy_with_logits(xn, t, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.numpy(), 2000.0, rtol=1e-6)
    np.testing.assert_allclose(xn.grad, [[-1.0, 1.0, 0.0]], atol=1e-6)


def test_kl_div_gradient_in_the_target_is_finite_where_it_is_zero():
    t = node.Node(np.array([0.0, 0.5, 0.5]))
    F.kl_div(np.log(np.array([0.2, 0.3, 0.5])), t, reduction="sum").backward()
    assert np.isfinite(t.grad).all()


def test_losses_on_the_backend(xp):
    x = node.Node(xp.asarray(rng.standard_normal((3, 4, 2))))
    t = xp.asarray(rng.integers(0, 4, (3, 2)))
    loss = F.cross_entropy(x, t, weight=W4, label_smoothing=0.1)
    loss.backward()
    assert isinstance(loss.value, xp.ndarray) and isinstance(x.grad, xp.ndarray)
    np.testing.assert_allclose(loss.numpy(), cross_entropy_np(node.asnumpy(x), node.asnumpy(t), W4, -100, "mean", 0.1))
    for value in (F.binary_cross_entropy_with_logits(x, xp.zeros((3, 4, 2)), pos_weight=[1.0, 2.0]), F.kl_div(x, x.detach(), log_target=True),
                  F.cosine_embedding_loss(x[:, :, 0], x[:, :, 1], [1, -1, 1]), F.huber_loss(x, xp.zeros((3, 4, 2)))):
        assert isinstance(value.value, xp.ndarray)


# ---- torch --------------------------------------------------------------------------------------
def test_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    for name, x, t, w, ignore, reduction, eps in CLASS_CASES + PROB_CASES:
        xn, xt = node.Node(x.copy()), torch.tensor(x, requires_grad=True)
        ours = F.cross_entropy(xn, t, weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=eps)
        theirs = tf.cross_entropy(xt, torch.tensor(t), weight=None if w is None else torch.tensor(w), ignore_index=ignore,
                                  reduction=reduction, label_smoothing=eps)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
        g = rng.standard_normal(ours.shape)
        ours.backward(g)
        theirs.backward(torch.tensor(g))
        np.testing.assert_allclose(xn.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    for reduction in ("mean", "sum", "none", "batchmean"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note that 'mean' is not the divergence
            theirs = tf.kl_div(torch.tensor(LOGP), torch.tensor(P), reduction=reduction)
        np.testing.assert_allclose(F.kl_div(LOGP, P, reduction).numpy(), theirs.numpy(), rtol=1e-10)
    checks = [
        (F.binary_cross_entropy_with_logits(X, T01, pos_weight=W4[:3]), tf.binary_cross_entropy_with_logits(
            torch.tensor(X), torch.tensor(T01), pos_weight=torch.tensor(W4[:3]))),
        (F.huber_loss(X, T, delta=0.7), tf.huber_loss(torch.tensor(X), torch.tensor(T), delta=0.7)),
        (F.smooth_l1_loss(X, T, beta=0.7), tf.smooth_l1_loss(torch.tensor(X), torch.tensor(T), beta=0.7)),
        (F.l1_loss(X, T), tf.l1_loss(torch.tensor(X), torch.tensor(T))),
        (F.cosine_embedding_loss(X, T, [1, -1, 1, -1], 0.1), tf.cosine_embedding_loss(
            torch.tensor(X), torch.tensor(T), torch.tensor([1, -1, 1, -1]), 0.1)),
    ]
    for ours, theirs in checks:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)


# ---- bad arguments -------------------------------------------------------------------------------
X2, L2 = rng.standard_normal((3, 4)), np.array([0, 1, 3])
ERRORS = [
    (lambda: F.cross_entropy(X2, L2, reduction="avg"), ValueError, r"cross_entropy: reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    (lambda: F.cross_entropy(X2, L2, label_smoothing=1.5), ValueError, r"cross_entropy: label_smoothing must be a finite number in \[0.0, 1.0\], got 1.5"),
    (lambda: F.cross_entropy(X2, L2, ignore_index=0.5), TypeError, r"cross_entropy: ignore_index must be an integer, got float 0.5"),
    (lambda: F.cross_entropy(X2, L2, weight=[1.0, 2.0]), ValueError, r"cross_entropy: weight must have one entry per class, shape \(4,\), got \(2,\)"),
    (lambda: F.cross_entropy(X2, np.array([0, 4, 1]), reduction="sum"), ValueError,
     r"cross_entropy: label 4 is out of range for 4 classes \(labels must be in 0..3, or ignore_index=-100\)"),
    (lambda: F.cross_entropy(X2, np.array([0, 1])), ValueError, r"labels must have shape \(3,\)"),
    (lambda: F.cross_entropy(rng.standard_normal((2, 4, 5)), np.zeros((2, 4), int), reduction="sum"), ValueError,
     r"cross_entropy: class labels must have shape \(2, 5\) to match scores \(2, 4, 5\), got \(2, 4\)"),
    (lambda: F.cross_entropy(X2, np.ones((3, 3)), reduction="sum"), ValueError,
     r"cross_entropy: class probabilities must have the scores' shape \(3, 4\), got \(3, 3\)"),
    (lambda: F.cross_entropy(np.float64(1.0), 0), ValueError, r"cross_entropy: expected scores of shape \(C,\), \(N, C\) or \(N, C, d1, ...\), got a 0-d input"),
    (lambda: F.nll_loss(X2, L2, reduction="batchmean"), ValueError, r"nll_loss: reduction must be one of 'mean', 'sum', 'none', got 'batchmean'"),
    (lambda: F.nll_loss(X2, np.array([0, -1, 2]), ignore_index=5), ValueError, r"nll_loss: label -1 is out of range for 4 classes"),
    (lambda: F.binary_cross_entropy_with_logits(X2, np.ones((3, 3))), ValueError,
     r"binary_cross_entropy_with_logits: input shape \(3, 4\) and target shape \(3, 3\) differ"),
    (lambda: F.binary_cross_entropy_with_logits(X2, np.ones((3, 4)), pos_weight=[1.0, 2.0]), ValueError,
     r"binary_cross_entropy_with_logits: pos_weight of shape \(2,\) does not broadcast to the input's shape \(3, 4\)"),
    (lambda: F.huber_loss(X2, X2, delta=0), ValueError, r"huber_loss: delta must be a finite number > 0.0, got 0.0"),
    (lambda: F.smooth_l1_loss(X2, X2, beta=-1), ValueError, r"smooth_l1_loss: beta must be a finite number >= 0.0, got -1.0"),
    (lambda: F.l1_loss(X2, X2, reduction=None), ValueError, r"l1_loss: reduction must be one of"),
    (lambda: F.mse_loss(X2, X2[:2]), ValueError, r"mse_loss: input shape \(3, 4\) and target shape \(2, 4\) differ"),
    (lambda: F.kl_div(X2, X2, log_target=1), TypeError, r"kl_div: log_target must be True or False, got int 1"),
    (lambda: F.kl_div(X2, X2, reduction="batch"), ValueError, r"kl_div: reduction must be one of 'mean', 'sum', 'none', 'batchmean'"),
    (lambda: F.cosine_embedding_loss(X2, X2, [1, 0, -1]), ValueError, r"cosine_embedding_loss: target must hold 1 \(similar\) or -1 \(dissimilar\), got 0"),
    (lambda: F.cosine_embedding_loss(X2, X2, [1, -1]), ValueError, r"cosine_embedding_loss: target must have shape \(3,\)"),
    (lambda: F.cosine_embedding_loss(X2, X2, [1, 1, 1], margin=2), ValueError, r"cosine_embedding_loss: margin must be a finite number in \[-1.0, 1.0\], got 2"),
]


@pytest.mark.parametrize("call, error, message", ERRORS, ids=[e[2][:50] for e in ERRORS])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()

"""Every differentiable op from one table: forward values, gradcheck and gradgradcheck.

Each row names an op, the function to check (Nodes in, a Node out), the
domain its inputs are drawn from, and the same computation in plain NumPy.
From that one declaration the tests below check, on NumPy and on CuPy (the
``xp`` fixture), and with the fast kernels on ("auto") and off ("reference"):

* the forward value against the NumPy expression;
* the first derivative against central differences in float64, with a random
  upstream gradient (``node.gradcheck``), on broadcasting shapes where the op
  broadcasts;
* the second derivative the same way (``node.gradgradcheck``), for every op
  whose first derivative is not constant.

Adding an op to node means adding a row here (see CONTRIBUTING.md).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from helpers import away_from_zero, conv_loops, conv_reference, conv_transpose_loops, distinct, labels, pool_reference, positive, probabilities, randn

import node
import node.functions as F


@dataclass(frozen=True)
class Op:
    name: str
    function: Callable  # Nodes -> Node, built with node ops
    inputs: Callable  # (xp, rng) -> tuple of float64 arrays (and integer labels), drawn from the op's domain
    expected: Callable  # the same computation on NumPy arrays
    second_order: bool = True  # False where the first derivative is constant in every input (no second to check)

    def __repr__(self):
        return self.name


def real(*shapes):
    return lambda xp, rng: tuple(randn(xp, rng, s) for s in shapes)


def nonzero(*shapes):
    return lambda xp, rng: tuple(away_from_zero(xp, rng, s, margin=0.3) for s in shapes)


def ties_free(*shapes):
    return lambda xp, rng: tuple(distinct(xp, rng, s) for s in shapes)


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_np(x, axis=-1):
    return np.log(softmax_np(x, axis))


def batch_norm_np(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


def classification(n, c, soft=False):
    def draw(xp, rng):
        return randn(xp, rng, (n, c)), probabilities(xp, rng, (n, c)) if soft else labels(xp, rng, n, c)

    return draw


def cross_entropy_np(x, t):
    logp = log_softmax_np(x)
    if t.ndim == 1:
        return -logp[np.arange(len(t)), t].mean()
    return -(t * logp).sum(axis=-1).mean()


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


# ---- references of the losses with PyTorch's options (issue 23) ----
W3 = np.array([0.5, 1.0, 2.0])  # class weights
Y5 = np.array([1, -1, 1, -1, -1])  # cosine embedding targets


def class_map(n, c, d):
    """Scores (n, c, d) and labels (n, d): one classification per position."""
    return lambda xp, rng: (randn(xp, rng, (n, c, d)), xp.asarray(rng.integers(0, c, (n, d))))


def nll_np(logp, t, w, ignore):
    """PyTorch's nll_loss summed, and the sum of the weights of the labels not ignored (the 'mean' divisor)."""
    keep = t != ignore
    safe = np.where(keep, t, 0)
    w_t = w[safe] * keep
    return -(w_t * np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]).sum(), w_t.sum()


def cross_entropy_options_np(x, t, w, ignore, eps):
    """PyTorch's weighted, label-smoothed cross entropy with ignore_index, 'mean': both parts divided by Σ w[t]."""
    logp = log_softmax_np(x, axis=1)
    nll, total = nll_np(logp, t, w, ignore)
    smooth = -((logp * w.reshape((1, -1) + (1,) * (x.ndim - 2))).sum(axis=1) * (t != ignore)).sum()
    return ((1 - eps) * nll + eps / x.shape[1] * smooth) / total


def cosine_np(a, b):
    return (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))


def shifted_pair(xp, rng):
    """(t + d, t) with |d| >= 0.3: the L1 kink at input = target stays outside a finite difference."""
    t = randn(xp, rng, (4, 3))
    return t + away_from_zero(xp, rng, (4, 3), 0.3), t


OPS = [
    # arithmetic, broadcasting
    Op("add", F.add, real((2, 3, 4), (3, 1)), np.add, second_order=False),
    Op("sub", F.sub, real((3, 1), (2, 1, 4)), np.subtract, second_order=False),
    Op("mul", F.mul, real((2, 3, 4), (4,)), np.multiply),
    Op("div", F.div, lambda xp, rng: (randn(xp, rng, (2, 3)), away_from_zero(xp, rng, (3,), 0.5)), np.divide),
    Op("neg", F.neg, real((3, 2)), np.negative, second_order=False),
    Op("pow const", lambda a: a**3, real((3, 4)), lambda a: a**3),
    Op("pow sqrt", lambda a: a**0.5, lambda xp, rng: (positive(xp, rng, (3, 4)),), np.sqrt),
    Op("pow nodes", F.pow, lambda xp, rng: (positive(xp, rng, (2, 3)), randn(xp, rng, (3,))), np.power),
    Op("matmul", F.matmul, real((2, 3, 4), (4, 5)), np.matmul),
    Op("matmul vector", F.matmul, real((4,), (2, 4, 3)), np.matmul),
    Op("scale_grad", lambda a: F.scale_grad(a, 1.0) * a, real((3,)), lambda a: a * a),
    # reductions and broadcasting
    Op("sum", lambda a: F.sum(a, axis=1), real((2, 3, 4)), lambda a: a.sum(axis=1), second_order=False),
    Op("mean keepdims", lambda a: F.mean(a, axis=(0, 2), keepdims=True), real((2, 3, 4)), lambda a: a.mean(axis=(0, 2), keepdims=True), second_order=False),
    Op("max", lambda a: F.max(a, axis=0) ** 2, ties_free((3, 4)), lambda a: a.max(axis=0) ** 2),
    Op("min", lambda a: F.min(a) ** 2, ties_free((3, 4)), lambda a: a.min() ** 2),
    Op("broadcast_to", lambda a: F.broadcast_to(a, (2, 3, 4)), real((3, 1)), lambda a: np.broadcast_to(a, (2, 3, 4)), second_order=False),
    Op("sum_to", lambda a: F.sum_to(a, (3, 1)), real((2, 3, 4)), lambda a: a.sum(axis=(0, 2)).reshape(3, 1), second_order=False),
    # shape
    Op("reshape", lambda a: F.reshape(a, (4, 3)) ** 2, real((2, 6)), lambda a: a.reshape(4, 3) ** 2),
    Op("transpose", lambda a: F.transpose(a, (2, 0, 1)), real((2, 3, 4)), lambda a: a.transpose(2, 0, 1), second_order=False),
    Op("flatten", F.flatten, real((2, 3, 4)), lambda a: a.reshape(2, -1), second_order=False),
    Op("expand_dims", lambda a: F.expand_dims(a, 1), real((2, 3)), lambda a: a[:, None], second_order=False),
    Op("squeeze", lambda a: F.squeeze(a, 1), real((2, 1, 3)), lambda a: a[:, 0], second_order=False),
    Op("getitem", lambda a: a[np.array([0, 2, 0]), 1:] ** 2, real((3, 4)), lambda a: a[np.array([0, 2, 0]), 1:] ** 2),
    Op("concat", lambda a, b: F.concat([a, b * a], axis=1), real((2, 3), (2, 3)), lambda a, b: np.concatenate([a, b * a], axis=1)),
    Op("stack", lambda a, b: F.stack([a, b * b], axis=0), real((2, 3), (2, 3)), lambda a, b: np.stack([a, b * b])),
    # elementwise math
    Op("exp", F.exp, real((3, 4)), np.exp),
    Op("log", F.log, lambda xp, rng: (positive(xp, rng, (3, 4)),), np.log),
    Op("sqrt", F.sqrt, lambda xp, rng: (positive(xp, rng, (3, 4)),), np.sqrt),
    Op("abs", lambda a: F.abs(a) * a, nonzero((3, 4)), lambda a: np.abs(a) * a),
    Op("clip", lambda a: F.clip(a, -0.5, 0.5) * a, nonzero((3, 4)), lambda a: np.clip(a, -0.5, 0.5) * a),
    # activations
    Op("relu", lambda a: F.relu(a) * a, nonzero((3, 4)), lambda a: np.maximum(a, 0) * a),
    Op("leaky_relu", lambda a: F.leaky_relu(a, 0.2) * a, nonzero((3, 4)), lambda a: np.where(a > 0, a, 0.2 * a) * a),
    Op(
        "prelu",
        lambda a, s: F.prelu(a, s) * a,
        lambda xp, rng: (away_from_zero(xp, rng, (2, 3, 4, 4), 0.3), positive(xp, rng, (3,), 0.1)),
        lambda a, s: np.where(a > 0, a, s[None, :, None, None] * a) * a,
    ),
    Op("sigmoid", F.sigmoid, real((3, 4)), sigmoid_np),
    Op("tanh", F.tanh, real((3, 4)), np.tanh),
    Op("softmax", lambda a: F.softmax(a, axis=0), real((3, 4)), lambda a: softmax_np(a, 0)),
    Op("log_softmax", F.log_softmax, real((3, 4)), log_softmax_np),
    # losses
    Op("mean_squared_error", F.mean_squared_error, real((4, 3), (4, 3)), lambda a, b: ((a - b) ** 2).mean()),
    Op("softmax_cross_entropy labels", F.softmax_cross_entropy, classification(5, 4), cross_entropy_np),
    Op("softmax_cross_entropy soft", F.softmax_cross_entropy, classification(5, 4, soft=True), cross_entropy_np),
    Op("nll_loss", lambda a, t: F.nll_loss(F.log_softmax(a), t), classification(5, 4), cross_entropy_np),
    Op(
        "sigmoid_cross_entropy",
        F.sigmoid_cross_entropy,
        lambda xp, rng: (randn(xp, rng, (4, 3)), xp.asarray(rng.random((4, 3)))),
        lambda x, t: -(t * np.log(sigmoid_np(x)) + (1 - t) * np.log(1 - sigmoid_np(x))).sum() / len(x),
    ),
    # losses with PyTorch's options (issue 23; every option against NumPy and torch in tests/functions/test_loss.py)
    Op(
        "cross_entropy weight ignore_index label_smoothing (N, C, d)",
        lambda x, t: F.cross_entropy(x, t, weight=W3, ignore_index=1, label_smoothing=0.2),
        class_map(4, 3, 2),
        lambda x, t: cross_entropy_options_np(x, t, W3, 1, 0.2),
    ),
    Op(
        "cross_entropy probabilities sum",
        lambda x, p: F.cross_entropy(x, p, weight=W3, reduction="sum", label_smoothing=0.1),
        lambda xp, rng: (randn(xp, rng, (5, 3)), probabilities(xp, rng, (5, 3))),
        lambda x, p: -((0.9 * p + 0.1 / 3) * W3 * log_softmax_np(x, 1)).sum(),
    ),
    Op(
        "nll_loss weight ignore_index sum (N, C, d)",
        lambda x, t: F.nll_loss(F.log_softmax(x, axis=1), t, weight=W3, ignore_index=0, reduction="sum"),
        class_map(4, 3, 2),
        lambda x, t: nll_np(log_softmax_np(x, 1), t, W3, 0)[0],
    ),
    Op(
        "binary_cross_entropy_with_logits weight pos_weight",
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=W3[:2, None], pos_weight=W3),
        lambda xp, rng: (randn(xp, rng, (2, 3)) * 3, xp.asarray(rng.random((2, 3)))),
        lambda x, t: -(W3[:2, None] * (W3 * t * np.log(sigmoid_np(x)) + (1 - t) * np.log(1 - sigmoid_np(x)))).mean(),
    ),
    Op("mse_loss none", lambda a, b: F.mse_loss(a, b, reduction="none"), real((4, 3), (4, 3)), lambda a, b: (a - b) ** 2),
    Op("l1_loss sum", lambda a, b: F.l1_loss(a, b, reduction="sum"), shifted_pair, lambda a, b: np.abs(a - b).sum(), second_order=False),
    Op(
        "huber_loss delta",
        lambda a, b: F.huber_loss(a, b, delta=0.7),
        real((4, 3), (4, 3)),
        lambda a, b: np.where(np.abs(a - b) < 0.7, 0.5 * (a - b) ** 2, 0.7 * (np.abs(a - b) - 0.35)).mean(),
    ),
    Op(
        "smooth_l1_loss beta",
        lambda a, b: F.smooth_l1_loss(a, b, beta=0.5, reduction="none"),
        real((4, 3), (4, 3)),
        lambda a, b: np.where(np.abs(a - b) < 0.5, (a - b) ** 2, np.abs(a - b) - 0.25),
    ),
    Op(
        "kl_div batchmean",
        lambda a, t: F.kl_div(a, t, reduction="batchmean"),
        lambda xp, rng: (randn(xp, rng, (4, 3)), positive(xp, rng, (4, 3), 0.1)),
        lambda a, t: (t * (np.log(t) - a)).sum() / 4,
    ),
    Op(
        "kl_div log_target",
        lambda a, t: F.kl_div(a, t, reduction="sum", log_target=True),
        real((4, 3), (4, 3)),
        lambda a, t: (np.exp(t) * (t - a)).sum(),
    ),
    Op(
        "cosine_embedding_loss margin",
        lambda a, b: F.cosine_embedding_loss(a, b, Y5, margin=-0.2, reduction="none"),
        real((5, 3), (5, 3)),
        lambda a, b: np.where(Y5 == 1, 1 - cosine_np(a, b), np.maximum(cosine_np(a, b) + 0.2, 0)),
    ),
    # layers' functions
    Op("linear", F.linear, real((4, 3), (3, 2), (2,)), lambda x, w, b: x @ w + b),
    Op("conv2d", lambda x, w, b: F.conv2d(x, w, b, 1, 1), real((2, 3, 5, 5), (4, 3, 3, 3), (4,)), lambda x, w, b: conv_reference(x, w, b, 1, 1)),
    Op("conv2d stride 2", lambda x, w, b: F.conv2d(x, w, b, 2, 0), real((2, 2, 6, 6), (3, 2, 3, 3), (3,)), lambda x, w, b: conv_reference(x, w, b, 2, 0)),
    Op("conv2d 5x5", lambda x, w, b: F.conv2d(x, w, b, 1, 2), real((8, 4, 7, 7), (4, 4, 5, 5), (4,)), lambda x, w, b: conv_reference(x, w, b, 1, 2)),
    Op("max_pool2d", lambda a: F.max_pool2d(a, 2) ** 2, ties_free((2, 3, 4, 4)), lambda a: pool_reference(a, 2, 2, 0, np.max) ** 2),
    Op("max_pool2d padded", lambda a: F.max_pool2d(a, 3, 2, 1) ** 2, ties_free((2, 2, 5, 5)), lambda a: pool_reference(a, 3, 2, 1, np.max) ** 2),
    Op("avg_pool2d", lambda a: F.avg_pool2d(a, 2), real((2, 3, 4, 4)), lambda a: pool_reference(a, 2, 2, 0, np.mean), second_order=False),
    Op("global_avg_pool2d", F.global_avg_pool2d, real((2, 3, 4, 4)), lambda a: a.mean(axis=(2, 3)), second_order=False),
    Op("batch_norm", F.batch_norm, real((6, 3, 2, 2), (3,), (3,)), batch_norm_np),
    Op("batch_norm 2-D", F.batch_norm, real((8, 3), (3,), (3,)), batch_norm_np),
    # layers' functions with PyTorch's options (issue 23, item 5; more cases in tests/layers/test_conv_options.py)
    Op(
        "conv2d groups dilation",
        lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 2), (2, 1), 2),
        real((2, 4, 7, 6), (4, 2, 3, 2), (4,)),
        lambda x, w, b: conv_loops(x, w, b, (2, 1), (1, 2), (2, 1), 2),
    ),
    Op(
        "conv_transpose2d",
        lambda x, w, b: F.conv_transpose2d(x, w, b, (2, 3), (1, 0), (1, 2), 2, (1, 2)),
        real((2, 4, 3, 3), (4, 2, 3, 2), (4,)),
        lambda x, w, b: conv_transpose_loops(x, w, b, (2, 3), (1, 0), (1, 2), 2, (1, 2)),
    ),
]


def draw(op, xp, seed=0):
    return op.inputs(xp, np.random.default_rng(seed))


@pytest.fixture(params=["auto", "reference"])
def kernels(request):
    with node.using_config("kernels", request.param):
        yield request.param


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_forward_matches_numpy(xp, kernels, op):
    inputs = draw(op, xp)
    got = op.function(*[node.Node(a) for a in inputs])
    expected = op.expected(*[node.asnumpy(a) for a in inputs])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12, err_msg=op.name)


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_gradcheck(xp, kernels, op):
    assert node.gradcheck(op.function, *draw(op, xp, seed=1), seed=2)


@pytest.mark.parametrize("op", [op for op in OPS if op.second_order], ids=repr)
def test_gradgradcheck(xp, op):
    assert node.gradgradcheck(op.function, *draw(op, xp, seed=3), seed=4)


def test_the_table_covers_every_differentiable_function():
    """A new public op without a row fails here, naming itself."""
    not_ops = {"astype", "dropout", "softmax_with_cross_entropy"}  # checked elsewhere: a cast, random masks, an alias
    covered = {op.name.split()[0] for op in OPS}
    missing = sorted(set(F.__all__) - covered - not_ops)
    assert not missing, f"ops without a row in OPS: {missing}"

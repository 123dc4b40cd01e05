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
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from helpers import adaptive_pool_loops, away_from_zero, conv_loops, conv_reference, conv_transpose_loops, distinct, labels, pool_loops, pool_reference, positive, probabilities, randn

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


def with_zeros(shape, rows=((0, 1), (1, 0), (1, 2))):
    """Standard normal values with zeros at ``rows`` (by default one zero in row 0, two in row 1): prod's edge cases."""

    def draw(xp, rng):
        v = rng.standard_normal(shape)
        for index in rows:
            v[index] = 0.0
        return (xp.asarray(v),)

    return draw


GATHER = np.array([[0, 3, 3, 1, 0], [2, 2, 1, 0, 3], [1, 0, 0, 2, 3]])  # repeats: their gradients add up
SCATTER = np.array([[3, 0], [1, 2], [0, 1]])  # no repeats: one write per place
SCATTER_ADD = np.array([[0, 2, 2, 1], [2, 2, 0, 1]])  # along axis 0; column 1 adds twice into row 2


def put_along(a, index, src):
    out = a.copy()
    np.put_along_axis(out, index, src, 1)
    return out


def add_along(a, index, src):
    out = a.copy()
    np.add.at(out, (index, np.arange(index.shape[1])[None, :]), src)
    return out


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


def standardize_np(x, axes, eps=1e-5):
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def group_norm_np(x, w, b, groups=2):
    y = standardize_np(x.reshape(x.shape[0], groups, -1), 2).reshape(x.shape)
    return y * w[:, None, None] + b[:, None, None]


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


def uniform(low, high, *shapes):
    return lambda xp, rng: tuple(xp.asarray(rng.uniform(low, high, s)) for s in shapes)


erf_np = np.vectorize(math.erf, otypes=[float])


def gelu_np(x):
    return 0.5 * x * (1 + erf_np(x / math.sqrt(2)))


def gelu_tanh_np(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def softplus_np(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def elu_np(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


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
    # reductions, shape and indexing (issue 23); index arrays are constants of the row
    Op("prod", lambda a: F.prod(a, axis=1), real((3, 4)), lambda a: a.prod(axis=1)),
    Op("prod zeros", lambda a: F.prod(a, axis=1), with_zeros((3, 4)), lambda a: a.prod(axis=1)),
    Op("prod all keepdims", lambda a: F.prod(a, keepdims=True), with_zeros((2, 2), rows=((0, 1),)), lambda a: a.prod(keepdims=True)),
    Op("var", lambda a: F.var(a, axis=0), real((4, 3)), lambda a: a.var(axis=0, ddof=1)),
    Op("var correction 0", lambda a: F.var(a, (0, 2), keepdims=True, correction=0), real((2, 3, 4)), lambda a: a.var(axis=(0, 2), keepdims=True)),
    Op("std", lambda a: F.std(a, axis=1), real((3, 5)), lambda a: a.std(axis=1, ddof=1)),
    Op("logsumexp", lambda a: F.logsumexp(a, axis=1), real((3, 4)), lambda a: np.log(np.exp(a).sum(axis=1))),
    Op("norm", lambda a: F.norm(a, axis=1), real((3, 4)), lambda a: np.sqrt((a * a).sum(axis=1))),
    Op("norm p=1", lambda a: F.norm(a, 1, axis=0, keepdims=True), nonzero((3, 4)), lambda a: np.abs(a).sum(axis=0, keepdims=True), second_order=False),
    Op("norm p=3", lambda a: F.norm(a, 3), nonzero((3, 4)), lambda a: (np.abs(a) ** 3).sum() ** (1 / 3)),
    Op("norm inf", lambda a: F.norm(a, np.inf, axis=1) ** 2, lambda xp, rng: (distinct(xp, rng, (3, 4)) + 1,), lambda a: np.abs(a).max(axis=1) ** 2),
    Op("norm fro", lambda a: F.norm(a, "fro", axis=(0, 1)), real((3, 4, 2)), lambda a: np.sqrt((a * a).sum(axis=(0, 1)))),
    Op("cumsum", lambda a: F.cumsum(a, 1), real((3, 4)), lambda a: np.cumsum(a, 1), second_order=False),
    Op("cumprod", lambda a: F.cumprod(a, 0), real((4, 3)), lambda a: np.cumprod(a, 0)),
    Op("cumprod zeros", lambda a: F.cumprod(a, 1), with_zeros((3, 4)), lambda a: np.cumprod(a, 1)),
    Op("sort", lambda a: F.sort(a, 1)[0] ** 2, ties_free((3, 4)), lambda a: np.sort(a, 1) ** 2),
    Op("sort descending", lambda a: F.sort(a, 0, descending=True)[0] ** 2, ties_free((3, 4)), lambda a: np.sort(a, 0)[::-1] ** 2),
    Op("topk", lambda a: F.topk(a, 2, axis=0)[0] ** 2, ties_free((4, 3)), lambda a: np.sort(a, 0)[::-1][:2] ** 2),
    Op("topk smallest", lambda a: F.topk(a, 2, largest=False)[0] ** 2, ties_free((3, 4)), lambda a: np.sort(a, 1)[:, :2] ** 2),
    Op("gather", lambda a: F.gather(a, 1, GATHER) ** 2, real((3, 4)), lambda a: np.take_along_axis(a, GATHER, 1) ** 2),
    Op("scatter", lambda a, s: F.scatter(a, 1, SCATTER, s), real((3, 4), (3, 2)), lambda a, s: put_along(a, SCATTER, s), second_order=False),
    Op("scatter_add", lambda a, s: F.scatter_add(a, 0, SCATTER_ADD, s), real((3, 4), (2, 4)), lambda a, s: add_along(a, SCATTER_ADD, s), second_order=False),
    Op("pad", lambda a: F.pad(a, (1, 2)), real((2, 3)), lambda a: np.pad(a, ((0, 0), (1, 2))), second_order=False),
    Op("pad reflect", lambda a: F.pad(a, ((0, 0), (2, 1), (1, 2)), "reflect"), real((2, 4, 3)), lambda a: np.pad(a, ((0, 0), (2, 1), (1, 2)), "reflect"), second_order=False),
    Op("pad replicate", lambda a: F.pad(a, (2, 1, 0, 3), "replicate"), real((2, 3, 2)), lambda a: np.pad(a, ((0, 0), (0, 3), (2, 1)), "edge"), second_order=False),
    Op("pad circular", lambda a: F.pad(a, (2, 1), "circular"), real((2, 3)), lambda a: np.pad(a, ((0, 0), (2, 1)), "wrap"), second_order=False),
    Op("tril", lambda a: F.tril(a, 1), real((2, 3, 4)), lambda a: np.tril(a, 1), second_order=False),
    Op("triu", lambda a: F.triu(a, -1), real((4, 3)), lambda a: np.triu(a, -1), second_order=False),
    Op("split", lambda a: F.split(a, [1, 3], axis=1)[1] ** 2, real((2, 4)), lambda a: a[:, 1:] ** 2),
    Op("chunk", lambda a: F.chunk(a, 3, axis=0)[2], real((5, 2)), lambda a: a[4:], second_order=False),
    Op("tile", lambda a: F.tile(a, (2, 1, 3)), real((3, 2)), lambda a: np.tile(a, (2, 1, 3)), second_order=False),
    Op("repeat_interleave", lambda a: F.repeat_interleave(a, [2, 0, 1], axis=0), real((3, 2)), lambda a: np.repeat(a, [2, 0, 1], axis=0), second_order=False),
    Op("roll", lambda a: F.roll(a, (1, -2), (0, 1)), real((3, 4)), lambda a: np.roll(a, (1, -2), (0, 1)), second_order=False),
    Op("flip", lambda a: F.flip(a, 1), real((3, 4)), lambda a: a[:, ::-1], second_order=False),
    Op("permute", lambda a: F.permute(a, 1, 2, 0), real((2, 3, 4)), lambda a: a.transpose(1, 2, 0), second_order=False),
    Op("swapaxes", lambda a: F.swapaxes(a, 0, 2), real((2, 3, 4)), lambda a: a.swapaxes(0, 2), second_order=False),
    Op("unsqueeze", lambda a: F.unsqueeze(a, -1), real((2, 3)), lambda a: a[..., None], second_order=False),
    Op("flatten start end", lambda a: F.flatten(a, 0, 1), real((2, 3, 4)), lambda a: a.reshape(6, 4), second_order=False),
    Op("einsum matmul", lambda a, b: F.einsum("ij,jk->ik", a, b), real((3, 4), (4, 2)), lambda a, b: a @ b),
    Op("einsum batch matmul", lambda a, b: F.einsum("bij,bjk->bik", a, b), real((2, 3, 4), (2, 4, 2)), np.matmul),
    Op("einsum trace", lambda a: F.einsum("ii", a) ** 2, real((3, 3)), lambda a: np.trace(a) ** 2),
    Op("einsum diagonal", lambda a: F.einsum("ii->i", a), real((3, 3)), np.diagonal, second_order=False),
    Op("einsum outer", lambda a, b: F.einsum("i,j->ij", a, b), real((3,), (4,)), np.outer),
    Op("einsum transpose", lambda a: F.einsum("ijk->kij", a), real((2, 3, 4)), lambda a: a.transpose(2, 0, 1), second_order=False),
    Op("einsum sum", lambda a: F.einsum("ij->i", a), real((3, 4)), lambda a: a.sum(axis=1), second_order=False),
    Op("einsum bilinear", lambda x, w, y: F.einsum("bi,oij,bj->bo", x, w, y), real((2, 3), (4, 3, 2), (2, 2)), lambda x, w, y: np.einsum("bi,oij,bj->bo", x, w, y)),
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
    # elementwise (issue 23): selection, exp/log relatives, erf, rounding, trigonometry, smooth activations
    Op("where", lambda a, b: F.where(a > 0, a * b, b), nonzero((3, 4), (4,)), lambda a, b: np.where(a > 0, a * b, b)),
    Op("masked_fill", lambda a: F.masked_fill(a * a, a < 0, 2.0), nonzero((3, 4)), lambda a: np.where(a < 0, 2.0, a * a)),
    Op("maximum", lambda a, b: F.maximum(a, b) * a, real((3, 4), (4,)), lambda a, b: np.maximum(a, b) * a),
    Op("minimum", lambda a, b: F.minimum(a, b) * b, real((2, 1), (3,)), lambda a, b: np.minimum(a, b) * b),
    Op("exp2", F.exp2, real((3, 4)), np.exp2),
    Op("expm1", F.expm1, real((3, 4)), np.expm1),
    Op("log2", F.log2, lambda xp, rng: (positive(xp, rng, (3, 4)),), np.log2),
    Op("log10", F.log10, lambda xp, rng: (positive(xp, rng, (3, 4)),), np.log10),
    Op("log1p", F.log1p, uniform(-0.5, 2.0, (3, 4)), np.log1p),
    Op("erf", F.erf, lambda xp, rng: (xp.asarray(rng.uniform(-4, 4, (4, 5))),), erf_np),
    Op("sign", lambda a: F.sign(a) * a, nonzero((3, 4)), lambda a: np.sign(a) * a, second_order=False),
    Op("floor", lambda a: F.floor(a) * a, real((3, 4)), lambda a: np.floor(a) * a, second_order=False),
    Op("ceil", lambda a: F.ceil(a) * a, real((3, 4)), lambda a: np.ceil(a) * a, second_order=False),
    Op("round", lambda a: F.round(a * 3, 1) * a, real((3, 4)), lambda a: np.round(a * 3, 1) * a, second_order=False),
    Op("sin", F.sin, real((3, 4)), np.sin),
    Op("cos", F.cos, real((3, 4)), np.cos),
    Op("tan", F.tan, uniform(-1.2, 1.2, (3, 4)), np.tan),
    Op("asin", F.asin, uniform(-0.9, 0.9, (3, 4)), np.arcsin),
    Op("acos", F.acos, uniform(-0.9, 0.9, (3, 4)), np.arccos),
    Op("atan", F.atan, real((3, 4)), np.arctan),
    Op("atan2", F.atan2, nonzero((3, 4), (4,)), np.arctan2),
    Op("sinh", F.sinh, real((3, 4)), np.sinh),
    Op("cosh", F.cosh, real((3, 4)), np.cosh),
    Op("asinh", F.asinh, real((3, 4)), np.arcsinh),
    Op("acosh", F.acosh, uniform(1.2, 3.0, (3, 4)), np.arccosh),
    Op("atanh", F.atanh, uniform(-0.9, 0.9, (3, 4)), np.arctanh),
    Op("softplus", F.softplus, real((3, 4)), softplus_np),
    Op("softplus beta threshold", lambda a: F.softplus(a, 2.0, 1.0), real((3, 4)), lambda a: softplus_np(a, 2.0, 1.0)),
    Op("logsigmoid", F.logsigmoid, real((3, 4)), lambda a: np.log(sigmoid_np(a))),
    Op("silu", F.silu, real((3, 4)), lambda a: a * sigmoid_np(a)),
    Op("gelu", F.gelu, uniform(-4, 4, (3, 4)), gelu_np),
    Op("gelu tanh", lambda a: F.gelu(a, approximate="tanh"), real((3, 4)), gelu_tanh_np),
    Op("elu", lambda a: F.elu(a, 0.5), nonzero((3, 4)), lambda a: elu_np(a, 0.5)),
    Op("selu", F.selu, nonzero((3, 4)), lambda a: SELU_SCALE * elu_np(a, SELU_ALPHA)),
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
    Op(
        "max_pool2d ceil_mode",
        lambda a: F.max_pool2d(a, (3, 2), (2, 1), (1, 1), True) ** 2,
        ties_free((2, 2, 6, 5)),
        lambda a: pool_loops(a, (3, 2), (2, 1), (1, 1), True, np.max) ** 2,
    ),
    Op(
        "avg_pool2d ceil_mode",
        lambda a: F.avg_pool2d(a, (2, 3), (2, 2), (1, 0), True),
        real((2, 2, 6, 6)),
        lambda a: pool_loops(a, (2, 3), (2, 2), (1, 0), True, np.mean),
        second_order=False,
    ),
    Op("adaptive_avg_pool2d", lambda a: F.adaptive_avg_pool2d(a, (3, 2)), real((2, 2, 7, 5)), lambda a: adaptive_pool_loops(a, 3, 2), second_order=False),
    Op("layer_norm", lambda x, w, b: F.layer_norm(x, (3, 4), w, b), real((2, 3, 4), (3, 4), (3, 4)), lambda x, w, b: standardize_np(x, (1, 2)) * w + b),
    Op("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), real((3, 4, 2, 3), (4,), (4,)), group_norm_np),
    Op("embedding", lambda w: F.embedding(np.array([[1, 2, 1], [0, 4, 2]]), w) ** 2, real((5, 3)), lambda w: w[np.array([[1, 2, 1], [0, 4, 2]])] ** 2),
    Op("unbind", lambda a: F.stack(list(F.unbind(a, 1))[::-1], 0) ** 2, real((2, 3, 4)), lambda a: np.stack([a[:, i] for i in range(3)][::-1]) ** 2),
    Op(
        "scaled_dot_product_attention causal",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        real((2, 3, 4), (2, 5, 4), (2, 5, 3)),
        lambda q, k, v: softmax_np(np.where(np.tril(np.ones((3, 5), dtype=bool)), q @ k.swapaxes(-1, -2) / 2, -np.inf)) @ v,
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
    not_ops |= {"all", "any", "argmax", "argmin", "argsort", "one_hot"}  # no gradient: test_reduction.py, test_indexing.py
    not_ops |= {"eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite"}  # no gradient: test_comparison.py
    covered = {op.name.split()[0] for op in OPS}
    missing = sorted(set(F.__all__) - covered - not_ops)
    assert not missing, f"ops without a row in OPS: {missing}"

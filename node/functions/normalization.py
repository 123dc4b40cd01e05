"""Batch normalization of x (N, C, ...) per channel (axis 1), over the batch and the other axes.

For each channel, with m values of it in the batch:

    x̂ = (x - μ) / √(σ² + ε),     y = γ·x̂ + β

In training μ and σ² are the mean and the (biased) variance of those m
values; in evaluation they are the running statistics, constants. Writing
s = 1/√(σ² + ε) and taking every mean over a channel's m values, the gradient is

    gβ = Σ gy,     gγ = Σ gy·x̂,
    gx = γ·s·gy                                         (evaluation)
    gx = γ·s·(gy - mean(gy) - x̂·mean(gy·x̂))             (training)

the two extra terms of training coming from μ and σ², which depend on x.
That gradient is a Function of its own, ``BatchNormalizationGrad``, so that
a fast kernel can compute it in a training step (``node.kernels.normalization``)
and so that it can be differentiated again: its backward recomputes x̂ and s
from x with node operations, and differentiates through them.

This module is the reference: NCHW broadcasting and fresh arrays.
"""
import math
import numbers

from .. import validation
from ..core import Function, as_node


def channel_shape(x):
    """(1, C, 1, ...): the shape a per-channel vector takes to broadcast against x (N, C, ...)."""
    return (1, -1) + (1,) * (x.ndim - 2)


def channel_axes(x):
    """Every axis of x (N, C, ...) but the channel axis: the axes a per-channel statistic reduces."""
    return (0,) + tuple(range(2, x.ndim))


class BatchNormalization(Function):
    """y = γ·x̂ + β per channel, from the batch's statistics (``training``) or the running ones.

    In training, running statistics given as arrays are updated in place from
    the batch's (see ``update_running_statistics``), as in PyTorch.
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, eps=1e-5, running_mean=None, running_var=None, momentum=0.1, training=True):
        self.eps, self.momentum, self.training = eps, momentum, training
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x, gamma, beta):
        shape = channel_shape(x)
        if self.training:
            mean, var = x.mean(axis=channel_axes(x)), x.var(axis=channel_axes(x))
            self.update_running_statistics(mean, var, x.size // x.shape[1])
        else:
            mean, var = self.running_mean, self.running_var
        self.mean, self.inv_std = mean, (var + self.eps) ** -0.5  # per channel, for the backward
        xhat = (x - mean.reshape(shape)) * self.inv_std.reshape(shape)
        return gamma.reshape(shape) * xhat + beta.reshape(shape)

    def update_running_statistics(self, mean, var, m):
        """r ← (1 - momentum)·r + momentum·(the batch's statistic), in place; the variance unbiased (× m/(m - 1))."""
        if self.running_mean is None:
            return
        self.running_mean *= 1 - self.momentum
        self.running_mean += self.momentum * mean.astype(self.running_mean.dtype)
        self.running_var *= 1 - self.momentum
        self.running_var += (self.momentum * m / (m - 1)) * var.astype(self.running_var.dtype)

    def backward(self, gy):
        x, gamma, _ = self.saved_inputs()
        return BatchNormalizationGrad(self)(x, gamma, gy)


class BatchNormalizationGrad(Function):
    """(gx, gγ, gβ) of a batch normalization, as a Function of (x, γ, gy); see the module docstring.

    Its forward uses the statistics the batch normalization's forward computed
    (the same numbers). Its backward is the derivative of those three formulas,
    for upstream gradients (A, b, c) of (gx, gγ, gβ). With P(g) = g - mean(g) - x̂·mean(g·x̂)
    (P is symmetric), r = Σ A·P(gy) and k = mean(gy·x̂), in training:

        ∂/∂gy = γ·s·P(A) + b·x̂ + c,     ∂/∂γ = s·r,
        ∂/∂x  = s·(P(G) - γ·s·r·x̂/m)     with  G = b·gy - γ·s·(k·A + mean(A·x̂)·gy),

    G being the derivative with respect to x̂ (at fixed s) and the last term the
    one through s = (σ² + ε)^(-1/2), whose derivative is -s²·x̂/m. In
    evaluation s and μ are constants: ∂/∂gy = γ·s·A + b·x̂ + c, ∂/∂γ = Σ s·A·gy,
    ∂/∂x = b·s·gy.
    """

    differentiable_backward = True

    def __init__(self, batch_norm):
        self.eps, self.training = batch_norm.eps, batch_norm.training
        self.mean, self.inv_std = batch_norm.mean, batch_norm.inv_std

    def forward(self, x, gamma, gy):
        shape, axes, m = channel_shape(x), channel_axes(x), x.size // x.shape[1]
        inv_std = self.inv_std.reshape(shape)
        xhat = (x - self.mean.reshape(shape)) * inv_std
        gbeta, ggamma = gy.sum(axis=axes), (gy * xhat).sum(axis=axes)
        scale = gamma.reshape(shape) * inv_std
        if not self.training:
            return scale * gy, ggamma, gbeta
        return scale * (gy - gbeta.reshape(shape) / m - xhat * ggamma.reshape(shape) / m), ggamma, gbeta

    def normalize(self, x):
        """(x̂, s) for x, s shaped to broadcast: recomputed from x with operations that Nodes record, in training."""
        shape = channel_shape(x)
        if not self.training:
            inv_std = self.inv_std.reshape(shape)
            return (x - self.mean.reshape(shape)) * inv_std, inv_std
        centered = x - x.mean(axis=channel_axes(x), keepdims=True)
        inv_std = ((centered * centered).mean(axis=channel_axes(x), keepdims=True) + self.eps) ** -0.5
        return centered * inv_std, inv_std

    def backward(self, ggx, gggamma, ggbeta):
        x, gamma, gy = self.saved_inputs()
        shape, axes, m = channel_shape(x), channel_axes(x), x.size // x.shape[1]
        xhat, inv_std = self.normalize(x)
        scale = gamma.reshape(shape) * inv_std
        b, c = gggamma.reshape(shape), ggbeta.reshape(shape)
        if not self.training:
            return b * inv_std * gy, (inv_std * ggx * gy).sum(axis=axes), scale * ggx + b * xhat + c

        def mean(g):
            return g.mean(axis=axes, keepdims=True)

        def project(g):
            return g - mean(g) - xhat * mean(g * xhat)

        r = (ggx * project(gy)).sum(axis=axes, keepdims=True)
        g_xhat = b * gy - scale * (mean(gy * xhat) * ggx + mean(ggx * xhat) * gy)
        gx = inv_std * (project(g_xhat) - scale * r * xhat / m)
        return gx, (inv_std * r).reshape(-1), scale * project(ggx) + b * xhat + c


def _check_statistics(x, running_mean, running_var, training):
    channels = x.shape[1]
    given = [s for s in (running_mean, running_var) if s is not None]
    if len(given) == 1:
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and not given:
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    for name, s in (("running_mean", running_mean), ("running_var", running_var)):
        if s is not None and s.shape != (channels,):
            raise ValueError(f"batch_norm: {name} of shape {s.shape} must have shape ({channels},) for input {x.shape}")
    if training and x.size == channels:
        raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")


def batch_norm(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None, momentum=0.1, training=None):
    """Batch normalization of x (N, C, ...) per channel: γ·(x - μ)/√(σ² + ε) + β.

    Args:
        training: normalize with the batch's own mean and (biased) variance; and
            when ``running_mean`` and ``running_var`` (arrays of shape (C,)) are
            given, update them in place: r ← (1 - momentum)·r + momentum·b,
            with the batch's unbiased variance, as PyTorch's ``F.batch_norm``.
            With ``training=False``, normalize with ``running_mean`` and
            ``running_var`` instead. By default (None) it trains when no running
            statistics are given and evaluates when they are.
    """
    x = as_node(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got {x.shape}")
    gamma, beta = as_node(gamma, like=x), as_node(beta, like=x)
    if gamma.shape != (x.shape[1],) or beta.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: gamma {gamma.shape} and beta {beta.shape} must have shape ({x.shape[1]},) for input {x.shape}")
    if training is None:
        training = running_mean is None
    _check_statistics(x, running_mean, running_var, training)
    return BatchNormalization(eps, running_mean, running_var, momentum, training)(x, gamma, beta)


# ---- layer and group normalization: statistics per example, not per batch ------------------------
#
# Both normalize each example on its own: layer normalization over its last axes
# (the features of a token, say), group normalization over the channels of a
# group and all positions. Neither keeps running statistics, so training and
# evaluation compute the same thing. Both are one Function, ``Standardize``,
# which only standardizes x over some axes (x̂ = (x - μ)·s with s = 1/√(σ² + ε));
# the learned scale and shift are node ops after it. With m values per
# statistic and every mean over those m values,
#
#     gx = s·(g - mean(g) - x̂·mean(g·x̂))
#
# (the batch normalization's formula, for statistics over other axes). The
# backward recomputes x̂ and s from x with node operations, so under
# create_graph the same lines record a graph that differentiates again.


class Standardize(Function):
    """x̂ = (x - mean) / √(var + eps), the mean and the (biased) variance taken over ``axes`` (a tuple of axes)."""

    differentiable_backward = True
    real_only = True

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x):
        centered = x - x.mean(axis=self.axes, keepdims=True)
        return centered / ((centered * centered).mean(axis=self.axes, keepdims=True) + self.eps) ** 0.5

    def backward(self, gy):
        (x,) = self.saved_inputs()
        axes = self.axes

        def mean(v):
            return v.mean(axis=axes, keepdims=True)

        centered = x - mean(x)
        inv_std = (mean(centered * centered) + self.eps) ** -0.5
        xhat = centered * inv_std
        return inv_std * (gy - mean(gy) - xhat * mean(gy * xhat))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization (PyTorch's F.layer_norm): each example standardized over its last axes, then scaled and shifted.

    Args:
        x: (..., *normalized_shape).
        normalized_shape: an integer or a tuple, the shape of the last axes that are normalized together.
        weight, bias: None or of ``normalized_shape``: y = x̂·weight + bias.
        eps: added to the variance, > 0.
    """
    x = as_node(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    for i, n in enumerate(shape):
        validation.integer("layer_norm", f"normalized_shape[{i}]", n, 1)
    eps = validation.real("layer_norm", "eps", eps, 0, open_minimum=True)
    if x.shape[x.ndim - len(shape) :] != shape or x.ndim < len(shape):
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {shape}")
    y = Standardize(tuple(range(x.ndim - len(shape), x.ndim)), eps)(x)
    return _affine("layer_norm", y, weight, bias, shape, shape)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization (PyTorch's F.group_norm): x (N, C, ...) standardized per example over each group of C/num_groups channels and all positions.

    Then each channel is scaled and shifted: y = x̂·weight[c] + bias[c], with
    weight and bias None or of shape (C,). num_groups = 1 normalizes each
    example over everything (as a LayerNorm over (C, H, W) with per-channel
    parameters); num_groups = C is instance normalization.
    """
    x = as_node(x)
    num_groups = validation.integer("group_norm", "num_groups", num_groups, 1)
    eps = validation.real("group_norm", "eps", eps, 0, open_minimum=True)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input (N, C, ...) with C a multiple of num_groups={num_groups}, got {x.shape}")
    n, c = x.shape[:2]
    grouped = x.reshape(n, num_groups, (c // num_groups) * math.prod(x.shape[2:]))
    y = Standardize((2,), eps)(grouped).reshape(x.shape)
    return _affine("group_norm", y, weight, bias, (c,), channel_shape(x))


def _affine(name, y, weight, bias, shape, broadcast_shape):
    """y·weight + bias, each reshaped to ``broadcast_shape``, after checking that it has ``shape``."""
    for argument, value in (("weight", weight), ("bias", bias)):
        if value is None:
            continue
        value = as_node(value, like=y)
        if value.shape != shape:
            raise ValueError(f"{name}: {argument} of shape {value.shape} must have shape {shape}")
        y = y * value.reshape(broadcast_shape) if argument == "weight" else y + value.reshape(broadcast_shape)
    return y

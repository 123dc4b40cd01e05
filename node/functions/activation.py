"""Activations: relu, leaky_relu, prelu, sigmoid, tanh, softmax, log_softmax."""
import numpy as np

from ..backend import fused, get_array_module
from ..kernels.memory import channel_matrix, empty_like_layout, same_layout, sum_per_channel, temporary
from ..core import Function, as_node
from .normalization import _fast_rows


# Masks multiply instead of going through xp.where: on NumPy, g * (y > 0) is
# several times faster than where(y > 0, g, 0), and these run on every activation.


class ReLU(Function):
    def forward(self, x):
        self.y = get_array_module(x).maximum(x, 0)
        return self.y

    def backward(self, gy):
        return _pass_where_positive(gy, self.y)

    def backward_graph(self, gy):
        # The mask is a constant: ReLU's second derivative is 0 (wherever it exists).
        return gy * (self.y > 0)


@fused
def _pass_where_positive(xp, gy, y):
    """gy where y > 0, else 0 (one kernel on CuPy)."""
    return gy * (y > 0)


class LeakyReLU(Function):
    """x if x > 0 else slope·x: y = x · s with s = 1 or slope, and gx = gy · s."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        one_minus, slope = x.dtype.type(1 - self.slope), x.dtype.type(self.slope)  # keep x's dtype
        self.scale = (x > 0) * one_minus + slope
        return x * self.scale

    def backward(self, gy):
        return gy * self.scale

    backward_graph = backward  # a constant scale: linear in gy, no second derivative in x


class PReLU(Function):
    """y = x if x > 0 else a·x, with a learned slope ``a`` per channel (axis 1).

    ``a`` has shape (C,) (or (1,), shared by all channels). With s = 1 where
    x > 0 and s = a elsewhere: y = x·s, gx = gy·s, and ga sums gy·min(x, 0)
    over every axis but the channel axis.
    """

    workspace = None  # a node.kernels.Workspace for the large arrays, set by the PReLU layer
    scale = None

    def forward(self, x, a):
        self.shape = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 1 else (-1,)
        rows, inner = _fast_rows(x, a)
        if rows is not None:
            slopes = a if a.shape[0] == x.shape[1] else np.repeat(a, x.shape[1])
            # With every slope ≤ 1, prelu(x) = max(x, a·x) (≥ 1: min): two passes over memory.
            combine = np.maximum if slopes.max() <= 1 else np.minimum if slopes.min() >= 1 else None
            if combine is not None:
                y = empty_like_layout(x, workspace=self.workspace, name="y")
                out, _ = channel_matrix(y)
                np.multiply(rows, np.repeat(slopes, inner), out=out)
                combine(out, rows, out=out)
                return y
        slopes = a.reshape(self.shape)
        self.scale = (x > 0) * (1 - slopes) + slopes
        return x * self.scale

    def backward(self, gy):
        x, a = self.inputs
        xp = get_array_module(gy)
        if self.scale is None:
            return self._backward_rows(gy)
        gx = gy * self.scale if x.requires_grad else None
        ga = None
        if a.requires_grad:
            contrib = gy * xp.minimum(x.value, 0)
            ga = sum_per_channel(contrib) if x.ndim > 1 else contrib
            if a.shape == (1,):
                ga = ga.sum(keepdims=True)
        return gx, ga

    def _backward_rows(self, gy):
        """The NumPy path: per-channel rows over x's memory order, into workspace arrays."""
        x, a = self.inputs
        ws = self.workspace
        xv = x.value
        rows, inner = channel_matrix(xv)
        if not same_layout(gy, xv):
            g = empty_like_layout(xv, workspace=ws, name="elementwise a", allocate=temporary)
            g[...] = gy
            gy = g
        grows, _ = channel_matrix(gy)
        slopes = a.value if a.shape[0] == xv.shape[1] else np.repeat(a.value, xv.shape[1])
        gx = ga = None
        if x.requires_grad:  # gx = gy·s with s = 1 where x > 0, else a
            gx = empty_like_layout(xv, workspace=ws, name="prelu gx", allocate=temporary)
            s, _ = channel_matrix(gx)
            np.greater(rows, 0, out=s)
            np.multiply(s, np.repeat(1 - slopes, inner), out=s)
            np.add(s, np.repeat(slopes, inner), out=s)
            np.multiply(s, grows, out=s)
        if a.requires_grad:  # Σ gy·min(x, 0) per channel
            negative = empty_like_layout(xv, workspace=ws, name="elementwise b", allocate=temporary)
            t, _ = channel_matrix(negative)
            np.minimum(rows, 0, out=t)
            ga = np.einsum("ij,ij->j", t, grows).reshape(-1, inner).sum(axis=1)
            if a.shape == (1,):
                ga = ga.sum(keepdims=True)
        return gx, ga

    def backward_graph(self, gy):
        x, a = self.inputs
        negative = x.value <= 0  # constant masks: piecewise linear in x
        slopes = a.reshape(self.shape)
        gx = gy * (slopes * negative + (x.value > 0)) if x.requires_grad else None
        ga = None
        if a.requires_grad:
            contrib = gy * x * negative
            if x.ndim > 1:
                contrib = contrib.sum(axis=(0,) + tuple(range(2, x.ndim)))
            ga = contrib.sum(keepdims=True) if a.shape == (1,) else contrib
        return gx, ga


class Sigmoid(Function):
    def forward(self, x):
        # 0.5·tanh(0.5x) + 0.5 equals 1/(1+e⁻ˣ) and never overflows.
        self.y = get_array_module(x).tanh(x * 0.5) * 0.5 + 0.5
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)

    def backward_graph(self, gy):
        y = self.saved_output()
        return gy * y * (1 - y)


class Tanh(Function):
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)

    def backward_graph(self, gy):
        y = self.saved_output()
        return gy * (1 - y * y)


class Softmax(Function):
    """yᵢ = e^(xᵢ - max x) / Σⱼ e^(xⱼ - max x) along ``axis``.

    Backward: gx = y · (gy - Σ gy·y), the Jacobian-vector product without the Jacobian.
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, gy):
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))

    def backward_graph(self, gy):
        y = self.saved_output()
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """yᵢ = xᵢ - log Σⱼ eˣʲ, computed as (xᵢ - m) - log Σⱼ e^(xⱼ - m) with m = max x.

    Backward: gx = gy - softmax(x) · Σ gy.
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        self.y = log_softmax_array(x, self.axis)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)

    def backward_graph(self, gy):
        return gy - self.saved_output().exp() * gy.sum(axis=self.axis, keepdims=True)


def log_softmax_array(x, axis):
    """Numerically stable log-softmax of a raw array (shared with the losses)."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def relu(x):
    """max(x, 0)."""
    return ReLU()(x)


def leaky_relu(x, slope=0.01):
    """x if x > 0 else slope·x."""
    return LeakyReLU(slope)(x)


def prelu(x, a, workspace=None):
    """Parametric ReLU: x if x > 0 else a·x, ``a`` per channel (axis 1).

    ``workspace``: a ``node.kernels.Workspace`` to take the large arrays from (the PReLU layer passes its own).
    """
    x, a = as_node(x), as_node(a, like=x)
    if x.ndim == 0:
        raise ValueError("prelu needs an input with at least one dimension")
    channels = x.shape[1] if x.ndim > 1 else x.shape[0]
    if a.ndim != 1 or a.shape[0] not in (1, channels):
        raise ValueError(f"prelu: slopes of shape {a.shape} do not fit input of shape {x.shape}; expected (1,) or ({channels},)")
    f = PReLU()
    f.workspace = workspace
    return f(x, a)


def sigmoid(x):
    """1 / (1 + e⁻ˣ), computed stably."""
    return Sigmoid()(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)


def softmax(x, axis=-1):
    """Softmax along ``axis`` (stable for large inputs)."""
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, without overflow or log(0)."""
    return LogSoftmax(axis)(x)

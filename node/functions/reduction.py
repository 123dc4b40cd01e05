"""sum, mean, max, min and the two halves of broadcasting (broadcast_to, sum_to).

A reduction's backward hands every input element the gradient of the output
element it was reduced into: reshape the gradient so the reduced axes have
length 1 again, then broadcast it back to the input's shape.
"""
import builtins
import math

from ..backend import broadcast_shapes
from ..core import Function, as_float, as_node
from .arithmetic import BroadcastTo, SumTo, as_shape


def _normalize_axes(axis, ndim):
    """A tuple of distinct non-negative axes; all axes when ``axis`` is None.

    A 0-d array accepts axis 0 and -1 (and (0,)), as a 0-d tensor does in
    PyTorch: it has nothing to reduce, so its axes are ().
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    span = builtins.max(ndim, 1)
    for a in axes:
        if not -span <= a < span:
            raise ValueError(f"axis {a} is out of range for an array with {ndim} dimensions (expected {-span}..{span - 1})")
    normalized = tuple(sorted(a % span for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis {axis} names an axis more than once (for an array with {ndim} dimensions)")
    return normalized if ndim else ()


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Reduction(Function):
    """A reduction over ``axis`` (all axes when None), the reduced axes kept as length 1 with ``keepdims``."""

    differentiable_backward = True

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def reduced_axes(self):
        return _normalize_axes(self.axis, self.inputs[0].ndim)

    def spread(self, g):
        """``g`` (the output's shape) copied back over the reduced axes to the input's shape."""
        shape = self.inputs[0].shape
        return BroadcastTo(shape)(g.reshape(_keepdims_shape(shape, self.reduced_axes())))


class Sum(Reduction):
    """Σ over axes; every input element gets the gradient of the sum it went into."""

    def forward(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        return self.spread(gy)


class Mean(Reduction):
    """Σ/count over axes; every input element gets 1/count of its mean's gradient."""

    def forward(self, x):
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        count = math.prod(self.inputs[0].shape[a] for a in self.reduced_axes())
        return self.spread(gy / count)


class Max(Reduction):
    """max (or min) over axes. Ties share the gradient equally.

    Piecewise linear: which elements were the max is a constant, so
    gx = gy · share with share = (x == max) / (number of maxima), and the
    second derivative with respect to x is zero wherever it exists.
    """

    real_only = True

    def __init__(self, axis=None, keepdims=False, use_min=False):
        super().__init__(axis, keepdims)
        self.use_min = use_min

    def forward(self, x):
        self.y = x.min(axis=self.axis, keepdims=True) if self.use_min else x.max(axis=self.axis, keepdims=True)
        if self.keepdims:
            return self.y
        axes = _normalize_axes(self.axis, x.ndim)
        return self.y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(self, gy):
        x = self.inputs[0].value
        mask = x == self.y
        share = mask / mask.sum(axis=self.axis, keepdims=True, dtype=x.dtype)
        return gy.reshape(self.y.shape) * share  # broadcasting spreads gy over the reduced axes


def _check_axes(x, axis):
    x = as_node(x)
    _normalize_axes(axis, x.ndim)
    return x


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (all axes when None)."""
    x = _check_axes(x, axis)
    return Sum(None if x.ndim == 0 else axis, keepdims)(x)  # a 0-d Node: nothing to reduce


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (all axes when None); integers and booleans give the default float dtype (float32)."""
    x = as_float(_check_axes(x, axis))  # the mean of integers or booleans: the default float dtype
    return Mean(None if x.ndim == 0 else axis, keepdims)(x)


def max(x, axis=None, keepdims=False):
    """Largest value over ``axis``; the gradient goes to the maximal elements."""
    x = _check_axes(x, axis)
    return Max(None if x.ndim == 0 else axis, keepdims)(x)  # a 0-d Node: nothing to reduce


def min(x, axis=None, keepdims=False):
    """Smallest value over ``axis``; the gradient goes to the minimal elements."""
    x = _check_axes(x, axis)
    return Max(None if x.ndim == 0 else axis, keepdims, use_min=True)(x)  # a 0-d Node: nothing to reduce


def _check_broadcastable(name, small, large, verb):
    """Raise ValueError unless shape ``small`` broadcasts to shape ``large``, the only way ``verb`` can work."""
    try:
        fits = broadcast_shapes(small, large) == large
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: {verb}: shape {small} does not broadcast to shape {large}")


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape``; the backward sums the copies."""
    x, shape = as_node(x), as_shape("broadcast_to", shape)
    _check_broadcastable("broadcast_to", x.shape, shape, f"cannot broadcast {x.shape} to {shape}")
    return x if x.shape == shape else BroadcastTo(shape)(x)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting): ``shape`` must broadcast to ``x.shape``."""
    x, shape = as_node(x), as_shape("sum_to", shape)
    _check_broadcastable("sum_to", shape, x.shape, f"cannot sum {x.shape} to {shape}")
    return x if x.shape == shape else SumTo(shape)(x)

"""sum, mean, max, min and the two halves of broadcasting (broadcast_to, sum_to).

A reduction's backward hands every input element the gradient of the output
element it was reduced into: reshape the gradient so the reduced axes have
length 1 again, then broadcast it back to the input's shape.
"""
import builtins
import math

import numpy as np

from ..backend import get_array_module
from ..core import Function, as_node
from .arithmetic import BroadcastTo, SumTo


def _normalize_axes(axis, ndim):
    """A tuple of non-negative axes; all axes when ``axis`` is None."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for an array with {ndim} dimensions")
    return tuple(sorted(a % builtins.max(ndim, 1) for a in axes))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(g, shape):
    """g (with the reduced axes kept as length 1) copied out to ``shape``.

    A broadcast view costs no memory but ``broadcast_to`` has ~8 µs of Python
    overhead; below a few thousand elements a filled array is cheaper.
    """
    xp = get_array_module(g)
    if xp is np and math.prod(shape) <= 4096:  # on a GPU the view is free, a filled array is two kernels
        out = xp.empty(shape, dtype=g.dtype)
        out[...] = g
        return out
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        axes = _normalize_axes(self.axis, x.ndim)
        return _spread(gy.reshape(_keepdims_shape(x.shape, axes)), x.shape)

    def backward_graph(self, gy):
        x = self.inputs[0]
        return broadcast_to(gy.reshape(_keepdims_shape(x.shape, _normalize_axes(self.axis, x.ndim))), x.shape)


class Mean(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        axes = _normalize_axes(self.axis, x.ndim)
        count = math.prod(x.shape[a] for a in axes)
        return _spread(gy.reshape(_keepdims_shape(x.shape, axes)) / count, x.shape)

    def backward_graph(self, gy):
        x = self.inputs[0]
        axes = _normalize_axes(self.axis, x.ndim)
        count = math.prod(x.shape[a] for a in axes)
        return broadcast_to(gy.reshape(_keepdims_shape(x.shape, axes)) / count, x.shape)


class Max(Function):
    """max (or min) over axes. Ties share the gradient equally."""

    def __init__(self, axis=None, keepdims=False, use_min=False):
        self.axis, self.keepdims, self.use_min = axis, keepdims, use_min

    def forward(self, x):
        self.y = x.min(axis=self.axis, keepdims=True) if self.use_min else x.max(axis=self.axis, keepdims=True)
        if self.keepdims:
            return self.y
        axes = _normalize_axes(self.axis, x.ndim)
        return self.y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(self, gy):
        x = self.inputs[0].value
        mask = x == self.y
        gy = gy.reshape(self.y.shape)
        return mask * (gy / mask.sum(axis=self.axis, keepdims=True, dtype=gy.dtype))

    def backward_graph(self, gy):
        # Piecewise linear: the weights (which elements were the max) are constants,
        # so the second derivative with respect to x is zero wherever it exists.
        x = self.inputs[0]
        mask = x.value == self.y
        share = mask / mask.sum(axis=self.axis, keepdims=True, dtype=x.dtype)
        return broadcast_to(gy.reshape(self.y.shape), x.shape) * share


def _check_axes(x, axis):
    x = as_node(x)
    _normalize_axes(axis, x.ndim)
    return x


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (all axes when None)."""
    return Sum(axis, keepdims)(_check_axes(x, axis))


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (all axes when None)."""
    return Mean(axis, keepdims)(_check_axes(x, axis))


def max(x, axis=None, keepdims=False):
    """Largest value over ``axis``; the gradient goes to the maximal elements."""
    return Max(axis, keepdims)(_check_axes(x, axis))


def min(x, axis=None, keepdims=False):
    """Smallest value over ``axis``; the gradient goes to the minimal elements."""
    return Max(axis, keepdims, use_min=True)(_check_axes(x, axis))


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape``; the backward sums the copies."""
    x = as_node(x)
    return x if x.shape == tuple(shape) else BroadcastTo(shape)(x)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting)."""
    x = as_node(x)
    return x if x.shape == tuple(shape) else SumTo(shape)(x)

"""Functions that move values around without changing them: reshape, transpose,
indexing, concat and stack. Their backward moves the gradient back the same way.
"""
from .. import validation
from ..backend import as_index, get_array_module, is_array, scatter_add
from ..core import Function, Node, as_node
from .arithmetic import as_shape


class Reshape(Function):
    """The same values in a new shape; the gradient is reshaped back."""

    differentiable_backward = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.inputs[0].shape)


class Transpose(Function):
    """The axes permuted; the gradient goes back through the inverse permutation."""

    differentiable_backward = True

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a % len(self.axes)] = i
        return gy.transpose(inverse)


class GetItem(Function):
    """x[key]. The backward writes the gradient into zeros at the same places (``GetItemGrad``)."""

    differentiable_backward = True

    def __init__(self, key):
        self.key = key

    def forward(self, x):
        return x[self.key]

    def backward(self, gy):
        return GetItemGrad(self.key, self.inputs[0].shape)(gy)


class GetItemGrad(Function):
    """The backward of ``x[key]``: gy added into zeros of x's shape at ``key``.

    With integer-array keys an element can be picked more than once
    (``x[[0, 0]]``), so the gradient is accumulated by a scatter-add. It is
    linear in gy, and its own backward is indexing again: ``ggx[key]``.
    """

    differentiable_backward = True

    def __init__(self, key, shape):
        self.key, self.shape = key, shape
        parts = key if isinstance(key, tuple) else (key,)
        self.repeats_possible = any(is_array(k) and k.dtype.kind in "iu" for k in parts)

    def forward(self, gy):
        gx = get_array_module(gy).zeros(self.shape, gy.dtype)
        if self.repeats_possible:
            scatter_add(gx, self.key, gy)
        else:
            gx[self.key] = gy
        return gx

    def backward(self, ggx):
        return GetItem(self.key)(ggx)


class Concat(Function):
    """Inputs joined along ``axis``; each gets back its slice of the gradient."""

    differentiable_backward = True

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        gxs, start = [], 0
        lead = (slice(None),) * (self.axis % gy.ndim)
        for x in self.inputs:
            stop = start + x.shape[self.axis]
            gxs.append(gy[lead + (slice(start, stop),)])
            start = stop
        return tuple(gxs)


class Stack(Function):
    """Inputs joined along a new axis; each gets back its entry of the gradient along it."""

    differentiable_backward = True

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy):
        lead = (slice(None),) * (self.axis % gy.ndim)
        return tuple(gy[lead + (i,)] for i in range(len(self.inputs)))


def reshape(x, shape):
    """The same values in a new shape (one entry may be -1)."""
    x = as_node(x)
    shape = as_shape("reshape", shape)
    if shape == x.shape:
        return x
    try:
        _check_reshape(x.shape, shape)
    except ValueError as exc:
        raise ValueError(f"reshape: cannot reshape a Node of shape {x.shape} into {shape}: {exc}") from None
    return Reshape(shape)(x)


def _check_reshape(old, new):
    size = 1
    for n in old:
        size *= n
    known, unknown = 1, 0
    for n in new:
        if n == -1:
            unknown += 1
        else:
            known *= n
    if unknown > 1:
        raise ValueError("only one dimension can be -1")
    if (unknown and (known == 0 or size % known)) or (not unknown and known != size):
        raise ValueError(f"{size} elements do not fit")


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    x = as_node(x)
    if axes is not None and sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Transpose(None if axes is None else tuple(axes))(x)


def flatten(x):
    """Reshape (N, ...) to (N, -1)."""
    x = as_node(x)
    return reshape(x, (x.shape[0], -1))


def expand_dims(x, axis):
    """Insert an axis of length 1 at ``axis``."""
    x = as_node(x)
    axis = validation.integer("expand_dims", "axis", axis, -x.ndim - 1, x.ndim)
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    """Remove axes of length 1 (all of them, or the one given)."""
    x = as_node(x)
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        axis = validation.integer("squeeze", "axis", axis, -x.ndim, x.ndim - 1)
        if x.shape[axis] != 1:
            raise ValueError(f"squeeze: axis {axis} of shape {x.shape} does not have length 1")
        shape = x.shape[: axis % x.ndim] + x.shape[axis % x.ndim + 1 :]
    return reshape(x, shape)


def getitem(x, key):
    """``x[key]`` with basic slicing, integer arrays or boolean masks."""
    x = as_node(x)
    parts = key if isinstance(key, tuple) else (key,)
    parts = tuple(as_index(k.value if isinstance(k, Node) else k, x.value) for k in parts)
    key = parts if isinstance(key, tuple) else parts[0]
    try:
        return GetItem(key)(x)
    except IndexError as exc:
        raise IndexError(f"getitem: index {key!r} is invalid for a Node of shape {x.shape}: {exc}") from None


def concat(xs, axis=0):
    """Join Nodes along an existing axis."""
    if isinstance(xs, (Node, str, bytes)) or not isinstance(xs, (list, tuple)):
        raise TypeError(f"concat: xs must be a list or tuple of Nodes (or arrays), got {type(xs).__name__}")
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ValueError("concat needs at least one Node")
    return Concat(axis)(*xs)


def stack(xs, axis=0):
    """Join Nodes of one shape along a new axis."""
    if isinstance(xs, (Node, str, bytes)) or not isinstance(xs, (list, tuple)):
        raise TypeError(f"stack: xs must be a list or tuple of Nodes (or arrays), got {type(xs).__name__}")
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ValueError("stack needs at least one Node")
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"stack needs Nodes of one shape, got {sorted(shapes)}")
    return Stack(axis)(*xs)

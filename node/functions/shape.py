"""Functions that move values around without changing them: reshape, transpose,
indexing, concat and stack. Their backward moves the gradient back the same way.
"""
import numpy as np

from ..backend import DeviceError, get_array_module, is_array, scatter_add
from ..core import Function, Node, as_node


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.inputs[0].shape)

    backward_graph = backward  # linear, and the same code runs on Nodes


class Transpose(Function):
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

    backward_graph = backward


class GetItem(Function):
    """x[key]. The backward writes the gradient into zeros at the same places.

    With integer-array keys an element can be picked more than once
    (``x[[0, 0]]``), so the gradient is accumulated by scatter-add.
    """

    def __init__(self, key):
        self.key = key
        parts = key if isinstance(key, tuple) else (key,)
        self.repeats_possible = any(is_array(k) and k.dtype.kind in "iu" for k in parts)

    def forward(self, x):
        return x[self.key]

    def backward(self, gy):
        return _scatter_into_zeros(gy, self.inputs[0].shape, self.key, self.repeats_possible)

    def backward_graph(self, gy):
        return GetItemGrad(self.key, self.inputs[0].shape, self.repeats_possible)(gy)


class GetItemGrad(Function):
    """The backward of ``x[key]`` as a Function: gy written (added) into zeros of x's shape at ``key``.

    It is linear, and its own backward is indexing again, ``ggx[key]``.
    """

    def __init__(self, key, shape, repeats_possible):
        self.key, self.shape, self.repeats_possible = key, shape, repeats_possible

    def forward(self, gy):
        return _scatter_into_zeros(gy, self.shape, self.key, self.repeats_possible)

    def backward(self, ggx):
        return ggx[self.key]

    def backward_graph(self, ggx):
        return GetItem(self.key)(ggx)


def _scatter_into_zeros(gy, shape, key, repeats_possible):
    gx = get_array_module(gy).zeros(shape, gy.dtype)
    if repeats_possible:
        scatter_add(gx, key, gy)
    else:
        gx[key] = gy
    return gx


class Concat(Function):
    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        bounds, total = [], 0
        for x in self.inputs[:-1]:
            total += x.shape[self.axis]
            bounds.append(total)
        return tuple(xp.split(gy, bounds, axis=self.axis))

    def backward_graph(self, gy):
        gxs, start = [], 0
        lead = (slice(None),) * (self.axis % gy.ndim)
        for x in self.inputs:
            stop = start + x.shape[self.axis]
            gxs.append(GetItem(lead + (slice(start, stop),))(gy))
            start = stop
        return tuple(gxs)


class Stack(Function):
    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy):
        return tuple(get_array_module(gy).moveaxis(gy, self.axis, 0))

    def backward_graph(self, gy):
        lead = (slice(None),) * (self.axis % gy.ndim)
        return tuple(GetItem(lead + (i,))(gy) for i in range(len(self.inputs)))


def reshape(x, shape):
    """The same values in a new shape (one entry may be -1)."""
    x = as_node(x)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
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
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    """Remove axes of length 1 (all of them, or the one given)."""
    x = as_node(x)
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        if x.shape[axis] != 1:
            raise ValueError(f"squeeze: axis {axis} of shape {x.shape} does not have length 1")
        shape = x.shape[: axis % x.ndim] + x.shape[axis % x.ndim + 1 :]
    return reshape(x, shape)


def getitem(x, key):
    """``x[key]`` with basic slicing, integer arrays or boolean masks."""
    x = as_node(x)
    xp = get_array_module(x.value)
    parts = key if isinstance(key, tuple) else (key,)
    parts = tuple(_index_array(k, xp) for k in parts)
    key = parts if isinstance(key, tuple) else parts[0]
    try:
        return GetItem(key)(x)
    except IndexError as exc:
        raise IndexError(f"index {key!r} is invalid for a Node of shape {x.shape}: {exc}") from None


def _index_array(k, xp):
    """Turn Nodes and lists inside an index into arrays of the data's backend."""
    if isinstance(k, Node):
        k = k.value
    if isinstance(k, list):
        k = xp.asarray(k)
    elif is_array(k) and not isinstance(k, xp.ndarray):
        if xp is np:  # reading a GPU index back would make the host wait: the user should choose
            raise DeviceError(
                "getitem: expected the index on the same device as the data, got the data on the CPU (numpy) and "
                "the index on the GPU (cupy); index with a NumPy array, or move the data with .to('gpu')"
            )
        k = xp.asarray(k)  # a host index for GPU data is uploaded, as CuPy itself would
    return k


def concat(xs, axis=0):
    """Join Nodes along an existing axis."""
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ValueError("concat needs at least one Node")
    return Concat(axis)(*xs)


def stack(xs, axis=0):
    """Join Nodes of one shape along a new axis."""
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ValueError("stack needs at least one Node")
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"stack needs Nodes of one shape, got {sorted(shapes)}")
    return Stack(axis)(*xs)

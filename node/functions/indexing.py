"""Indexing along an axis: gather, scatter, sort, topk, one_hot; padding; triangles.

Most of these are ``x[key]`` with a key built from integer arrays, so their
gradients are those of indexing (``GetItem`` and its adjoint ``GetItemGrad``,
a scatter-add that sums the gradient of an element picked twice):

* ``gather(x, axis, index)`` picks ``x[..., index[i, j, k], ...]`` (the index
  on ``axis``, the position elsewhere): the key is ``index`` on ``axis`` and
  ``arange`` broadcast along every other axis. Its gradient scatters back.
* ``scatter_add(x, axis, index, src)`` is ``x +`` that scatter-add of ``src``:
  ``GetItemGrad`` itself, whose backward is the gather again.
* ``sort``/``topk`` find the order (an array, no gradient) and gather the
  values, so the gradient of each value goes back to where it came from.
* ``pad`` with 'reflect', 'replicate' or 'circular' is indexing with the
  source index of every output position (``numpy.pad`` of ``arange(n)``); an
  element copied into the border receives the gradients of all its copies.

``scatter`` (overwrite) is a Function of its own: gx is the gradient with
zeros where ``x`` was overwritten, and ``src`` gets the gradient gathered
from the places it was written to.
"""
import math
import numbers

import numpy as np

from .. import validation
from ..backend import as_index, get_array_module, is_array
from ..core import Function, Node, as_node
from .arithmetic import add
from .shape import GetItem, GetItemGrad


def _positions(index, axis, xp):
    """The key ``x[key]`` that gathers along ``axis``: ``index`` there, each position's own coordinate elsewhere."""
    key = []
    for d, n in enumerate(index.shape):
        if d == axis:
            key.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            key.append(xp.arange(n).reshape(shape))
    return tuple(key)


def _index_for(op, x, axis, index):
    """``index`` as an integer array on ``x``'s device, checked against ``x`` with PyTorch's rules, and ``axis``."""
    value = index.value if isinstance(index, Node) else index
    value = as_index(value if is_array(value) else np.asarray(value), x.value)
    if value.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {value.dtype}")
    top = max(x.ndim, 1)
    axis = validation.integer(op, "axis", axis, -top, top - 1) % top
    if value.ndim != x.ndim:
        raise ValueError(f"{op}: index must have as many axes as x ({x.ndim}), got shape {value.shape}")
    small = all(m <= n for d, (m, n) in enumerate(zip(value.shape, x.shape)) if d != axis)
    if not small:
        raise ValueError(f"{op}: index of shape {value.shape} is larger than x of shape {x.shape} on an axis other than {axis}")
    n = x.shape[axis] if x.ndim else 1
    if value.size and (int(value.min()) < 0 or int(value.max()) >= n):
        raise IndexError(f"{op}: index values must be in [0, {n - 1}] (axis {axis} of shape {x.shape}), got {int(value.min())}..{int(value.max())}")
    return value, axis


def gather(x, axis, index):
    """``out[i][j][k] = x[index[i][j][k]][j][k]`` for axis 0 (and so on), as ``torch.gather(x, dim, index)``.

    ``index`` has as many axes as ``x`` and is no longer than ``x`` on the
    other axes; the result has ``index``'s shape. Differentiable in ``x``.
    """
    x = as_node(x)
    index, axis = _index_for("gather", x, axis, index)
    if x.ndim == 0:
        return GetItem(())(x) if index.ndim == 0 else x
    return GetItem(_positions(index, axis, get_array_module(x.value)))(x)


class Scatter(Function):
    """``out = x`` with ``out[key] = src`` (each element of src written to its place).

    gx = gy with zeros where x was overwritten (a constant mask); gsrc = gy[key],
    the gradient of the place each src element was written to. Where two src
    elements go to one place, one write wins (which is not defined, as in
    PyTorch), but both get that place's gradient, as PyTorch's gather does.
    """

    differentiable_backward = True

    def __init__(self, key):
        self.key = key

    def forward(self, x, src):
        out = x.copy()
        out[self.key] = src
        return out

    def backward(self, gy):
        x = self.inputs[0].value
        kept = get_array_module(x).ones(x.shape, x.dtype)
        kept[self.key] = 0
        return gy * kept, GetItem(self.key)(gy)


def _source(op, x, index, src):
    """``src`` as a Node of ``index``'s shape: a number filled in, a larger Node cut to it (as PyTorch reads it)."""
    if isinstance(src, numbers.Number) and not isinstance(src, bool):
        return Node(get_array_module(x.value).full(index.shape, src, x.dtype), requires_grad=False)
    src = as_node(src)
    if src.ndim != index.ndim or any(m < n for m, n in zip(src.shape, index.shape)):
        raise ValueError(f"{op}: src of shape {src.shape} must have index's number of axes and be at least as large as index {index.shape}")
    if src.shape != index.shape:
        src = GetItem(tuple(slice(0, n) for n in index.shape))(src)
    return src


def scatter(x, axis, index, src):
    """A copy of ``x`` with ``src`` written at ``index`` along ``axis``, as ``torch.scatter(x, dim, index, src)``.

    For axis 0: ``out[index[i][j]][j] = src[i][j]``. ``src`` is a Node (cut to
    ``index``'s shape when larger) or a number. Differentiable in x and src.
    """
    x = as_node(x)
    index, axis = _index_for("scatter", x, axis, index)
    src = _source("scatter", x, index, src)
    return Scatter(_positions(index, axis, get_array_module(x.value)))(x, src)


def scatter_add(x, axis, index, src):
    """A copy of ``x`` with ``src`` added at ``index`` along ``axis``, as ``torch.scatter_add``.

    Places named more than once receive the sum of all their ``src`` values.
    Differentiable in x (gradient gy) and src (gradient gy gathered at index).
    """
    x = as_node(x)
    index, axis = _index_for("scatter_add", x, axis, index)
    src = _source("scatter_add", x, index, src)
    return add(x, GetItemGrad(_positions(index, axis, get_array_module(x.value)), x.shape)(src))


def one_hot(labels, num_classes=-1):
    """Integer labels as one-hot rows: shape labels.shape + (num_classes,), int64, no gradient (``F.one_hot``).

    ``num_classes=-1`` takes the largest label + 1. Use ``.astype('float32')``
    for a float target.
    """
    labels = labels if isinstance(labels, Node) else Node(labels, requires_grad=False)
    value = labels.value
    if value.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {value.dtype}")
    num_classes = validation.integer("one_hot", "num_classes", num_classes, -1)
    xp = get_array_module(value)
    low, high = (int(value.min()), int(value.max())) if value.size else (0, -1)
    if num_classes == -1:
        num_classes = high + 1
    if low < 0 or high >= num_classes:
        raise ValueError(f"one_hot: labels must be in [0, {num_classes - 1}], got values from {low} to {high}")
    out = (value[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return Node(out, requires_grad=False)


def _sort_axis(op, x, axis):
    top = max(x.ndim, 1)
    return validation.integer(op, "axis", axis, -top, top - 1) % top


def _order(x, axis, descending):
    """The indices that sort ``x`` along ``axis`` (largest first when ``descending``; NaN counts as largest)."""
    xp = get_array_module(x.value)
    order = xp.argsort(x.value, axis=axis)
    return xp.flip(order, axis) if descending else order


def sort(x, axis=-1, descending=False):
    """``(values, indices)`` sorted along ``axis``, as ``torch.sort``; the values are differentiable.

    Ties may come in any order. (NumPy's ``sort`` returns the values only.)
    """
    x = as_node(x)
    axis = _sort_axis("sort", x, axis)
    descending = validation.flag("sort", "descending", descending)
    if x.ndim == 0:
        return x, Node(get_array_module(x.value).zeros((), np.int64), requires_grad=False)
    order = _order(x, axis, descending)
    return gather(x, axis, order), Node(order, requires_grad=False)


def argsort(x, axis=-1, descending=False):
    """The indices that sort ``x`` along ``axis``: an int64 Node, no gradient (``torch.argsort``)."""
    x = as_node(x)
    axis = _sort_axis("argsort", x, axis)
    descending = validation.flag("argsort", "descending", descending)
    if x.ndim == 0:
        return Node(get_array_module(x.value).zeros((), np.int64), requires_grad=False)
    return Node(_order(x, axis, descending), requires_grad=False)


def topk(x, k, axis=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) along ``axis``, as ``torch.topk``.

    The values are differentiable (the gradient goes back to where each came
    from). They always come sorted (largest first, or smallest first), so
    ``sorted=False`` gives the same answer.
    """
    x = as_node(x)
    axis = _sort_axis("topk", x, axis)
    n = x.shape[axis] if x.ndim else 1
    k = validation.integer("topk", "k", k, 0, n)
    largest = validation.flag("topk", "largest", largest)
    validation.flag("topk", "sorted", sorted)
    if x.ndim == 0:
        return sort(x)
    order = _order(x, axis, largest)[(slice(None),) * axis + (slice(0, k),)]
    return gather(x, axis, order), Node(order, requires_grad=False)


# ---- padding --------------------------------------------------------------------------------------

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge", "circular": "wrap", "wrap": "wrap"}


class Pad(Function):
    """Constant padding: ``x`` in the middle of a larger array of ``value``; the gradient is the middle of gy."""

    differentiable_backward = True

    def __init__(self, widths, value):
        self.widths, self.value = tuple(widths), value

    def forward(self, x):
        return get_array_module(x).pad(x, self.widths, mode="constant", constant_values=self.value)

    def backward(self, gy):
        return GetItem(tuple(slice(b, b + n) for (b, _), n in zip(self.widths, self.inputs[0].shape)))(gy)


def _pad_widths(pad, ndim):
    """((before, after), ...) per axis from NumPy's form (pairs per axis, one pair, or an int) or PyTorch's flat form."""
    if isinstance(pad, numbers.Integral) and not isinstance(pad, bool):
        widths = [(int(pad), int(pad))] * ndim
    elif isinstance(pad, (tuple, list)) and pad and all(isinstance(p, (tuple, list)) for p in pad):
        if any(len(p) != 2 for p in pad) or len(pad) not in (1, ndim):
            raise ValueError(f"pad: pairs must be one (before, after) pair per axis ({ndim} axes), got {pad!r:.80}")
        widths = [tuple(p) for p in pad] * (ndim if len(pad) == 1 else 1)
    elif isinstance(pad, (tuple, list)) and len(pad) % 2 == 0 and len(pad) <= 2 * ndim:
        # PyTorch: (last_before, last_after, second_last_before, second_last_after, ...)
        pairs = [tuple(pad[i : i + 2]) for i in range(0, len(pad), 2)]
        widths = [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]
    else:
        raise TypeError(
            f"pad: pad must be PyTorch's flat (before, after, ...) from the last axis back (even length <= {2 * ndim}), "
            f"NumPy's ((before, after), ...) per axis, or an int, got {pad!r:.80}"
        )
    for pair in widths:
        for w in pair:
            validation.integer("pad", "pad widths", w, 0)
    return [(int(b), int(a)) for b, a in widths]


def pad(x, pad, mode="constant", value=0.0):
    """``x`` with a border added along its axes, as ``torch.nn.functional.pad`` (and ``numpy.pad``).

    ``pad`` takes either form, told apart by its shape:

    * PyTorch's flat tuple, from the last axis backwards:
      ``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the
      last two;
    * NumPy's pairs, one per axis from the first: ``((0, 0), (0, 0), (1, 1), (2, 2))``
      (or one pair for every axis, or an int for every side of every axis).

    ``mode``: 'constant' (filled with ``value``), 'reflect' (mirrored without
    repeating the edge; each width must be smaller than the axis), 'replicate'
    (the edge repeated) or 'circular' (wrapped around; width at most the axis
    length). NumPy's names 'edge' and 'wrap' are accepted too. Negative widths
    (PyTorch's cropping) are refused: slice instead.
    """
    x = as_node(x)
    widths = _pad_widths(pad, x.ndim)
    numpy_mode = _PAD_MODES.get(mode) if isinstance(mode, str) else None
    if numpy_mode is None:
        validation.choice("pad", "mode", mode, ("constant", "reflect", "replicate", "circular"))
    if numpy_mode == "constant":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise TypeError(f"pad: value must be a real number, got {type(value).__name__} {value!r:.40}")
        return Pad(widths, value)(x) if any(b or a for b, a in widths) else x
    for axis, ((before, after), n) in enumerate(zip(widths, x.shape)):
        if before or after:
            _check_width(mode, numpy_mode, axis, before, after, n)
            source = np.pad(np.arange(n), (before, after), mode=numpy_mode)
            x = GetItem((slice(None),) * axis + (get_array_module(x.value).asarray(source),))(x)
    return x


def _check_width(mode, numpy_mode, axis, before, after, n):
    """PyTorch's limits: reflect needs widths < n, circular widths <= n, replicate a non-empty axis."""
    width = max(before, after)
    rule = {
        "reflect": (width < n, f"widths smaller than the axis length {n}"),
        "wrap": (width <= n, f"widths at most the axis length {n}"),
        "edge": (n > 0, "a non-empty axis"),
    }
    fits, need = rule[numpy_mode]
    if not fits:
        raise ValueError(f"pad: {mode} padding of ({before}, {after}) on axis {axis} needs {need}")


# ---- triangles ------------------------------------------------------------------------------------


class Triangle(Function):
    """The lower (or upper) triangle of the last two axes, the rest zero; the gradient is the same triangle of gy."""

    differentiable_backward = True

    def __init__(self, diagonal, upper):
        self.diagonal, self.upper = diagonal, upper

    def forward(self, x):
        xp = get_array_module(x)
        return xp.triu(x, self.diagonal) if self.upper else xp.tril(x, self.diagonal)

    def backward(self, gy):
        return Triangle(self.diagonal, self.upper)(gy)


def _triangle(op, x, diagonal, upper):
    x = as_node(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have at least 2 axes (a matrix, or a stack of them), got shape {x.shape}")
    return Triangle(validation.integer(op, "diagonal", diagonal), upper)(x)


def tril(x, diagonal=0):
    """The lower triangle of the last two axes (elements with column - row <= diagonal), the rest 0 (``torch.tril``)."""
    return _triangle("tril", x, diagonal, upper=False)


def triu(x, diagonal=0):
    """The upper triangle of the last two axes (elements with column - row >= diagonal), the rest 0 (``torch.triu``)."""
    return _triangle("triu", x, diagonal, upper=True)

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


class Flip(Function):
    """The order of the elements reversed along ``axes``; the gradient is flipped back the same way."""

    differentiable_backward = True

    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return get_array_module(x).flip(x, self.axes)

    def backward(self, gy):
        return Flip(self.axes)(gy)


class Roll(Function):
    """Elements shifted cyclically by ``shifts`` along ``axes``; the gradient is rolled back by -shifts."""

    differentiable_backward = True

    def __init__(self, shifts, axes):
        self.shifts, self.axes = tuple(shifts), tuple(axes)

    def forward(self, x):
        return get_array_module(x).roll(x, self.shifts, self.axes)

    def backward(self, gy):
        return Roll(tuple(-s for s in self.shifts), self.axes)(gy)


class Tile(Function):
    """``x`` repeated as a whole ``reps[i]`` times along axis i (NumPy's tile, PyTorch's ``Tensor.repeat``).

    Output axis i holds reps[i] copies of the input's axis i one after the
    other, so the gradient, reshaped to (reps[0], n[0], reps[1], n[1], ...), is
    summed over the reps axes.
    """

    differentiable_backward = True

    def __init__(self, reps):
        self.reps = tuple(reps)

    def forward(self, x):
        return get_array_module(x).tile(x, self.reps)

    def backward(self, gy):
        shape = self.inputs[0].shape
        d = gy.ndim
        reps = (1,) * (d - len(self.reps)) + self.reps
        dims = (1,) * (d - len(shape)) + tuple(shape)
        split = tuple(n for pair in zip(reps, dims) for n in pair)
        return gy.reshape(split).sum(axis=tuple(range(0, 2 * d, 2))).reshape(shape)


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


def transpose(x, axes=None, dim1=None):
    """Permute the axes (NumPy), or swap two of them (PyTorch).

    ``transpose(x)`` reverses the axes; ``transpose(x, (2, 0, 1))`` permutes
    them as NumPy does; ``transpose(x, 0, 1)``, two integers, swaps axes 0 and
    1 as ``torch.transpose(x, 0, 1)`` does (the same as ``swapaxes``).
    """
    x = as_node(x)
    if dim1 is not None:
        return swapaxes(x, axes, dim1)
    if isinstance(axes, int):
        raise TypeError(f"transpose: axes must be a tuple of axes (or give two axes to swap: transpose(x, 0, 1)), got int {axes}")
    if axes is not None and sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Transpose(None if axes is None else tuple(axes))(x)


def permute(x, *axes):
    """The axes in the order given, as ``torch.permute``: ``permute(x, 2, 0, 1)`` or ``permute(x, (2, 0, 1))``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    x = as_node(x)
    axes = tuple(_axis("permute", "axes", a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Transpose(axes)(x)


def swapaxes(x, axis1, axis2):
    """Swap two axes (``torch.transpose(x, dim0, dim1)``, ``numpy.swapaxes``)."""
    x = as_node(x)
    a, b = _axis("swapaxes", "axis1", axis1, x.ndim), _axis("swapaxes", "axis2", axis2, x.ndim)
    if a == b:
        return x
    axes = list(range(x.ndim))
    axes[a], axes[b] = b, a
    return Transpose(tuple(axes))(x)


def _axis(op, name, axis, ndim):
    """``axis`` as a non-negative int in [0, ndim) (a 0-d Node accepts 0 and -1, as PyTorch), or an error naming ``op``."""
    top = max(ndim, 1)
    return validation.integer(op, name, axis, -top, top - 1) % top


def flatten(x, start_dim=1, end_dim=-1):
    """Axes ``start_dim`` to ``end_dim`` (both included) merged into one.

    The default flattens everything but the first (batch) axis, (N, ...) to
    (N, -1), as ``nn.Flatten`` does; ``flatten(x, 0)`` flattens it all, as
    ``torch.flatten(x)`` does.
    """
    x = as_node(x)
    if x.ndim == 0:
        _axis("flatten", "start_dim", start_dim, 0), _axis("flatten", "end_dim", end_dim, 0)
        return reshape(x, (1,))
    start, end = _axis("flatten", "start_dim", start_dim, x.ndim), _axis("flatten", "end_dim", end_dim, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    size = 1
    for n in x.shape[start : end + 1]:
        size *= n
    return reshape(x, x.shape[:start] + (size,) + x.shape[end + 1 :])


def expand_dims(x, axis):
    """Insert an axis of length 1 at ``axis``."""
    x = as_node(x)
    axis = validation.integer("expand_dims", "axis", axis, -x.ndim - 1, x.ndim)
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    """Remove axes of length 1: all of them, or those among ``axis`` (an int or a tuple).

    As in PyTorch, an axis given whose length is not 1 is left as it is (no
    error): ``squeeze(x, 1)`` on shape (4, 3) returns x unchanged. (NumPy would
    raise.)
    """
    x = as_node(x)
    if axis is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        given = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = {_axis("squeeze", "axis", a, x.ndim) for a in given}
    shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return reshape(x, shape)


def unsqueeze(x, axis):
    """Insert an axis of length 1 at ``axis`` (``torch.unsqueeze``; the same as ``expand_dims``)."""
    x = as_node(x)
    axis = validation.integer("unsqueeze", "axis", axis, -x.ndim - 1, x.ndim)
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


def _axes(op, axis, ndim):
    """``axis`` (an int, a sequence, or None for every axis) as a tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    given = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(_axis(op, "axis", a, ndim) for a in given)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: axis {axis} names an axis twice")
    return axes if ndim else ()


def flip(x, axis=None):
    """The elements in reverse order along ``axis`` (an int, a tuple; None: every axis), as ``torch.flip``."""
    x = as_node(x)
    axes = _axes("flip", axis, x.ndim)
    return Flip(axes)(x) if axes else x


def roll(x, shifts, axis=None):
    """Shift the elements cyclically by ``shifts`` along ``axis`` (``torch.roll``, ``numpy.roll``).

    ``shifts`` and ``axis`` are ints or tuples of one length. Without ``axis``
    the Node is rolled as if flattened, then given its shape back.
    """
    x = as_node(x)
    many = isinstance(shifts, (tuple, list))
    shifts = tuple(validation.integer("roll", "shifts", s) for s in (shifts if many else (shifts,)))
    if axis is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: give axis for each of the {len(shifts)} shifts {shifts}")
        return reshape(Roll(shifts, (0,))(reshape(x, (-1,))), x.shape) if x.ndim else x
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(_axis("roll", "axis", a, x.ndim) for a in axes)
    if len(axes) != len(shifts):
        raise ValueError(f"roll: shifts {shifts} and axis {axis} must have the same length")
    return Roll(shifts, axes)(x) if x.ndim else x


def tile(x, reps):
    """``x`` repeated as a whole ``reps[i]`` times along each axis i (``numpy.tile``).

    This is what PyTorch calls ``Tensor.repeat`` (``x.repeat(2, 3)``, also a
    Node method); what NumPy calls ``repeat``, each element repeated in place,
    is ``repeat_interleave``. ``reps`` shorter than ``x.ndim`` is padded with
    ones in front, longer adds leading axes.
    """
    x = as_node(x)
    reps = as_shape("tile", reps, "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must be integers >= 0, got {reps}")
    return Tile(reps)(x)


def repeat_interleave(x, repeats, axis=None):
    """Each element repeated ``repeats`` times in place along ``axis`` (``torch.repeat_interleave``, ``numpy.repeat``).

    ``repeats`` is an int or one int per element along the axis. Without
    ``axis`` the Node is flattened first. It is indexing with an integer array
    (``x[[0, 0, 1, 1, ...]]``), so the gradient of the copies is summed back.
    """
    x = as_node(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = _axis("repeat_interleave", "axis", axis, x.ndim)
    n = x.shape[axis] if x.ndim else 1
    xp = get_array_module(x.value)
    counts = getattr(repeats, "value", repeats)
    counts = validation.integer("repeat_interleave", "repeats", counts, 0) if not hasattr(counts, "__len__") else list(counts)
    try:
        index = xp.repeat(xp.arange(n), xp.asarray(counts, dtype=xp.int64) if isinstance(counts, list) else counts)
    except ValueError:
        raise ValueError(f"repeat_interleave: repeats must be one int or {n} ints (one per element along axis {axis}), got {repeats!r:.60}") from None
    return GetItem((slice(None),) * axis + (index,))(x)


def split(x, split_size_or_sections, axis=0):
    """Pieces of ``x`` along ``axis``, as ``torch.split``: a tuple of Nodes.

    An int gives pieces of that size (the last one smaller when it does not
    divide the axis); a list of ints gives pieces of those sizes, which must
    add up to the axis length. (NumPy's ``split`` takes a number of pieces or
    split points instead; for a number of pieces use ``chunk``.)
    """
    x = _at_least_1d("split", x)
    axis = _axis("split", "axis", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (tuple, list)):
        sizes = [validation.integer("split", "split_size_or_sections[i]", s, 0) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {tuple(sizes)} add up to {sum(sizes)}, but axis {axis} of shape {x.shape} has length {n}")
    else:
        size = validation.integer("split", "split_size_or_sections", split_size_or_sections, 1)
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    pieces, start = [], 0
    lead = (slice(None),) * axis
    for size in sizes:
        pieces.append(GetItem(lead + (slice(start, start + size),))(x))
        start += size
    return tuple(pieces)


def _at_least_1d(op, x):
    x = as_node(x)
    if x.ndim == 0:
        raise ValueError(f"{op}: a 0-d Node has no axis to split")
    return x


def chunk(x, chunks, axis=0):
    """``x`` split into ``chunks`` pieces of equal size along ``axis`` (the last smaller), as ``torch.chunk``.

    Like PyTorch, each piece has ceil(n / chunks) elements, so fewer than
    ``chunks`` pieces come back when the axis is short (5 in 4 chunks: 2, 2, 1).
    """
    x = _at_least_1d("chunk", x)
    chunks = validation.integer("chunk", "chunks", chunks, 1)
    n = x.shape[_axis("chunk", "axis", axis, x.ndim)]
    return split(x, max(-(-n // chunks), 1), axis)


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


class Unbind(Function):
    """x cut along ``axis`` into its slices, that axis removed (a tuple); the gradient stacks them back.

    The inverse of Stack, and one Function for all the slices: a loop over time
    steps reads them without a full-size gradient per step (which indexing
    x[t] one step at a time would cost).
    """

    differentiable_backward = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        lead = (slice(None),) * self.axis
        return tuple(x[lead + (i,)] for i in range(x.shape[self.axis]))

    def backward(self, *gys):
        return Stack(self.axis)(*gys)


def unbind(x, axis=0):
    """The slices of ``x`` along ``axis``, that axis removed, as a tuple of Nodes (``torch.unbind``)."""
    x = as_node(x)
    if x.ndim == 0:
        raise ValueError("unbind: a 0-d Node has no axis to cut along")
    axis = _axis("unbind", "axis", axis, x.ndim)
    if x.shape[axis] == 0:
        return ()
    return tuple(Unbind(axis)(x))

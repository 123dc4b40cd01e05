"""Reductions (sum, mean, max, min, prod, var, std, logsumexp, norm, argmax, any, ...),
scans (cumsum, cumprod) and the two halves of broadcasting (broadcast_to, sum_to).

A reduction's backward hands every input element the gradient of the output
element it was reduced into: reshape the gradient so the reduced axes have
length 1 again, then broadcast it back to the input's shape.

Derivatives of the newer ones, each written once in its ``backward``:

* prod: ∂y/∂xᵢ = Πⱼ≠ᵢ xⱼ. That is y / xᵢ when no factor is zero; with zeros
  the product of the others is computed as it is (an n × n table per row,
  the factor i replaced by 1), so a row with one zero gives its zero the
  product of the rest, and a row with two zeros gives 0 everywhere, as PyTorch.
* logsumexp: y = m + log Σ exp(x - m) with m the (constant) max, for stability;
  ∂y/∂x = exp(x - y) = softmax(x).
* cumsum: yₖ = Σⱼ≤ₖ xⱼ, so gxᵢ = Σₖ≥ᵢ gₖ: a cumsum of the reversed gradient, reversed.
* cumprod: gxᵢ = Σₖ≥ᵢ gₖ yₖ / xᵢ (a reversed cumsum of g·y, over x) where no
  input on the axis is 0; where one is, the product of the others is formed as
  for prod (n × n per row), which is exact.
* norm (p-norm over axes): ∂‖x‖ₚ/∂x = sign(x) |x|^(p-1) / ‖x‖^(p-1); for p = 2
  that is x / ‖x‖, taken as 0 where ‖x‖ = 0 (PyTorch's subgradient), for p = 1
  it is sign(x), for p = ±inf the gradient is shared by the elements of
  largest (smallest) |x|.
* var with ``correction`` c: Σ(x - mean)² / (n - c), written with node ops
  (its derivative 2(x - mean)/(n - c) follows); std = √var.
"""
import builtins
import math

from .. import validation
from ..backend import broadcast_shapes, get_array_module
from ..core import Function, Node, as_float, as_node, replayable
from .arithmetic import BroadcastTo, SumTo, as_shape
from .math import Exp, Sqrt
from .shape import Flip, Transpose


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


# ---- products, spreads, norms ------------------------------------------------------------------


def _to_last(x, axes):
    """``x`` with ``axes`` moved to the end and merged into one axis, and the permutation used."""
    axes = tuple(a % x.ndim for a in axes)
    keep = [a for a in range(x.ndim) if a not in axes]
    perm = tuple(keep) + tuple(axes)
    moved = Transpose(perm)(x) if perm != tuple(range(x.ndim)) else x
    n = math.prod(x.shape[a] for a in axes)
    return moved.reshape(tuple(x.shape[a] for a in keep) + (n,)), perm


def _from_last(y, perm, shape):
    """Undo ``_to_last``: ``y`` (..., n) back to ``shape``, the axes in their places."""
    moved = y.reshape(tuple(shape[a] for a in perm))
    if perm == tuple(range(len(shape))):
        return moved
    inverse = [0] * len(perm)
    for i, a in enumerate(perm):
        inverse[a] = i
    return Transpose(tuple(inverse))(moved)


def _leave_one_out(x_last, f):
    """``table[..., i, k]`` = x[..., k] for k ≠ i and 1 for k = i, then ``f`` applied over k (the last axis).

    For prod (and cumprod) with zero inputs: the product of the others, formed
    as it is rather than as y / xᵢ. Written with node ops, so it is
    differentiable again. It costs n × n per row, and runs only when a zero is there.
    """
    n = x_last.shape[-1]
    xp = get_array_module(getattr(x_last, "value", x_last))
    eye = xp.eye(n, dtype=x_last.dtype)
    table = x_last.reshape(x_last.shape[:-1] + (1, n)) * (1 - eye) + eye
    return f(table)


class Prod(Reduction):
    """Π over axes; ∂y/∂xᵢ is the product of the other factors (see the module docstring for zeros)."""

    def forward(self, x):
        return x.prod(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        g = self.spread(gy)
        if not bool((self.inputs[0].value == 0).any()):
            (y,) = self.saved_outputs()
            return g * self.spread(y) / x
        axes = self.reduced_axes()
        x_last, perm = _to_last(x, axes)
        others = _leave_one_out(x_last, Prod(-1))
        return g * _from_last(others, perm, self.inputs[0].shape)


class LogSumExp(Reduction):
    """log Σ exp(x) over axes, computed as m + log Σ exp(x - m) (m the max); ∂y/∂x = exp(x - y)."""

    def forward(self, x):
        xp = get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or an inf) along the axis: nothing to shift
        y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, _normalize_axes(self.axis, x.ndim)))

    def backward(self, gy):
        (x,) = self.saved_inputs()
        (y,) = self.saved_outputs()
        shape = _keepdims_shape(self.inputs[0].shape, self.reduced_axes())
        return gy.reshape(shape) * Exp()(x - y.reshape(shape))


class Norm(Reduction):
    """The p-norm (Σ|x|ᵖ)^(1/p) over axes, p > 0 or ±inf; gradients in the module docstring."""

    real_only = True

    def __init__(self, p, axis=None, keepdims=False):
        super().__init__(axis, keepdims)
        self.p = p

    def forward(self, x):
        xp, p, axis = get_array_module(x), self.p, self.axis
        if p == 2:
            y = xp.sqrt((x * x).sum(axis=axis, keepdims=True))
        elif p == 1:
            y = xp.abs(x).sum(axis=axis, keepdims=True)
        elif p == math.inf:
            y = xp.abs(x).max(axis=axis, keepdims=True)
        elif p == -math.inf:
            y = xp.abs(x).min(axis=axis, keepdims=True)
        else:
            y = (xp.abs(x) ** p).sum(axis=axis, keepdims=True) ** (1 / p)
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, _normalize_axes(axis, x.ndim)))

    def backward(self, gy):
        (x,) = self.saved_inputs()
        (y,) = self.saved_outputs()
        value, p = self.inputs[0].value, self.p
        shape = _keepdims_shape(value.shape, self.reduced_axes())
        g, y = gy.reshape(shape), y.reshape(shape)
        xp = get_array_module(value)
        sign = xp.sign(value)
        if p == 1:
            return g * sign
        y_value = self.outputs[0]().value.reshape(shape)
        if p in (math.inf, -math.inf):
            extreme = xp.abs(value) == y_value  # the elements the norm is: they share its gradient
            return g * (sign * extreme / extreme.sum(axis=self.axis, keepdims=True, dtype=value.dtype))
        zero_norm = (y_value == 0).astype(value.dtype)  # 0 / 0 replaced by 0 / 1: the subgradient 0
        if p == 2:
            return g * x / (y + zero_norm)
        zero = (value == 0).astype(value.dtype)  # |x|^(p-1) at 0 may be inf for p < 1; sign(0) = 0 anyway
        return g * sign * (abs(x) + zero) ** (p - 1) / (y + zero_norm) ** (p - 1)


def _reduced_shape(shape, axes):
    return tuple(n for i, n in enumerate(shape) if i not in axes)


class CumSum(Function):
    """Running sum along ``axis``; gx is the running sum of the gradient taken from the end."""

    differentiable_backward = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumsum(x, axis=self.axis)

    def backward(self, gy):
        return Flip((self.axis,))(CumSum(self.axis)(Flip((self.axis,))(gy)))


class CumProd(Function):
    """Running product along ``axis``; gradient in the module docstring (exact with zeros too)."""

    differentiable_backward = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumprod(x, axis=self.axis)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        value = self.inputs[0].value
        if not bool((value == 0).any()):
            (y,) = self.saved_outputs()
            return Flip((self.axis,))(CumSum(self.axis)(Flip((self.axis,))(gy * y))) / x
        # gxᵢ = Σₖ≥ᵢ gₖ Πⱼ≤ₖ,ⱼ≠ᵢ xⱼ: the running products with factor i left out, table[..., i, k]
        x_last, perm = _to_last(x, (self.axis,))
        g_last, _ = _to_last(gy, (self.axis,))
        n = x_last.shape[-1]
        table = _leave_one_out(x_last, CumProd(-1))
        upper = get_array_module(value).triu(get_array_module(value).ones((n, n), value.dtype))  # k ≥ i
        gx = (table * upper * g_last.reshape(g_last.shape[:-1] + (1, n))).sum(axis=-1)
        return _from_last(gx, perm, value.shape)


def _reduction_axes(op, x, axis):
    """``axis`` checked for ``x`` (an int, a tuple or None), as a tuple of non-negative axes; 0-d: ()."""
    if x.ndim == 0:
        for a in () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis):
            validation.integer(op, "axis", a, -1, 0)
        return ()
    try:
        return _normalize_axes(axis, x.ndim)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{op}: {exc}") from None


def prod(x, axis=None, keepdims=False):
    """Product over ``axis`` (all axes when None); the gradient is right with zeros among the factors."""
    x = as_node(x)
    return Prod(_reduction_axes("prod", x, axis), keepdims)(x)


def _correction(op, correction, unbiased):
    if unbiased is not None:
        return 1 if validation.flag(op, "unbiased", unbiased) else 0
    return validation.integer(op, "correction", correction, 0)


def var(x, axis=None, keepdims=False, *, correction=1, unbiased=None):
    """Variance over ``axis``: Σ(x - mean)² / (n - correction).

    As in PyTorch the default ``correction=1`` gives the unbiased estimate
    (NumPy's ``var`` defaults to ddof=0: pass ``correction=0`` for it).
    ``unbiased=True/False`` (PyTorch's older keyword) means correction 1/0.
    n - correction ≤ 0 gives inf or nan, as in PyTorch.
    """
    x = as_float(x)
    axes = _reduction_axes("var", x, axis)
    c = _correction("var", correction, unbiased)
    n = math.prod(x.shape[a] for a in axes)
    d = x - Mean(axes, True)(x)
    s = Sum(axes, keepdims)(d * d)
    return s / (n - c) if n > c else s * math.inf


def std(x, axis=None, keepdims=False, *, correction=1, unbiased=None):
    """Standard deviation over ``axis``: √var, with ``var``'s ``correction`` (default 1, as PyTorch)."""
    x = as_float(x)
    return Sqrt()(var(x, axis, keepdims, correction=_correction("std", correction, unbiased)))


def logsumexp(x, axis=None, keepdims=False):
    """log Σ exp(x) over ``axis``, without overflow (the max is taken out first)."""
    x = as_float(x)
    return LogSumExp(_reduction_axes("logsumexp", x, axis), keepdims)(x)


def norm(x, p=2, axis=None, keepdims=False):
    """The vector p-norm over ``axis`` (all elements when None), as ``torch.linalg.vector_norm``.

    ``p``: a number > 0, ``inf`` (max |x|), ``-inf`` (min |x|) or ``'fro'`` (the
    2-norm of all elements over ``axis``). Matrix norms (nuclear, spectral) are
    not provided. The gradient of the 2-norm at 0 is 0, as in PyTorch.
    """
    x = as_float(x)
    if p == "fro":
        p = 2
    elif isinstance(p, (str, bool)) or not isinstance(p, (int, float)) or not (p > 0 or p == -math.inf):
        raise ValueError(f"norm: p must be a number > 0, inf, -inf or 'fro', got {p!r:.40}")
    return Norm(float(p), _reduction_axes("norm", x, axis), keepdims)(x)


def _single_axis(op, x, axis):
    """``axis`` as one non-negative int (or None), checked against ``x.ndim``."""
    if axis is None:
        return None
    top = builtins.max(x.ndim, 1)
    return validation.integer(op, "axis", axis, -top, top - 1) % top


def cumsum(x, axis):
    """Running sum along ``axis`` (``torch.cumsum(x, dim)``)."""
    x = as_node(x)
    axis = _single_axis("cumsum", x, axis)
    if axis is None:
        raise TypeError("cumsum: axis must be an integer (flatten first for a running sum over all elements)")
    return CumSum(axis)(x) if x.ndim else x


def cumprod(x, axis):
    """Running product along ``axis`` (``torch.cumprod(x, dim)``); the gradient is exact with zeros too."""
    x = as_node(x)
    axis = _single_axis("cumprod", x, axis)
    if axis is None:
        raise TypeError("cumprod: axis must be an integer (flatten first for a running product over all elements)")
    return CumProd(axis)(x) if x.ndim else x


# ---- answers without a gradient: indices and truth values --------------------------------------


def _constant(value):
    """A Node holding ``value`` that requires no gradient (indices, truth values)."""
    return Node(value, requires_grad=False)


@replayable
def index_or_truth(op, x, axis, keepdims):
    """``x.<op>(axis, keepdims)`` for argmax, argmin, any and all (x a Node or an array), as an array (of shape () for a 0-d x).

    ``@replayable``, so ``node.compile`` records it and a replay computes it
    from the new values instead of keeping the first answer (a Node's array
    is read when it runs: a parameter's current one).
    """
    value = getattr(x, "value", x)
    flat = value if value.ndim else value.reshape(1)
    out = getattr(flat, op)(axis=axis, keepdims=keepdims)
    return get_array_module(value).asarray(out).reshape(()) if value.ndim == 0 else get_array_module(value).asarray(out)


def _arg(op, x, axis, keepdims):
    x = as_node(x)
    axis = _single_axis(op, x, axis)
    keepdims = validation.flag(op, "keepdims", keepdims)
    return _constant(index_or_truth(op, x, axis, keepdims))


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value along ``axis`` (of the flattened Node when None): an int64 Node, no gradient."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest value along ``axis`` (of the flattened Node when None): an int64 Node, no gradient."""
    return _arg("argmin", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    """Whether any element along ``axis`` is nonzero (True): a bool Node, no gradient."""
    x = as_node(x)
    axes = _reduction_axes("any", x, axis)
    return _constant(index_or_truth("any", x, axes, validation.flag("any", "keepdims", keepdims)))


def all(x, axis=None, keepdims=False):
    """Whether every element along ``axis`` is nonzero (True): a bool Node, no gradient."""
    x = as_node(x)
    axes = _reduction_axes("all", x, axis)
    return _constant(index_or_truth("all", x, axes, validation.flag("all", "keepdims", keepdims)))

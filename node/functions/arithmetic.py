"""+, -, *, /, unary -, ** and @, with NumPy broadcasting, and broadcasting itself.

When an input was broadcast in the forward pass, its gradient has the output's
shape and must be summed back to the input's shape (``sum_to``): an input that
was copied along an axis receives the sum of the gradients of all its copies.

Each Function states its derivative once, in ``backward``. It reads its
inputs through ``saved_inputs()``: arrays in a plain ``backward()`` (the fast
path every training step takes), Nodes under ``create_graph=True``, where the
same lines are recorded as a graph that can be differentiated again.
``sum_to`` works on both: it only uses ``.sum`` and ``.reshape``, which arrays
and Nodes share.
"""
import numpy as np

from .. import validation
from ..backend import broadcast_shapes, get_array_module
from ..config import Config
from ..core import Function, as_node, converted


def sum_to(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``.

    Example: a bias of shape (4,) added to x of shape (3, 2, 4) receives the sum
    of the (3, 2, 4) gradient over axes 0 and 1.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)  # axes broadcasting prepended
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def as_shape(name, shape, argument="shape"):
    """``shape`` (an int or a sequence of ints) as a tuple, or TypeError naming the function and the argument."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        return (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if isinstance(shape, (str, bytes)) or dims is None or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in dims
    ):
        raise TypeError(f"{name}: {argument} must be an int or a tuple of ints, got {type(shape).__name__} {shape!r:.60}")
    return tuple(int(n) for n in dims)


def swap_last_axes(v):
    """v with its last two axes swapped (a matrix transpose per batch entry); for arrays and Nodes."""
    axes = list(range(v.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return v.transpose(axes)


def _pair(a, b):
    """Coerce two operands to Nodes; Python numbers take the other operand's dtype."""
    return as_node(a, like=b), as_node(b, like=a)


def _check_broadcast(op, a, b):
    if a.shape == b.shape or not a.shape or not b.shape:  # the common cases need no work
        return
    try:
        broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


class Add(Function):
    differentiable_backward = True

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(Function):
    differentiable_backward = True

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape) if b.requires_grad else None


class Mul(Function):
    differentiable_backward = True

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.saved_inputs()
        ga = sum_to(gy * b, a.shape) if self.inputs[0].requires_grad else None
        gb = sum_to(gy * a, b.shape) if self.inputs[1].requires_grad else None
        return ga, gb


class Div(Function):
    differentiable_backward = True

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.saved_inputs()
        ga = gy / b
        gb = sum_to(-ga * a / b, b.shape) if self.inputs[1].requires_grad else None
        return sum_to(ga, a.shape), gb


class Neg(Function):
    differentiable_backward = True

    def forward(self, a):
        return -a

    def backward(self, gy):
        return -gy


class PowConst(Function):
    """x ** c for a constant exponent c: d/dx = c · x^(c-1).

    x⁰ = 1 is a constant, so for c = 0 the gradient is 0 everywhere, x = 0
    included (where 0 · 0⁻¹ would be NaN), as in PyTorch.
    """

    differentiable_backward = True

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x**self.c

    def backward(self, gy):
        if self.c == 1:
            return gy
        if self.c == 0:
            return gy * 0
        (x,) = self.saved_inputs()
        return self.c * x ** (self.c - 1) * gy


class Pow(Function):
    """a ** b for two Nodes: d/da = b · a^(b-1), d/db = a^b · log(a).

    At a = 0 both formulas meet 0 · ∞; the limits PyTorch uses are taken
    instead: d/da = 0 where b = 0 (a⁰ = 1 is constant in a), and d/db = 0
    where b ≥ 0 (0^b is 0 for b > 0, the one-sided limit at b = 0). That is done
    with constant masks ``m`` (1 there, else 0) that change nothing elsewhere:
    a^(b-1+m) is a⁰ = 1 where a = b = 0 (times b = 0), and log(a + m) is
    log 1 = 0 where a = 0 ≤ b.
    """

    differentiable_backward = True

    def forward(self, a, b):
        return a**b

    def backward(self, gy):
        from .math import Log  # math builds on this module

        a, b = self.saved_inputs()
        (y,) = self.saved_outputs()
        a_value, b_value = self.inputs[0].value, self.inputs[1].value
        base_zero = a_value == 0
        ga = gb = None
        if self.inputs[0].requires_grad:
            m = (base_zero & (b_value == 0)).astype(b_value.dtype)
            ga = sum_to(gy * b * a ** (b - 1 + m), a.shape)
        if self.inputs[1].requires_grad:
            m = (base_zero & (b_value >= 0)).astype(a_value.dtype)
            gb = sum_to(gy * y * Log()(a + m), b.shape)
        return ga, gb


class MatMul(Function):
    """a @ b with NumPy's rules: 1-D operands are promoted, leading axes broadcast.

    For 2-D a (n, k) and b (k, m): ga = gy @ bᵀ and gb = aᵀ @ gy.
    """

    differentiable_backward = True
    uses_blas = True

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        a, b = self.saved_inputs()
        a_node, b_node = self.inputs
        if a.ndim == 1 or b.ndim == 1:  # promote vectors to matrices, as matmul does
            a = a if a.ndim > 1 else a.reshape(1, -1)
            b = b if b.ndim > 1 else b.reshape(-1, 1)
            gy = gy.reshape(broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]))
        ga = sum_to(gy @ swap_last_axes(b), a.shape).reshape(a_node.shape) if a_node.requires_grad else None
        gb = sum_to(swap_last_axes(a) @ gy, b.shape).reshape(b_node.shape) if b_node.requires_grad else None
        return ga, gb


class ScaleGrad(Function):
    """Identity forward; the backward multiplies the gradient by a constant.

    Used to take a loss weight back out of one input's gradient (Center Loss
    centers trained by their own optimizer), without changing the forward value.
    """

    differentiable_backward = True

    def __init__(self, factor):
        self.factor = factor

    def forward(self, x):
        return x

    def backward(self, gy):
        return gy * self.factor


class BroadcastTo(Function):
    differentiable_backward = True

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


class SumTo(Function):
    differentiable_backward = True

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return sum_to(x, self.shape)

    def backward(self, gy):
        return BroadcastTo(self.inputs[0].shape)(gy)


def _binary(function_class, name, a, b):
    """Coerce, check that the shapes broadcast, and apply a two-input elementwise Function."""
    a, b = _pair(a, b)
    _check_broadcast(name, a, b)
    return function_class()(a, b)


def add(a, b):
    """a + b, broadcasting."""
    return _binary(Add, "add", a, b)


def sub(a, b):
    """a - b, broadcasting."""
    return _binary(Sub, "sub", a, b)


def mul(a, b):
    """a * b elementwise, broadcasting."""
    return _binary(Mul, "mul", a, b)


def div(a, b):
    """a / b elementwise, broadcasting: true division, whose result is a float.

    One rule, PyTorch's: an integer or boolean operand is converted to the
    other operand's float dtype, or to the default float dtype (float32,
    ``node.get_default_dtype()``) when both are integers. (NumPy would give
    float64 for int64 / int64 and for int64 / float32.)
    """
    a, b = _pair(a, b)
    a, b = _float_like(a, b), _float_like(b, a)
    _check_broadcast("div", a, b)
    return Div()(a, b)


def _float_like(x, other):
    """``x`` if it is float or complex; else a constant copy in ``other``'s float dtype, or the default float dtype."""
    if x.dtype.kind in "fc":
        return x
    return as_node(converted(x, other.dtype if other.dtype.kind in "fc" else Config.default_dtype))


def scale_grad(x, factor):
    """``x`` unchanged, but the gradient passing back through it is multiplied by ``factor``."""
    return ScaleGrad(validation.real("scale_grad", "factor", factor))(x)


def neg(a):
    """-a."""
    return Neg()(a)


def pow(a, b):
    """a ** b. A Python-number exponent is a constant; a Node exponent gets a gradient too.

    An integer base to a negative integer exponent is refused (the result is
    not an integer), as in PyTorch: convert the base with ``.astype(float)``.
    """
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        a = as_node(a)
        _check_integer_power(a, b)
        return PowConst(b)(a)
    a, b = _pair(a, b)
    _check_broadcast("pow", a, b)
    _check_integer_power(a, b.value)
    return Pow()(a, b)


def _check_integer_power(a, b):
    """Raise ValueError if the integer base ``a`` meets a negative integer exponent (a number or an array) ``b``."""
    if a.dtype.kind not in "biu" or getattr(b, "dtype", np.dtype(type(b))).kind not in "biu":
        return
    if (b < 0).any() if hasattr(b, "dtype") else b < 0:
        raise ValueError(
            f"pow: an integer base (dtype {a.dtype}) to a negative integer exponent is not an integer; "
            "convert the base to floats first (x.astype(float) ** -1, or x ** -1.0)"
        )


def matmul(a, b):
    """Matrix product a @ b (NumPy ``matmul`` semantics, batched over leading axes)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not match: "
            f"the last axis of the left operand ({k_a}) must equal the "
            f"{'second-to-last' if b.ndim > 1 else 'only'} axis of the right one ({k_b})"
        )
    try:
        broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch axes of shapes {a.shape} and {b.shape} cannot be broadcast") from None
    return MatMul()(a, b)

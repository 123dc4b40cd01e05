"""Elementwise math: exp, log, sqrt, abs, clip, astype. Each backward is gy · f'(x).

f'(x) is written with the op's own input or output (``saved_inputs()``,
``saved_outputs()``): arrays in a plain backward, Nodes under
``create_graph=True``, where the product is recorded and f'(x) differentiated
in turn. Where f'(x) is piecewise constant (abs, clip) it is a mask computed
from the input's values: a constant, so the second derivative is zero
wherever it exists.
"""
import numpy as np

from ..backend import get_array_module, is_array
from ..core import Function, Node, as_float, as_node


class Exp(Function):
    """eˣ; gx = gy · eˣ = gy · y."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return gy * y


class Log(Function):
    """log x; gx = gy / x."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy / x


class Sqrt(Function):
    """√x; gx = gy / (2√x) = gy / (2y)."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return gy / (2 * y)


class Abs(Function):
    """|x|; gx = gy · sign(x), sign(x) a constant (0 at 0)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].value
        return gy * get_array_module(x).sign(x)


class Clip(Function):
    """Limit values to [low, high]; the gradient flows only where x was inside (a constant mask)."""

    differentiable_backward = True
    real_only = True

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def forward(self, x):
        return get_array_module(x).clip(x, self.low, self.high)

    def inside(self, x):
        """True where low ≤ x ≤ high (a missing bound always holds)."""
        inside = x >= self.low if self.low is not None else True
        return inside & (x <= self.high) if self.high is not None else inside

    def backward(self, gy):
        return gy * self.inside(self.inputs[0].value)


class AsType(Function):
    """A copy in another dtype; the gradient goes back in the input's dtype (another AsType)."""

    differentiable_backward = True

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return AsType(self.inputs[0].dtype)(gy)


def exp(x):
    """eˣ elementwise."""
    return Exp()(as_float(x))


def log(x):
    """Natural logarithm elementwise."""
    return Log()(as_float(x))


def sqrt(x):
    """Square root elementwise."""
    return Sqrt()(as_float(x))


def abs(x):
    """|x| elementwise (gradient sign(x), 0 at 0)."""
    return Abs()(x)


def astype(x, dtype):
    """``x`` converted to ``dtype``: differentiable between float (and complex) dtypes.

    To a bool or integer dtype the result is a constant (``requires_grad`` False,
    no gradient flows back through it), as ``tensor.to(torch.int32)`` is in PyTorch.
    """
    x, given = as_node(x), dtype
    try:
        dtype = np.dtype(dtype) if dtype is not None else None  # np.dtype(None) would be float64
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biufc":
        raise TypeError(f"astype: dtype must be a numeric dtype (e.g. 'float32', 'int64'), got {given!r}")
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        return Node(x.value.astype(dtype), requires_grad=False)
    return AsType(dtype)(x)


def clip(x, min=None, max=None):
    """Clamp to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and not isinstance(bound, (int, float, np.number)) and not is_array(bound):
            raise TypeError(f"clip: {name} must be a number, an array or None, got {type(bound).__name__} {bound!r:.40}")
        if isinstance(bound, complex) or getattr(bound, "dtype", np.dtype(float)).kind not in "biuf":
            raise TypeError(f"clip: {name} must be real, got {bound!r:.40}")
    return Clip(min, max)(x)

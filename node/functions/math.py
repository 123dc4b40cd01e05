"""Elementwise math: exp, log, sqrt, abs, clip, astype. Each backward is gy · f'(x).

``backward_graph`` writes the same product with Nodes (``self.inputs``, or the
output through ``saved_output``) so that f'(x) itself gets differentiated.
"""
import numpy as np

from ..backend import get_array_module
from ..core import Function, as_node


class Exp(Function):
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y  # d/dx eˣ = eˣ

    def backward_graph(self, gy):
        return gy * self.saved_output()


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0].value  # d/dx log x = 1/x

    def backward_graph(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)  # d/dx √x = 1 / (2√x)

    def backward_graph(self, gy):
        return gy / (2 * self.saved_output())


class Abs(Function):
    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * get_array_module(gy).sign(self.inputs[0].value)

    def backward_graph(self, gy):
        # sign(x) is a constant: |x| has no second derivative (0 away from x = 0).
        return gy * get_array_module(gy.value).sign(self.inputs[0].value)


class Clip(Function):
    """Limit values to [low, high]; the gradient flows only where x was inside."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def forward(self, x):
        return get_array_module(x).clip(x, self.low, self.high)

    def backward(self, gy):
        x = self.inputs[0].value
        inside = True
        if self.low is not None:
            inside = x >= self.low
        if self.high is not None:
            inside = inside & (x <= self.high)
        return gy * inside

    backward_graph = backward  # a constant mask times gy: linear, and the same code runs on Nodes


class AsType(Function):
    """A copy in another dtype; the gradient goes back in the input's dtype."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.inputs[0].dtype)

    def backward_graph(self, gy):
        return AsType(self.inputs[0].dtype)(gy)


def exp(x):
    """eˣ elementwise."""
    return Exp()(x)


def log(x):
    """Natural logarithm elementwise."""
    return Log()(x)


def sqrt(x):
    """Square root elementwise."""
    return Sqrt()(x)


def abs(x):
    """|x| elementwise (gradient sign(x), 0 at 0)."""
    return Abs()(x)


def astype(x, dtype):
    """``x`` converted to ``dtype`` (differentiable between float dtypes)."""
    x = as_node(x)
    return x if x.dtype == np.dtype(dtype) else AsType(dtype)(x)


def clip(x, min=None, max=None):
    """Clamp to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    return Clip(min, max)(x)

"""Trigonometric and hyperbolic functions and their inverses, and atan2. Each backward is gy · f'(x).

As in ``math``, f'(x) is written with node operations on the op's input or
output, so that the backward can be recorded and differentiated again:

    sin' = cos          cos' = -sin          tan' = 1 + tan²
    asin' = 1/√(1-x²)   acos' = -1/√(1-x²)   atan' = 1/(1+x²)
    sinh' = cosh        cosh' = sinh         tanh is in ``activation``
    asinh' = 1/√(x²+1)  acosh' = 1/√(x²-1)   atanh' = 1/(1-x²)

atan2(y, x), the angle of the point (x, y), has ∂/∂y = x/(x²+y²) and
∂/∂x = -y/(x²+y²); at the origin, where both are 0/0, the gradient is 0, as
in PyTorch.
"""
from ..backend import broadcast_shapes, get_array_module
from ..core import Function, as_float, as_node
from .arithmetic import sum_to
from .math import Sqrt


class Sin(Function):
    """sin x; gx = gy · cos x."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).sin(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy * Cos()(x)


class Cos(Function):
    """cos x; gx = -gy · sin x."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).cos(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return -gy * Sin()(x)


class Tan(Function):
    """tan x; gx = gy · (1 + y²)."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).tan(x)

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return gy * (1 + y * y)


class Arcsine(Function):
    """asin x (acos x with ``cosine``); gx = gy / √(1 - x²) (negated for acos)."""

    differentiable_backward = True
    real_only = True

    def __init__(self, cosine=False):
        self.cosine = cosine

    def forward(self, x):
        xp = get_array_module(x)
        return xp.arccos(x) if self.cosine else xp.arcsin(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        g = gy / Sqrt()(1 - x * x)
        return -g if self.cosine else g


class Arctangent(Function):
    """atan x; gx = gy / (1 + x²)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return get_array_module(x).arctan(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy / (1 + x * x)


class Arctangent2(Function):
    """atan2(y, x), the angle of (x, y) in (-π, π]; gy_y = g·x/r², gy_x = -g·y/r², 0 at the origin."""

    differentiable_backward = True
    real_only = True

    def forward(self, y, x):
        return get_array_module(y, x).arctan2(y, x)

    def backward(self, g):
        y, x = self.saved_inputs()
        y_node, x_node = self.inputs
        origin = ((y_node.value == 0) & (x_node.value == 0)).astype(g.dtype)  # a constant mask
        scale = g * (1 - origin) / (x * x + y * y + origin)  # g / r², and 0 (not 0/0) at the origin
        gy = sum_to(scale * x, y_node.shape) if y_node.requires_grad else None
        gx = sum_to(-scale * y, x_node.shape) if x_node.requires_grad else None
        return gy, gx


class HyperbolicSine(Function):
    """sinh x; gx = gy · cosh x."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).sinh(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy * HyperbolicCosine()(x)


class HyperbolicCosine(Function):
    """cosh x; gx = gy · sinh x."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).cosh(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy * HyperbolicSine()(x)


class InverseHyperbolicSine(Function):
    """asinh x; gx = gy / √(x² + 1)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return get_array_module(x).arcsinh(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy / Sqrt()(x * x + 1)


class InverseHyperbolicCosine(Function):
    """acosh x (x ≥ 1); gx = gy / √(x² - 1)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return get_array_module(x).arccosh(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy / Sqrt()(x * x - 1)


class InverseHyperbolicTangent(Function):
    """atanh x (|x| < 1); gx = gy / (1 - x²)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return get_array_module(x).arctanh(x)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy / (1 - x * x)


def sin(x):
    """Sine elementwise (radians)."""
    return Sin()(as_float(x))


def cos(x):
    """Cosine elementwise (radians)."""
    return Cos()(as_float(x))


def tan(x):
    """Tangent elementwise (radians)."""
    return Tan()(as_float(x))


def asin(x):
    """Inverse sine elementwise, in [-π/2, π/2]; NaN outside [-1, 1]."""
    return Arcsine()(as_float(x))


def acos(x):
    """Inverse cosine elementwise, in [0, π]; NaN outside [-1, 1]."""
    return Arcsine(cosine=True)(as_float(x))


def atan(x):
    """Inverse tangent elementwise, in (-π/2, π/2)."""
    return Arctangent()(as_float(x))


def atan2(y, x):
    """The angle of the point (x, y) in (-π, π], elementwise with broadcasting (``torch.atan2(y, x)``)."""
    y = as_float(as_node(y, like=x if hasattr(x, "dtype") else None))
    x = as_float(as_node(x, like=y))
    try:
        broadcast_shapes(y.shape, x.shape)
    except ValueError:
        raise ValueError(f"atan2: shapes {y.shape} and {x.shape} cannot be broadcast together") from None
    return Arctangent2()(y, x)


def sinh(x):
    """Hyperbolic sine elementwise."""
    return HyperbolicSine()(as_float(x))


def cosh(x):
    """Hyperbolic cosine elementwise."""
    return HyperbolicCosine()(as_float(x))


def asinh(x):
    """Inverse hyperbolic sine elementwise."""
    return InverseHyperbolicSine()(as_float(x))


def acosh(x):
    """Inverse hyperbolic cosine elementwise; NaN below 1."""
    return InverseHyperbolicCosine()(as_float(x))


def atanh(x):
    """Inverse hyperbolic tangent elementwise; ±inf at ±1, NaN beyond."""
    return InverseHyperbolicTangent()(as_float(x))

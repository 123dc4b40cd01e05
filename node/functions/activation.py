"""Activations: relu, leaky_relu, prelu, sigmoid, tanh, softmax, log_softmax, and the smooth ones
(softplus, logsigmoid, silu, gelu, elu, selu).

The piecewise-linear ones (ReLU, LeakyReLU, PReLU in x) multiply the gradient
by a mask that depends only on the sign of x: a constant, so their second
derivative is zero wherever it exists. Sigmoid, tanh and the softmaxes write
their derivative with their output y (``saved_outputs()``), which the
backward then differentiates. The smooth ones write theirs with node
functions of x (Logistic, Erf, Exp, HyperbolicTangent), and ELU's with a
constant mask for the sign of x.

ReLU's and PReLU's gradients are Functions of their own (``ReLUGrad``,
``ParametricReLUGrad``), so that a fast kernel can compute them in a training
step (``node.kernels.activation``) and so that they can be differentiated again.
"""
import math

from .. import validation
from ..backend import get_array_module
from ..core import Function, as_float, as_node
from .math import Erf, Exp, erf_array

GELU_CUBIC = 0.044715
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
INV_SQRT2 = 1 / math.sqrt(2)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
# SELU's constants (Klambauer et al. 2017), as PyTorch writes them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class RectifiedLinear(Function):
    """ReLU, max(x, 0); gx = gy where x > 0, else 0."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        return ReLUGrad(self.inputs[0].value)(gy)


class ReLUGrad(Function):
    """gy where x > 0, else 0, for a constant array x: linear in gy, so its backward is itself."""

    differentiable_backward = True

    def __init__(self, x):
        self.x = x

    def forward(self, gy):
        return gy * (self.x > 0)

    def backward(self, ggx):
        return ReLUGrad(self.x)(ggx)


class LeakyRectifiedLinear(Function):
    """Leaky ReLU, x if x > 0 else slope·x: y = x · s with s = 1 or slope, and gx = gy · s."""

    differentiable_backward = True
    real_only = True

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        one_minus, slope = x.dtype.type(1 - self.slope), x.dtype.type(self.slope)  # keep x's dtype
        self.scale = (x > 0) * one_minus + slope
        return x * self.scale

    def backward(self, gy):
        return gy * self.scale


def slope_shape(x):
    """The shape PReLU's slopes take to broadcast against x: per channel (axis 1), or per element of a 1-D x."""
    return (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 1 else (-1,)


def sum_per_slope(v, a_shape):
    """v (x's shape) summed over every axis but the channel axis, to the slopes' shape (C,), or (1,) for a shared one."""
    if v.ndim > 1:
        v = v.sum(axis=(0,) + tuple(range(2, v.ndim)))
    return v.sum(keepdims=True) if a_shape == (1,) else v


class ParametricReLU(Function):
    """y = x if x > 0 else a·x, with a learned slope ``a`` per channel (axis 1), or one shared (shape (1,)).

    With s = 1 where x > 0 and s = a elsewhere: y = s·x, gx = s·gy, and ga sums
    gy·min(x, 0) over every axis but the channel axis (``ParametricReLUGrad``).
    """

    differentiable_backward = True
    real_only = True

    def forward(self, x, a):
        return get_array_module(x).where(x > 0, x, a.reshape(slope_shape(x)) * x)

    def backward(self, gy):
        x, a = self.saved_inputs()
        return ParametricReLUGrad()(x, a, gy)


class ParametricReLUGrad(Function):
    """(gx, ga) = (s·gy, Σ gy·min(x, 0)) of ``ParametricReLU``, as a Function of (x, a, gy).

    Linear in gy and in a; in x piecewise linear, with the mask x ≤ 0 a
    constant. So for upstream gradients (A, B) of (gx, ga), with B broadcast
    per channel: ∂/∂gy = s·A + B·min(x, 0), ∂/∂a = Σ A·gy where x ≤ 0, and
    ∂/∂x = B·gy where x ≤ 0.
    """

    differentiable_backward = True

    def forward(self, x, a, gy):
        negative = x <= 0
        s = get_array_module(x).where(negative, a.reshape(slope_shape(x)), 1)
        return gy * s, sum_per_slope(gy * x * negative, a.shape)

    def backward(self, ggx, gga):
        x, a, gy = self.saved_inputs()
        negative = (self.inputs[0].value <= 0).astype(x.dtype)  # a constant mask
        b = gga.reshape(slope_shape(x))
        s = a.reshape(slope_shape(x)) * negative + (1 - negative)
        return b * gy * negative, sum_per_slope(ggx * gy * negative, a.shape), ggx * s + b * x * negative


class Logistic(Function):
    """The logistic sigmoid 1/(1 + e⁻ˣ); gx = gy·y·(1 - y)."""

    differentiable_backward = True

    def forward(self, x):
        # 0.5·tanh(0.5x) + 0.5 equals 1/(1+e⁻ˣ) and never overflows.
        return get_array_module(x).tanh(x * 0.5) * 0.5 + 0.5

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return gy * y * (1 - y)


class HyperbolicTangent(Function):
    """tanh x; gx = gy·(1 - y²)."""

    differentiable_backward = True

    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return gy * (1 - y * y)


class NormalizedExponential(Function):
    """Softmax (the normalized exponential): yᵢ = e^(xᵢ - max x) / Σⱼ e^(xⱼ - max x) along ``axis``.

    Backward: gx = y · (gy - Σ gy·y), the Jacobian-vector product without the Jacobian.
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        e = get_array_module(x).exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogNormalizedExponential(Function):
    """Log softmax: yᵢ = xᵢ - log Σⱼ eˣʲ, computed as (xᵢ - m) - log Σⱼ e^(xⱼ - m) with m = max x.

    Backward: gx = gy - softmax(x) · Σ gy, with softmax(x) = eʸ.
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        return log_softmax_array(x, self.axis)

    def backward(self, gy):
        (y,) = self.saved_outputs()
        return gy - Exp()(y) * gy.sum(axis=self.axis, keepdims=True)


class SoftRectifiedLinear(Function):
    """Softplus, 1/β · log(1 + e^(βx)); x itself where βx > threshold (PyTorch's switch to linear).

    Computed as (max(βx, 0) + log(1 + e^(-|βx|))) / β, which never overflows.
    gx = gy · σ(βx), and gy above the threshold (a constant mask).
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = get_array_module(x)
        z = x * self.beta
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / self.beta
        return xp.where(z > self.threshold, x, soft)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        linear = (self.inputs[0].value * self.beta > self.threshold).astype(gy.dtype)
        return gy * (linear + (1 - linear) * Logistic()(x * self.beta))


class LogLogistic(Function):
    """log σ(x) = min(x, 0) - log(1 + e^(-|x|)), without overflow; gx = gy · (1 - σ(x)) = gy · σ(-x)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        xp = get_array_module(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy * Logistic()(-x)


class SigmoidWeightedLinear(Function):
    """SiLU (swish), x · σ(x); gx = gy · σ(x) · (1 + x · (1 - σ(x)))."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        return x * (get_array_module(x).tanh(x * 0.5) * 0.5 + 0.5)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        s = Logistic()(x)
        return gy * s * (1 + x * (1 - s))


class GaussianErrorLinear(Function):
    """GELU, x · Φ(x) with Φ the standard normal CDF, ½(1 + erf(x/√2)); or its tanh approximation.

    Exact: gx = gy · (Φ(x) + x · φ(x)), φ(x) = e^(-x²/2)/√(2π).
    With ``approximate="tanh"``: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), and
    gx = gy · (½(1 + tanh u) + ½x(1 - tanh² u) · √(2/π)(1 + 3·0.044715x²)).
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, approximate="none"):
        self.approximate = approximate

    def forward(self, x):
        if self.approximate == "tanh":
            u = (x + x * x * x * GELU_CUBIC) * SQRT_2_OVER_PI
            return x * (get_array_module(x).tanh(u) * 0.5 + 0.5)
        return x * (erf_array(x * INV_SQRT2) * 0.5 + 0.5)

    def backward(self, gy):
        (x,) = self.saved_inputs()
        if self.approximate == "tanh":
            t = HyperbolicTangent()((x + x * x * x * GELU_CUBIC) * SQRT_2_OVER_PI)
            du = (1 + x * x * (3 * GELU_CUBIC)) * SQRT_2_OVER_PI
            return gy * ((1 + t) * 0.5 + x * (1 - t * t) * du * 0.5)
        cdf = (Erf()(x * INV_SQRT2) + 1) * 0.5
        pdf = Exp()(x * x * -0.5) * INV_SQRT_2PI
        return gy * (cdf + x * pdf)


class ExponentialLinear(Function):
    """ELU (and SELU, with ``scale``): scale · (x if x > 0 else α(eˣ - 1)).

    gx = gy · scale · (1 if x > 0 else α·eˣ), with the mask x > 0 a constant;
    eˣ is taken of x·[x ≤ 0], so large positive x cannot overflow it.
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, alpha=1.0, scale=1.0):
        self.alpha, self.scale = alpha, scale

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * self.alpha)
        return y * self.scale if self.scale != 1 else y

    def backward(self, gy):
        (x,) = self.saved_inputs()
        positive = (self.inputs[0].value > 0).astype(gy.dtype)
        negative = 1 - positive
        slope = positive + negative * Exp()(x * negative) * self.alpha
        return gy * slope * self.scale if self.scale != 1 else gy * slope


def log_softmax_array(x, axis):
    """Numerically stable log-softmax of a raw array (shared with the losses)."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def relu(x):
    """max(x, 0)."""
    return RectifiedLinear()(x)


def leaky_relu(x, slope=0.01):
    """x if x > 0 else slope·x."""
    return LeakyRectifiedLinear(validation.real("leaky_relu", "slope", slope))(x)


def prelu(x, a):
    """Parametric ReLU: x if x > 0 else a·x, with slopes ``a`` of shape (C,) (one per channel, axis 1) or (1,)."""
    x, a = as_node(x), as_node(a, like=x)
    if x.ndim == 0:
        raise ValueError("prelu needs an input with at least one dimension")
    channels = x.shape[1] if x.ndim > 1 else x.shape[0]
    if a.ndim != 1 or a.shape[0] not in (1, channels):
        raise ValueError(f"prelu: slopes of shape {a.shape} do not fit input of shape {x.shape}; expected (1,) or ({channels},)")
    return ParametricReLU()(x, a)


def sigmoid(x):
    """1 / (1 + e⁻ˣ), computed stably."""
    return Logistic()(as_float(x))


def tanh(x):
    """Hyperbolic tangent."""
    return HyperbolicTangent()(as_float(x))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (stable for large inputs)."""
    return NormalizedExponential(axis)(as_float(x))


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, without overflow or log(0)."""
    return LogNormalizedExponential(axis)(as_float(x))


def softplus(x, beta=1.0, threshold=20.0):
    """1/β · log(1 + e^(βx)), smooth ReLU; x itself where βx > threshold (as ``torch.nn.functional.softplus``)."""
    beta = validation.real("softplus", "beta", beta, 0, open_minimum=True)
    threshold = validation.real("softplus", "threshold", threshold)
    return SoftRectifiedLinear(beta, threshold)(as_float(x))


def logsigmoid(x):
    """log σ(x) = -softplus(-x), without overflow."""
    return LogLogistic()(as_float(x))


def silu(x):
    """SiLU (swish): x · σ(x)."""
    return SigmoidWeightedLinear()(as_float(x))


def gelu(x, approximate="none"):
    """GELU, x · Φ(x) with Φ the standard normal CDF (through ``erf``); ``approximate="tanh"`` for the tanh formula."""
    approximate = validation.choice("gelu", "approximate", approximate, ("none", "tanh"))
    return GaussianErrorLinear(approximate)(as_float(x))


def elu(x, alpha=1.0):
    """ELU: x if x > 0 else α(eˣ - 1)."""
    return ExponentialLinear(validation.real("elu", "alpha", alpha))(as_float(x))


def selu(x):
    """SELU: scale · elu(x, α) with PyTorch's constants α ≈ 1.6733 and scale ≈ 1.0507."""
    return ExponentialLinear(SELU_ALPHA, SELU_SCALE)(as_float(x))

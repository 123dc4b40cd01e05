"""Activations as layers, for Sequential. PReLU is the one with a parameter.

Each forward is one function of ``node.functions``; the constructor checks its
arguments as the function would, so a bad value fails where the layer is made.
"""
from ..functions import elu, gelu, leaky_relu, log_softmax, logsigmoid, prelu, relu, selu, sigmoid, silu, softmax, softplus, tanh
from ..validation import choice, float_dtype, integer, real
from .init import constant
from .layer import Layer, Parameter


class ReLU(Layer):
    """max(x, 0) as a layer."""

    def forward(self, x):
        return relu(x)


class LeakyReLU(Layer):
    """x if x > 0 else slope·x, as a layer."""

    def __init__(self, slope=0.01):
        self.slope = real("LeakyReLU", "slope", slope)

    def forward(self, x):
        return leaky_relu(x, self.slope)


class PReLU(Layer):
    """x if x > 0 else a·x with a learned slope: one shared (num_parameters=1) or one per channel.

    Slopes start at ``init`` (0.25, as in He et al. (2015) and PyTorch).
    """

    def __init__(self, num_parameters=1, init=0.25, dtype=None):
        num_parameters = integer("PReLU", "num_parameters", num_parameters, minimum=1)
        init, dtype = real("PReLU", "init", init), float_dtype("PReLU", "dtype", dtype)
        self.slope = Parameter(constant((num_parameters,), init, dtype), name="slope")

    def forward(self, x):
        return prelu(x, self.slope)

    def extra_repr(self):
        return f"num_parameters={self.slope.shape[0]}"


class Sigmoid(Layer):
    """1 / (1 + e⁻ˣ) as a layer."""

    def forward(self, x):
        return sigmoid(x)


class Tanh(Layer):
    """tanh(x) as a layer."""

    def forward(self, x):
        return tanh(x)


class Softmax(Layer):
    """Softmax along ``axis`` as a layer."""

    def __init__(self, axis=-1):
        self.axis = integer(type(self).__name__, "axis", axis)

    def forward(self, x):
        return softmax(x, self.axis)


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``axis`` as a layer (for NLL loss, as LeNets++ with Center Loss uses)."""

    def forward(self, x):
        return log_softmax(x, self.axis)


class GELU(Layer):
    """x · Φ(x) (Φ the standard normal CDF) as a layer; ``approximate="tanh"`` for the tanh formula."""

    def __init__(self, approximate="none"):
        self.approximate = choice("GELU", "approximate", approximate, ("none", "tanh"))

    def forward(self, x):
        return gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Layer):
    """x · σ(x) (swish) as a layer."""

    def forward(self, x):
        return silu(x)


class ELU(Layer):
    """x if x > 0 else α(eˣ - 1), as a layer."""

    def __init__(self, alpha=1.0):
        self.alpha = real("ELU", "alpha", alpha)

    def forward(self, x):
        return elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SELU(Layer):
    """scale · elu(x, α) with the self-normalizing constants, as a layer."""

    def forward(self, x):
        return selu(x)


class Softplus(Layer):
    """1/β · log(1 + e^(βx)), linear where βx > threshold, as a layer."""

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta = real("Softplus", "beta", beta, 0, open_minimum=True)
        self.threshold = real("Softplus", "threshold", threshold)

    def forward(self, x):
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSigmoid(Layer):
    """log σ(x) as a layer."""

    def forward(self, x):
        return logsigmoid(x)

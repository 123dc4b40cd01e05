"""Fully connected layer."""
import math

from ..config import as_generator
from ..functions import linear
from .init import uniform
from .layer import Layer, Parameter


class Linear(Layer):
    """y = x @ W + b, with W of shape (in_features, out_features).

    Weights and bias start uniform in ±1/√in_features (PyTorch's default).

    Args:
        in_features, out_features: sizes of the input and output.
        bias: whether to add a learned bias.
        rng: numpy.random.Generator, int seed, or None.
        dtype: parameter dtype (default: the default float dtype, float32).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=None):
        rng = as_generator(rng)
        bound = 1 / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.W = Parameter(uniform(rng, (in_features, out_features), bound, dtype), name="W")
        self.b = Parameter(uniform(rng, (out_features,), bound, dtype), name="b") if bias else None

    def forward(self, x):
        return linear(x, self.W, self.b)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.b is not None}"

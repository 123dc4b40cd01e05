"""Fully connected layer."""
import math

from ..config import as_generator
from ..functions import linear
from ..validation import flag, float_dtype, integer
from .init import uniform
from .layer import Layer, Parameter


class Linear(Layer):
    """y = x @ W + b, with W of shape (in_features, out_features).

    Weights and bias start uniform in ±1/√in_features (PyTorch's default).

    Args:
        in_features, out_features: sizes of the input and output.
        bias: whether to add a learned bias.
        rng: numpy.random.Generator, int seed, or None.
        dtype: parameter dtype, a floating-point one (default: the default float dtype, float32).

    Raises:
        TypeError, ValueError: a size that is not an integer >= 1, a ``bias``
            that is not True or False, or a dtype that is not a float dtype.
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=None):
        in_features = integer("Linear", "in_features", in_features, minimum=1)
        out_features = integer("Linear", "out_features", out_features, minimum=1)
        bias, dtype = flag("Linear", "bias", bias), float_dtype("Linear", "dtype", dtype)
        rng = as_generator(rng)
        bound = 1 / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.W = Parameter(uniform(rng, (in_features, out_features), bound, dtype), name="W")
        self.b = Parameter(uniform(rng, (out_features,), bound, dtype), name="b") if bias else None

    def forward(self, x):
        return linear(x, self.W, self.b)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.b is not None}"

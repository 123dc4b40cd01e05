"""Dropout: zero each value with probability p, scale the rest by 1/(1-p)."""
import numpy as np

from .. import validation
from ..backend import get_array_module, to_backend
from ..config import as_generator
from ..core import Function, as_node, replayable


class InvertedDropout(Function):
    """x times a constant mask of 0 and 1/(1-p): the kept values are scaled in training, so evaluation uses x as it is.

    Linear in x: gx = gy · mask.
    """

    differentiable_backward = True

    def __init__(self, mask):
        self.mask = mask  # already scaled: 0 or 1/(1-p)

    def forward(self, x):
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


def dropout(x, p, rng):
    """Training-mode dropout with the mask drawn from ``rng`` (a numpy.random.Generator)."""
    x = as_node(x)
    p = validation.real("dropout", "p", p, 0, 1, open_maximum=True)
    rng = as_generator(rng)
    return InvertedDropout(dropout_mask(rng, x.shape, p, np.dtype(x.dtype), get_array_module(x.value).__name__))(x)


@replayable
def dropout_mask(rng, shape, p, dtype, backend_name):
    """Kept elements scaled by 1/(1-p), zeros elsewhere: drawn on the host from ``rng``, then moved to the backend."""
    keep = rng.random(shape) >= p
    return to_backend((keep / (1 - p)).astype(dtype), backend_name)

"""Dropout layer."""
from ..config import as_generator
from ..functions import dropout
from .layer import Layer


class Dropout(Layer):
    """Zero each value with probability p in training (scaling the rest by 1/(1-p)); identity in eval."""

    def __init__(self, p=0.5, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, as_generator(rng)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return dropout(x, self.p, self.rng)

    def extra_repr(self):
        return f"p={self.p}"

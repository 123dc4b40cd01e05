"""Dropout layer."""
from ..config import as_generator
from ..functions import dropout
from ..validation import real
from .layer import Layer


class Dropout(Layer):
    """Zero each value with probability p in training (scaling the rest by 1/(1-p)); identity in eval."""

    def __init__(self, p=0.5, rng=None):
        self.p = real("Dropout", "p", p, minimum=0, maximum=1, open_maximum=True)  # p = 1 would scale by 1/0
        self.rng = as_generator(rng)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return dropout(x, self.p, self.rng)

    def extra_repr(self):
        return f"p={self.p}"

"""Batch normalization layers with running statistics for evaluation."""
from ..core import as_node
from ..functions import batch_norm
from ..validation import float_dtype, integer, real
from .init import constant
from .layer import Layer, Parameter


class _BatchNorm(Layer):
    """Shared by BatchNorm1d and BatchNorm2d.

    Args:
        num_features: C, the channels (an integer >= 1).
        eps: added to the variance, > 0.
        momentum: weight of a new batch in the running averages, in [0, 1].
        dtype: a floating-point dtype for gamma, beta and the running statistics.
    """

    expected_ndim = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=None):
        cls = type(self).__name__
        num_features = integer(cls, "num_features", num_features, minimum=1)
        eps = real(cls, "eps", eps, minimum=0, open_minimum=True)  # eps <= 0 divides by zero (or takes the root of a negative) on a constant channel
        momentum = real(cls, "momentum", momentum, minimum=0, maximum=1)  # the running averages' weight of a new batch
        dtype = float_dtype(cls, "dtype", dtype)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.gamma = Parameter(constant((num_features,), 1.0, dtype), name="gamma")
        self.beta = Parameter(constant((num_features,), 0.0, dtype), name="beta")
        self.running_mean = constant((num_features,), 0.0, dtype)
        self.running_var = constant((num_features,), 1.0, dtype)

    def forward(self, x):
        x = as_node(x)
        if x.ndim not in self.expected_ndim or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects inputs of "
                f"{' or '.join(map(str, self.expected_ndim))} dimensions with {self.num_features} channels on axis 1, got {x.shape}"
            )
        if self.training and x.size == 0:  # the statistics of no values are NaN: refuse before they reach the running averages
            raise ValueError(f"{type(self).__name__}: training on an empty batch (input {x.shape}); the running statistics are left unchanged")
        if self.training and x.size == x.shape[1]:
            raise ValueError(f"{type(self).__name__}: training needs more than one value per channel, got input {x.shape}")
        # In training, batch_norm also updates the running averages in place (the variance unbiased, as PyTorch does).
        return batch_norm(x, self.gamma, self.beta, self.eps, self.running_mean, self.running_var, self.momentum, self.training)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Normalizes (N, C) or (N, C, L) inputs per feature C over the batch."""

    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Normalizes (N, C, H, W) inputs per channel over batch, height and width."""

    expected_ndim = (4,)

"""Normalization layers: batch normalization (with running statistics for evaluation), layer and group normalization."""
from ..core import as_node
from ..functions import batch_norm, group_norm, layer_norm
from ..validation import flag, float_dtype, integer, real
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


class LayerNorm(Layer):
    """Layer normalization: each example standardized over its last axes (``normalized_shape``), then scaled and shifted.

    Args:
        normalized_shape: an integer or a tuple of integers >= 1, the trailing shape of the inputs normalized together.
        eps: added to the variance, > 0.
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros) of ``normalized_shape``.
        bias: with elementwise_affine, whether to learn the bias too.
        dtype: a floating-point dtype for the parameters.

    No running statistics: training and evaluation compute the same thing.
    Parameters are named ``weight`` and ``bias``, as in PyTorch.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) else tuple(normalized_shape)
        self.normalized_shape = tuple(integer("LayerNorm", f"normalized_shape[{i}]" if len(shape) > 1 else "normalized_shape", n, minimum=1) for i, n in enumerate(shape))
        self.eps = real("LayerNorm", "eps", eps, minimum=0, open_minimum=True)
        affine, bias = flag("LayerNorm", "elementwise_affine", elementwise_affine), flag("LayerNorm", "bias", bias)
        dtype = float_dtype("LayerNorm", "dtype", dtype)
        self.weight = Parameter(constant(self.normalized_shape, 1.0, dtype), name="weight") if affine else None
        self.bias = Parameter(constant(self.normalized_shape, 0.0, dtype), name="bias") if affine and bias else None

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


class GroupNorm(Layer):
    """Group normalization: x (N, C, ...) standardized per example over groups of C/num_groups channels, then per channel scaled and shifted.

    Args:
        num_groups: an integer >= 1 dividing num_channels.
        num_channels: C.
        eps: added to the variance, > 0.
        affine: learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,).
        dtype: a floating-point dtype for the parameters.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None):
        num_groups = integer("GroupNorm", "num_groups", num_groups, minimum=1)
        num_channels = integer("GroupNorm", "num_channels", num_channels, minimum=1)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be a multiple of num_groups ({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps = real("GroupNorm", "eps", eps, minimum=0, open_minimum=True)
        affine, dtype = flag("GroupNorm", "affine", affine), float_dtype("GroupNorm", "dtype", dtype)
        self.weight = Parameter(constant((num_channels,), 1.0, dtype), name="weight") if affine else None
        self.bias = Parameter(constant((num_channels,), 0.0, dtype), name="bias") if affine else None

    def forward(self, x):
        x = as_node(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}) expects inputs (N, {self.num_channels}, ...), got {x.shape}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.weight is not None}"

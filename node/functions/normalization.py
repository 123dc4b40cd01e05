"""Batch normalization over the batch axis (and spatial axes), per channel (axis 1)."""
from ..backend import get_array_module, sum_per_channel
from ..core import Function, as_node


class BatchNorm(Function):
    """y = γ · x̂ + β with x̂ = (x - μ) / √(σ² + ε), per channel.

    In training μ and σ² are the batch's statistics and depend on x, so the
    backward has the two extra terms (m values per channel):

        gx = γ/(m·√(σ² + ε)) · (m·gy - Σgy - x̂·Σ(gy·x̂))

    In evaluation μ and σ² are the given running statistics (constants), and
    gx = γ · gy / √(σ² + ε).
    """

    def __init__(self, eps=1e-5, mean=None, var=None):
        self.eps, self.fixed_mean, self.fixed_var = eps, mean, var

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        self.shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.fixed_mean is None:
            m = x.size // x.shape[1]
            self.mean = sum_per_channel(x) / m
            centered = x - self.mean.reshape(self.shape)
            self.var = sum_per_channel(centered * centered) / m
        else:
            self.mean, self.var = self.fixed_mean, self.fixed_var
            centered = x - self.mean.reshape(self.shape)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        self.xhat = centered * self.inv_std.reshape(self.shape)
        return self.xhat * gamma.reshape(self.shape) + beta.reshape(self.shape)

    def backward(self, gy):
        x, gamma, _ = self.inputs
        gbeta = sum_per_channel(gy)
        ggamma = sum_per_channel(gy * self.xhat)
        scale = (gamma.value * self.inv_std).reshape(self.shape)
        if self.fixed_mean is not None:
            gx = gy * scale
        else:
            m = x.size // x.shape[1]
            gx = (scale / m) * (m * gy - gbeta.reshape(self.shape) - self.xhat * ggamma.reshape(self.shape))
        return gx, ggamma, gbeta

    def backward_graph(self, gy):
        return self.backward_through(self.composite, gy)

    def composite(self, x, gamma, beta):
        """The same normalization with node operations, for ``backward_graph``."""
        if self.fixed_mean is None:
            axes = (0,) + tuple(range(2, x.ndim))
            centered = x - x.mean(axis=axes, keepdims=True)
            xhat = centered / ((centered * centered).mean(axis=axes, keepdims=True) + self.eps).sqrt()
        else:  # running statistics are constants
            xhat = (x - self.fixed_mean.reshape(self.shape)) * self.inv_std.reshape(self.shape)
        return xhat * gamma.reshape(self.shape) + beta.reshape(self.shape)


def batch_norm(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None):
    """Batch normalization of x (N, C, ...) per channel; with running statistics given, uses them instead."""
    x = as_node(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got {x.shape}")
    gamma, beta = as_node(gamma, like=x), as_node(beta, like=x)
    if gamma.shape != (x.shape[1],) or beta.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: gamma {gamma.shape} and beta {beta.shape} must have shape ({x.shape[1]},) for input {x.shape}")
    if running_mean is None and x.size == x.shape[1]:
        raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
    return BatchNorm(eps, running_mean, running_var)(x, gamma, beta)

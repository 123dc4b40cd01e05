"""Batch normalization over the batch axis (and spatial axes), per channel (axis 1)."""
import numpy as np

from ..backend import get_array_module
from ..kernels.memory import channel_matrix, empty_like_layout, same_layout, sum_per_channel, temporary
from ..core import Function, as_node


def _fast_rows(x, *params):
    """x's channel matrix (see ``node.backend.channel_matrix``) when the NumPy fast path applies, else (None, 0).

    The fast path needs NumPy arrays of one real float dtype (the parameters and
    statistics too, so that nothing is promoted) and x lying in memory as some
    order of its axes; it then runs every per-channel step as one pass over
    long contiguous rows, into arrays of the layer's workspace.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        return None, 0
    if any(p is not None and (not isinstance(p, np.ndarray) or p.dtype != x.dtype) for p in params):
        return None, 0
    return channel_matrix(x)


def _channel_sums(rows, inner):
    """Σ per channel of a channel matrix (outer, C·inner): a (C,) array. No BLAS call, so no BLAS threads."""
    return np.einsum("ij->j", rows).reshape(-1, inner).sum(axis=1)


def _channel_dot(a, b, inner):
    """Σ per channel of a·b for two channel matrices of one layout, without the product array."""
    return np.einsum("ij,ij->j", a, b).reshape(-1, inner).sum(axis=1)


def _copy_into(out, a):
    out[...] = a
    return out


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

    workspace = None  # a node.kernels.Workspace for the large arrays, set by the BatchNorm layers

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        self.shape = (1, -1) + (1,) * (x.ndim - 2)
        rows, inner = _fast_rows(x, gamma, beta, self.fixed_mean, self.fixed_var)
        if rows is None:
            return self._forward_broadcast(xp, x, gamma, beta)
        # NumPy: per-channel rows over x's own memory order, results written in place (see _fast_rows).
        m = x.size // x.shape[1]
        y = empty_like_layout(x, workspace=self.workspace, name="y")
        out, _ = channel_matrix(y)
        if self.fixed_mean is None:
            self.mean = _channel_sums(rows, inner) / m
            np.subtract(rows, np.repeat(self.mean, inner), out=out)
            self.var = _channel_dot(out, out, inner) / m
        else:
            self.mean, self.var = self.fixed_mean, self.fixed_var
            np.subtract(rows, np.repeat(self.mean, inner), out=out)
        self.inv_std = 1 / np.sqrt(self.var + self.eps)
        np.multiply(out, np.repeat(gamma * self.inv_std, inner), out=out)
        np.add(out, np.repeat(beta, inner), out=out)
        return y

    def _forward_broadcast(self, xp, x, gamma, beta):
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
        if getattr(self, "xhat", None) is not None or gy.dtype != x.dtype:
            return self._backward_broadcast(gy)
        ws = self.workspace
        xv = x.value
        rows, inner = channel_matrix(xv)
        if not same_layout(gy, xv):  # line gy up with x's memory order (one copy)
            gy = _copy_into(empty_like_layout(xv, workspace=ws, name="elementwise a", allocate=temporary), gy)
        grows, _ = channel_matrix(gy)
        gbeta = _channel_sums(grows, inner)
        centered = empty_like_layout(xv, workspace=ws, name="elementwise b", allocate=temporary)
        c, _ = channel_matrix(centered)
        np.subtract(rows, np.repeat(self.mean, inner), out=c)
        ggamma = _channel_dot(c, grows, inner) * self.inv_std
        scale = gamma.value * self.inv_std
        gx = empty_like_layout(xv, workspace=ws, name="batch_norm gx", allocate=temporary)
        out, _ = channel_matrix(gx)
        np.multiply(grows, np.repeat(scale, inner), out=out)
        if self.fixed_mean is None:
            # gx = scale·gy - scale·Σgy/m - scale·inv_std·Σ(gy·x̂)/m · (x - μ), per channel
            m = x.size // x.shape[1]
            np.multiply(c, np.repeat(-scale * self.inv_std * ggamma / m, inner), out=c)
            np.add(c, np.repeat(-scale * gbeta / m, inner), out=c)
            np.add(out, c, out=out)
        return gx, ggamma, gbeta

    def _backward_broadcast(self, gy):
        x, gamma, _ = self.inputs
        xhat = getattr(self, "xhat", None)
        if xhat is None:
            xhat = (x.value - self.mean.reshape(self.shape)) * self.inv_std.reshape(self.shape)
        gbeta = sum_per_channel(gy)
        ggamma = sum_per_channel(gy * xhat)
        scale = (gamma.value * self.inv_std).reshape(self.shape)
        if self.fixed_mean is not None:
            gx = gy * scale
        else:
            m = x.size // x.shape[1]
            gx = (scale / m) * (m * gy - gbeta.reshape(self.shape) - xhat * ggamma.reshape(self.shape))
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


def batch_norm(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None, workspace=None):
    """Batch normalization of x (N, C, ...) per channel; with running statistics given, uses them instead.

    ``workspace``: a ``node.kernels.Workspace`` to take the large arrays from (layers pass their own).
    """
    x = as_node(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got {x.shape}")
    gamma, beta = as_node(gamma, like=x), as_node(beta, like=x)
    if gamma.shape != (x.shape[1],) or beta.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: gamma {gamma.shape} and beta {beta.shape} must have shape ({x.shape[1]},) for input {x.shape}")
    if running_mean is None and x.size == x.shape[1]:
        raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
    f = BatchNorm(eps, running_mean, running_var)
    f.workspace = workspace
    return f(x, gamma, beta)

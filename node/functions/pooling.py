"""Max and average pooling over k×k windows of (N, C, H, W) inputs.

Both read the windows as a strided view (``sliding_windows``) and send the
gradient back with ``col2im``, the same adjoint the convolution uses.
"""
from ..backend import get_array_module, sliding_windows
from ..core import Function, as_node
from .connection import col2im


class MaxPool2d(Function):
    """Largest value of each window; the gradient goes to the position that held it."""

    def __init__(self, kernel_size, stride, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        xp = get_array_module(x)
        if self.padding:
            p = self.padding
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-xp.inf)
        windows = sliding_windows(x, self.k, self.k, self.stride)
        cols = windows.reshape(windows.shape[:4] + (self.k * self.k,))
        self.argmax = cols.argmax(axis=-1)
        return xp.take_along_axis(cols, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, gy):
        xp = get_array_module(gy)
        k = self.k
        hit = xp.arange(k * k) == self.argmax[..., None]  # one-hot of the winning position
        windows = xp.where(hit, gy[..., None], 0).reshape(gy.shape + (k, k))
        return col2im(windows, self.inputs[0].shape, self.stride, self.padding)


class AvgPool2d(Function):
    """Mean of each window (zero padding counts towards the mean, as in PyTorch)."""

    def __init__(self, kernel_size, stride, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        xp = get_array_module(x)
        if self.padding:
            p = self.padding
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        return sliding_windows(x, self.k, self.k, self.stride).mean(axis=(4, 5))

    def backward(self, gy):
        xp = get_array_module(gy)
        k = self.k
        windows = xp.broadcast_to((gy / (k * k))[..., None, None], gy.shape + (k, k))
        return col2im(windows, self.inputs[0].shape, self.stride, self.padding)


def _check_pool(name, x, kernel_size, stride, padding):
    x = as_node(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected input of shape (N, C, H, W), got {x.shape}")
    if padding > kernel_size // 2:
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel size {kernel_size}")
    if min(x.shape[2:]) + 2 * padding < kernel_size:
        raise ValueError(f"{name}: kernel {kernel_size} is larger than the padded input {x.shape[2:]}")
    return x, (kernel_size if stride is None else stride)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over kernel_size×kernel_size windows (stride defaults to kernel_size)."""
    x, stride = _check_pool("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d(kernel_size, stride, padding)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over kernel_size×kernel_size windows (stride defaults to kernel_size)."""
    x, stride = _check_pool("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d(kernel_size, stride, padding)(x)


def global_avg_pool2d(x):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""
    x = as_node(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: expected input of shape (N, C, H, W), got {x.shape}")
    return x.mean(axis=(2, 3))

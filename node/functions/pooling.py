"""Max and average pooling over k×k windows of (N, C, H, W) inputs.

Like the convolution, both work on the channels-last view of the input: the
windows are a strided view (``sliding_windows``), reduced without copying, and
the gradient goes back through ``col2im``, the convolution's adjoint.
"""
from ..backend import get_array_module, sliding_windows
from ..core import Function, as_node
from .connection import col2im, pad_hw


class MaxPool2d(Function):
    """Largest value of each window; the gradient goes to the position that held it
    (shared equally if several positions tie, as ``max`` does)."""

    def __init__(self, kernel_size, stride, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        self.windows = sliding_windows(pad_hw(x.transpose(0, 2, 3, 1), self.padding, -float("inf")), self.k, self.k, self.stride)
        self.y = self.windows.max(axis=(3, 4))  # (N, OH, OW, C)
        return self.y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        hit = self.windows == self.y[:, :, :, None, None, :]
        share = gy.transpose(0, 2, 3, 1) / hit.sum(axis=(3, 4), dtype=gy.dtype)
        windows = hit * share[:, :, :, None, None, :]
        n, c, h, w = self.inputs[0].shape
        return col2im(windows, (n, h, w, c), self.stride, self.padding).transpose(0, 3, 1, 2)


class AvgPool2d(Function):
    """Mean of each window (zero padding counts towards the mean, as in PyTorch)."""

    def __init__(self, kernel_size, stride, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        windows = sliding_windows(pad_hw(x.transpose(0, 2, 3, 1), self.padding), self.k, self.k, self.stride)
        return windows.mean(axis=(3, 4)).transpose(0, 3, 1, 2)

    def backward(self, gy):
        xp = get_array_module(gy)
        k = self.k
        share = gy.transpose(0, 2, 3, 1) / (k * k)
        windows = xp.broadcast_to(share[:, :, :, None, None, :], share.shape[:3] + (k, k) + share.shape[3:])
        n, c, h, w = self.inputs[0].shape
        return col2im(windows, (n, h, w, c), self.stride, self.padding).transpose(0, 3, 1, 2)


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

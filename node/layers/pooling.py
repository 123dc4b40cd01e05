"""Pooling and reshaping layers: MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten."""
from ..functions import avg_pool2d, flatten, global_avg_pool2d, max_pool2d
from ..validation import integer
from .layer import Layer


class MaxPool2d(Layer):
    """Max over kernel_size×kernel_size windows; stride defaults to kernel_size.

    kernel_size and stride are integers >= 1, padding an integer in
    [0, kernel_size // 2] (a window must hold at least one value of the input).
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        cls = type(self).__name__
        kernel_size = integer(cls, "kernel_size", kernel_size, minimum=1)
        stride = None if stride is None else integer(cls, "stride", stride, minimum=1)
        padding = integer(cls, "padding", padding, minimum=0, maximum=kernel_size // 2)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"{self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """Mean over kernel_size×kernel_size windows; stride defaults to kernel_size."""

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Layer):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""

    def forward(self, x):
        return global_avg_pool2d(x)


class Flatten(Layer):
    """(N, ...) -> (N, -1)."""

    def forward(self, x):
        return flatten(x)

"""2-D convolution layer."""
import math

from ..functions import conv2d
from ..config import as_generator
from ..validation import flag, float_dtype, integer
from .init import uniform
from .layer import Layer, Parameter


class Conv2d(Layer):
    """Convolution of (N, C, H, W) inputs with W of shape (out_channels, in_channels, k, k).

    Output size: (H + 2·padding - k) // stride + 1. Weights start uniform in
    ±1/√(in_channels·k·k) (PyTorch's default).

    Kernels are square: ``kernel_size``, ``stride`` and ``padding`` are single
    integers (kernel_size and stride >= 1, padding >= 0), the same for height
    and width; a per-dimension tuple is refused with a TypeError.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, rng=None, dtype=None):
        in_channels = integer("Conv2d", "in_channels", in_channels, minimum=1)
        out_channels = integer("Conv2d", "out_channels", out_channels, minimum=1)
        kernel_size = integer("Conv2d", "kernel_size", kernel_size, minimum=1)
        stride = integer("Conv2d", "stride", stride, minimum=1)
        padding = integer("Conv2d", "padding", padding, minimum=0)
        bias, dtype = flag("Conv2d", "bias", bias), float_dtype("Conv2d", "dtype", dtype)
        rng = as_generator(rng)
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.W = Parameter(uniform(rng, (out_channels, in_channels, kernel_size, kernel_size), bound, dtype), name="W")
        self.b = Parameter(uniform(rng, (out_channels,), bound, dtype), name="b") if bias else None

    def forward(self, x):
        return conv2d(x, self.W, self.b, self.stride, self.padding)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.b is not None}"
        )

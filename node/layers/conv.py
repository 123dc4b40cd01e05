"""2-D convolution layers: Conv2d and its transpose, ConvTranspose2d."""
import math

from ..config import as_generator
from ..functions import conv2d, conv_transpose2d
from ..validation import flag, float_dtype, int_or_pair, integer
from .init import uniform
from .layer import Layer, Parameter


def _check_groups(cls, in_channels, out_channels, groups):
    groups = integer(cls, "groups", groups, minimum=1)
    for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels % groups:
            raise ValueError(f"{cls}: {name} ({channels}) must be a multiple of groups ({groups})")
    return groups


class Conv2d(Layer):
    """Convolution of (N, C, H, W) inputs with W of shape (out_channels, in_channels / groups, KH, KW).

    Args:
        in_channels, out_channels: C and OC, integers >= 1, multiples of ``groups``.
        kernel_size: an integer (a square kernel) or a pair (KH, KW), >= 1.
        stride (>= 1), padding (>= 0), dilation (>= 1): an integer for both
            axes or a pair (height, width).
        groups: the channels are split into this many groups, each output
            channel seeing the input channels of its group only
            (groups = in_channels: a depthwise convolution).
        bias: whether to add a learned bias.
        rng, dtype: as for Linear.

    Output size: (H + 2·padding - dilation·(KH - 1) - 1) // stride + 1, and
    likewise for the width. Weights start uniform in ±1/√(in_channels/groups·KH·KW)
    (PyTorch's default).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, rng=None, dtype=None):
        in_channels = integer("Conv2d", "in_channels", in_channels, minimum=1)
        out_channels = integer("Conv2d", "out_channels", out_channels, minimum=1)
        kernel_size = int_or_pair("Conv2d", "kernel_size", kernel_size, minimum=1)
        stride = int_or_pair("Conv2d", "stride", stride, minimum=1)
        padding = int_or_pair("Conv2d", "padding", padding, minimum=0)
        dilation = int_or_pair("Conv2d", "dilation", dilation, minimum=1)
        groups = _check_groups("Conv2d", in_channels, out_channels, groups)
        bias, dtype = flag("Conv2d", "bias", bias), float_dtype("Conv2d", "dtype", dtype)
        rng = as_generator(rng)
        kh, kw = kernel_size
        bound = 1 / math.sqrt(in_channels // groups * kh * kw)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.W = Parameter(uniform(rng, (out_channels, in_channels // groups, kh, kw), bound, dtype), name="W")
        self.b = Parameter(uniform(rng, (out_channels,), bound, dtype), name="b") if bias else None

    def forward(self, x):
        return conv2d(x, self.W, self.b, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.b is not None}"
        )


class ConvTranspose2d(Layer):
    """The transposed convolution (see ``conv_transpose2d``): W of shape (in_channels, out_channels / groups, KH, KW).

    Output size: (H - 1)·stride - 2·padding + dilation·(KH - 1) + output_padding + 1,
    and likewise for the width: with kernel_size = stride = 2 it doubles H and W.
    The arguments are Conv2d's, plus ``output_padding`` (an integer or a pair,
    each >= 0 and smaller than the stride). Weights start uniform in
    ±1/√(out_channels/groups·KH·KW) (PyTorch's default).
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1, rng=None, dtype=None
    ):
        cls = "ConvTranspose2d"
        in_channels = integer(cls, "in_channels", in_channels, minimum=1)
        out_channels = integer(cls, "out_channels", out_channels, minimum=1)
        kernel_size = int_or_pair(cls, "kernel_size", kernel_size, minimum=1)
        stride = int_or_pair(cls, "stride", stride, minimum=1)
        padding = int_or_pair(cls, "padding", padding, minimum=0)
        output_padding = int_or_pair(cls, "output_padding", output_padding, minimum=0)
        if any(op >= s for op, s in zip(output_padding, stride)):
            raise ValueError(f"{cls}: output_padding {output_padding} must be smaller than the stride {stride} along each axis")
        dilation = int_or_pair(cls, "dilation", dilation, minimum=1)
        groups = _check_groups(cls, in_channels, out_channels, groups)
        bias, dtype = flag(cls, "bias", bias), float_dtype(cls, "dtype", dtype)
        rng = as_generator(rng)
        kh, kw = kernel_size
        bound = 1 / math.sqrt(out_channels // groups * kh * kw)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation, self.groups = dilation, groups
        self.W = Parameter(uniform(rng, (in_channels, out_channels // groups, kh, kw), bound, dtype), name="W")
        self.b = Parameter(uniform(rng, (out_channels,), bound, dtype), name="b") if bias else None

    def forward(self, x):
        return conv_transpose2d(x, self.W, self.b, self.stride, self.padding, self.output_padding, self.groups, self.dilation)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
            f"groups={self.groups}, bias={self.b is not None}"
        )

"""Pooling and reshaping layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, Flatten, Identity."""
from ..core import as_node
from ..functions import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d, reshape
from ..validation import flag, int_or_pair, integer
from .layer import Layer


class MaxPool2d(Layer):
    """Max over kernel_size windows; stride defaults to kernel_size.

    kernel_size and stride are integers or pairs (height, width) >= 1;
    padding an integer or a pair, each in [0, kernel_size // 2] along its axis
    (a window must hold at least one value of the input). ``ceil_mode``: one
    more window along an axis when the last would otherwise leave values out
    (see ``node.functions.pooling``).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        cls = type(self).__name__
        kernel_size = int_or_pair(cls, "kernel_size", kernel_size, minimum=1)
        stride = kernel_size if stride is None else int_or_pair(cls, "stride", stride, minimum=1)
        if isinstance(padding, (tuple, list)):
            padding = tuple(integer(cls, f"padding[{i}]", p, 0, k // 2) for i, (p, k) in enumerate(zip(int_or_pair(cls, "padding", padding, 0), kernel_size)))
        else:  # one number for both axes: at most half the smaller side of the kernel
            padding = (integer(cls, "padding", padding, minimum=0, maximum=min(kernel_size) // 2),) * 2
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode = flag(cls, "ceil_mode", ceil_mode)

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return f"{_shown(self.kernel_size)}, stride={_shown(self.stride)}, padding={_shown(self.padding)}, ceil_mode={self.ceil_mode}"


class AvgPool2d(MaxPool2d):
    """Mean over kernel_size windows; stride defaults to kernel_size. The arguments are MaxPool2d's.

    Zero padding counts towards the mean (PyTorch's count_include_pad=True);
    a ceil_mode window's overhang past the padded input does not.
    """

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class AdaptiveAvgPool2d(Layer):
    """Average pooling to a fixed output size whatever the input's (see ``adaptive_avg_pool2d``).

    ``output_size``: an integer (a square) or a pair (OH, OW); an entry None
    keeps that axis's size. ``AdaptiveAvgPool2d(1)`` is the global average,
    keeping the axes: (N, C, H, W) -> (N, C, 1, 1).
    """

    def __init__(self, output_size):
        if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
            output_size = tuple(None if o is None else integer("AdaptiveAvgPool2d", f"output_size[{i}]", o, minimum=1) for i, o in enumerate(output_size))
        else:
            output_size = int_or_pair("AdaptiveAvgPool2d", "output_size", output_size, minimum=1)
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={_shown(self.output_size)}"


class GlobalAvgPool2d(Layer):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""

    def forward(self, x):
        return global_avg_pool2d(x)


class Flatten(Layer):
    """Axes ``start_dim`` to ``end_dim`` (both included) merged into one: by default (N, ...) -> (N, -1), as torch.nn.Flatten."""

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim = integer("Flatten", "start_dim", start_dim)
        self.end_dim = integer("Flatten", "end_dim", end_dim)

    def forward(self, x):
        x = as_node(x)
        start, end = self.start_dim % max(x.ndim, 1), self.end_dim % max(x.ndim, 1)
        if not (-x.ndim <= self.start_dim < x.ndim and -x.ndim <= self.end_dim < x.ndim) or start > end:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an input of shape {x.shape}")
        size = 1
        for n in x.shape[start : end + 1]:
            size *= n
        return reshape(x, x.shape[:start] + (size,) + x.shape[end + 1 :])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Layer):
    """Returns its input unchanged (a placeholder in a Sequential, as torch.nn.Identity); takes and ignores any arguments."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        return x


def _shown(pair):
    """(3, 3) as 3, as it was most likely written; (3, 2) as it is."""
    return pair[0] if pair[0] == pair[1] else pair

"""Max and average pooling over k×k windows of (N, C, H, W) inputs.

Both loop over the k·k offsets inside a window (4 for the usual 2×2), each
time taking the strided slice of the (padded) input that holds that offset
of every window: elementwise work on whole arrays, never a loop over pixels,
and no array of windows is ever materialized.

The backward of either pooling is linear in gy: each window's gradient goes
back to the positions of its window, offset by offset, with a weight per
offset (1/k² for the mean; for the max, 1/t at the position that held the
maximum, shared between t ties, and 0 elsewhere). That map is a Function,
``Pooling2DGrad`` (``MaxPooling2DGrad`` for the max, built from the pooling's
input and output so that a fast kernel can find the maxima its own way). Its
backward is its adjoint, ``Pooling2DGather``, which gathers a gradient of x's
shape window by window, and whose backward is ``Pooling2DGrad`` again: so
derivatives of any order exist. The maxima's positions are constants (the max
is piecewise linear in x), so max pooling's second derivative is zero
wherever it exists.
"""
import functools

from .. import validation
from ..backend import get_array_module
from ..core import Function, as_node


def pad(x, padding, value):
    """x (N, C, H, W) with ``padding`` values ``value`` added on both sides of H and W, or x itself."""
    if not padding:
        return x
    n, c, h, w = x.shape
    out = get_array_module(x).full((n, c, h + 2 * padding, w + 2 * padding), value, dtype=x.dtype)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


class Pooling2D(Function):
    """What every pooling Function shares: the window's size, stride and padding, and its offsets."""

    differentiable_backward = True

    def __init__(self, kernel_size, stride, padding=0):
        self.k, self.stride, self.padding = kernel_size, stride, padding

    def offsets(self, padded_shape):
        """(slice of rows, slice of columns) picking offset (i, j) of every window, for each (i, j)."""
        h, w = padded_shape[2:]
        k, s = self.k, self.stride
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
        return [
            (slice(i, i + s * (oh - 1) + 1, s), slice(j, j + s * (ow - 1) + 1, s))
            for i in range(k) for j in range(k)
        ]

    def windows(self, x, fill):
        """Offset (i, j) of every window of x padded with ``fill``, as k·k views (N, C, OH, OW)."""
        padded = pad(x, self.padding, fill)
        return [padded[:, :, rows, cols] for rows, cols in self.offsets(padded.shape)]


class MaxPooling2D(Pooling2D):
    """The largest value of each window (padding never wins: it is -∞)."""

    real_only = True

    def forward(self, x):
        # Starting from -∞ makes the result a new array even for a single window (k = 1).
        self.y = functools.reduce(get_array_module(x).maximum, self.windows(x, -float("inf")), -float("inf"))
        return self.y

    def backward(self, gy):
        return MaxPooling2DGrad(self, self.inputs[0].value, self.y)(gy)


class AveragePooling2D(Pooling2D):
    """The mean of each window (zero padding counts towards the mean, as in PyTorch)."""

    def forward(self, x):
        return sum(self.windows(x, 0)) / (self.k * self.k)

    def backward(self, gy):
        weights = [1 / (self.k * self.k)] * (self.k * self.k)
        return Pooling2DGrad(self, self.inputs[0].shape, weights)(gy)


class Pooling2DGrad(Pooling2D):
    """g (N, C, OH, OW) ↦ Σ over window offsets of weight · g, added back at that offset: x's shape."""

    def __init__(self, pooling, x_shape, weights):
        super().__init__(pooling.k, pooling.stride, pooling.padding)
        self.x_shape, self.weights = tuple(x_shape), weights

    def forward(self, g):
        n, c, h, w = self.x_shape
        p = self.padding
        out = get_array_module(g).zeros((n, c, h + 2 * p, w + 2 * p), dtype=g.dtype)
        for (rows, cols), weight in zip(self.offsets(out.shape), self.offset_weights()):
            out[:, :, rows, cols] += weight * g
        return out[:, :, p : p + h, p : p + w]

    def offset_weights(self):
        """One weight per window offset: a number, or an array of gy's shape."""
        return self.weights

    def backward(self, gg):
        return Pooling2DGather(self, self.x_shape, self.offset_weights())(gg)


class Pooling2DGather(Pooling2DGrad):
    """The adjoint of ``Pooling2DGrad``: g of x's shape ↦ Σ over window offsets of weight · (g at that offset)."""

    def forward(self, g):
        return sum(weight * window for window, weight in zip(self.windows(g, 0), self.offset_weights()))

    def backward(self, gg):
        return Pooling2DGrad(self, self.x_shape, self.offset_weights())(gg)


class MaxPooling2DGrad(Pooling2DGrad):
    """Max pooling's ``Pooling2DGrad``: each window's gradient to the position that held its maximum.

    Built from the pooling's input x and output y (arrays, constants here);
    ties share the gradient equally, as ``max`` does.
    """

    def __init__(self, pooling, x, y):
        super().__init__(pooling, x.shape, None)
        self.x, self.y = x, y

    def offset_weights(self):
        if self.weights is None:
            hits = [window == self.y for window in self.windows(self.x, -float("inf"))]
            ties = sum(hits[1:], hits[0].astype(self.y.dtype))
            self.weights = [hit / ties for hit in hits]
        return self.weights


def _check_pool(name, x, kernel_size, stride, padding):
    x = as_node(x)
    kernel_size = validation.integer(name, "kernel_size", kernel_size, 1)
    stride = None if stride is None else validation.integer(name, "stride", stride, 1)
    padding = validation.integer(name, "padding", padding, 0)
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
    return MaxPooling2D(kernel_size, stride, padding)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over kernel_size×kernel_size windows (stride defaults to kernel_size)."""
    x, stride = _check_pool("avg_pool2d", x, kernel_size, stride, padding)
    return AveragePooling2D(kernel_size, stride, padding)(x)


def global_avg_pool2d(x):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""
    x = as_node(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: expected input of shape (N, C, H, W), got {x.shape}")
    return x.mean(axis=(2, 3))

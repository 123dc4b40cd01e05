"""Max and average pooling over KH×KW windows of (N, C, H, W) inputs, and adaptive average pooling.

Both loop over the KH·KW offsets inside a window (4 for the usual 2×2), each
time taking the strided slice of the (padded) input that holds that offset
of every window: elementwise work on whole arrays, never a loop over pixels,
and no array of windows is ever materialized.

The window's size, stride and padding are each one number or a pair (height,
width), as in PyTorch. Along an axis of size H the windows start at 0, s, 2s,
... in the input padded by p on both sides; there are (H + 2p - k) // s + 1 of
them, or with ``ceil_mode`` one more when the last one would otherwise leave
some values out: it overhangs the padded input, and its overhang counts for
nothing (-∞ for the max, and it is not part of the mean's divisor). A window
must start inside the input or its left padding (PyTorch's rule), so no window
is padding only.

The backward of either pooling is linear in gy: each window's gradient goes
back to the positions of its window, offset by offset, with a weight per
offset (1/(KH·KW) for the mean, or 1/(the values in the window) for one that
overhangs; for the max, 1/t at the position that held the maximum, shared
between t ties, and 0 elsewhere). That map is a Function,
``Pooling2DGrad`` (``MaxPooling2DGrad`` for the max, built from the pooling's
input and output so that a fast kernel can find the maxima its own way). Its
backward is its adjoint, ``Pooling2DGather``, which gathers a gradient of x's
shape window by window, and whose backward is ``Pooling2DGrad`` again: so
derivatives of any order exist. The maxima's positions are constants (the max
is piecewise linear in x), so max pooling's second derivative is zero
wherever it exists.

Adaptive average pooling (``adaptive_avg_pool2d``) picks the windows from the
output size instead: output row i averages input rows floor(i·H/OH) to
ceil((i+1)·H/OH) - 1 (PyTorch's formula). That is a linear map along each
axis, a matrix A (OH, H) of 1/length entries, so y = A_h · x · A_wᵀ: two
matrix products, whose derivatives are the products' own.
"""
import functools

from .. import validation
from ..backend import get_array_module
from ..core import Function, as_node


def as_pair(value):
    """3 -> (3, 3); a pair stays a pair."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def pool_output_size(size, k, stride, padding, ceil_mode):
    """How many windows fit along an axis of ``size`` (see the module docstring)."""
    span = size + 2 * padding - k
    count = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1  # the last window would start in the right padding: PyTorch drops it
    return count


def pad(x, padding, value, extra=(0, 0)):
    """x (N, C, H, W) with ``padding`` = (ph, pw) values ``value`` on both sides of H and W, plus ``extra`` at the bottom and right."""
    (ph, pw), (eh, ew) = padding, extra
    if not (ph or pw or eh or ew):
        return x
    n, c, h, w = x.shape
    out = get_array_module(x).full((n, c, h + 2 * ph + eh, w + 2 * pw + ew), value, dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


class Pooling2D(Function):
    """What every pooling Function shares: the window's size, stride and padding (pairs), ceil_mode, and its offsets."""

    differentiable_backward = True

    def __init__(self, kernel_size, stride, padding=0, ceil_mode=False):
        self.k, self.stride, self.padding = as_pair(kernel_size), as_pair(stride), as_pair(padding)
        self.ceil_mode = ceil_mode

    def output_shape(self, x_shape):
        """(OH, OW) for an input of shape (N, C, H, W)."""
        return tuple(pool_output_size(n, k, s, p, self.ceil_mode) for n, k, s, p in zip(x_shape[2:], self.k, self.stride, self.padding))

    def overhang(self, x_shape):
        """How far the last window reaches past the padded input, along H and W (0 unless ceil_mode)."""
        return tuple(
            max(0, (o - 1) * s + k - (n + 2 * p))
            for o, n, k, s, p in zip(self.output_shape(x_shape), x_shape[2:], self.k, self.stride, self.padding)
        )

    def pad(self, x, fill):
        """x padded with ``fill``: the padding on both sides, and the last window's overhang at the bottom and right."""
        return pad(x, self.padding, fill, self.overhang(x.shape))

    def offsets(self, padded_shape):
        """(slice of rows, slice of columns) picking offset (i, j) of every window, for each (i, j)."""
        h, w = padded_shape[2:]
        (kh, kw), (sh, sw) = self.k, self.stride
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        return [
            (slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))
            for i in range(kh) for j in range(kw)
        ]

    def windows(self, x, fill):
        """Offset (i, j) of every window of x padded with ``fill``, as KH·KW views (N, C, OH, OW)."""
        padded = self.pad(x, fill)
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
    """The mean of each window (zero padding counts towards the mean, as in PyTorch; a ceil_mode overhang does not)."""

    def forward(self, x):
        return sum(self.windows(x, 0)) * self.inverse_sizes(x)

    def inverse_sizes(self, x):
        """1 / the number of values in each window: 1/(KH·KW), or an (OH, OW) array of x's dtype when some windows overhang."""
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.stride, self.padding
        if self.overhang(x.shape) == (0, 0):
            return 1 / (kh * kw)
        xp = get_array_module(x)
        (oh, ow), (h, w) = self.output_shape(x.shape), x.shape[2:]
        rows = xp.minimum(xp.arange(oh) * sh + kh, h + 2 * ph) - xp.arange(oh) * sh  # each window's height, cut at the padded edge
        cols = xp.minimum(xp.arange(ow) * sw + kw, w + 2 * pw) - xp.arange(ow) * sw
        return (1 / (rows[:, None] * cols[None, :])).astype(xp.zeros(0, x.dtype).real.dtype)

    def backward(self, gy):
        (kh, kw), x_shape = self.k, self.inputs[0].shape
        weights = [self.inverse_sizes(self.inputs[0].value)] * (kh * kw)
        return Pooling2DGrad(self, x_shape, weights)(gy)


class Pooling2DGrad(Pooling2D):
    """g (N, C, OH, OW) ↦ Σ over window offsets of weight · g, added back at that offset: x's shape."""

    def __init__(self, pooling, x_shape, weights):
        super().__init__(pooling.k, pooling.stride, pooling.padding, pooling.ceil_mode)
        self.x_shape, self.weights = tuple(x_shape), weights

    def forward(self, g):
        n, c, h, w = self.x_shape
        (ph, pw), (eh, ew) = self.padding, self.overhang(self.x_shape)
        out = get_array_module(g).zeros((n, c, h + 2 * ph + eh, w + 2 * pw + ew), dtype=g.dtype)
        for (rows, cols), weight in zip(self.offsets(out.shape), self.offset_weights()):
            out[:, :, rows, cols] += weight * g
        return out[:, :, ph : ph + h, pw : pw + w]

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


def _check_pool(name, x, kernel_size, stride, padding, ceil_mode):
    x = as_node(x)
    kernel_size = validation.int_or_pair(name, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else validation.int_or_pair(name, "stride", stride, 1)
    padding = validation.int_or_pair(name, "padding", padding, 0)
    validation.flag(name, "ceil_mode", ceil_mode)
    if x.ndim != 4:
        raise validation.image_batch_error(name, x.shape)
    if any(p > k // 2 for p, k in zip(padding, kernel_size)):
        raise ValueError(f"{name}: padding {_shown(padding)} must be at most half the kernel size {_shown(kernel_size)}")
    if any(n + 2 * p < k for n, p, k in zip(x.shape[2:], padding, kernel_size)):
        raise ValueError(f"{name}: kernel {_shown(kernel_size)} is larger than the padded input {x.shape[2:]}")
    return x, stride


def _shown(pair):
    """(3, 3) as 3, as it was most likely written; (3, 2) as it is."""
    return pair[0] if pair[0] == pair[1] else pair


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over kernel_size windows (stride defaults to kernel_size); see the module docstring.

    kernel_size, stride and padding are integers or pairs (height, width);
    padding at most half the kernel size. ``ceil_mode``: one more window along
    an axis when the last would otherwise leave values out (PyTorch's rule).
    """
    x, stride = _check_pool("max_pool2d", x, kernel_size, stride, padding, ceil_mode)
    return MaxPooling2D(kernel_size, stride, padding, ceil_mode)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Mean over kernel_size windows (stride defaults to kernel_size), as max_pool2d takes them.

    The zero padding counts towards the mean (PyTorch's count_include_pad=True);
    with ``ceil_mode`` the part of the last window past the padded input does not.
    """
    x, stride = _check_pool("avg_pool2d", x, kernel_size, stride, padding, ceil_mode)
    return AveragePooling2D(kernel_size, stride, padding, ceil_mode)(x)


def global_avg_pool2d(x):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""
    x = as_node(x)
    if x.ndim != 4:
        raise validation.image_batch_error("global_avg_pool2d", x.shape)
    return x.mean(axis=(2, 3))


def adaptive_average_matrix(size, out, xp, dtype):
    """A (out, size) matrix whose row i averages positions floor(i·size/out) to ceil((i+1)·size/out) - 1."""
    matrix = xp.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1 / (end - start)
    return matrix


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a given output size (OH, OW), whatever the input's (PyTorch's adaptive_avg_pool2d).

    ``output_size`` is an integer (a square output) or a pair, whose entries
    may be None (keep that axis's size). Output (i, j) averages input rows
    floor(i·H/OH) .. ceil((i+1)·H/OH) - 1 and the columns likewise, so windows
    may overlap or differ in size by one; ``adaptive_avg_pool2d(x, 1)`` is the
    global average, (N, C, 1, 1). Computed as A_h · x · A_wᵀ with two constant
    averaging matrices (see the module docstring).
    """
    x = as_node(x)
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise TypeError(f"adaptive_avg_pool2d: output_size must be an integer >= 1 or a pair of them (or None), got {output_size!r}")
    if x.ndim != 4:
        raise validation.image_batch_error("adaptive_avg_pool2d", x.shape)
    oh, ow = (
        n if o is None else validation.integer("adaptive_avg_pool2d", f"output_size[{i}]", o, 1) for i, (o, n) in enumerate(zip(sizes, x.shape[2:]))
    )
    xp = get_array_module(x.value)
    dtype = x.dtype if x.dtype.kind in "fc" else float
    rows = as_node(adaptive_average_matrix(x.shape[2], oh, xp, dtype))
    cols = as_node(adaptive_average_matrix(x.shape[3], ow, xp, dtype))
    return rows @ x @ cols.T

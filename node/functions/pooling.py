"""Max and average pooling over k×k windows of (N, C, H, W) inputs.

Both loop over the k·k offsets inside a window (4 for the usual 2×2), each
time taking the strided slice of the input that holds that offset of every
window: elementwise work on whole arrays, never a loop over pixels, and no
array of windows is ever materialized.
"""
import numpy as np

from ..backend import get_array_module
from ..kernels.memory import empty_like_layout, temporary
from ..core import Function, as_node


def _pad(x, padding, value):
    """x (N, C, H, W) padded on H and W, or x itself."""
    if not padding:
        return x
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = xp.full((n, c, h + 2 * padding, w + 2 * padding), value, dtype=x.dtype)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


class _Pool2d(Function):
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

    def scatter(self, parts):
        """Adjoint of ``offsets``: add part (i, j) back at offset (i, j), crop the padding."""
        xp = get_array_module(parts[0])
        n, c, h, w = self.inputs[0].shape
        p = self.padding
        gx = xp.zeros((n, c, h + 2 * p, w + 2 * p), dtype=parts[0].dtype)
        for (rows, cols), part in zip(self.offsets(gx.shape), parts):
            gx[:, :, rows, cols] += part
        return gx[:, :, p : p + h, p : p + w] if p else gx


class MaxPool2d(_Pool2d):
    """Largest value of each window; the gradient goes to the position that held it
    (shared equally if several positions tie, as ``max`` does)."""

    workspace = None  # a node.kernels.Workspace for the large arrays, set by the MaxPool2d layer

    def forward(self, x):
        xp = get_array_module(x)
        self.padded = _pad(x, self.padding, -xp.inf)
        windows = [self.padded[:, :, rows, cols] for rows, cols in self.offsets(self.padded.shape)]
        # The output keeps the input's memory order (e.g. a convolution's channels-interleaved one).
        self.y = empty_like_layout(self.padded, windows[0].shape, self.workspace, "y")
        if len(windows) == 1:
            self.y[...] = windows[0]
        else:
            xp.maximum(windows[0], windows[1], out=self.y)
        for window in windows[2:]:
            xp.maximum(self.y, window, out=self.y)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        ws = self.workspace
        offsets = self.offsets(self.padded.shape)
        if xp is not np or self.padding or self.stride != self.k or gy.dtype.kind != "f":
            hits, count = self.winners(gy.dtype)
            share = gy / count
            return self.scatter([hit * share for hit in hits])
        # Windows side by side (stride = size, no padding): every input position is in at most one
        # window, so each offset's share is written straight into its slice of gx (no zeros, no +=).
        hits = []
        for i, (rows, cols) in enumerate(offsets):
            hit = empty_like_layout(self.y, None, ws, f"hit{i}", bool, temporary)
            hits.append(np.equal(self.padded[:, :, rows, cols], self.y, out=hit))
        # How many offsets tie for each window's maximum, counted in small integers (a quarter of the memory traffic).
        count_type = np.min_scalar_type(len(hits))
        count = empty_like_layout(self.y, None, ws, "count", count_type, temporary)
        count[...] = hits[0]
        for hit in hits[1:]:
            np.add(count, hit, out=count, dtype=count_type)
        share = empty_like_layout(self.y, gy.shape, ws, "share", allocate=temporary)
        np.divide(gy, count, out=share)
        gx = empty_like_layout(self.padded, None, ws, "max_pool gx", allocate=temporary)
        n, c, h, w = gx.shape
        oh, ow = gy.shape[2:]
        if h > oh * self.k:  # rows and columns no window reaches get no gradient
            gx[:, :, oh * self.k :] = 0
        if w > ow * self.k:
            gx[:, :, :, ow * self.k :] = 0
        for (rows, cols), hit in zip(offsets, hits):
            np.multiply(hit, share, out=gx[:, :, rows, cols])
        return gx

    def backward_graph(self, gy):
        # Which position won each window is a constant: the map gy -> gx is linear.
        hits, count = self.winners(gy.dtype)
        return PoolGrad(self.k, self.stride, self.padding, self.inputs[0].shape, [hit / count for hit in hits])(gy)

    def winners(self, dtype):
        """For each window offset, where it held its window's maximum; and how many offsets tie there."""
        hits = [self.padded[:, :, rows, cols] == self.y for rows, cols in self.offsets(self.padded.shape)]
        return hits, sum(hits[1:], hits[0].astype(dtype))


class AvgPool2d(_Pool2d):
    """Mean of each window (zero padding counts towards the mean, as in PyTorch)."""

    def forward(self, x):
        padded = _pad(x, self.padding, 0)
        windows = [padded[:, :, rows, cols] for rows, cols in self.offsets(padded.shape)]
        total = windows[0].copy()
        for window in windows[1:]:
            total += window
        return total / (self.k * self.k)

    def backward(self, gy):
        share = gy / (self.k * self.k)
        return self.scatter([share] * (self.k * self.k))

    def backward_graph(self, gy):
        weights = [1 / (self.k * self.k)] * (self.k * self.k)
        return PoolGrad(self.k, self.stride, self.padding, self.inputs[0].shape, weights)(gy)


class PoolGrad(_Pool2d):
    """A pooling backward as a Function, so that it can be differentiated: linear in its input.

    ``spread``: g (N, C, OH, OW) -> Σ over window offsets of weight · g, added back
    at that offset (the pooling's backward). ``gather``, its adjoint: g of the
    input's shape -> Σ over offsets of weight · (g at that offset of every
    window). With ``transposed`` the Function computes ``gather``; each is the
    other's backward.
    """

    def __init__(self, kernel_size, stride, padding, x_shape, weights, transposed=False):
        super().__init__(kernel_size, stride, padding)
        self.x_shape, self.weights, self.transposed = x_shape, weights, transposed

    def forward(self, g):
        return self.gather(g) if self.transposed else self.spread(g)

    def backward(self, g):
        return self.spread(g) if self.transposed else self.gather(g)

    def backward_graph(self, g):
        return PoolGrad(self.k, self.stride, self.padding, self.x_shape, self.weights, not self.transposed)(g)

    def spread(self, g):
        n, c, h, w = self.x_shape
        p = self.padding
        out = get_array_module(g).zeros((n, c, h + 2 * p, w + 2 * p), dtype=g.dtype)
        for (rows, cols), weight in zip(self.offsets(out.shape), self.weights):
            out[:, :, rows, cols] += weight * g
        return out[:, :, p : p + h, p : p + w] if p else out

    def gather(self, g):
        padded = _pad(g, self.padding, 0)
        parts = [weight * padded[:, :, rows, cols] for (rows, cols), weight in zip(self.offsets(padded.shape), self.weights)]
        return sum(parts[1:], parts[0])


def _check_pool(name, x, kernel_size, stride, padding):
    x = as_node(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected input of shape (N, C, H, W), got {x.shape}")
    if padding > kernel_size // 2:
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel size {kernel_size}")
    if min(x.shape[2:]) + 2 * padding < kernel_size:
        raise ValueError(f"{name}: kernel {kernel_size} is larger than the padded input {x.shape[2:]}")
    return x, (kernel_size if stride is None else stride)


def max_pool2d(x, kernel_size, stride=None, padding=0, workspace=None):
    """Max over kernel_size×kernel_size windows (stride defaults to kernel_size).

    ``workspace``: a ``node.kernels.Workspace`` to take the large arrays from (the MaxPool2d layer passes its own).
    """
    x, stride = _check_pool("max_pool2d", x, kernel_size, stride, padding)
    f = MaxPool2d(kernel_size, stride, padding)
    f.workspace = workspace
    return f(x)


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

"""Layers' workhorses: the fused affine map ``linear`` and the 2-D convolution.

A convolution is one large matrix product: ``im2col`` lays every receptive field
of the (padded) input out as a row, so that

    y[n, :, i, j] = W.reshape(OC, C·KH·KW) @ (the KH×KW×C patch under output (i, j))

for all n, i, j at once. ``col2im`` is its adjoint: it adds each row's gradient
back onto the input pixels that patch came from (overlapping patches add up).
"""
from ..backend import get_array_module, sliding_windows
from ..core import Function, as_node


class Linear(Function):
    """y = x @ W + b with W of shape (in, out). Backward: gx = gy Wᵀ, gW = xᵀ gy, gb = Σₙ gy."""

    def forward(self, x, W, b=None):
        y = x @ W
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        gx = gy @ W.value.T if x.requires_grad else None
        gW = gb = None
        if W.requires_grad:
            x2 = x.value.reshape(-1, x.shape[-1])
            gW = x2.T @ gy.reshape(-1, gy.shape[-1])
        if len(self.inputs) == 3 and self.inputs[2].requires_grad:
            gb = gy.reshape(-1, gy.shape[-1]).sum(axis=0)
        return (gx, gW) if len(self.inputs) == 2 else (gx, gW, gb)


def im2col(x, kh, kw, stride, padding):
    """(N, C, H, W) -> rows (N·OH·OW, C·KH·KW), one row per output position."""
    xp = get_array_module(x)
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_windows(x, kh, kw, stride)  # view (N, C, OH, OW, KH, KW), no copy
    n, c, oh, ow = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw), oh, ow


def col2im(windows, x_shape, stride, padding):
    """Adjoint of ``sliding_windows``: add windows (N, C, OH, OW, KH, KW) back into (N, C, H, W).

    One strided add per kernel offset (KH·KW of them), never one per pixel.
    """
    xp = get_array_module(windows)
    n, c, h, w = x_shape
    oh, ow, kh, kw = windows.shape[2:]
    gx = xp.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=windows.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += windows[:, :, :, :, i, j]
    if padding:
        gx = gx[:, :, padding:-padding, padding:-padding]
    return gx


class Conv2d(Function):
    """2-D cross-correlation of x (N, C, H, W) with W (OC, C, KH, KW), plus bias (OC,)."""

    def __init__(self, stride=1, padding=0):
        self.stride, self.padding = stride, padding

    def forward(self, x, W, b=None):
        oc, _, kh, kw = W.shape
        self.cols, oh, ow = im2col(x, kh, kw, self.stride, self.padding)
        y = self.cols @ W.reshape(oc, -1).T  # (N·OH·OW, OC)
        if b is not None:
            y += b
        self.out_hw = (oh, ow)
        return y.reshape(x.shape[0], oh, ow, oc).transpose(0, 3, 1, 2)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        oc, c, kh, kw = W.shape
        oh, ow = self.out_hw
        gy2 = gy.transpose(0, 2, 3, 1).reshape(-1, oc)  # (N·OH·OW, OC)
        gW = (gy2.T @ self.cols).reshape(W.shape) if W.requires_grad else None
        gx = None
        if x.requires_grad:
            gcols = (gy2 @ W.value.reshape(oc, -1)).reshape(x.shape[0], oh, ow, c, kh, kw)
            gx = col2im(gcols.transpose(0, 3, 1, 2, 4, 5), x.shape, self.stride, self.padding)
        if len(self.inputs) == 2:
            return gx, gW
        gb = gy2.sum(axis=0) if self.inputs[2].requires_grad else None
        return gx, gW, gb


def linear(x, W, b=None):
    """x @ W + b in one Function (one node in the graph instead of two)."""
    x, W = as_node(x), as_node(W)
    if x.shape[-1:] != W.shape[:1] or W.ndim != 2:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weights of shape {W.shape} (in_features must be {W.shape[0]})")
    return Linear()(x, W) if b is None else Linear()(x, W, b)


def conv2d(x, W, b=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with W (OC, C, KH, KW)."""
    x, W = as_node(x), as_node(W)
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected input of shape (N, C, H, W), got {x.shape}")
    if W.ndim != 4 or W.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: weights of shape {W.shape} need {x.shape[1]} input channels (W.shape[1]) to fit input {x.shape}")
    kh, kw = W.shape[2:]
    if x.shape[2] + 2 * padding < kh or x.shape[3] + 2 * padding < kw:
        raise ValueError(f"conv2d: kernel {kh}x{kw} is larger than the padded input {x.shape[2:]} (padding {padding})")
    f = Conv2d(stride, padding)
    return f(x, W) if b is None else f(x, W, b)

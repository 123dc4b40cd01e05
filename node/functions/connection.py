"""Layers' workhorses: the fused affine map ``linear`` and the 2-D convolution.

A convolution is one large matrix product: ``im2col`` lays every receptive field
of the (padded) input out as a row, so that

    y[n, i, j, :] = (the KH×KW×C patch under output (i, j)) @ W.reshape(OC, KH·KW·C)ᵀ

for all n, i, j at once. ``col2im`` is its adjoint: it adds each row's gradient
back onto the input pixels that patch came from (overlapping patches add up).

Layout: the API is NCHW, as in PyTorch, but the work happens channels-last.
The patch gather copies contiguous runs of KW·C values (x viewed as NHWC), and
the layer's rows run over output positions column by column with the images
innermost, so the matrix product's result (OW·OH·N, OC) lies in memory as
(W, H, N, C) and is returned as an NCHW *view* of it. Elementwise ops keep that
memory order; pooling windows and the spectral path's transforms then slice
whole planes of N·C values instead of runs of C.

For stride 1 and larger kernels, ``conv2d`` takes a second path with the same
results, the spectral convolution of ``spectral.py``, which does fewer
multiplications; ``algorithm=`` chooses.
"""
from ..backend import get_array_module, sliding_windows
from ..kernels.memory import scratch, temporary
from ..core import Function, as_node
from .spectral import SpectralConv2d, _matmul, spectral_pays_off


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

    def backward_graph(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        gx = gy @ W.T if x.requires_grad else None
        gW = x.reshape(-1, x.shape[-1]).T @ gy.reshape(-1, gy.shape[-1]) if W.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gW
        return gx, gW, gy.reshape(-1, gy.shape[-1]).sum(axis=0) if self.inputs[2].requires_grad else None


def pad_hw(x, padding, value=0):
    """Pad the H and W axes of channels-last x (N, H, W, C) by ``padding`` on each side."""
    if not padding:
        return x
    xp = get_array_module(x)
    n, h, w, c = x.shape
    out = xp.full((n, h + 2 * padding, w + 2 * padding, c), value, dtype=x.dtype)
    out[:, padding : padding + h, padding : padding + w, :] = x
    return out


def im2col(x, kh, kw, stride, padding):
    """Channels-last x (N, H, W, C) -> rows (N·OH·OW, KH·KW·C), one row per output position."""
    windows = sliding_windows(pad_hw(x, padding), kh, kw, stride)  # view (N, OH, OW, KH, KW, C)
    n, oh, ow = windows.shape[:3]
    return windows.reshape(n * oh * ow, -1), oh, ow


def col2im(windows, x_shape, stride, padding):
    """Adjoint of im2col: add windows (N, OH, OW, KH, KW, C) back into channels-last (N, H, W, C).

    One strided add per kernel offset (KH·KW of them), never one per pixel.
    """
    xp = get_array_module(windows)
    n, h, w, c = x_shape
    _, oh, ow, kh, kw, _ = windows.shape
    gx = xp.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=windows.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, i : i + stride * oh : stride, j : j + stride * ow : stride, :] += windows[:, :, :, i, j, :]
    return gx[:, padding : padding + h, padding : padding + w, :] if padding else gx


def _copy_into(out, a):
    out[...] = a
    return out


def _im2col_into(x, kh, kw, stride, padding, workspace, name, allocate):
    """``im2col``'s rows in (OW, OH, N) order, into arrays from ``allocate(workspace, name, ...)``.

    ``allocate`` is ``scratch`` or ``temporary``. The rows run over positions
    column-major and over images innermost, so that a product with them lies in
    memory as (W, H, N, C): what follows a convolution (pooling windows,
    the next layer's transforms) then slices whole planes of N·C values. The
    padded copy is a temporary whose border alone is zeroed; the rows are one
    strided copy of the windows into the (reused) patch matrix.
    """
    xp = get_array_module(x)
    n, h, w, c = x.shape
    p = padding
    if p:
        padded = temporary(workspace, name + " padded", (n, h + 2 * p, w + 2 * p, c), x.dtype, xp)
        padded[:, :p] = 0
        padded[:, p + h :] = 0
        padded[:, p : p + h, :p] = 0
        padded[:, p : p + h, p + w :] = 0
        padded[:, p : p + h, p : p + w] = x
        x = padded
    windows = sliding_windows(x, kh, kw, stride).transpose(2, 1, 0, 3, 4, 5)  # view (OW, OH, N, KH, KW, C)
    ow, oh = windows.shape[:2]
    cols = allocate(workspace, name, (n * oh * ow, kh * kw * c), x.dtype, xp)
    cols.reshape(windows.shape)[...] = windows
    return cols, oh, ow


def _rows_as_nchw(rows, n, oh, ow):
    """Rows (OW·OH·N, C) of ``_im2col_into``'s order as an (N, C, OH, OW) view."""
    return rows.reshape(ow, oh, n, -1).transpose(2, 3, 1, 0)


class Conv2d(Function):
    """2-D cross-correlation of x (N, C, H, W) with W (OC, C, KH, KW), plus bias (OC,)."""

    def __init__(self, stride=1, padding=0):
        self.stride, self.padding = stride, padding

    workspace = None  # a node.kernels.Workspace for the large arrays, set by the Conv2d layer

    def forward(self, x, W, b=None):
        xp = get_array_module(x)
        ws = self.workspace
        oc, c, kh, kw = W.shape
        self.cols, oh, ow = _im2col_into(x.transpose(0, 2, 3, 1), kh, kw, self.stride, self.padding, ws, "cols", scratch)
        self.w_rows = W.transpose(0, 2, 3, 1).reshape(oc, kh * kw * c)  # (OC, KH·KW·C), matching the rows
        y = _matmul(xp, self.cols, self.w_rows.T, scratch(ws, "y", (len(self.cols), oc), x.dtype, xp))  # (OW·OH·N, OC)
        if b is not None:
            y += b
        return _rows_as_nchw(y, x.shape[0], oh, ow)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        oc, c, kh, kw = W.shape
        n, oh, ow = gy.shape[0], gy.shape[2], gy.shape[3]
        gy_whnc = gy.transpose(3, 2, 0, 1)  # rows in the order of self.cols
        if not gy_whnc.flags.c_contiguous:  # line gy up as rows (one copy, into a reused array)
            gy_whnc = _copy_into(temporary(self.workspace, "gy", gy_whnc.shape, gy.dtype, get_array_module(gy)), gy_whnc)
        gy_rows = gy_whnc.reshape(n * oh * ow, oc)
        gW = gx = gb = None
        if W.requires_grad:
            gW = (gy_rows.T @ self.cols).reshape(oc, kh, kw, c).transpose(0, 3, 1, 2)
            gW = get_array_module(gW).ascontiguousarray(gW)
        if x.requires_grad:
            gx = self._input_gradient(gy, gy_rows, W.value, x.shape)
        if len(self.inputs) == 2:
            return gx, gW
        if self.inputs[2].requires_grad:
            gb = gy_rows.sum(axis=0)
        return gx, gW, gb

    def backward_graph(self, gy):
        from .conv_grad import conv2d_backward_graph  # conv_grad builds on this module: imported when first needed

        return conv2d_backward_graph(self, gy, self.stride, self.padding)

    def _input_gradient(self, gy, gy_rows, W, x_shape):
        """gx (N, C, H, W). With stride 1 it is a convolution of gy with the flipped kernel:

            gx = conv(pad(gy, K - 1 - padding), W rotated 180°, channels swapped)

        one im2col and one matrix product, instead of a product as large as the
        patch matrix followed by KH·KW scatter-adds (col2im), which costs more
        than twice as much. Other strides fall back to col2im.
        """
        oc, c, kh, kw = W.shape
        n, _, h, w = x_shape
        if self.stride == 1 and self.padding <= min(kh, kw) - 1 and kh == kw:
            xp = get_array_module(gy)
            flipped = W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * oc, c)  # rows (KH, KW, OC)
            ws = self.workspace
            cols, _, _ = _im2col_into(gy.transpose(0, 2, 3, 1), kh, kw, 1, kh - 1 - self.padding, ws, "gy cols", temporary)
            return _rows_as_nchw(_matmul(xp, cols, flipped, temporary(ws, "im2col gx", (len(cols), c), gy.dtype, xp)), n, h, w)
        oh, ow = gy.shape[2:]
        gcols = (gy_rows @ self.w_rows).reshape(ow, oh, n, kh, kw, c).transpose(2, 1, 0, 3, 4, 5)
        return col2im(gcols, (n, h, w, c), self.stride, self.padding).transpose(0, 3, 1, 2)


def linear(x, W, b=None):
    """x @ W + b in one Function (one node in the graph instead of two)."""
    x, W = as_node(x), as_node(W)
    if x.shape[-1:] != W.shape[:1] or W.ndim != 2:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weights of shape {W.shape} (in_features must be {W.shape[0]})")
    return Linear()(x, W) if b is None else Linear()(x, W, b)


def conv2d(x, W, b=None, stride=1, padding=0, algorithm="auto", workspace=None):
    """2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with W (OC, C, KH, KW).

    ``algorithm``: "im2col" (one large matrix product), "spectral" (DFT by
    matrix products, stride 1 only; see ``node.functions.spectral``) or "auto",
    which picks the faster for the shapes. Both give the same values and gradients.
    ``workspace``: a ``node.kernels.Workspace`` to take the large intermediate
    arrays from, reused from call to call (the Conv2d layer passes its own).
    """
    x, W = as_node(x), as_node(W)
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected input of shape (N, C, H, W), got {x.shape}")
    if W.ndim != 4 or W.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: weights of shape {W.shape} need {x.shape[1]} input channels (W.shape[1]) to fit input {x.shape}")
    kh, kw = W.shape[2:]
    if x.shape[2] + 2 * padding < kh or x.shape[3] + 2 * padding < kw:
        raise ValueError(f"conv2d: kernel {kh}x{kw} is larger than the padded input {x.shape[2:]} (padding {padding})")
    if algorithm not in ("auto", "im2col", "spectral"):
        raise ValueError(f"conv2d: algorithm must be 'auto', 'im2col' or 'spectral', got {algorithm!r}")
    if algorithm == "spectral" and stride != 1:
        raise ValueError("conv2d: the spectral algorithm needs stride 1")
    if algorithm == "spectral" and x.dtype.kind not in "fiub":
        raise ValueError(f"conv2d: the spectral algorithm needs real inputs, got dtype {x.dtype}")
    real = x.dtype.kind != "c" and W.dtype.kind != "c"
    if algorithm == "spectral" or (algorithm == "auto" and real and spectral_pays_off(x.shape, W.shape, stride, padding)):
        f = SpectralConv2d(padding)
    else:
        f = Conv2d(stride, padding)
    f.workspace = workspace
    return f(x, W) if b is None else f(x, W, b)

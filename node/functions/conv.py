"""The 2-D convolution and its two gradients, three Functions that differentiate one another.

A convolution is one large matrix product: ``im2col`` lays every receptive
field of the (padded) input out as a row, so that for every image n and
output position (i, j) at once

    y[n, :, i, j] = W.reshape(OC, C·KH·KW) @ (the C×KH×KW patch of x under (i, j)) + b

Its backward needs two more maps, each linear in both of its arguments:

    gx = Convolution2DGradInput(gy, W)    the transposed convolution: every output's
                                          gradient spread back over its patch (col2im)
    gW = Convolution2DGradWeight(x, gy)   every output's gradient times its patch, summed

(and the bias's, gb = Convolution2DGradBias(gy), the sum of gy per channel)

and the derivatives of those are the three maps again (⟨·,·⟩ is the sum of
elementwise products):

    ⟨ggx, grad_input(gy, W)⟩ = ⟨conv(ggx, W), gy⟩ = ⟨grad_weight(ggx, gy), W⟩
    ⟨ggW, grad_weight(x, gy)⟩ = ⟨conv(x, ggW), gy⟩ = ⟨grad_input(gy, ggW), x⟩

so each Function's backward calls the other two, and derivatives of any order
exist. The gradient Functions are built from the convolution they belong to
(as Chainer's ``Convolution2DGradW``), so they know its stride and padding,
and a fast kernel can reuse what that convolution's forward computed.

This module is the reference: NCHW, fresh arrays, nothing but im2col and
products. The fast kernels for all three Functions (im2col with reused arrays
in a memory order that suits the layers after it, and a convolution through
the DFT) are in ``node.kernels.conv``.
"""
from .. import validation
from ..backend import get_array_module, sliding_windows
from ..core import Function, as_node
from .arithmetic import BroadcastTo
from .connection import check_complex_weights


def pad_hw(x, padding):
    """x (N, C, H, W) with ``padding`` zeros added on both sides of H and W."""
    if not padding:
        return x
    n, c, h, w = x.shape
    out = get_array_module(x).zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


def im2col(x, kh, kw, stride, padding):
    """x (N, C, H, W) -> (patches (N·OH·OW, C·KH·KW), OH, OW): one row per output position.

    A row's values run over (C, KH, KW), in the order of ``W.reshape(OC, -1)``.
    """
    windows = sliding_windows(pad_hw(x, padding).transpose(0, 2, 3, 1), kh, kw, stride)  # view (N, OH, OW, KH, KW, C)
    n, oh, ow = windows.shape[:3]
    return windows.transpose(0, 1, 2, 5, 3, 4).reshape(n * oh * ow, x.shape[1] * kh * kw), oh, ow


def col2im(patches, x_shape, stride, padding):
    """The adjoint of im2col: patches (N, OH, OW, C, KH, KW) added onto the pixels of x (N, C, H, W) they came from.

    Overlapping patches add up; one strided add per kernel offset (KH·KW of them).
    """
    n, c, h, w = x_shape
    _, oh, ow, _, kh, kw = patches.shape
    gx = get_array_module(patches).zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=patches.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += patches[..., i, j].transpose(0, 3, 1, 2)
    return gx[:, :, padding : padding + h, padding : padding + w]


def output_rows(gy):
    """gy (N, OC, OH, OW) as rows (N·OH·OW, OC), in the order of im2col's rows."""
    return gy.transpose(0, 2, 3, 1).reshape(-1, gy.shape[1])


class Convolution2D(Function):
    """y = x ⋆ W + b, a cross-correlation as in PyTorch: x (N, C, H, W), W (OC, C, KH, KW), b (OC,).

    y has shape (N, OC, OH, OW) with OH = (H + 2·padding - KH) // stride + 1, and OW likewise.
    An empty batch (N = 0) gives an empty output, and zero gradients for W and b.
    """

    differentiable_backward = True

    def __init__(self, stride=1, padding=0):
        self.stride, self.padding = stride, padding

    def forward(self, x, W, b=None):
        oc, _, kh, kw = W.shape
        patches, oh, ow = im2col(x, kh, kw, self.stride, self.padding)
        y = patches @ W.reshape(oc, -1).T  # (N·OH·OW, OC)
        if b is not None:
            y += b
        return y.reshape(x.shape[0], oh, ow, oc).transpose(0, 3, 1, 2)

    def backward(self, gy):
        x, W = self.saved_inputs()[:2]
        needs = self.needs_input_grad
        gx = Convolution2DGradInput(self, x.shape)(gy, W) if needs[0] else None
        gW = Convolution2DGradWeight(self, W.shape)(x, gy) if needs[1] else None
        if len(needs) == 2:
            return gx, gW
        return gx, gW, Convolution2DGradBias()(gy) if needs[2] else None


class Convolution2DGradInput(Function):
    """gx = the transposed convolution of gy (N, OC, OH, OW) with W, of x's shape: ∂⟨gy, conv(x, W)⟩/∂x."""

    differentiable_backward = True

    def __init__(self, convolution, x_shape):
        self.convolution = convolution  # whose forward a kernel may reuse (node.kernels.conv)
        self.stride, self.padding, self.x_shape = convolution.stride, convolution.padding, tuple(x_shape)

    def forward(self, gy, W):
        n, c, _, _ = self.x_shape
        oc, _, kh, kw = W.shape
        oh, ow = gy.shape[2:]
        patches = output_rows(gy) @ W.reshape(oc, -1)  # (N·OH·OW, C·KH·KW): each output's share of its patch
        return col2im(patches.reshape(n, oh, ow, c, kh, kw), self.x_shape, self.stride, self.padding)

    def backward(self, ggx):
        gy, W = self.saved_inputs()
        needs = self.needs_input_grad
        g_gy = Convolution2D(self.stride, self.padding)(ggx, W) if needs[0] else None
        g_W = Convolution2DGradWeight(self.convolution, W.shape)(ggx, gy) if needs[1] else None
        return g_gy, g_W


class Convolution2DGradWeight(Function):
    """gW = Σ over images and output positions of gy times the patch of x it came from: ∂⟨gy, conv(x, W)⟩/∂W."""

    differentiable_backward = True

    def __init__(self, convolution, w_shape):
        self.convolution = convolution  # whose forward a kernel may reuse (node.kernels.conv)
        self.stride, self.padding, self.w_shape = convolution.stride, convolution.padding, tuple(w_shape)

    def forward(self, x, gy):
        _, _, kh, kw = self.w_shape
        patches, _, _ = im2col(x, kh, kw, self.stride, self.padding)
        return (output_rows(gy).T @ patches).reshape(self.w_shape)

    def backward(self, ggW):
        x, gy = self.saved_inputs()
        needs = self.needs_input_grad
        g_x = Convolution2DGradInput(self.convolution, x.shape)(gy, ggW) if needs[0] else None
        g_gy = Convolution2D(self.stride, self.padding)(x, ggW) if needs[1] else None
        return g_x, g_gy


class Convolution2DGradBias(Function):
    """gb = Σ of gy (N, OC, OH, OW) over images and positions, one value per channel: ∂⟨gy, conv(x, W) + b⟩/∂b.

    Its backward spreads each channel's ggb back over every image and position.
    """

    differentiable_backward = True

    def forward(self, gy):
        return gy.sum(axis=(0, 2, 3))

    def backward(self, ggb):
        return BroadcastTo(self.inputs[0].shape)(ggb.reshape(1, -1, 1, 1))


def conv2d(x, W, b=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with W (OC, C, KH, KW), plus b (OC,).

    Where a fast kernel applies (``node.kernels.conv``: im2col with reused
    arrays, or through the DFT for stride 1 and kernels of 3×3 and more),
    it computes the forward and the gradients; the values are the same.
    """
    x, W = as_node(x), as_node(W)
    stride = validation.integer("conv2d", "stride", stride, 1)
    padding = validation.integer("conv2d", "padding", padding, 0)
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected input of shape (N, C, H, W), got {x.shape}")
    if W.ndim != 4 or W.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: weights of shape {W.shape} need {x.shape[1]} input channels (W.shape[1]) to fit input {x.shape}")
    check_complex_weights("conv2d", x, W)
    if b is not None:
        b = as_node(b)
        if b.shape != W.shape[:1]:
            raise ValueError(f"conv2d: bias of shape {b.shape} does not fit weights of shape {W.shape}: expected shape {W.shape[:1]}")
    kh, kw = W.shape[2:]
    if x.shape[2] + 2 * padding < kh or x.shape[3] + 2 * padding < kw:
        raise ValueError(f"conv2d: kernel {kh}x{kw} is larger than the padded input {x.shape[2:]} (padding {padding})")
    f = Convolution2D(stride, padding)
    return f(x, W) if b is None else f(x, W, b)

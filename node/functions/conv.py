"""The 2-D convolution, its transpose and its gradients: Functions that differentiate one another.

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
(as Chainer's ``Convolution2DGradW``), so they know its stride, padding,
dilation and groups, and a fast kernel can reuse what that convolution's
forward computed.

The options, as in PyTorch (each of stride, padding and dilation one number or
a pair (height, width)):

* ``stride`` (s): the window moves s pixels at a time.
* ``padding`` (p): p zeros on both sides of each axis.
* ``dilation`` (d): the kernel's taps lie d pixels apart, so a K-tap kernel
  spans d·(K - 1) + 1 pixels. Output size: (H + 2p - d·(K - 1) - 1) // s + 1.
* ``groups`` (G): the C input and OC output channels are cut into G groups,
  and group g's outputs see only group g's inputs; W has shape (OC, C/G, KH, KW).
  G = C is the depthwise convolution. The product above becomes G products,
  one per group, done as one batched product over the groups.

The transposed convolution (``conv_transpose2d``, PyTorch's ConvTranspose2d,
Chainer's Deconvolution2D) is not a new Function: its forward is the input
gradient of a convolution, ``Convolution2DGradInput``, whose backward is
already the convolution and the weight gradient.

This module is the reference: NCHW, fresh arrays, nothing but im2col and
products. The fast kernels (im2col with reused arrays in a memory order that
suits the layers after it, and a convolution through the DFT) are in
``node.kernels.conv``; they compute the plain case (one group, no dilation,
the same stride and padding for both axes: ``square_options``), and leave
everything else to this reference.
"""
from .. import validation
from ..backend import get_array_module
from ..core import Function, as_node
from .arithmetic import BroadcastTo
from .connection import check_complex_weights


def pad_hw(x, padding):
    """x (N, C, H, W) with ``padding`` = (ph, pw) zeros added on both sides of H and W."""
    ph, pw = padding
    if not ph and not pw:
        return x
    n, c, h, w = x.shape
    out = get_array_module(x).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def output_size(size, k, stride, padding, dilation):
    """Along one axis: how many windows of k taps, d apart, fit in size + 2·padding with this stride."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def tap(i, dilation, stride, count):
    """The slice of a padded axis that kernel tap i reads, for each of ``count`` windows."""
    start = i * dilation
    return slice(start, start + stride * (count - 1) + 1, stride)


def im2col(x, kh, kw, stride, padding, dilation):
    """x (N, C, H, W) -> (patches (N·OH·OW, C·KH·KW), OH, OW): one row per output position.

    A row's values run over (C, KH, KW), in the order of ``W.reshape(OC, -1)``.
    One strided copy per kernel tap (KH·KW of them): tap (i, j) of every window at once.
    """
    (sh, sw), (dh, dw) = stride, dilation
    x = pad_hw(x, padding)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, 0, dh), output_size(w, kw, sw, 0, dw)
    patches = get_array_module(x).empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patches[..., i, j] = x[:, :, tap(i, dh, sh, oh), tap(j, dw, sw, ow)].transpose(0, 2, 3, 1)
    return patches.reshape(n * oh * ow, c * kh * kw), oh, ow


def col2im(patches, x_shape, stride, padding, dilation):
    """The adjoint of im2col: patches (N, OH, OW, C, KH, KW) added onto the pixels of x (N, C, H, W) they came from.

    Overlapping patches add up; one strided add per kernel tap (KH·KW of them).
    """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, w = x_shape
    _, oh, ow, _, kh, kw = patches.shape
    gx = get_array_module(patches).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=patches.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, :, tap(i, dh, sh, oh), tap(j, dw, sw, ow)] += patches[..., i, j].transpose(0, 3, 1, 2)
    return gx[:, :, ph : ph + h, pw : pw + w]


def output_rows(gy):
    """gy (N, OC, OH, OW) as rows (N·OH·OW, OC), in the order of im2col's rows."""
    return gy.transpose(0, 2, 3, 1).reshape(-1, gy.shape[1])


def grouped(rows, groups):
    """Rows (M, G·K) -> (G, M, K): each group's columns as a matrix of its own (channels are grouped in order)."""
    m, n = rows.shape
    return rows.reshape(m, groups, n // groups).transpose(1, 0, 2)


def ungrouped(blocks):
    """(G, M, K) -> rows (M, G·K): the inverse of ``grouped``."""
    g, m, k = blocks.shape
    return blocks.transpose(1, 0, 2).reshape(m, g * k)


def as_pair(value):
    """3 -> (3, 3); a pair stays a pair."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Convolution2D(Function):
    """y = x ⋆ W + b, a cross-correlation as in PyTorch: x (N, C, H, W), W (OC, C/groups, KH, KW), b (OC,).

    y has shape (N, OC, OH, OW) with OH = (H + 2·ph - dh·(KH - 1) - 1) // sh + 1, and OW likewise.
    An empty batch (N = 0) gives an empty output, and zero gradients for W and b.
    ``stride``, ``padding`` and ``dilation`` are numbers or (height, width) pairs.
    """

    differentiable_backward = True
    uses_blas = True

    def __init__(self, stride=1, padding=0, dilation=1, groups=1):
        self.stride, self.padding, self.dilation = as_pair(stride), as_pair(padding), as_pair(dilation)
        self.groups = groups

    def options(self):
        """(stride, padding, dilation, groups): what a convolution of the same geometry is made from."""
        return self.stride, self.padding, self.dilation, self.groups

    def forward(self, x, W, b=None):
        oc, _, kh, kw = W.shape
        patches, oh, ow = im2col(x, kh, kw, self.stride, self.padding, self.dilation)
        g = self.groups
        # One product per group: (G, N·OH·OW, C/G·KH·KW) @ (G, C/G·KH·KW, OC/G).
        y = ungrouped(grouped(patches, g) @ W.reshape(g, oc // g, -1).transpose(0, 2, 1))  # (N·OH·OW, OC)
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
    """gx = the transposed convolution of gy (N, OC, OH, OW) with W, of x's shape: ∂⟨gy, conv(x, W)⟩/∂x.

    Also the forward of ``conv_transpose2d``, whose input plays gy's part.
    """

    differentiable_backward = True
    uses_blas = True

    def __init__(self, convolution, x_shape):
        self.convolution = convolution  # whose forward a kernel may reuse (node.kernels.conv), and whose options these are
        self.stride, self.padding, self.dilation, self.groups = convolution.options()
        self.x_shape = tuple(x_shape)

    def forward(self, gy, W):
        n, c, _, _ = self.x_shape
        oc, _, kh, kw = W.shape
        oh, ow = gy.shape[2:]
        g = self.groups
        # Each output's share of its patch, group by group: (G, N·OH·OW, OC/G) @ (G, OC/G, C/G·KH·KW).
        patches = ungrouped(grouped(output_rows(gy), g) @ W.reshape(g, oc // g, -1))  # (N·OH·OW, C·KH·KW)
        return col2im(patches.reshape(n, oh, ow, c, kh, kw), self.x_shape, self.stride, self.padding, self.dilation)

    def backward(self, ggx):
        gy, W = self.saved_inputs()
        needs = self.needs_input_grad
        g_gy = Convolution2D(*self.convolution.options())(ggx, W) if needs[0] else None
        g_W = Convolution2DGradWeight(self.convolution, W.shape)(ggx, gy) if needs[1] else None
        return g_gy, g_W


class Convolution2DGradWeight(Function):
    """gW = Σ over images and output positions of gy times the patch of x it came from: ∂⟨gy, conv(x, W)⟩/∂W."""

    differentiable_backward = True
    uses_blas = True

    def __init__(self, convolution, w_shape):
        self.convolution = convolution  # whose forward a kernel may reuse (node.kernels.conv), and whose options these are
        self.stride, self.padding, self.dilation, self.groups = convolution.options()
        self.w_shape = tuple(w_shape)

    def forward(self, x, gy):
        _, _, kh, kw = self.w_shape
        patches, _, _ = im2col(x, kh, kw, self.stride, self.padding, self.dilation)
        g = self.groups
        # Per group: (G, OC/G, N·OH·OW) @ (G, N·OH·OW, C/G·KH·KW).
        return (grouped(output_rows(gy), g).transpose(0, 2, 1) @ grouped(patches, g)).reshape(self.w_shape)

    def backward(self, ggW):
        x, gy = self.saved_inputs()
        needs = self.needs_input_grad
        g_x = Convolution2DGradInput(self.convolution, x.shape)(gy, ggW) if needs[0] else None
        g_gy = Convolution2D(*self.convolution.options())(x, ggW) if needs[1] else None
        return g_x, g_gy


class Convolution2DGradBias(Function):
    """gb = Σ of gy (N, OC, OH, OW) over images and positions, one value per channel: ∂⟨gy, conv(x, W) + b⟩/∂b.

    Its backward spreads each channel's ggb back over every image and position.
    """

    differentiable_backward = True
    uses_blas = True

    def forward(self, gy):
        return gy.sum(axis=(0, 2, 3))

    def backward(self, ggb):
        return BroadcastTo(self.inputs[0].shape)(ggb.reshape(1, -1, 1, 1))


def square_options(convolution):
    """(stride, padding) as single integers for a plain convolution, else None.

    Plain: one group, no dilation, and the same stride and the same padding
    along both axes: the case the fast kernels of ``node.kernels.conv`` compute.
    """
    (sh, sw), (ph, pw), dilation, groups = convolution.options()
    if sh != sw or ph != pw or dilation != (1, 1) or groups != 1:
        return None
    return sh, ph


def _check_options(name, stride, padding, dilation, groups):
    stride = validation.int_or_pair(name, "stride", stride, 1)
    padding = validation.int_or_pair(name, "padding", padding, 0)
    dilation = validation.int_or_pair(name, "dilation", dilation, 1)
    return stride, padding, dilation, validation.integer(name, "groups", groups, 1)


def _check_bias(name, b, W, channels):
    b = as_node(b)
    if b.shape != (channels,):
        raise ValueError(f"{name}: bias of shape {b.shape} does not fit weights of shape {W.shape}: expected shape ({channels},)")
    return b


def _check_input(name, x):
    if x.ndim != 4:
        raise validation.image_batch_error(name, x.shape)


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with W (OC, C/groups, KH, KW), plus b (OC,).

    Args:
        stride, padding, dilation: an integer, or a pair (height, width).
            stride and dilation >= 1, padding >= 0.
        groups: C and OC are split into this many groups, each group of
            outputs seeing only its group of inputs (groups = C: depthwise).

    Output size: (H + 2·padding - dilation·(KH - 1) - 1) // stride + 1, and likewise for W.
    Where a fast kernel applies (``node.kernels.conv``: im2col with reused
    arrays, or through the DFT for stride 1 and kernels of 3×3 and more; plain
    convolutions only), it computes the forward and the gradients; the values
    are the same.
    """
    x, W = as_node(x), as_node(W)
    stride, padding, dilation, groups = _check_options("conv2d", stride, padding, dilation, groups)
    _check_input("conv2d", x)
    if W.ndim != 4 or W.shape[1] * groups != x.shape[1]:
        per_group = "" if groups == 1 else f" / groups={groups}"
        raise ValueError(f"conv2d: weights of shape {W.shape} need {x.shape[1]}{per_group} input channels (W.shape[1]) to fit input {x.shape}")
    if W.shape[0] % groups:
        raise ValueError(f"conv2d: weights of shape {W.shape} have {W.shape[0]} output channels (W.shape[0]), not a multiple of groups={groups}")
    check_complex_weights("conv2d", x, W)
    if b is not None:
        b = _check_bias("conv2d", b, W, W.shape[0])
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, W.shape[2:])]
    if any(size + 2 * p < span for size, p, span in zip(x.shape[2:], padding, spans)):
        raise ValueError(
            f"conv2d: kernel {W.shape[2]}x{W.shape[3]} (spanning {spans[0]}x{spans[1]} with dilation {dilation}) "
            f"is larger than the input {x.shape[2:]} padded by {padding}"
        )
    f = Convolution2D(stride, padding, dilation, groups)
    return f(x, W) if b is None else f(x, W, b)


def conv_transpose2d(x, W, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transposed convolution (PyTorch's conv_transpose2d): the adjoint of conv2d, used to upsample.

    x (N, C, H, W) with W (C, OC/groups, KH, KW), as PyTorch lays them out,
    gives y (N, OC, OH, OW) with

        OH = (H - 1)·stride - 2·padding + dilation·(KH - 1) + output_padding + 1

    and OW likewise. It is the gradient with respect to its input of the
    convolution with those options that maps y's shape to x's (each input
    pixel spreads its values over a KH×KW patch of the output, the patches
    stride pixels apart), so its forward is ``Convolution2DGradInput`` and its
    gradients are that convolution and its weight gradient.

    ``output_padding`` (an integer or a pair, each smaller than the stride)
    adds rows and columns at the bottom and right, which no input reaches (but
    the bias): it picks one of the output sizes that the convolution maps to
    H. (PyTorch also allows output_padding < dilation with stride 1; node does not.)
    """
    name = "conv_transpose2d"
    x, W = as_node(x), as_node(W)
    stride, padding, dilation, groups = _check_options(name, stride, padding, dilation, groups)
    output_padding = validation.int_or_pair(name, "output_padding", output_padding, 0)
    if any(op >= s for op, s in zip(output_padding, stride)):
        raise ValueError(f"{name}: output_padding {output_padding} must be smaller than the stride {stride} along each axis")
    _check_input(name, x)
    if W.ndim != 4 or W.shape[0] != x.shape[1] or x.shape[1] % groups:
        raise ValueError(
            f"{name}: weights of shape {W.shape} do not fit input {x.shape} with groups={groups}: W must be "
            f"(in_channels={x.shape[1]}, out_channels / groups, KH, KW) and in_channels a multiple of groups"
        )
    check_complex_weights(name, x, W)
    out_channels = W.shape[1] * groups
    size = [
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, W.shape[2:], output_padding)
    ]
    if min(size) < 1:
        raise ValueError(f"{name}: padding {padding} leaves no output for input {x.shape} and kernel {W.shape[2:]} (output size {tuple(size)})")
    convolution = Convolution2D(stride, padding, dilation, groups)  # the convolution whose input gradient this is (never run)
    y = Convolution2DGradInput(convolution, (x.shape[0], out_channels, *size))(x, W)
    if b is None:
        return y
    return y + _check_bias(name, b, W, out_channels).reshape(1, -1, 1, 1)

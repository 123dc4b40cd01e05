"""The convolution's two gradients as Functions, so that a conv net's backward can be differentiated.

For y = conv2d(x, W) (stride s, padding p) the backward computes

    gx = conv2d_input_grad(gy, W)     the transposed convolution (adjoint in x)
    gW = conv2d_weight_grad(x, gy)    the correlation of x with gy (adjoint in W)

Both are linear in each argument, and each one's derivatives are the other two
maps again (⟨·,·⟩ is the sum of elementwise products):

    ⟨ggx, input_grad(gy, W)⟩ = ⟨conv2d(ggx, W), gy⟩ = ⟨weight_grad(ggx, gy), W⟩
    ⟨ggW, weight_grad(x, gy)⟩ = ⟨conv2d(x, ggW), gy⟩ = ⟨input_grad(gy, ggW), x⟩

so the three Functions (``Conv2d`` and the two here) differentiate each other,
to any order. This is the slow path taken only with ``create_graph=True``; the
training step's own backward stays in ``Conv2d.backward``.
"""
from ..core import Function
from .connection import Conv2d, col2im, im2col


def _conv(x, W, stride, padding):
    """y = conv2d(x, W) on arrays, NCHW."""
    oc, c, kh, kw = W.shape
    cols, oh, ow = im2col(x.transpose(0, 2, 3, 1), kh, kw, stride, padding)
    y = cols @ W.transpose(0, 2, 3, 1).reshape(oc, -1).T
    return y.reshape(x.shape[0], oh, ow, oc).transpose(0, 3, 1, 2)


def _input_grad(gy, W, x_shape, stride, padding):
    """gx (x_shape) from gy (N, OC, OH, OW): each output's gradient spread over the patch it came from."""
    oc, c, kh, kw = W.shape
    n, _, h, w = x_shape
    oh, ow = gy.shape[2:]
    gy_rows = gy.transpose(0, 2, 3, 1).reshape(-1, oc)
    patches = (gy_rows @ W.transpose(0, 2, 3, 1).reshape(oc, -1)).reshape(n, oh, ow, kh, kw, c)
    return col2im(patches, (n, h, w, c), stride, padding).transpose(0, 3, 1, 2)


def _weight_grad(x, gy, w_shape, stride, padding):
    """gW (w_shape): each output's gradient times the patch of x it came from, summed."""
    oc, c, kh, kw = w_shape
    cols, _, _ = im2col(x.transpose(0, 2, 3, 1), kh, kw, stride, padding)
    gy_rows = gy.transpose(0, 2, 3, 1).reshape(-1, oc)
    return (gy_rows.T @ cols).reshape(oc, kh, kw, c).transpose(0, 3, 1, 2)


class Conv2dInputGrad(Function):
    """gx = input_grad(gy, W) for inputs (gy, W); x's shape is fixed at construction."""

    def __init__(self, stride, padding, x_shape):
        self.stride, self.padding, self.x_shape = stride, padding, tuple(x_shape)

    def forward(self, gy, W):
        return _input_grad(gy, W, self.x_shape, self.stride, self.padding)

    def backward(self, ggx):
        gy, W = self.inputs
        g_gy = _conv(ggx, W.value, self.stride, self.padding) if gy.requires_grad else None
        g_W = _weight_grad(ggx, gy.value, W.shape, self.stride, self.padding) if W.requires_grad else None
        return g_gy, g_W

    def backward_graph(self, ggx):
        gy, W = self.inputs
        g_gy = Conv2d(self.stride, self.padding)(ggx, W) if gy.requires_grad else None
        g_W = Conv2dWeightGrad(self.stride, self.padding, W.shape)(ggx, gy) if W.requires_grad else None
        return g_gy, g_W


class Conv2dWeightGrad(Function):
    """gW = weight_grad(x, gy) for inputs (x, gy); W's shape is fixed at construction."""

    def __init__(self, stride, padding, w_shape):
        self.stride, self.padding, self.w_shape = stride, padding, tuple(w_shape)

    def forward(self, x, gy):
        return _weight_grad(x, gy, self.w_shape, self.stride, self.padding)

    def backward(self, ggW):
        x, gy = self.inputs
        g_x = _input_grad(gy.value, ggW, x.shape, self.stride, self.padding) if x.requires_grad else None
        g_gy = _conv(x.value, ggW, self.stride, self.padding) if gy.requires_grad else None
        return g_x, g_gy

    def backward_graph(self, ggW):
        x, gy = self.inputs
        g_x = Conv2dInputGrad(self.stride, self.padding, x.shape)(gy, ggW) if x.requires_grad else None
        g_gy = Conv2d(self.stride, self.padding)(x, ggW) if gy.requires_grad else None
        return g_x, g_gy


def conv2d_backward_graph(f, gy, stride, padding):
    """``backward_graph`` of a convolution Function ``f`` (inputs x, W and maybe b), any algorithm."""
    x, W = f.inputs[0], f.inputs[1]
    gx = Conv2dInputGrad(stride, padding, x.shape)(gy, W) if x.requires_grad else None
    gW = Conv2dWeightGrad(stride, padding, W.shape)(x, gy) if W.requires_grad else None
    if len(f.inputs) == 2:
        return gx, gW
    return gx, gW, gy.sum(axis=(0, 2, 3)) if f.inputs[2].requires_grad else None

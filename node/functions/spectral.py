"""Convolution through the discrete Fourier transform, computed with real matrix products.

Correlating an image with a K×K kernel costs K² multiply-adds per output value
and channel pair. In the frequency domain it is one complex multiply per
frequency and channel pair (the correlation theorem):

    DFT(x ⋆ w)[f] = DFT(x)[f] · conj(DFT(w)[f])

so a convolution becomes: transform the input, mix channels per frequency
(a batch of small matrix products), transform back. The transforms here are
not FFT calls: for the small sizes of these networks (28 + padding) they are
products with precomputed DFT matrices, which NumPy hands to BLAS as a few
large calls instead of one FFT call per image row.

Every stage is a real linear map applied by one (batched) matrix product, so
the backward pass applies each stage's transpose in reverse order: no
approximation. Complex numbers are kept as pairs of real planes, and each
complex product is one real product with a 2×2 block matrix

    [Re y]   [Re a  -Im a] [Re x]
    [Im y] = [Im a   Re a] [Im x]

which lets every stage read the previous stage's output where it lies: no
transposed copies between stages. Shapes (one layer, stride 1, padding p,
transform sizes Sh and Sw from ``transform_size``, H + p and W + p for the usual
padding, just long enough that the circular correlation never wraps around
into the output we keep; Fw = Sw//2 + 1 non-negative W frequencies, enough for
a real input; activations live in memory as (W, H, C, N), "WHCN", and are
returned as NCHW views of it)::

    x (W, H·C·N) --A (2Fw, W)--> (Fw, 2·H, C·N)              W transform, real input
      --D (2Sh, 2H), per fw--> X (Fw, Sh, 2·C, N)            H transform, complex
      --M (2·OC, 2·C), per frequency--> (Sh, Fw, 2·OC, N)    channel mixing
      --B (2·OW, 2Fw), per sh--> (Sh, 2, OW, OC·N)           inverse W transform
      --E (OH, 2Sh), per ow--> y (OW, OH, OC·N)              inverse H, real part

The padding is folded into the DFT matrices, so nothing is padded in memory.
The large intermediate arrays come from the calling layer's ``Workspace``
(see ``node.kernels.Workspace``) when it passes one, so that a training step
reuses the memory of the previous one.
"""
import functools

import numpy as np

from ..backend import backend_module, get_array_module
from ..kernels.memory import scratch, sum_per_channel, temporary
from ..core import Function


def transform_size(n, k, p):
    """The smallest DFT length S that computes a correlation of n values, padded by p, with k taps.

    Output i reads padded positions i .. i+k-1, all below n + 2p. In a circular
    signal of length S holding the n values at positions p .. n+p-1 and zeros
    elsewhere, a position j >= S reads j - S instead. With S >= n + p every such
    j is in the right padding (zero) and j - S <= p - 1 is in the left padding
    (zero too): the two paddings share the same zeros and nothing wraps wrongly.
    S must also hold every output (n + 2p - k + 1 of them) and every tap (k).
    For 5×5 kernels with padding 2 this is n + 2 instead of n + 4: 14×14 maps
    need 16×9 frequencies instead of 18×10.
    """
    return max(n + p, n + 2 * p - k + 1, k)


@functools.lru_cache(maxsize=128)
def _transforms(xp_name, dtype, h, w, kh, kw, padding):
    """The five real matrices of one layer shape (see the module docstring), computed in float64, cached."""
    p = padding
    sh, sw = transform_size(h, kh, p), transform_size(w, kw, p)
    oh, ow = h + 2 * p - kh + 1, w + 2 * p - kw + 1
    fw = sw // 2 + 1
    # A (2Fw, W), rows (fw, re/im): the half spectrum of each row of W values, padding as an offset.
    angle = -2 * np.pi * np.outer(np.arange(fw), np.arange(w) + p) / sw
    a = np.stack([np.cos(angle), np.sin(angle)], axis=1).reshape(2 * fw, w)
    # D (2Sh, 2H), rows (sh, re/im of the output), columns (re/im of the input, h): complex DFT along H.
    angle = -2 * np.pi * np.outer(np.arange(sh), np.arange(h) + p) / sh
    d = np.empty((sh, 2, 2, h))
    d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1] = np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)
    # B (2·OW, 2Fw), rows (re/im, ow), columns (fw, re/im): inverse along W of the half spectrum. Frequencies
    # other than 0 and Sw/2 stand for themselves and their mirror image, so they count twice.
    freqs = np.arange(fw)
    weight = np.where((freqs == 0) | (2 * freqs == sw), 1.0, 2.0) / sw
    angle = 2 * np.pi * np.outer(np.arange(ow), freqs) / sw
    cos, sin = weight * np.cos(angle), weight * np.sin(angle)
    b = np.empty((2, ow, fw, 2))
    b[0, :, :, 0], b[0, :, :, 1], b[1, :, :, 0], b[1, :, :, 1] = cos, -sin, sin, cos
    # E (OH, 2Sh), columns (sh, re/im): inverse along H, keeping the real part.
    angle = 2 * np.pi * np.outer(np.arange(oh), np.arange(sh)) / sh
    e = np.stack([np.cos(angle), -np.sin(angle)], axis=2) / sh
    # K (2·Fw·Sh, KH·KW): cos and sin of the kernel's DFT phases, for M = conj(DFT(W)) per frequency.
    phase = 2 * np.pi * (
        np.arange(fw)[:, None, None, None] * np.arange(kw)[None, None, None, :] / sw
        + np.arange(sh)[None, :, None, None] * np.arange(kh)[None, None, :, None] / sh
    )
    k = np.stack([np.cos(phase), np.sin(phase)]).reshape(2 * fw * sh, kh * kw)
    xp = backend_module(xp_name)
    return tuple(xp.asarray(np.ascontiguousarray(m, dtype=dtype)) for m in (a, d.reshape(2 * sh, 2 * h), b.reshape(2 * ow, 2 * fw), e.reshape(oh, 2 * sh), k))


# Temporaries share four arrays of the thread's workspace by lifetime ("spectral a" to "d"): in the
# forward, the input's copy and the mixed spectrum (a), the W transform and the inverse W (b); in the
# backward, gy's copy, then the H transform's transpose (a), the inverse transforms' transposes (b, then
# the input spectrum's gradient), gy's spectrum (c) and the mixing matrices' gradient (d).


def _matmul(xp, a, b, out):
    """a @ b written into ``out``, which may be a strided view.

    Both array modules take ``out=``: NumPy's BLAS writes strided rows in place;
    CuPy writes a C-contiguous ``out`` directly and any other through one copy.
    """
    return xp.matmul(a, b, out=out)


def _whcn(xp, x, workspace, name):
    """x (N, C, H, W) as a C-contiguous (W, H, C, N) array: a view when its memory is in that order already."""
    t = x.transpose(3, 2, 1, 0)
    if t.flags.c_contiguous:
        return t
    out = temporary(workspace, name, t.shape, x.dtype, xp)
    out[...] = t
    return out


class SpectralConv2d(Function):
    """Stride-1 convolution of x (N, C, H, W) with W (OC, C, KH, KW) via DFT matrices; same result as Conv2d.

    ``workspace`` (optional attribute, a ``node.kernels.Workspace``): where the large
    intermediate arrays come from; the ``Conv2d`` layer sets it.
    """

    workspace = None

    def __init__(self, padding=0):
        self.padding = padding

    def forward(self, x, W, b=None):
        xp = get_array_module(x)
        ws = self.workspace
        n, c, h, w = x.shape
        oc, _, kh, kw = W.shape
        a, d, bm, e, k = _transforms(xp.__name__, x.dtype.str, h, w, kh, kw, self.padding)
        fw, sh, oh, ow = a.shape[0] // 2, d.shape[0] // 2, e.shape[0], bm.shape[0] // 2
        dt = x.dtype
        xm = _whcn(xp, x, ws, "spectral a")  # (W, H, C, N)
        t1 = _matmul(xp, a, xm.reshape(w, -1), temporary(ws, "spectral b", (2 * fw, h * c * n), dt, xp))
        # The input's spectrum, kept for the weight gradient.
        self.xf = _matmul(xp, d, t1.reshape(fw, 2 * h, c * n), scratch(ws, "xf", (fw, 2 * sh, c * n), dt, xp))
        del xm, t1  # their arrays are reused below: nothing may hold them any longer
        self.mix = self._kernel_spectrum(W, k, fw, sh)  # (Fw, Sh, 2·OC, 2·C)
        yf = temporary(ws, "spectral a", (sh, fw, 2 * oc, n), dt, xp)
        _matmul(xp, self.mix, self.xf.reshape(fw, sh, 2 * c, n), yf.transpose(1, 0, 2, 3))
        z = _matmul(xp, bm, yf.reshape(sh, 2 * fw, oc * n), temporary(ws, "spectral b", (sh, 2 * ow, oc * n), dt, xp))
        y = scratch(ws, "y", (ow, oh, oc, n), dt, xp)
        _matmul(xp, e, z.reshape(2 * sh, ow, oc * n).transpose(1, 0, 2), y.reshape(ow, oh, oc * n))
        if b is not None:
            y += b[:, None]
        return y.transpose(3, 2, 1, 0)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        xp = get_array_module(gy)
        ws = self.workspace
        n, c, h, w = x.shape
        oc, _, kh, kw = W.shape
        a, d, bm, e, k = _transforms(xp.__name__, x.dtype.str, h, w, kh, kw, self.padding)
        fw, sh, oh, ow = a.shape[0] // 2, d.shape[0] // 2, e.shape[0], bm.shape[0] // 2
        dt = gy.dtype
        gym = _whcn(xp, gy, ws, "spectral a")  # (OW, OH, OC, N)
        gz = temporary(ws, "spectral b", (sh, 2, ow, oc * n), dt, xp)
        _matmul(xp, e.T, gym.reshape(ow, oh, oc * n), gz.reshape(2 * sh, ow, oc * n).transpose(1, 0, 2))
        gyf = _matmul(xp, bm.T, gz.reshape(sh, 2 * ow, oc * n), temporary(ws, "spectral c", (sh, 2 * fw, oc * n), dt, xp))
        del gym, gz  # their arrays are reused below
        gyf = gyf.reshape(sh, fw, 2 * oc, n).transpose(1, 0, 2, 3)  # (Fw, Sh, 2·OC, N)
        gx = gW = gb = None
        if W.requires_grad:
            xf = self.xf.reshape(fw, sh, 2 * c, n)
            g_mix = _matmul(xp, gyf, xf.transpose(0, 1, 3, 2), temporary(ws, "spectral d", (fw, sh, 2 * oc, 2 * c), dt, xp))
            gW = self._kernel_spectrum_adjoint(g_mix, k, W.shape)
        if x.requires_grad:
            gxf = _matmul(xp, self.mix.transpose(0, 1, 3, 2), gyf, temporary(ws, "spectral b", (fw, sh, 2 * c, n), dt, xp))
            gt1 = _matmul(xp, d.T, gxf.reshape(fw, 2 * sh, c * n), temporary(ws, "spectral a", (fw, 2 * h, c * n), dt, xp))
            gxm = _matmul(xp, a.T, gt1.reshape(2 * fw, h * c * n), temporary(ws, "spectral gx", (w, h * c * n), dt, xp))
            gx = gxm.reshape(w, h, c, n).transpose(3, 2, 1, 0)
        if len(self.inputs) == 2:
            return gx, gW
        if self.inputs[2].requires_grad:
            gb = sum_per_channel(gy)
        return gx, gW, gb

    def backward_graph(self, gy):
        from .conv_grad import conv2d_backward_graph  # conv_grad builds on connection, which imports this module

        return conv2d_backward_graph(self, gy, 1, self.padding)

    def _kernel_spectrum(self, W, k, fw, sh):
        """The block matrices [[Re a, -Im a], [Im a, Re a]] (Fw, Sh, 2·OC, 2·C), a = conj(DFT(W))ᵀ per frequency."""
        xp = get_array_module(W)
        oc, c, kh, kw = W.shape
        w_cols = W.reshape(oc * c, kh * kw).T  # (KH·KW, OC·C), a view
        parts = (k @ w_cols).reshape(2, fw, sh, oc, c)  # Re a, Im a
        mix = scratch(self.workspace, "mix", (fw, sh, 2, oc, 2, c), W.dtype, xp)
        mix[:, :, 0, :, 0] = parts[0]
        mix[:, :, 1, :, 1] = parts[0]
        mix[:, :, 1, :, 0] = parts[1]
        if xp is np:
            np.negative(parts[1], out=mix[:, :, 0, :, 1])
        else:
            mix[:, :, 0, :, 1] = -parts[1]
        return mix.reshape(fw, sh, 2 * oc, 2 * c)

    def _kernel_spectrum_adjoint(self, g_mix, k, shape):
        """The transpose of ``_kernel_spectrum``: the blocks of the mixing matrices' gradient -> gW."""
        xp = get_array_module(g_mix)
        oc, c, kh, kw = shape
        fw, sh = g_mix.shape[:2]
        g = g_mix.reshape(fw, sh, 2, oc, 2, c)
        parts = xp.empty((2, fw, sh, oc, c), dtype=g_mix.dtype)
        xp.add(g[:, :, 0, :, 0], g[:, :, 1, :, 1], out=parts[0])
        xp.subtract(g[:, :, 1, :, 0], g[:, :, 0, :, 1], out=parts[1])
        gw = k.T @ parts.reshape(2 * fw * sh, oc * c)  # (KH·KW, OC·C)
        return xp.ascontiguousarray(gw.T).reshape(oc, c, kh, kw)


def spectral_pays_off(x_shape, w_shape, stride, padding=0):
    """Whether the spectral path should beat im2col for this layer, by counting multiply-adds.

    Per image and output position, im2col does KH·KW·C·OC. Per image, the
    spectral path does 4·C·OC per frequency (Sh·Fw of them) for the mixing,
    plus the transforms, about 2·Fw·H·W + 4·Sh·H·Fw per input channel and
    4·OW·Fw·Sh + 2·OH·Sh·OW per output channel; per batch, it also transforms
    the kernels (2·Sh·Fw·KH·KW·C·OC, and its transpose in the backward), which
    small batches do not amortise. The transforms are thin matrix products
    (inner dimensions of tens), slower per multiply-add than the large
    products of im2col, so the spectral path is chosen only when it needs under
    half the arithmetic: for this project's conv nets (5×5 kernels, 28×28 and
    smaller, 32+ channels, batches of 8 and more) it needs 0.2-0.4 of it; a
    first layer with one input channel, 3×3 kernels on 28×28 images, large
    images or a batch of one stay with im2col.
    """
    n, c, h, w = x_shape
    oc, _, kh, kw = w_shape
    if stride != 1 or kh < 3 or kw < 3:
        return False
    sh, sw = transform_size(h, kh, padding), transform_size(w, kw, padding)
    oh, ow, fw = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1, sw // 2 + 1
    direct = n * kh * kw * c * oc * oh * ow
    per_image = 4 * c * oc * sh * fw + c * (2 * fw * h * w + 4 * sh * h * fw) + oc * (4 * ow * fw * sh + 2 * oh * sh * ow)
    kernels = 2 * sh * fw * kh * kw * c * oc
    return n * per_image + kernels < 0.5 * direct

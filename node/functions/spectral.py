"""Convolution through the discrete Fourier transform, computed with matrix products.

Correlating an image with a K×K kernel costs K² multiply-adds per output value
and channel pair. In the frequency domain it is one complex multiply per
frequency and channel pair (the correlation theorem):

    DFT(x ⋆ w)[f] = DFT(x)[f] · conj(DFT(w)[f])

so a convolution becomes: transform the input, mix channels per frequency
(a batch of small complex matrix products), transform back. The transforms
here are not FFT calls: for the small sizes of these networks (28 + padding)
they are products with precomputed DFT matrices, which NumPy hands to BLAS
in one call instead of one FFT call per image row.

Every stage is a linear map applied by a matrix product, so the backward pass
applies each stage's (conjugate) transpose in reverse order: no approximation.

Shapes (one layer, stride 1, padding p, transform size S = H + 2p so that the
circular correlation never wraps around into the output we keep):

    x (N, C, H, W) --W-DFT--> (N, H, C, Fw) --H-DFT--> (S·Fw, N, C)
        --mix with M (S·Fw, C, OC)--> (S·Fw, N, OC) --inverse H--> --inverse W--> y

Only the non-negative W frequencies Fw = S//2 + 1 are kept (the input is real),
and the padding is folded into the DFT matrices, so nothing is padded in memory.
Data move in the order (N, H, C, W): the output is returned as an NCHW view of
that memory, which the next convolution reads without a copy.
"""
import functools

import numpy as np

from ..backend import backend_module, get_array_module, sum_per_channel
from ..core import Function


@functools.lru_cache(maxsize=256)
def _dft_matrix(xp_name, dtype, length, size, offset, half, inverse):
    """e^(∓2πi·f·(t + offset)/size) as a (frequencies, length) matrix, or (length, frequencies) for ``inverse``.

    ``half`` keeps the frequencies 0..size//2. The inverse matrix includes 1/size.
    Computed once in float64 per shape and cached per backend and dtype.
    """
    freqs = np.arange(size // 2 + 1 if half else size)
    t = np.arange(length) + offset
    if inverse:
        matrix = np.exp(2j * np.pi * np.outer(t, freqs) / size) / size
    else:
        matrix = np.exp(-2j * np.pi * np.outer(freqs, t) / size)
    complex_dtype = np.result_type(np.dtype(dtype), np.complex64)
    return backend_module(xp_name).asarray(matrix.astype(complex_dtype))


@functools.lru_cache(maxsize=256)
def _real_forward(xp_name, dtype, length, size, offset):
    """Real (length, 2·F) matrix: x @ it gives the half spectrum of x, re/im interleaved."""
    d = np.exp(-2j * np.pi * np.outer(np.arange(length) + offset, np.arange(size // 2 + 1)) / size)
    out = np.stack([d.real, d.imag], axis=-1).reshape(length, -1)
    return backend_module(xp_name).asarray(out.astype(dtype))


@functools.lru_cache(maxsize=256)
def _real_inverse(xp_name, dtype, length, size):
    """Real (2·F, length) matrix: interleaved half spectrum @ it gives the real signal (irfft, cropped).

    Frequencies other than 0 and size/2 stand for themselves and their mirror
    image, so they count twice.
    """
    freqs = np.arange(size // 2 + 1)
    weight = np.where((freqs == 0) | (2 * freqs == size), 1.0, 2.0) / size
    angle = 2 * np.pi * np.outer(freqs, np.arange(length)) / size
    out = np.stack([weight[:, None] * np.cos(angle), -weight[:, None] * np.sin(angle)], axis=1).reshape(-1, length)
    return backend_module(xp_name).asarray(out.astype(dtype))


def _as_complex(a):
    return a.view(np.result_type(a.dtype, np.complex64))


def _as_real(a):
    return a.view(a.real.dtype)


class SpectralConv2d(Function):
    """Stride-1 convolution of x (N, C, H, W) with W (OC, C, K, K) via DFT matrices; same result as Conv2d."""

    def __init__(self, padding=0):
        self.padding = padding

    def _setup(self, x, W):
        n, c, h, w = x.shape
        oc, _, kh, kw = W.shape
        p = self.padding
        self.sh, self.sw = h + 2 * p, w + 2 * p
        self.oh, self.ow = self.sh - kh + 1, self.sw - kw + 1
        self.fw = self.sw // 2 + 1
        key = (get_array_module(x).__name__, x.dtype.str)
        self.a_w = _real_forward(*key, w, self.sw, p)  # (W, 2Fw)
        self.d_h = _dft_matrix(*key, h, self.sh, p, False, False)  # (S, H)
        self.e_h = _dft_matrix(*key, self.oh, self.sh, 0, False, True)  # (OH, S)
        self.b_w = _real_inverse(*key, self.ow, self.sw)  # (2Fw, OW)
        self.dk_h = _dft_matrix(*key, kh, self.sh, 0, False, False)  # (S, K)
        self.dk_w = _dft_matrix(*key, kw, self.sw, 0, True, False)  # (Fw, K)

    def forward(self, x, W, b=None):
        xp = get_array_module(x)
        self._setup(x, W)
        n, c, h, w = x.shape
        oc = W.shape[0]
        sh, fw = self.sh, self.fw
        rows = x.transpose(0, 2, 1, 3).reshape(-1, w)  # (N·H·C, W): free when x is (N, H, C, W) in memory
        xw = _as_complex(rows @ self.a_w).reshape(n, h, c, fw)
        xf = (self.d_h @ xw.transpose(1, 0, 2, 3).reshape(h, -1)).reshape(sh, n, c, fw)
        self.xf = xp.ascontiguousarray(xf.transpose(0, 3, 1, 2)).reshape(sh * fw, n, c)
        self.mix = self._kernel_spectrum(W)  # (S·Fw, C, OC)
        yf = self.xf @ self.mix  # (S·Fw, N, OC)
        yh = (self.e_h @ yf.reshape(sh, -1)).reshape(self.oh, fw, n, oc)
        yt = xp.ascontiguousarray(yh.transpose(2, 0, 3, 1))  # (N, OH, OC, Fw)
        y = (_as_real(yt).reshape(-1, 2 * fw) @ self.b_w).reshape(n, self.oh, oc, self.ow)
        if b is not None:
            y += b[:, None]
        return y.transpose(0, 2, 1, 3)

    def backward(self, gy):
        x, W = self.inputs[0], self.inputs[1]
        xp = get_array_module(gy)
        n, c, h, w = x.shape
        oc = W.shape[0]
        sh, fw = self.sh, self.fw
        g = gy.transpose(0, 2, 1, 3).reshape(-1, self.ow)  # (N·OH·OC, OW)
        gyt = _as_complex(g @ self.b_w.T).reshape(n, self.oh, oc, fw)
        gyh = xp.ascontiguousarray(gyt.transpose(1, 3, 0, 2)).reshape(self.oh, -1)  # (OH, Fw·N·OC)
        gyf = (self.e_h.conj().T @ gyh).reshape(sh * fw, n, oc)
        gx = gW = gb = None
        if W.requires_grad:
            gW = self._kernel_spectrum_adjoint(self.xf.conj().transpose(0, 2, 1) @ gyf, W.shape)
        if x.requires_grad:
            gxf = (gyf @ self.mix.conj().transpose(0, 2, 1)).reshape(sh, fw, n, c)
            gxf = xp.ascontiguousarray(gxf.transpose(0, 2, 3, 1)).reshape(sh, -1)  # (S, N·C·Fw)
            gxw = (self.d_h.conj().T @ gxf).reshape(h, n, c, fw)
            gxw = xp.ascontiguousarray(gxw.transpose(1, 0, 2, 3))  # (N, H, C, Fw)
            gx = (_as_real(gxw).reshape(-1, 2 * fw) @ self.a_w.T).reshape(n, h, c, w).transpose(0, 2, 1, 3)
        if len(self.inputs) == 2:
            return gx, gW
        if self.inputs[2].requires_grad:
            gb = sum_per_channel(gy)
        return gx, gW, gb

    def backward_graph(self, gy):
        from .conv_grad import conv2d_backward_graph  # conv_grad builds on connection, which imports this module

        return conv2d_backward_graph(self, gy, 1, self.padding)

    def _kernel_spectrum(self, W):
        """M[f, c, oc] = conj(DFT(W[oc, c]))[f]: the correlation theorem's multiplier, per frequency."""
        oc, c, kh, kw = W.shape
        wf = W.reshape(-1, kw) @ self.dk_w.T  # (OC·C·KH, Fw)
        wf = wf.reshape(oc, c, kh, self.fw).transpose(2, 0, 1, 3).reshape(kh, -1)
        wf = (self.dk_h @ wf).reshape(self.sh, oc, c, self.fw)
        return get_array_module(W).ascontiguousarray(wf.conj().transpose(0, 3, 2, 1)).reshape(self.sh * self.fw, c, oc)

    def _kernel_spectrum_adjoint(self, g_mix, shape):
        """The transpose of ``_kernel_spectrum``: gW[oc, c, kh, kw] = Re Σ_f Dh[fh, kh] Dw[fw, kw] gM[f, c, oc]."""
        oc, c, kh, kw = shape
        g = g_mix.reshape(self.sh, self.fw, c, oc).transpose(0, 3, 2, 1).reshape(self.sh, -1)  # (S, OC·C·Fw)
        g = (self.dk_h.T @ g).reshape(kh, oc, c, self.fw).transpose(1, 2, 0, 3).reshape(-1, self.fw)
        return (g @ self.dk_w).real.reshape(oc, c, kh, kw).astype(self.inputs[1].dtype)


def spectral_pays_off(x_shape, w_shape, stride, padding=0):
    """Whether the spectral path should beat im2col for this layer, by counting multiply-adds.

    Per output pixel, im2col does 2·K²·C·OC; the spectral path does about
    4·C·OC for the per-frequency mixing plus about 8·S·(C + OC) for the DFT
    products (S = H + 2·padding, the transform size), which grow with the image.
    The spectral path also moves data between its stages, so it is chosen
    only when it needs under half the arithmetic: for this project's conv nets
    (5×5 kernels, 28×28 and smaller, 32+ channels) it needs 0.1-0.4 of it; a
    first layer with one input channel, 3×3 kernels on 28×28 images or large
    images stay with im2col.
    """
    c = x_shape[1]
    oc, _, kh, kw = w_shape
    if stride != 1 or kh != kw or kh < 3:
        return False
    size = max(x_shape[2], x_shape[3]) + 2 * padding
    spectral = 4 * c * oc + 8 * size * (c + oc)
    return spectral < 0.5 * 2 * kh * kw * c * oc

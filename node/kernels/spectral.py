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
the gradients apply each stage's transpose in reverse order: no
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
The gradients run the chain backwards: gy's spectrum (through Eᵀ and Bᵀ) is
computed once and serves both; the weight gradient multiplies it by the
input's spectrum X, which the forward kept, and the input gradient by the
mixing matrices M, which it kept too (``Spectra``).

Every product writes into its destination with ``out=``, which may be a
strided view: NumPy's BLAS writes strided rows in place, CuPy writes a
C-contiguous ``out`` directly and any other through one copy. The large arrays
come from this thread's reused arrays (``node.kernels.memory``): ``pooled``
for what lives until the backward, ``temporary`` for the rest, which share
four arrays by lifetime ("spectral a" to "d").
"""
import functools

import numpy as np

from ..backend import backend_module, get_array_module
from ..config import Config, using_config
from ..dispatch import Kernel
from ..functions.conv import square_options
from .kept import KeptForGradients, both_gradients_wanted
from .memory import pooled, temporary
from .winograd import winograd_applies, winograd_multiply_adds


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
def dft_matrices(xp_name, dtype, h, w, kh, kw, padding):
    """The five real matrices A, D, B, E, K of one layer shape (see the module docstring), computed in float64, cached."""
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


def spectral_multiply_adds(x_shape, w_shape, padding):
    """(per batch, for the kernels): the multiply-adds of a spectral forward (see ``spectral_pays_off``)."""
    n, c, h, w = x_shape
    oc, _, kh, kw = w_shape
    sh, sw = transform_size(h, kh, padding), transform_size(w, kw, padding)
    oh, ow, fw = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1, sw // 2 + 1
    per_image = 4 * c * oc * sh * fw + c * (2 * fw * h * w + 4 * sh * h * fw) + oc * (4 * ow * fw * sh + 2 * oh * sh * ow)
    return n * per_image, 2 * sh * fw * kh * kw * c * oc


def direct_multiply_adds(x_shape, w_shape, padding):
    """The multiply-adds of im2col's product (stride 1): KH·KW·C·OC per image and output position."""
    n, c, h, w = x_shape
    oc, _, kh, kw = w_shape
    return n * kh * kw * c * oc * (h + 2 * padding - kh + 1) * (w + 2 * padding - kw + 1)


def spectral_pays_off(x_shape, w_shape, stride, padding=0):
    """Whether the spectral convolution should beat im2col for this layer, by counting multiply-adds.

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
    kh, kw = w_shape[2:]
    if stride != 1 or kh < 3 or kw < 3:
        return False
    per_batch, kernels = spectral_multiply_adds(x_shape, w_shape, padding)
    return per_batch + kernels < 0.5 * direct_multiply_adds(x_shape, w_shape, padding)


# Weights of the cost model's counts (``winograd_pays_off``), set from per-layer timings (docs/performance.md).
WINOGRAD_PER_BATCH_WEIGHT = 1.6  # Winograd's transforms are memory-bound passes over arrays 4× the input's size
SPECTRAL_KERNEL_WEIGHT = 3.0  # the kernels' spectra are thin products and block copies, slow per multiply-add


def winograd_pays_off(x_shape, w_shape, padding):
    """Whether Winograd's F(4×4, r×r) should beat the spectral path or im2col (whichever would run) for this layer.

    Both fast algorithms do less arithmetic than im2col, in two parts: work
    per batch, which grows with the images, and the kernel transforms, done
    once per batch whatever its size. Winograd's kernel transform is small
    (α²·r² per kernel, 1,600 for 5×5), the spectral one large (2·Sh·Fw·KH·KW
    per kernel, 24,000 for 28×28 maps), but Winograd's work per image is
    larger than the spectral path's on the 14×14 and 7×7 maps and runs in
    memory-bound passes over arrays four times the input's size. So Winograd
    wins at small batches and the spectral path at large ones. The model
    counts multiply-adds (``winograd_multiply_adds``, ``spectral_multiply_adds``)
    and weighs the parts that run slower per multiply-add than a large
    product: Winograd's work per batch by ``WINOGRAD_PER_BATCH_WEIGHT``, the
    spectral kernel transforms by ``SPECTRAL_KERNEL_WEIGHT``. For LeNets++'s
    five 32-128 channel layers this picks Winograd at batch 8 and 16 and the
    spectral path at 32 and more, as the timings do; where the spectral path
    would not run, Winograd is compared with im2col's product, weighed 1.
    """
    if not winograd_applies(x_shape, w_shape, 1):
        return False
    per_batch, kernels = winograd_multiply_adds(x_shape, w_shape, padding)
    winograd = WINOGRAD_PER_BATCH_WEIGHT * per_batch + kernels
    if spectral_pays_off(x_shape, w_shape, 1, padding):
        spectral_batch, spectral_kernels = spectral_multiply_adds(x_shape, w_shape, padding)
        return winograd < spectral_batch + SPECTRAL_KERNEL_WEIGHT * spectral_kernels
    return winograd < direct_multiply_adds(x_shape, w_shape, padding)


ALGORITHMS = ("winograd", "spectral", "im2col")


def use_algorithm(name):
    """Make this thread's convolutions take one algorithm, whatever the cost model says (tests, benchmarks).

    "winograd": the Winograd kernels (``node.kernels.winograd``) wherever they
    can compute the result (real inputs of one dtype, stride 1, square 3×3 or
    5×5 kernels), im2col elsewhere; "spectral": the spectral kernels wherever
    they can (real inputs of one dtype, stride 1); "im2col": neither (the
    im2col kernels, else the reference). The values are the same every way.
    ``node.using_config("kernels", "reference")`` turns them all off.
    """
    if name not in ALGORITHMS:
        raise ValueError(f"use_algorithm: one of {', '.join(map(repr, ALGORITHMS))}, got {name!r}")
    return using_config("conv_algorithm", name)  # a per-thread setting, so node.compile's replays see it


def conv_algorithm(x_shape, w_shape, padding):
    """The algorithm for a stride-1 convolution of these shapes: ``use_algorithm``'s choice, else the cost model's.

    The cost model: Winograd where it can run and ``winograd_pays_off``
    says so, else spectral where ``spectral_pays_off`` says so, else im2col.
    """
    chosen = Config.conv_algorithm
    if chosen is not None:
        return chosen
    if winograd_pays_off(x_shape, w_shape, padding):
        return "winograd"
    return "spectral" if spectral_pays_off(x_shape, w_shape, 1, padding) else "im2col"


def spectral_wanted(x_shape, w_shape, padding):
    """Whether a stride-1 convolution of these shapes should go through the DFT (``conv_algorithm``)."""
    return conv_algorithm(x_shape, w_shape, padding) == "spectral"


def winograd_wanted(x_shape, w_shape, padding):
    """Whether a stride-1 convolution of these shapes should go through Winograd's tiles (``conv_algorithm``)."""
    return conv_algorithm(x_shape, w_shape, padding) == "winograd"


def whcn(x, name):
    """x (N, C, H, W) as a C-contiguous (W, H, C, N) array: a view when its memory is in that order already."""
    t = x.transpose(3, 2, 1, 0)
    if t.flags.c_contiguous:
        return t
    out = temporary(name, t.shape, x.dtype, get_array_module(x))
    out[...] = t
    return out


def kernel_spectrum(W, k, fw, sh):
    """The block matrices [[Re a, -Im a], [Im a, Re a]] (Fw, Sh, 2·OC, 2·C), a = conj(DFT(W))ᵀ per frequency."""
    xp = get_array_module(W)
    oc, c, kh, kw = W.shape
    w_cols = W.reshape(oc * c, kh * kw).T  # (KH·KW, OC·C), a view
    parts = (k @ w_cols).reshape(2, fw, sh, oc, c)  # Re a, Im a
    mix = pooled("spectral mix", (fw, sh, 2, oc, 2, c), W.dtype, xp)
    mix[:, :, 0, :, 0] = parts[0]
    mix[:, :, 1, :, 1] = parts[0]
    mix[:, :, 1, :, 0] = parts[1]
    xp.negative(parts[1], out=mix[:, :, 0, :, 1])
    return mix.reshape(fw, sh, 2 * oc, 2 * c)


def kernel_spectrum_adjoint(g_mix, k, shape):
    """The transpose of ``kernel_spectrum``: the blocks of the mixing matrices' gradient -> gW (OC, C, KH, KW)."""
    xp = get_array_module(g_mix)
    oc, c, kh, kw = shape
    fw, sh = g_mix.shape[:2]
    g = g_mix.reshape(fw, sh, 2, oc, 2, c)
    parts = xp.empty((2, fw, sh, oc, c), dtype=g_mix.dtype)
    xp.add(g[:, :, 0, :, 0], g[:, :, 1, :, 1], out=parts[0])
    xp.subtract(g[:, :, 1, :, 0], g[:, :, 0, :, 1], out=parts[1])
    gw = k.T @ parts.reshape(2 * fw * sh, oc * c)  # (KH·KW, OC·C)
    return xp.ascontiguousarray(gw.T).reshape(oc, c, kh, kw)


class Spectra(KeptForGradients):
    """What a spectral forward keeps for the two gradient kernels (``node.kernels.kept``): its inputs, X and M."""

    attribute = "spectra"

    def __init__(self, x, W, padding, xf, mix):
        super().__init__(x, W)
        self.xf, self.mix = xf, mix
        self.matrices = dft_matrices(get_array_module(x).__name__, x.dtype.str, *x.shape[2:], *W.shape[2:], padding)

    def transform_gy(self, gy):
        """gy's spectrum (Fw, Sh, 2·OC, N)."""
        a, d, bm, e, k = self.matrices
        fw, sh, ow = a.shape[0] // 2, d.shape[0] // 2, bm.shape[0] // 2
        xp = get_array_module(gy)
        n, oc, oh, _ = gy.shape
        gym = whcn(gy, "spectral a")  # (OW, OH, OC, N)
        gz = temporary("spectral b", (sh, 2, ow, oc * n), gy.dtype, xp)
        xp.matmul(e.T, gym.reshape(ow, oh, oc * n), out=gz.reshape(2 * sh, ow, oc * n).transpose(1, 0, 2))
        gyf = xp.matmul(bm.T, gz.reshape(sh, 2 * ow, oc * n), out=temporary("spectral c", (sh, 2 * fw, oc * n), gy.dtype, xp))
        return gyf.reshape(sh, fw, 2 * oc, n).transpose(1, 0, 2, 3)


class SpectralConvolution(Kernel):
    """``Convolution2D``'s forward through the DFT, for real inputs, stride 1, where it needs under half of im2col's work."""

    name = "spectral"

    def applies(self, f, x, W, b=None):
        same_dtype = x.dtype.kind == "f" and W.dtype == x.dtype and (b is None or b.dtype == x.dtype)
        options = square_options(f)  # (stride, padding) of a plain convolution, else None
        return options is not None and options[0] == 1 and same_dtype and spectral_wanted(x.shape, W.shape, options[1])

    def forward(self, f, x, W, b=None):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        oc = W.shape[0]
        _, padding = square_options(f)
        a, d, bm, e, k = dft_matrices(xp.__name__, x.dtype.str, h, w, *W.shape[2:], padding)
        fw, sh, oh, ow = a.shape[0] // 2, d.shape[0] // 2, e.shape[0], bm.shape[0] // 2
        dt = x.dtype
        xm = whcn(x, "spectral a")  # (W, H, C, N)
        t1 = xp.matmul(a, xm.reshape(w, -1), out=temporary("spectral b", (2 * fw, h * c * n), dt, xp))
        xf = xp.matmul(d, t1.reshape(fw, 2 * h, c * n), out=pooled("spectral xf", (fw, 2 * sh, c * n), dt, xp))
        del xm, t1  # their arrays are reused below: nothing may hold them any longer
        mix = kernel_spectrum(W, k, fw, sh)  # (Fw, Sh, 2·OC, 2·C)
        yf = temporary("spectral a", (sh, fw, 2 * oc, n), dt, xp)
        xp.matmul(mix, xf.reshape(fw, sh, 2 * c, n), out=yf.transpose(1, 0, 2, 3))
        z = xp.matmul(bm, yf.reshape(sh, 2 * fw, oc * n), out=temporary("spectral b", (sh, 2 * ow, oc * n), dt, xp))
        y = pooled("conv y", (ow, oh, oc, n), dt, xp)
        xp.matmul(e, z.reshape(2 * sh, ow, oc * n).transpose(1, 0, 2), out=y.reshape(ow, oh, oc * n))
        if b is not None:
            y += b[:, None]
        f.spectra = Spectra(x, W, padding, xf, mix)
        return y.transpose(3, 2, 1, 0)


class SpectralGradInput(Kernel):
    """``Convolution2DGradInput`` after a spectral forward: gy's spectrum times Mᵀ, then the transposed transforms."""

    name = "spectral"

    def applies(self, g, gy, W):
        spectra = Spectra.kept_by(g.convolution, W=W)
        return spectra is not None and gy.dtype == spectra.xf.dtype

    def forward(self, g, gy, W):
        xp = get_array_module(gy)
        spectra = g.convolution.spectra
        a, d, _, _, _ = spectra.matrices
        fw, sh = a.shape[0] // 2, d.shape[0] // 2
        n, c, h, w = g.x_shape
        dt = gy.dtype
        gyf = spectra.transformed_gy(gy, both_gradients_wanted(g.convolution))
        gxf = xp.matmul(spectra.mix.transpose(0, 1, 3, 2), gyf, out=temporary("spectral b", (fw, sh, 2 * c, n), dt, xp))
        gt1 = xp.matmul(d.T, gxf.reshape(fw, 2 * sh, c * n), out=temporary("spectral a", (fw, 2 * h, c * n), dt, xp))
        gxm = xp.matmul(a.T, gt1.reshape(2 * fw, h * c * n), out=temporary("spectral gx", (w, h * c * n), dt, xp))
        return gxm.reshape(w, h, c, n).transpose(3, 2, 1, 0)


class SpectralGradWeight(Kernel):
    """``Convolution2DGradWeight`` after a spectral forward: gy's spectrum times the kept input spectrum X, then Kᵀ."""

    name = "spectral"

    def applies(self, g, x, gy):
        spectra = Spectra.kept_by(g.convolution, x=x)
        return spectra is not None and gy.dtype == spectra.xf.dtype

    def forward(self, g, x, gy):
        xp = get_array_module(gy)
        spectra = g.convolution.spectra
        a, d, _, _, k = spectra.matrices
        fw, sh = a.shape[0] // 2, d.shape[0] // 2
        n, c = x.shape[:2]
        oc = gy.shape[1]
        gyf = spectra.transformed_gy(gy, both_gradients_wanted(g.convolution))
        xf = spectra.xf.reshape(fw, sh, 2 * c, n)
        g_mix = xp.matmul(gyf, xf.transpose(0, 1, 3, 2), out=temporary("spectral d", (fw, sh, 2 * oc, 2 * c), gy.dtype, xp))
        return kernel_spectrum_adjoint(g_mix, k, g.w_shape)

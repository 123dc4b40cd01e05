"""Fast kernels for the convolution and its two gradients (``node.functions.conv``).

Three faster ways to compute the same three Functions, registered at the end
of this module in the order they are tried:

* winograd (``node.kernels.winograd``): Winograd's minimal filtering
  F(4×4, 5×5) and F(4×4, 3×3), for real inputs, stride 1 and square 5×5 or
  3×3 kernels: 4×4 output tiles from 8×8 (6×6) input tiles, channels mixed by
  one matrix product per tile position, 6.25× (4×) fewer multiplications
  than direct convolution. Its kernel transform is small, so it wins at small
  batches. Its gradient kernels reuse the transformed input and kernels its
  forward kept.
* spectral (``node.kernels.spectral``): through the DFT, for real inputs,
  stride 1 and kernels of 3×3 and more, where it needs under half of
  im2col's arithmetic. Its gradient kernels reuse the spectra its forward kept.
* im2col: the reference's algorithm, made fast for real inputs:

  - the large arrays are reused from one training step to the next
    (``pooled`` for what lives until the backward, ``temporary`` for the rest);
  - the patch gather copies contiguous runs of KW·C values (x seen as NHWC);
  - the rows run over output positions column by column with the images
    innermost, so the product's result (OW·OH·N, OC) lies in memory as
    (W, H, N, C) and is returned as an NCHW *view* of it. Elementwise ops
    keep that memory order; pooling windows and the spectral transforms then
    slice whole planes of N·C values instead of runs of C;
  - the weight gradient reuses the forward's patch matrix;
  - for stride 1 the input gradient is a convolution of gy with the flipped
    kernel, one im2col and one product, instead of a product as large as the
    patch matrix followed by KH·KW scatter-adds (col2im), which costs more than
    twice as much. Other strides take the reference.

Both compute plain convolutions only (one group, no dilation, the same
stride and padding along both axes: ``square_options``); the reference
computes the others.

The bias gradient (a sum per channel) is one matrix-vector product over gy in
its memory order (``sum_per_channel``), whichever kernel ran the forward.

With ``node.using_config("kernels", "reference")`` none of this runs;
``with use_algorithm("im2col"):`` (or "spectral", "winograd") overrules the
cost model that chooses among them (``node.kernels.spectral.conv_algorithm``),
for tests and benchmarks.
"""
from ..backend import get_array_module, sliding_windows
from ..dispatch import Kernel, register_kernel
from ..functions.conv import Convolution2D, Convolution2DGradBias, Convolution2DGradInput, Convolution2DGradWeight, square_options
from .memory import pooled, sum_per_channel, temporary
from .spectral import SpectralConvolution, SpectralGradInput, SpectralGradWeight, use_algorithm, winograd_wanted
from .winograd import WinogradConvolution, WinogradGradInput, WinogradGradWeight

__all__ = ["ChannelSums", "Im2colConvolution", "Im2colGradInput", "Im2colGradWeight", "im2col_rows", "use_algorithm"]



def im2col_rows(x, kh, kw, stride, padding, allocate, name):
    """x (N, C, H, W) -> (rows (OW·OH·N, KH·KW·C), OH, OW): the patches in (OW, OH, N) order, into a reused array.

    ``allocate(name, shape, dtype, xp)`` gives the rows' array (``pooled`` or a
    temporary). The padded copy is a temporary whose border alone is zeroed;
    the rows are one strided copy of the windows.
    """
    xp = get_array_module(x)
    x = x.transpose(0, 2, 3, 1)  # a view (N, H, W, C)
    n, h, w, c = x.shape
    p = padding
    if p:
        padded = temporary(name + " padded", (n, h + 2 * p, w + 2 * p, c), x.dtype, xp)
        padded[:, :p] = 0
        padded[:, p + h :] = 0
        padded[:, p : p + h, :p] = 0
        padded[:, p : p + h, p + w :] = 0
        padded[:, p : p + h, p : p + w] = x
        x = padded
    windows = sliding_windows(x, kh, kw, stride).transpose(2, 1, 0, 3, 4, 5)  # view (OW, OH, N, KH, KW, C)
    ow, oh = windows.shape[:2]
    rows = allocate(name, (n * oh * ow, kh * kw * c), x.dtype, xp)
    rows.reshape(windows.shape)[...] = windows
    return rows, oh, ow


def rows_as_nchw(rows, n, oh, ow):
    """Rows (OW·OH·N, C) in ``im2col_rows``' order as an (N, C, OH, OW) view."""
    return rows.reshape(ow, oh, n, -1).transpose(2, 3, 1, 0)


def nchw_as_rows(gy):
    """gy (N, C, OH, OW) as C-contiguous rows (OW·OH·N, C): a view when its memory is in that order, else one copy."""
    t = gy.transpose(3, 2, 0, 1)
    if not t.flags.c_contiguous:
        out = temporary("im2col gy", t.shape, gy.dtype, get_array_module(gy))
        out[...] = t
        t = out
    return t.reshape(-1, gy.shape[1])


def _real_and_alike(*arrays):
    """Whether the arrays (None for a missing bias) are real floating-point arrays of one dtype."""
    dtype = arrays[0].dtype
    return dtype.kind == "f" and all(a is None or a.dtype == dtype for a in arrays)


class Patches:
    """What an im2col forward keeps for the weight gradient's kernel: its input x (the very array) and x's rows."""

    def __init__(self, x, rows):
        self.x, self.rows = x, rows


class Im2colConvolution(Kernel):
    """``Convolution2D``'s forward: one product of reused patch rows with W, its result in (W, H, N, C) memory."""

    name = "im2col"

    def applies(self, f, x, W, b=None):
        return square_options(f) is not None and _real_and_alike(x, W, b)

    def forward(self, f, x, W, b=None):
        xp = get_array_module(x)
        oc, c, kh, kw = W.shape
        stride, padding = square_options(f)
        rows, oh, ow = im2col_rows(x, kh, kw, stride, padding, pooled, "im2col rows")
        w_rows = W.transpose(0, 2, 3, 1).reshape(oc, kh * kw * c)  # (OC, KH·KW·C), matching the rows
        y = xp.matmul(rows, w_rows.T, out=pooled("conv y", (len(rows), oc), x.dtype, xp))  # (OW·OH·N, OC)
        if b is not None:
            y += b
        f.patches = Patches(x, rows)
        return rows_as_nchw(y, x.shape[0], oh, ow)


class Im2colGradInput(Kernel):
    """``Convolution2DGradInput`` for stride 1 and square kernels: gx = conv(pad(gy, K - 1 - padding), W rotated 180°).

    The channels swap roles (OC in, C out); one im2col of gy and one product.
    """

    name = "im2col"

    def applies(self, g, gy, W):
        kh, kw = W.shape[2:]
        options = square_options(g.convolution)
        return options is not None and options[0] == 1 and kh == kw and options[1] <= kh - 1 and _real_and_alike(gy, W)

    def forward(self, g, gy, W):
        xp = get_array_module(gy)
        oc, c, kh, kw = W.shape
        n, _, h, w = g.x_shape
        flipped = W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * oc, c)  # rows (KH, KW, OC)
        _, padding = square_options(g.convolution)
        rows, _, _ = im2col_rows(gy, kh, kw, 1, kh - 1 - padding, temporary, "im2col gy rows")
        gx = xp.matmul(rows, flipped, out=temporary("im2col gx", (len(rows), c), gy.dtype, xp))
        return rows_as_nchw(gx, n, h, w)


class Im2colGradWeight(Kernel):
    """``Convolution2DGradWeight``: gy's rows times the patch rows, those of the forward when it was an im2col one."""

    name = "im2col"

    def applies(self, g, x, gy):
        return square_options(g.convolution) is not None and _real_and_alike(x, gy)

    def forward(self, g, x, gy):
        xp = get_array_module(gy)
        oc, c, kh, kw = g.w_shape
        patches = getattr(g.convolution, "patches", None)
        if patches is not None and patches.x is x:
            rows = patches.rows
        else:
            stride, padding = square_options(g.convolution)
            rows, _, _ = im2col_rows(x, kh, kw, stride, padding, temporary, "im2col rows")
        gw = (nchw_as_rows(gy).T @ rows).reshape(oc, kh, kw, c).transpose(0, 3, 1, 2)
        return xp.ascontiguousarray(gw)


class ChannelSums(Kernel):
    """``Convolution2DGradBias``: gy's sum per channel as a product with ones over gy's memory order."""

    name = "channel sums"

    def applies(self, g, gy):
        return _real_and_alike(gy)

    def forward(self, g, gy):
        return sum_per_channel(gy)


# Tried in this order: the spectral kernels where they apply, im2col for the other real inputs,
# and the reference (node.functions.conv) for everything else.
for _function, _kernels in (
    (Convolution2D, (WinogradConvolution(winograd_wanted), SpectralConvolution(), Im2colConvolution())),
    (Convolution2DGradInput, (WinogradGradInput(), SpectralGradInput(), Im2colGradInput())),
    (Convolution2DGradWeight, (WinogradGradWeight(), SpectralGradWeight(), Im2colGradWeight())),
    (Convolution2DGradBias, (ChannelSums(),)),
):
    for _kernel in _kernels:
        register_kernel(_function, _kernel)

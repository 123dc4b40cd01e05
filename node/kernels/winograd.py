"""Convolution by Winograd's minimal filtering: fewer multiplications per output for small batches.

A K×K correlation computes every output from K² products per channel pair.
Winograd's algorithm F(m×m, r×r) (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016) computes an m×m *tile* of outputs of an
r×r kernel from an α×α tile of input, α = m + r - 1, with only α² products
per channel pair instead of m²·r²:

    y_tile = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

d (α×α) is the input tile, g (r×r) the kernel, and the three small matrices
come from evaluating polynomials at α - 1 points and infinity (Toom-Cook;
``toom_cook`` builds them exactly, with fractions):

* G (α×r) takes the kernel to its α values at the points (the
  "transformed kernel" U = G g Gᵀ);
* Bᵀ (α×α) takes the input tile to the matching α values (V = Bᵀ d B);
* Aᵀ (m×α) interpolates the products back to the m outputs.

Summed over input channels, the elementwise product becomes, for each of the
α² positions ξ of a tile, one matrix product over channels,

    Y[ξ] (tiles·N, OC) = V[ξ] (tiles·N, C) @ U[ξ]ᵀ (C, OC)

a batch of α² matrix products with every tile of every image as a row: the
large products BLAS is good at, even for a batch of 8 images. The transforms
are thin matrix products (inner dimension α or m) over whole arrays, and the
kernel transform is one product with G⊗G (α² × r², 64 × 25): small beside the
spectral path's, which transforms every kernel to a whole image's frequencies.
That is why Winograd wins at small batches, where the kernel transforms are
not amortised, and the spectral path, which does less work per image, at
large ones (``node.kernels.spectral.winograd_pays_off``).

Which F: F(4×4, 5×5) (α = 8, points 0, ±1, ±2, ±1/2 and infinity) for 5×5
kernels, F(4×4, 3×3) (α = 6, points 0, ±1, ±2) for 3×3 ones. F(4×4, 5×5)
needs 64 products for 16 outputs where direct convolution needs 400: 6.25×
fewer, against 2.8× for F(2×2, 5×5) and 4.6× for F(3×3, 5×5); tiles of 4
also fit the 28, 14 and 7 pixel maps of this project's nets (7, 4 and 2 tiles).
Larger tiles need larger points, whose powers lose float32 accuracy; for these
three F(·, 5×5) the float32 error against a float64 reference grows by less
than a factor of two from the smallest tile to the largest (docs/performance.md
has the numbers), so the one with the least arithmetic is used. Every
float64 result agrees with the reference to rounding: the algorithm is exact,
not an approximation.

Shapes (one layer, stride 1, padding p, output OH×OW in TH×TW tiles of m,
P = TW·TH·N rows; activations live in memory as (W, H, N, C), like im2col's,
and are returned as NCHW views)::

    x --pad, cut into overlapping α×α tiles--> D (α, α, TW, TH, N, C)
      --Bᵀ on axis 0, then on axis 1--> V (α², P, C)              input transform
    W (OC, C, r, r) --G⊗G, one product--> U (α², OC, C)          kernel transform
    Y = V @ Uᵀ, per ξ (α², P, OC)                                  channel mixing
      --Aᵀ on axis 0, then on axis 1--> (m, m, TW, TH, N, OC)
      --tiles back in place, cropped to OH×OW--> y (OW, OH, N, OC)  output transform

Every stage is linear, so the gradients run each stage's transpose in
reverse order, exactly: gy's tiles go through A on both axes (gY, computed
once for both gradients); the input gradient is gY @ U, then B on both axes,
and the overlapping tiles added back where they came from; the weight
gradient is gYᵀ @ V, then (G⊗G)ᵀ. The forward keeps V and U for them
(``Tiles``).

The large arrays come from this thread's reused arrays (``node.kernels.memory``):
``pooled`` for what lives until the backward (V, U, y), ``temporary`` for the
rest.
"""
import functools
from fractions import Fraction

import numpy as np

from ..backend import backend_module, get_array_module
from ..dispatch import Kernel
from ..functions.conv import square_options
from .kept import KeptForGradients, both_gradients_wanted
from .memory import pooled, temporary

# Kernel size r -> (tile size m, the α - 1 finite points). Other kernel sizes take the other algorithms.
TILES = {
    3: (4, (0, 1, -1, 2, -2)),
    5: (4, (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2))),
}


def _polynomial_product(a, b):
    """The coefficients (lowest first) of the product of two polynomials given by theirs."""
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, u in enumerate(a):
        for j, v in enumerate(b):
            out[i + j] += u * v
    return out


def toom_cook(m, r, points):
    """The matrices A (α×m), G (α×r), B (α×α) of F(m, r) at these α - 1 points and infinity, as exact fractions.

    One-dimensional correlation y_i = Σ_k g_k d_{i+k} (i < m, k < r) is the
    transpose of a polynomial product: s(x) = g(x)·h(x), deg g = r - 1, deg h = m - 1,
    is evaluated at the points (and its leading coefficient "at infinity"),
    multiplied there, and interpolated back (Lagrange). So
    y = Aᵀ[(G g) ⊙ (Bᵀ d)] with A[j, i] = p_j^i, G[j, k] = p_j^k / Π_{l≠j}(p_j - p_l),
    and the columns of B the coefficients of Π_{l≠j}(x - p_l) (and, for
    infinity, of Π_l(x - p_l)); the Lagrange denominators sit in G.
    """
    alpha = m + r - 1
    points = [Fraction(p) for p in points]
    if len(points) != alpha - 1 or len(set(points)) != alpha - 1:
        raise ValueError(f"toom_cook: F({m}, {r}) needs {alpha - 1} distinct points, got {points}")
    a = [[p**i for i in range(m)] for p in points] + [[Fraction(int(i == m - 1)) for i in range(m)]]
    g = []
    b = [[Fraction(0)] * alpha for _ in range(alpha)]
    for j, p in enumerate(points):
        others = [q for q in points if q != p]
        poly = [Fraction(1)]
        denominator = Fraction(1)
        for q in others:
            poly = _polynomial_product(poly, [-q, Fraction(1)])
            denominator *= p - q
        g.append([p**k / denominator for k in range(r)])
        for i, c in enumerate(poly):
            b[i][j] = c
    g.append([Fraction(int(k == r - 1)) for k in range(r)])
    poly = [Fraction(1)]
    for q in points:
        poly = _polynomial_product(poly, [-q, Fraction(1)])
    for i, c in enumerate(poly):
        b[i][alpha - 1] = c
    return a, g, b


@functools.lru_cache(maxsize=32)
def winograd_matrices(xp_name, dtype, r):
    """Aᵀ (m×α), A (α×m), GG (α²×r²), Bᵀ (α×α), B for r×r kernels, in ``dtype`` on the backend ``xp_name``, cached.

    GG is G⊗G: it applies G to both axes of a kernel g (r_h, r_w) flattened row by row,
    its rows in the (ξ_w, ξ_h) order of the tiles' axes (W first):
    GG[(j, i), (k, l)] = G[i, k]·G[j, l], so GG vec(g) = vec((G g Gᵀ)ᵀ).
    """
    m, points = TILES[r]
    a, g, b = (np.array([[float(v) for v in row] for row in t]) for t in toom_cook(m, r, points))
    xp = backend_module(xp_name)
    return tuple(xp.asarray(np.ascontiguousarray(t), dtype=dtype) for t in (a.T, a, np.einsum("ik,jl->jikl", g, g).reshape(len(g) ** 2, r * r), b.T, b))


def winograd_applies(x_shape, w_shape, stride):
    """Whether this module computes a convolution of these shapes: stride 1, square kernels of a size in ``TILES``."""
    kh, kw = w_shape[2:]
    return stride == 1 and kh == kw and kh in TILES


def winograd_multiply_adds(x_shape, w_shape, padding):
    """(per batch, for the kernels): the multiply-adds of a Winograd forward, counted as the products do them.

    Per tile and channel pair, α² for the mixing; per tile and input channel,
    2·α³ for the input transform (two thin products of α); per tile and
    output channel, m·α² + m²·α for the output transform; once per batch,
    α²·r² per kernel for the kernel transform (one product with GG).
    """
    n, c, h, w = x_shape
    oc, _, r, _ = w_shape
    m, alpha, _, th, tw = tile_counts(h, w, r, padding)
    tiles = n * th * tw
    per_batch = tiles * (alpha * alpha * c * oc + 2 * alpha**3 * c + (m * alpha * alpha + m * m * alpha) * oc)
    return per_batch, alpha * alpha * r * r * c * oc


def tile_counts(h, w, r, padding):
    """(m, α, blocks, TH, TW): the tile size, the input tile size, input blocks per tile, and tiles along H and W."""
    m, _ = TILES[r]
    oh, ow = h + 2 * padding - r + 1, w + 2 * padding - r + 1
    alpha = m + r - 1
    return m, alpha, -(-alpha // m), -(-oh // m), -(-ow // m)


def image_pieces(size, m, tiles):
    """The (tile slice, within-tile slice, image slice) pieces that put ``tiles`` tiles of m back into ``size`` values.

    Whole tiles first, then the last tile's first values when size is not a
    multiple of m (the rest of it lies past the image and is dropped).
    """
    full = size // m
    pieces = [(slice(0, full), slice(0, m), slice(0, full * m))] if full else []
    if full < tiles:
        pieces.append((slice(full, full + 1), slice(0, size - full * m), slice(full * m, size)))
    return pieces


def tiles_to_image(o, out):
    """Copy tiles o (m, m, TW, TH, N, C) into out (OW, OH, N, C), cropping what lies past the image."""
    m = o.shape[0]
    for tw, jw, sw in image_pieces(out.shape[0], m, o.shape[2]):
        for th, jh, sh in image_pieces(out.shape[1], m, o.shape[3]):
            part = out[sw, sh]
            part.reshape(tw.stop - tw.start, jw.stop, th.stop - th.start, jh.stop, *out.shape[2:])[...] = o[jw, jh, tw, th].transpose(2, 0, 3, 1, 4, 5)


def image_to_tiles(image, o):
    """The transpose of ``tiles_to_image``: image (OW, OH, N, C) cut into tiles o (m, m, TW, TH, N, C), zeros past the image."""
    m = o.shape[0]
    ow, oh = image.shape[:2]
    if ow % m or oh % m:
        o[...] = 0
    for tw, jw, sw in image_pieces(ow, m, o.shape[2]):
        for th, jh, sh in image_pieces(oh, m, o.shape[3]):
            part = image[sw, sh]
            o[jw, jh, tw, th] = part.reshape(tw.stop - tw.start, jw.stop, th.stop - th.start, jh.stop, *image.shape[2:]).transpose(1, 3, 0, 2, 4, 5)


def as_whnc(x, name):
    """x (N, C, H, W) as a C-contiguous (W, H, N, C) array: a view when its memory is in that order already."""
    t = x.transpose(3, 2, 0, 1)
    if t.flags.c_contiguous:
        return t
    out = temporary(name, t.shape, x.dtype, get_array_module(x))
    out[...] = t
    return out


def input_tiles(x, r, padding):
    """D (α, α, TW, TH, N, C): x (N, C, H, W) padded and cut into overlapping α×α tiles m apart, copied once."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    m, alpha, blocks, th, tw = tile_counts(h, w, r, padding)
    hp, wp = (th + blocks - 1) * m, (tw + blocks - 1) * m  # whole blocks of m, at least what the tiles read
    p = padding
    padded = temporary("winograd padded", (wp, hp, n, c), x.dtype, xp)
    padded[:p] = 0
    padded[p + w :] = 0
    padded[p : p + w, :p] = 0
    padded[p : p + w, p + h :] = 0
    padded[p : p + w, p : p + h] = x.transpose(3, 2, 0, 1)
    s = padded.strides
    windows = xp.lib.stride_tricks.as_strided(padded, (alpha, alpha, tw, th, n, c), (s[0], s[1], m * s[0], m * s[1], s[2], s[3]))
    d = temporary("winograd a", windows.shape, x.dtype, xp)
    d[...] = windows  # read only: the windows overlap
    return d


def add_input_tiles(gd, x_shape, r, padding, out):
    """The transpose of ``input_tiles``: tiles gd (α, α, TW, TH, N, C) added back where they were cut, into out (W, H, N, C)."""
    xp = get_array_module(gd)
    n, c, h, w = x_shape
    m, alpha, blocks, th, tw = tile_counts(h, w, r, padding)
    hp, wp = (th + blocks - 1) * m, (tw + blocks - 1) * m
    padded = temporary("winograd padded", (wp, hp, n, c), gd.dtype, xp)
    by_block = padded.reshape(tw + blocks - 1, m, th + blocks - 1, m, n, c)
    by_block[tw:] = 0  # the blocks that the first block of every tile does not cover
    by_block[:tw, :, th:] = 0
    for bw in range(blocks):
        jw = min(m, alpha - bw * m)
        for bh in range(blocks):
            jh = min(m, alpha - bh * m)
            part = gd[bw * m : bw * m + jw, bh * m : bh * m + jh].transpose(2, 0, 3, 1, 4, 5)
            if bw == bh == 0:
                by_block[:tw, :, :th] = part  # whole blocks: α >= m
            else:
                by_block[bw : bw + tw, :jw, bh : bh + th, :jh] += part
    out[...] = padded[padding : padding + w, padding : padding + h]
    return out


def kernel_transform(W, gg):
    """U (α², OC, C): G g Gᵀ for every kernel g = W[oc, c], as one product with GG = G⊗G (α², r²) reading W as it lies."""
    xp = get_array_module(W)
    oc, c, r, _ = W.shape
    u = pooled("winograd u", (gg.shape[0], oc * c), W.dtype, xp)
    xp.matmul(gg, W.reshape(oc * c, r * r).T, out=u)
    return u.reshape(-1, oc, c)


def kernel_transform_adjoint(gu, gg, w_shape):
    """The transpose of ``kernel_transform``: gU (α², OC, C) -> gW (OC, C, r, r) = (G⊗G)ᵀ gU."""
    oc, c, r, _ = w_shape
    return (gu.reshape(gg.shape[0], oc * c).T @ gg).reshape(w_shape)


# Columns per matrix in ``thin_product``: OpenBLAS runs a product with a thin left factor (k×α, α ≤ 8)
# and hundreds of thousands of columns many times slower than the same work cut into blocks of this many.
THIN_COLUMNS = 4096


def thin_product(t, d, out):
    """out (..., k, n) = t (k×α) @ d (..., α, n), the n columns cut into blocks of ``THIN_COLUMNS`` (one batched product)."""
    xp = get_array_module(d)
    k, alpha = t.shape
    n = d.shape[-1]
    d3, out3 = d.reshape(-1, alpha, n), out.reshape(-1, k, n)
    full = n // THIN_COLUMNS
    if full:
        cut = full * THIN_COLUMNS
        blocks = d3[:, :, :cut].reshape(-1, alpha, full, THIN_COLUMNS).transpose(0, 2, 1, 3)
        xp.matmul(t, blocks, out=out3[:, :, :cut].reshape(-1, k, full, THIN_COLUMNS).transpose(0, 2, 1, 3))
    if n % THIN_COLUMNS:
        xp.matmul(t, d3[:, :, full * THIN_COLUMNS :], out=out3[:, :, full * THIN_COLUMNS :])
    return out


def transform_both_axes(t, d, out_name, out_dtype, allocate):
    """t (k×α) applied to axes 0 and 1 of d (α, α, rest...): (k, k, rest...), as two thin products into reused arrays."""
    xp = get_array_module(d)
    k, alpha = t.shape
    rest = d.shape[2:]
    size = d[0, 0].size
    half = thin_product(t, d.reshape(alpha, alpha * size), temporary("winograd half", (k, alpha * size), out_dtype, xp))
    out = allocate(out_name, (k, k) + rest, out_dtype, xp)
    thin_product(t, half.reshape(k, alpha, size), out.reshape(k, k, size))
    return out


class Tiles(KeptForGradients):
    """What a Winograd forward keeps for the two gradient kernels (``node.kernels.kept``): its inputs, V and U."""

    attribute = "winograd"

    def __init__(self, x, W, padding, v, u):
        super().__init__(x, W)
        self.padding, self.v, self.u = padding, v, u

    def transform_gy(self, gy):
        """gY (α², P, OC): gy cut into tiles and taken through A on both axes."""
        xp = get_array_module(gy)
        n, oc, oh, ow = gy.shape
        r = self.W.shape[2]
        _, a, _, _, _ = winograd_matrices(xp.__name__, gy.dtype.str, r)
        m, alpha, _, th, tw = tile_counts(*self.x.shape[2:], r, self.padding)
        go = temporary("winograd a", (m, m, tw, th, n, oc), gy.dtype, xp)
        image_to_tiles(gy.transpose(3, 2, 0, 1), go)
        return transform_both_axes(a, go, "winograd gy", gy.dtype, temporary).reshape(alpha * alpha, -1, oc)


def _real_and_alike(x, W, b=None):
    return x.dtype.kind == "f" and W.dtype == x.dtype and (b is None or b.dtype == x.dtype)


class WinogradConvolution(Kernel):
    """``Convolution2D``'s forward by Winograd's F(4×4, r×r), for real inputs, stride 1, square 3×3 or 5×5 kernels."""

    name = "winograd"

    def __init__(self, wanted):
        self.wanted = wanted  # (x_shape, w_shape, padding) -> whether the algorithm choice is this one

    def applies(self, f, x, W, b=None):
        options = square_options(f)  # (stride, padding) of a plain convolution, else None
        return (
            options is not None
            and _real_and_alike(x, W, b)
            and winograd_applies(x.shape, W.shape, options[0])
            and self.wanted(x.shape, W.shape, options[1])
        )

    def forward(self, f, x, W, b=None):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        oc, _, r, _ = W.shape
        _, padding = square_options(f)
        at, _, gg, bt, _ = winograd_matrices(xp.__name__, x.dtype.str, r)
        m, alpha, _, th, tw = tile_counts(h, w, r, padding)
        dt = x.dtype
        d = input_tiles(x, r, padding)  # (α, α, TW, TH, N, C)
        v = transform_both_axes(bt, d, "winograd v", dt, pooled).reshape(alpha * alpha, -1, c)  # (α², P, C)
        del d
        u = kernel_transform(W, gg)  # (α², OC, C)
        mixed = xp.matmul(v, u.transpose(0, 2, 1), out=temporary("winograd a", (alpha * alpha, v.shape[1], oc), dt, xp))
        o = transform_both_axes(at, mixed.reshape(alpha, alpha, tw, th, n, oc), "winograd b", dt, temporary)
        del mixed
        oh, ow = h + 2 * padding - r + 1, w + 2 * padding - r + 1
        y = pooled("conv y", (ow, oh, n, oc), dt, xp)
        tiles_to_image(o, y)
        if b is not None:
            y += b
        f.winograd = Tiles(x, W, padding, v, u)
        return y.transpose(2, 3, 1, 0)


class WinogradGradInput(Kernel):
    """``Convolution2DGradInput`` after a Winograd forward: gY @ Uᵀ, then B on both axes, tiles added back in place."""

    name = "winograd"

    def applies(self, g, gy, W):
        tiles = Tiles.kept_by(g.convolution, W=W)
        return tiles is not None and gy.dtype == tiles.v.dtype

    def forward(self, g, gy, W):
        xp = get_array_module(gy)
        tiles = g.convolution.winograd
        n, c, h, w = g.x_shape
        r = W.shape[2]
        _, _, _, _, b = winograd_matrices(xp.__name__, gy.dtype.str, r)
        m, alpha, _, th, tw = tile_counts(h, w, r, tiles.padding)
        gyt = tiles.transformed_gy(gy, both_gradients_wanted(g.convolution))
        gv = xp.matmul(gyt, tiles.u, out=temporary("winograd b", (alpha * alpha, gyt.shape[1], c), gy.dtype, xp))
        gd = transform_both_axes(b, gv.reshape(alpha, alpha, tw, th, n, c), "winograd a", gy.dtype, temporary)
        del gv
        gx = temporary("winograd gx", (w, h, n, c), gy.dtype, xp)
        add_input_tiles(gd, g.x_shape, r, tiles.padding, gx)
        return gx.transpose(2, 3, 1, 0)


class WinogradGradWeight(Kernel):
    """``Convolution2DGradWeight`` after a Winograd forward: Vᵀ @ gY, then Gᵀ on both kernel axes."""

    name = "winograd"

    def applies(self, g, x, gy):
        tiles = Tiles.kept_by(g.convolution, x=x)
        return tiles is not None and gy.dtype == tiles.v.dtype

    def forward(self, g, x, gy):
        xp = get_array_module(gy)
        tiles = g.convolution.winograd
        r = g.w_shape[2]
        _, _, gg, _, _ = winograd_matrices(xp.__name__, gy.dtype.str, r)
        gyt = tiles.transformed_gy(gy, both_gradients_wanted(g.convolution))
        gu = xp.matmul(gyt.transpose(0, 2, 1), tiles.v)  # (α², OC, C)
        return kernel_transform_adjoint(gu, gg, g.w_shape)

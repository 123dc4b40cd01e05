"""Fast kernels for batch normalization (``node.functions.normalization``): passes over rows in memory order.

A convolution leaves its output in a channels-interleaved memory order
((W, H, N, C) for im2col's), where NumPy broadcasting a per-channel vector
over (N, C, H, W) runs short, strided inner loops. Seen in its own memory
order as a matrix (outer, C·inner) (``channel_rows``), the same array has
long contiguous rows along which a per-channel vector v acts as the row
repeat(v, inner). Every per-channel step is then one pass over memory,
written into reused arrays (``pooled`` for the output, kept until the
backward; ``temporary`` for the rest); per-channel sums are einsums, which
start no BLAS threads. The gradient's kernel recomputes x - μ rather than
keeping x̂ from the forward.

With numba installed, the "compiled" kernels do the same in fewer passes
(``node.kernels.compiled``): the variance without writing x - μ, the output
(x - μ)·s + β in one pass instead of three, and the gradient's two
per-channel sums together in one pass over x and gy and gx in one more. The
elementwise arithmetic is NumPy's, in its order; the per-channel sums add
along each column in row order, as NumPy's einsum does (equal to it, or
within a few units in the last place where einsum's order differs).

These kernels run on NumPy arrays of one real float dtype whose memory is
some order of their axes; everything else takes the reference.
"""
import numpy as np

from ..backend import get_array_module, on_host
from ..dispatch import Kernel, register_kernel
from ..functions.normalization import BatchNormalization, BatchNormalizationGrad
from . import compiled
from .memory import channel_matrix, memory_order, pooled, temporary


def channel_rows(x, *params):
    """x's channel matrix (rows (outer, C·inner), inner) where the row kernels apply, else (None, 0).

    They apply to x on the host, of a real float dtype that every array in
    ``params`` (None skipped) shares, so that nothing is promoted, and lying in
    memory as some order of its axes (see ``node.kernels.memory.channel_matrix``).
    """
    if not on_host(x, *params) or x.dtype.kind != "f" or any(p is not None and p.dtype != x.dtype for p in params):
        return None, 0
    return channel_matrix(x)


def channel_sums(rows, inner):
    """Σ per channel of a channel matrix (outer, C·inner): a (C,) array."""
    return get_array_module(rows).einsum("ij->j", rows).reshape(-1, inner).sum(axis=1)


def channel_dot(a, b, inner):
    """Σ per channel of a·b for two channel matrices of one layout, without the product array."""
    return get_array_module(a).einsum("ij,ij->j", a, b).reshape(-1, inner).sum(axis=1)


def like(x, allocate, name, shape=None, dtype=None):
    """An uninitialised array of ``shape`` and ``dtype`` (default x's) whose axes lie in memory in x's order.

    ``allocate`` is ``pooled`` for an array that lives until the backward, or
    ``temporary`` for a temporary or a gradient that the next backward consumes.
    """
    shape = x.shape if shape is None else tuple(shape)
    order = memory_order(x) or tuple(range(x.ndim))
    buffer = allocate(name, tuple(shape[i] for i in order), x.dtype if dtype is None else dtype, get_array_module(x))
    return buffer.transpose(tuple(order.index(i) for i in range(x.ndim)))



def rows_of(a, x, name):
    """a's channel matrix in x's layout: a view when a lies in memory as x does, else one copy into scratch."""
    if a.shape != x.shape or memory_order(a) is None or memory_order(a) != memory_order(x):
        copy = like(x, temporary, name)
        copy[...] = a
        a = copy
    return channel_matrix(a)[0]


class BatchNormalizationRows(Kernel):
    """``BatchNormalization``'s forward as passes over x's rows, into a reused output in x's memory order."""

    name = "rows"

    def applies(self, f, x, gamma, beta):
        statistics = () if f.training else (f.running_mean, f.running_var)
        return channel_rows(x, gamma, beta, *statistics)[0] is not None

    def forward(self, f, x, gamma, beta):
        xp = get_array_module(x)
        rows, inner = channel_matrix(x)
        y = like(x, pooled, "batch_norm y")
        out, _ = channel_matrix(y)
        if f.training:
            m = x.size // x.shape[1]
            mean = channel_sums(rows, inner) / m
            xp.subtract(rows, xp.repeat(mean, inner), out=out)
            var = channel_dot(out, out, inner) / m
            f.update_running_statistics(mean, var, m)
        else:
            mean, var = f.running_mean, f.running_var
            xp.subtract(rows, xp.repeat(mean, inner), out=out)
        f.mean, f.inv_std = mean, 1 / xp.sqrt(var + f.eps)
        xp.multiply(out, xp.repeat(gamma * f.inv_std, inner), out=out)
        xp.add(out, xp.repeat(beta, inner), out=out)
        return y


class BatchNormalizationGradRows(Kernel):
    """``BatchNormalizationGrad``'s forward as passes over rows in x's memory order (gy is lined up with it first).

    In training: gx = γ·s·gy - γ·s·Σgy/m - γ·s²·Σ(gy·(x - μ))/m · (x - μ), per channel.
    """

    name = "rows"

    def applies(self, g, x, gamma, gy):
        return channel_rows(x, gamma, gy, g.mean, g.inv_std)[0] is not None

    def forward(self, g, x, gamma, gy):
        xp = get_array_module(x)
        rows, inner = channel_matrix(x)
        grows = rows_of(gy, x, "elementwise a")
        gbeta = channel_sums(grows, inner)
        centered = like(x, temporary, "elementwise b")
        c, _ = channel_matrix(centered)
        xp.subtract(rows, xp.repeat(g.mean, inner), out=c)
        ggamma = channel_dot(c, grows, inner) * g.inv_std
        scale = gamma * g.inv_std
        gx = like(x, temporary, "batch_norm gx")
        out, _ = channel_matrix(gx)
        xp.multiply(grows, xp.repeat(scale, inner), out=out)
        if g.training:
            m = x.size // x.shape[1]
            xp.multiply(c, xp.repeat(-scale * g.inv_std * ggamma / m, inner), out=c)
            xp.add(c, xp.repeat(-scale * gbeta / m, inner), out=c)
            xp.add(out, c, out=out)
        return gx, ggamma, gbeta


def compiled_rows(loops, x, *params):
    """x's channel matrix where the compiled ``loops`` apply (see ``channel_rows``) and are compiled for x's dtype, else (None, 0)."""
    rows, inner = channel_rows(x, *params)
    if rows is None or not compiled.enabled(x) or any(compiled.loop(name, x.dtype) is None for name in loops):
        return None, 0
    return rows, inner


def column_sums(sums, inner):
    """Per-column sums (C·inner,) of a channel matrix added up per channel: (C,)."""
    return sums.reshape(-1, inner).sum(axis=1)


class BatchNormalizationCompiled(Kernel):
    """``BatchNormalization``'s forward as compiled passes over x's rows: Σ(x - μ)² without writing it, then (x - μ)·s + β."""

    name = "compiled"
    loops = ("centered_square_sums", "scale_shift")

    def applies(self, f, x, gamma, beta):
        statistics = () if f.training else (f.running_mean, f.running_var)
        return compiled_rows(self.loops, x, gamma, beta, *statistics)[0] is not None

    def forward(self, f, x, gamma, beta):
        rows, inner = channel_matrix(x)
        y = like(x, pooled, "batch_norm y")
        out, _ = channel_matrix(y)
        if f.training:
            m = x.size // x.shape[1]
            mean = channel_sums(rows, inner) / m
            squares = np.empty(rows.shape[1], x.dtype)
            compiled.loop("centered_square_sums", x.dtype)(rows, np.repeat(mean, inner), squares)
            var = column_sums(squares, inner) / m
            f.update_running_statistics(mean, var, m)
        else:
            mean, var = f.running_mean, f.running_var
        f.mean, f.inv_std = mean, 1 / np.sqrt(var + f.eps)
        repeat = lambda v: np.repeat(v, inner)
        compiled.loop("scale_shift", x.dtype)(rows, repeat(mean), repeat(gamma * f.inv_std), repeat(beta), out)
        return y


class BatchNormalizationGradCompiled(Kernel):
    """``BatchNormalizationGrad``'s forward as compiled passes: Σgy and Σ(x - μ)·gy in one, gx in one more (in training)."""

    name = "compiled"
    loops = ("batch_norm_grad_sums", "batch_norm_grad")

    def applies(self, g, x, gamma, gy):
        return compiled_rows(self.loops, x, gamma, gy, g.mean, g.inv_std)[0] is not None

    def forward(self, g, x, gamma, gy):
        rows, inner = channel_matrix(x)
        grows = rows_of(gy, x, "elementwise a")
        width = rows.shape[1]
        mean = np.repeat(g.mean, inner)
        gbeta_columns, dot_columns = np.empty(width, x.dtype), np.empty(width, x.dtype)
        compiled.loop("batch_norm_grad_sums", x.dtype)(rows, grows, mean, gbeta_columns, dot_columns)
        gbeta = column_sums(gbeta_columns, inner)
        ggamma = column_sums(dot_columns, inner) * g.inv_std
        scale = gamma * g.inv_std
        gx = like(x, temporary, "batch_norm gx")
        out, _ = channel_matrix(gx)
        if g.training:
            m = x.size // x.shape[1]
            slope, offset = -scale * g.inv_std * ggamma / m, -scale * gbeta / m
            compiled.loop("batch_norm_grad", x.dtype)(rows, grows, mean, np.repeat(scale, inner), np.repeat(slope, inner), np.repeat(offset, inner), out)
        else:
            np.multiply(grows, np.repeat(scale, inner), out=out)
        return gx, ggamma, gbeta


register_kernel(BatchNormalization, BatchNormalizationCompiled())
register_kernel(BatchNormalization, BatchNormalizationRows())
register_kernel(BatchNormalizationGrad, BatchNormalizationGradCompiled())
register_kernel(BatchNormalizationGrad, BatchNormalizationGradRows())

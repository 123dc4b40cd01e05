"""Fast kernels for the activations (``node.functions.activation``).

* PReLU and its gradient as passes over rows of x's memory order (see
  ``node.kernels.normalization``, whose helpers they share). With every slope
  at most 1, prelu(x) = max(x, a·x) (at least 1: min): two passes over memory
  instead of a mask, a product and a selection.
* With numba installed, PReLU and its gradient as one compiled pass each
  (``node.kernels.compiled``), for any slopes: y = x where x > 0 else a·x,
  the reference's arithmetic; the gradient's gx = gy or gy·a and the
  per-channel sums of gy·x where x ≤ 0 in the same pass.
* With numba installed, ReLU and its gradient as one compiled pass each on
  the host: NumPy's float ``maximum`` loop is several times slower than a
  product over the same memory, and the gradient's mask costs a pass of its
  own. The same bits as the reference (NaN kept, -0 made +0 as ``maximum``
  does; gy·0 keeps gy's sign).
* ReLU's gradient on the GPU as one fused kernel (``node.backend.fused``)
  instead of a comparison and a product.
"""
import numpy as np

from ..backend import fused, get_array_module, on_host
from ..dispatch import Kernel, register_kernel
from ..functions.activation import ParametricReLU, ParametricReLUGrad, RectifiedLinear, ReLUGrad
from . import compiled
from .memory import channel_matrix, pooled
from .memory import temporary
from .normalization import channel_dot, channel_rows, column_sums, compiled_rows, like, rows_of


def per_channel(a, channels):
    """The slopes ``a`` as one per channel: ``a`` itself, or a shared slope repeated."""
    return a if a.shape[0] == channels else get_array_module(a).repeat(a, channels)


class ParametricReLURows(Kernel):
    """``ParametricReLU``'s forward as max(x, a·x) (or min, for slopes ≥ 1) over x's rows, into a reused output."""

    name = "rows"

    def applies(self, f, x, a):
        if channel_rows(x, a)[0] is None:
            return False
        return bool(a.max() <= 1 or a.min() >= 1)

    def forward(self, f, x, a):
        xp = get_array_module(x)
        rows, inner = channel_matrix(x)
        slopes = per_channel(a, x.shape[1])
        y = like(x, pooled, "prelu y")
        out, _ = channel_matrix(y)
        xp.multiply(rows, xp.repeat(slopes, inner), out=out)
        (xp.maximum if slopes.max() <= 1 else xp.minimum)(out, rows, out=out)
        return y


class ParametricReLUGradRows(Kernel):
    """``ParametricReLUGrad``'s forward over rows in x's memory order: gx = gy·s, ga = Σ gy·min(x, 0) per channel."""

    name = "rows"

    def applies(self, g, x, a, gy):
        return channel_rows(x, a, gy)[0] is not None

    def forward(self, g, x, a, gy):
        xp = get_array_module(x)
        rows, inner = channel_matrix(x)
        grows = rows_of(gy, x, "elementwise a")
        slopes = per_channel(a, x.shape[1])
        gx = like(x, temporary, "prelu gx")
        s, _ = channel_matrix(gx)
        xp.greater(rows, 0, out=s)  # s = 1 where x > 0, else a
        xp.multiply(s, xp.repeat(1 - slopes, inner), out=s)
        xp.add(s, xp.repeat(slopes, inner), out=s)
        xp.multiply(s, grows, out=s)
        negative = like(x, temporary, "elementwise b")
        t, _ = channel_matrix(negative)
        xp.minimum(rows, 0, out=t)
        ga = channel_dot(t, grows, inner)
        return gx, ga.sum(keepdims=True) if a.shape == (1,) else ga


class ParametricReLUCompiled(Kernel):
    """``ParametricReLU``'s forward as one compiled pass over x's rows: x where x > 0, else a·x."""

    name = "compiled"

    def applies(self, f, x, a):
        return compiled_rows(("prelu",), x, a)[0] is not None

    def forward(self, f, x, a):
        rows, inner = channel_matrix(x)
        y = like(x, pooled, "prelu y")
        out, _ = channel_matrix(y)
        compiled.loop("prelu", x.dtype)(rows, np.repeat(per_channel(a, x.shape[1]), inner), out)
        return y


class ParametricReLUGradCompiled(Kernel):
    """``ParametricReLUGrad``'s forward as one compiled pass over rows in x's memory order: gx and ga together."""

    name = "compiled"

    def applies(self, g, x, a, gy):
        return compiled_rows(("prelu_grad",), x, a, gy)[0] is not None

    def forward(self, g, x, a, gy):
        rows, inner = channel_matrix(x)
        grows = rows_of(gy, x, "elementwise a")
        gx = like(x, temporary, "prelu gx")
        out, _ = channel_matrix(gx)
        sums = np.empty(rows.shape[1], x.dtype)
        compiled.loop("prelu_grad", x.dtype)(rows, grows, np.repeat(per_channel(a, x.shape[1]), inner), out, sums)
        ga = column_sums(sums, inner)
        return gx, ga.sum(keepdims=True) if a.shape == (1,) else ga


def flat_loop(name, x, *others):
    """The compiled loop ``name`` for host arrays of x's shape and dtype (float32 or float64), all C-contiguous; else None."""
    if not compiled.enabled(x, *others) or not x.flags.c_contiguous:
        return None
    if any(a.shape != x.shape or a.dtype != x.dtype or not a.flags.c_contiguous for a in others):
        return None
    return compiled.loop(name, x.dtype)


class ReLUCompiled(Kernel):
    """``RectifiedLinear``'s forward as one compiled pass over x: max(x, 0) as NumPy's ``maximum`` gives it."""

    name = "compiled"

    def applies(self, f, x):
        return flat_loop("relu", x) is not None

    def forward(self, f, x):
        y = np.empty_like(x)
        compiled.loop("relu", x.dtype)(x.reshape(-1), y.reshape(-1))
        return y


class ReLUGradCompiled(Kernel):
    """``ReLUGrad`` on the host as one compiled pass: gy·(x > 0) without the mask array."""

    name = "compiled"

    def applies(self, g, gy):
        return flat_loop("relu_grad", gy, g.x) is not None

    def forward(self, g, gy):
        gx = np.empty_like(gy)
        compiled.loop("relu_grad", gy.dtype)(gy.reshape(-1), g.x.reshape(-1), gx.reshape(-1))
        return gx


@fused
def _pass_where_positive(xp, gy, x):
    """gy where x > 0, else 0."""
    return gy * (x > 0)


class FusedReLUGrad(Kernel):
    """``ReLUGrad`` on the GPU: the comparison and the product as one kernel."""

    name = "fused"

    def applies(self, g, gy):
        return not on_host(gy)

    def forward(self, g, gy):
        return _pass_where_positive(gy, g.x)


register_kernel(ParametricReLU, ParametricReLUCompiled())
register_kernel(ParametricReLU, ParametricReLURows())
register_kernel(ParametricReLUGrad, ParametricReLUGradCompiled())
register_kernel(ParametricReLUGrad, ParametricReLUGradRows())
register_kernel(RectifiedLinear, ReLUCompiled())
register_kernel(ReLUGrad, ReLUGradCompiled())
register_kernel(ReLUGrad, FusedReLUGrad())

"""Fast kernels for max pooling (``node.functions.pooling``).

* The forward writes its maxima into a reused output lying in memory in the
  input's order: after a convolution that is (W, H, N, C), so each window
  offset's slice is a run of whole (N, C) planes rather than of short rows.
* The gradient, for windows side by side (stride = size, no padding, the
  usual 2×2 case): every input position lies in at most one window, so each
  offset's share is written straight into its slice of gx (no zeros, no
  accumulation), the ties are counted in small integers, and every array
  comes from this thread's reused ones.
"""
import numpy as np

from ..backend import get_array_module, on_host
from ..dispatch import Kernel, register_kernel
from ..functions.pooling import MaxPooling2D, MaxPooling2DGrad
from .memory import pooled
from .memory import temporary
from .normalization import like


class MaxPooling2DInLayout(Kernel):
    """``MaxPooling2D``'s forward into a reused array in the input's memory order."""

    name = "in layout"

    def forward(self, f, x):
        xp = get_array_module(x)
        padded = f.pad(x, -float("inf"))
        windows = [padded[:, :, rows, cols] for rows, cols in f.offsets(padded.shape)]
        y = like(padded, pooled, "max_pool y", windows[0].shape)
        if len(windows) == 1:
            y[...] = windows[0]
        else:
            xp.maximum(windows[0], windows[1], out=y)
        for window in windows[2:]:
            xp.maximum(y, window, out=y)
        f.y = y
        return y


class MaxPooling2DGradTiles(Kernel):
    """``MaxPooling2DGrad`` for windows that tile the input (stride = size, no padding, no overhang), on the host."""

    name = "tiles"

    def applies(self, g, gy):
        tiles = g.padding == (0, 0) and g.stride == g.k and g.overhang(g.x.shape) == (0, 0)
        return tiles and on_host(gy, g.x) and gy.dtype.kind == "f"

    def forward(self, g, gy):
        x, y = g.x, g.y
        offsets = g.offsets(x.shape)
        hits = [np.equal(x[:, :, rows, cols], y, out=like(y, temporary, f"hit{i}", dtype=bool)) for i, (rows, cols) in enumerate(offsets)]
        # How many offsets tie for each window's maximum, in small integers (a quarter of the memory traffic).
        count_type = np.min_scalar_type(len(hits))
        count = like(y, temporary, "count", dtype=count_type)
        count[...] = hits[0]
        for hit in hits[1:]:
            np.add(count, hit, out=count, dtype=count_type)
        share = np.divide(gy, count, out=like(y, temporary, "share", gy.shape, gy.dtype))
        gx = like(x, temporary, "max_pool gx", dtype=gy.dtype)
        oh, ow = gy.shape[2:]
        gx[:, :, oh * g.k[0] :] = 0  # the rows and columns no window reaches get no gradient
        gx[:, :, :, ow * g.k[1] :] = 0
        for (rows, cols), hit in zip(offsets, hits):
            np.multiply(hit, share, out=gx[:, :, rows, cols])
        return gx


register_kernel(MaxPooling2D, MaxPooling2DInLayout())
register_kernel(MaxPooling2DGrad, MaxPooling2DGradTiles())

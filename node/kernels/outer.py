"""A matrix product over one term, a @ b with a (..., n, 1) and b (..., 1, m), as the outer product it is.

At batch size 1 a Linear layer's weight gradient xᵀ·gy contracts over the
batch: a (in, 1) @ (1, out) product. OpenBLAS runs it through its general
matrix product, which for one term is several times slower than NumPy's
broadcast multiply a * b. Each result is one product a[i]·b[j] either way, so
the values are the same bits. From two terms on, BLAS is faster than any
elementwise pass, so this kernel applies to one term only; for short output
rows (an output (256, 2), say) NumPy's broadcast loop is slower than BLAS, and
the reference runs. With numba installed, a two-dimensional product is one
compiled loop (``node.kernels.compiled.outer``): NumPy's broadcast multiply
steps through the rows one at a time, a loop writes them at the speed of
memory. The measurements are in docs/performance.md, sections 5 and 6.
"""
import numpy as np

from ..backend import get_array_module, on_host
from ..dispatch import Kernel, register_kernel
from . import compiled
from ..functions.arithmetic import MatMul

MIN_ROW = 16  # the shortest output row (m) for which the multiply beats OpenBLAS (docs/performance.md)


class OuterProduct(Kernel):
    """``MatMul`` of a (..., n, 1) and b (..., 1, m), real floats of one dtype: a * b, broadcast."""

    name = "outer"

    def applies(self, f, a, b):
        return (
            a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 and b.shape[-2] == 1 and b.shape[-1] >= MIN_ROW
            and a.dtype == b.dtype and a.dtype.kind == "f" and on_host(a, b)
        )

    def forward(self, f, a, b):
        loop = compiled.loop("outer", a.dtype) if a.ndim == b.ndim == 2 and compiled.enabled(a, b) else None
        if loop is None:
            return get_array_module(a).multiply(a, b)
        out = np.empty((a.shape[0], b.shape[1]), a.dtype)
        loop(np.ascontiguousarray(a.reshape(-1)), np.ascontiguousarray(b.reshape(-1)), out)
        return out


register_kernel(MatMul, OuterProduct())

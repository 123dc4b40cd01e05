"""A matrix product over one term, a @ b with a (..., n, 1) and b (..., 1, m), as the outer product it is.

At batch size 1 a Linear layer's weight gradient xᵀ·gy contracts over the
batch: a (in, 1) @ (1, out) product. OpenBLAS runs it through its general
matrix product, which for one term is several times slower than NumPy's
broadcast multiply a * b. Each result is one product a[i]·b[j] either way, so
the values are the same bits. From two terms on, BLAS is faster than any
elementwise pass, so this kernel applies to one term only; for short output
rows (an output (256, 2), say) NumPy's broadcast loop is slower than BLAS, and
the reference runs. The measurements are in docs/performance.md, section 5.
"""
from ..backend import get_array_module, on_host
from ..dispatch import Kernel, register_kernel
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
        return get_array_module(a).multiply(a, b)


register_kernel(MatMul, OuterProduct())

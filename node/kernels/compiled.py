"""Compiled loops (numba) for the CPU kernels: one pass over memory where NumPy makes several.

A NumPy kernel computes ``(x - μ)·s + b`` as three passes over memory, each
reading and writing a whole array. The loops below do the same arithmetic
element by element, in the same order, in one pass: numba compiles them to
machine code (vectorized by LLVM) the first time a kernel needs them.

numba is optional (``pip install 'node-autograd[fast]'``). Nothing here
imports it until a kernel asks for a loop; without it, or with the per-thread
setting ``node.Config.compiled_kernels = "off"``
(``with node.using_config("compiled_kernels", "off"):``), every kernel takes
its NumPy path. The loops are plain Python functions: read them as the
definition of what the compiled code does.

How they are compiled, and why:

* one serial loop (no ``parallel=True``): numba's thread pool waits for the
  cores, so beside busy processes a parallel loop can be many times slower
  than a serial one, which is already faster than NumPy's passes (measured
  in docs/performance.md, section 5);
* ``error_model="numpy"``: a division by zero gives inf as in NumPy instead
  of a Python check, which also stops LLVM from vectorizing the loop;
* no ``fastmath``: no reordering or fused multiply-adds, so where the
  arithmetic is written in NumPy's order the results are the same bits;
* ``nogil=True``: other Python threads (a data loader) run meanwhile;
* ``cache=True``: the machine code is written beside this file (or in
  numba's user cache directory) and the next process loads it instead of
  compiling again; where no cache directory is writable, it is compiled
  in every process.

Each loop is compiled for one dtype (float32 or float64) when first needed,
for C-contiguous arrays and float64 scalars; a kernel calls it only with
those (``loop`` returns None for other dtypes). If compiling fails, a warning
says so and the NumPy path is used from then on.
"""
import math
import threading
import warnings

import numpy as np

from ..backend import on_host
from ..config import Config

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_lock = threading.RLock()
_numba = []  # [the numba module or None], filled by the first call of numba_module
_compiled = {}  # (loop name, dtype) -> the compiled function, or None where it could not be compiled


def numba_module():
    """The numba module, or None where it is not installed: imported on the first call, then remembered."""
    if not _numba:
        with _lock:
            if not _numba:
                try:
                    import numba
                except ImportError:
                    numba = None
                _numba.append(numba)
    return _numba[0]


def enabled(*arrays):
    """True when compiled loops may run on ``arrays``: the setting is "auto", numba is installed, the arrays are on the host."""
    mode = Config.compiled_kernels
    if mode == "off":
        return False
    if mode != "auto":
        raise ValueError(f"node.Config.compiled_kernels must be 'auto' or 'off', got {mode!r}")
    return on_host(*arrays) and numba_module() is not None


def loop(name, dtype):
    """The loop ``name`` of this module compiled for arrays of ``dtype``, or None (no numba, the setting is "off", another dtype).

    Call ``enabled`` first for the arrays' device; this checks the rest.
    """
    if Config.compiled_kernels == "off":
        return None
    key = (name, dtype)
    try:
        return _compiled[key]
    except KeyError:
        pass
    if dtype not in DTYPES:
        return None
    with _lock:
        if key not in _compiled:
            _compiled[key] = _compile(name, np.dtype(dtype))
    return _compiled[key]


def _compile(name, dtype):
    """Compile the loop ``name`` for ``dtype`` (from numba's cache when it is there); None, with a warning, if that fails."""
    numba = numba_module()
    if numba is None:
        return None
    function = globals()[name]
    signature = SIGNATURES[name].format(a1=f"{dtype.name}[::1]", a2=f"{dtype.name}[:, ::1]")
    options = {"error_model": "numpy", "boundscheck": False, "nogil": True}
    try:
        try:
            return numba.njit(signature, cache=True, **options)(function)
        except RuntimeError as e:  # "cannot cache function ...: no locator available": no writable cache directory
            if "cache" not in str(e):
                raise
            return numba.njit(signature, **options)(function)
    except Exception as e:  # a compiler error, or a cache file that cannot be written: NumPy computes it instead
        warnings.warn(f"node: could not compile the {name} loop for {dtype} with numba ({type(e).__name__}: {e}); using NumPy", RuntimeWarning, stacklevel=3)
        return None


def forget_compiled():
    """Drop the compiled loops and whether numba was found, so the next use looks again (for tests)."""
    with _lock:
        _compiled.clear()
        _numba.clear()


# ---- the loops --------------------------------------------------------------------------------------
# Signatures: a1 is a C-contiguous 1-D array of the dtype, a2 a C-contiguous 2-D one; scalars are float64
# (Python floats) and each loop rounds them to the arrays' dtype first, as NumPy does with a Python float.
SIGNATURES = {
    "adam": "void({a1}, {a1}, {a1}, {a1}, f8, f8, f8, f8, f8)",
    "sgd": "void({a1}, {a1}, {a1}, f8, f8, boolean, f8)",
    "sgd_plain": "void({a1}, {a1}, f8, f8)",
    "centered_square_sums": "void({a2}, {a1}, {a1})",
    "scale_shift": "void({a2}, {a1}, {a1}, {a1}, {a2})",
    "batch_norm_grad_sums": "void({a2}, {a2}, {a1}, {a1}, {a1})",
    "batch_norm_grad": "void({a2}, {a2}, {a1}, {a1}, {a1}, {a1}, {a2})",
    "prelu": "void({a2}, {a1}, {a2})",
    "prelu_grad": "void({a2}, {a2}, {a1}, {a2}, {a1})",
    "relu": "void({a1}, {a1})",
    "relu_grad": "void({a1}, {a1}, {a1})",
    "outer": "void({a1}, {a1}, {a2})",
}


def adam(p, g, m, v, beta1, beta2, weight_decay, step_size, eps_hat):
    """Adam's update in place (``node.kernels.optim.adam_step``), in the order of its NumPy passes."""
    t = p.dtype.type
    b1, c1, b2, c2 = t(beta1), t(1 - beta1), t(beta2), t(1 - beta2)
    wd, minus_step, eps = t(weight_decay), t(-step_size), t(eps_hat)
    for i in range(p.size):
        gi = g[i] + wd * p[i] if weight_decay else g[i]
        mi = m[i] * b1 + gi * c1
        vi = v[i] * b2 + (gi * gi) * c2
        m[i] = mi
        v[i] = vi
        p[i] += (mi / (math.sqrt(vi) + eps)) * minus_step


def sgd(p, g, velocity, lr, momentum, nesterov, weight_decay):
    """SGD with momentum in place (``node.kernels.optim.sgd_step``), in the order of its NumPy passes."""
    t = p.dtype.type
    rate, mu, wd = t(lr), t(momentum), t(weight_decay)
    for i in range(p.size):
        gi = g[i] + wd * p[i] if weight_decay else g[i]
        vi = velocity[i] * mu + gi
        velocity[i] = vi
        p[i] -= rate * (gi + mu * vi if nesterov else vi)


def sgd_plain(p, g, lr, weight_decay):
    """SGD without momentum in place."""
    t = p.dtype.type
    rate, wd = t(lr), t(weight_decay)
    for i in range(p.size):
        gi = g[i] + wd * p[i] if weight_decay else g[i]
        p[i] -= rate * gi


# Channel matrices (see node.kernels.normalization): rows (n, width) in memory order, and per-column
# vectors of length width (a per-channel vector repeated ``inner`` times). The inner loop runs along a row.
def centered_square_sums(rows, mean, out):
    """out[j] = Σᵢ (rows[i, j] - mean[j])², without writing the centered rows."""
    n, width = rows.shape
    for j in range(width):
        out[j] = 0
    for i in range(n):
        for j in range(width):
            d = rows[i, j] - mean[j]
            out[j] += d * d


def scale_shift(rows, mean, scale, shift, out):
    """out = (rows - mean)·scale + shift: batch norm's output."""
    n, width = rows.shape
    for i in range(n):
        for j in range(width):
            out[i, j] = (rows[i, j] - mean[j]) * scale[j] + shift[j]


def batch_norm_grad_sums(rows, grows, mean, gbeta, dot):
    """gbeta[j] = Σᵢ gy, dot[j] = Σᵢ (x - mean)·gy, in one pass over x and gy."""
    n, width = rows.shape
    for j in range(width):
        gbeta[j] = 0
        dot[j] = 0
    for i in range(n):
        for j in range(width):
            gy = grows[i, j]
            gbeta[j] += gy
            dot[j] += (rows[i, j] - mean[j]) * gy


def batch_norm_grad(rows, grows, mean, scale, slope, offset, out):
    """out = gy·scale + ((x - mean)·slope + offset): batch norm's gx in training."""
    n, width = rows.shape
    for i in range(n):
        for j in range(width):
            out[i, j] = grows[i, j] * scale[j] + ((rows[i, j] - mean[j]) * slope[j] + offset[j])


def prelu(rows, slopes, out):
    """out = x where x > 0, else a·x (the reference's where(x > 0, x, a·x))."""
    n, width = rows.shape
    for i in range(n):
        for j in range(width):
            x = rows[i, j]
            out[i, j] = x if x > 0 else slopes[j] * x


def prelu_grad(rows, grows, slopes, gx, ga):
    """gx = gy·a where x ≤ 0, else gy; ga[j] = Σᵢ gy·x where x ≤ 0 (a NaN x counts as not ≤ 0 for gx, as in the reference)."""
    n, width = rows.shape
    for j in range(width):
        ga[j] = 0
    for i in range(n):
        for j in range(width):
            x = rows[i, j]
            gy = grows[i, j]
            gx[i, j] = gy * slopes[j] if x <= 0 else gy
            ga[j] += gy * x if not x > 0 else 0


# Elementwise loops over flattened C-contiguous arrays.
def relu(x, out):
    """out = max(x, 0) as NumPy's maximum computes it: x where x > 0 or x is NaN (its bits kept), else +0."""
    zero = x.dtype.type(0)
    for i in range(x.size):
        xi = x[i]
        out[i] = xi if xi > 0 or xi != xi else zero


def relu_grad(gy, x, out):
    """out = gy·(x > 0), the reference's product with the comparison as 1 or 0 (so gy·0 keeps gy's sign, and inf·0 is NaN)."""
    t = x.dtype.type
    one, zero = t(1), t(0)
    for i in range(x.size):
        out[i] = gy[i] * (one if x[i] > 0 else zero)


def outer(a, b, out):
    """out[i, j] = a[i]·b[j]: the one-term matrix product of ``node.kernels.outer``, one product per element."""
    for i in range(a.shape[0]):
        ai = a[i]
        for j in range(b.shape[0]):
            out[i, j] = ai * b[j]

"""The CuPy backend: arrays in GPU memory. Imported only when asked for.

The same names as ``numpy_backend``; ``load()`` imports CuPy and checks that a
GPU answers, so ``import node`` never touches the GPU.
"""
from . import INSTALL_HINT, BackendError

xp = None  # the cupy module, once load() has succeeded
device = "GPU (cupy)"
recycles_memory = False  # CuPy has its own memory pool


def load():
    """Import CuPy and check that a GPU answers; raise BackendError saying why not.

    The facade calls it once and keeps the module (``node.backend._cupy``).
    """
    global xp
    try:
        import cupy
    except ImportError as exc:
        raise BackendError(f"the 'cupy' backend needs CuPy, which is not installed. {INSTALL_HINT}") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver/runtime errors have no common base class
        raise BackendError(f"CuPy is installed but no CUDA GPU can be used: {exc}") from exc
    if count == 0:
        raise BackendError("CuPy is installed but this machine has no CUDA GPU.")
    xp = cupy
    return cupy


def owns(x):
    """True for a CuPy array (False while CuPy is not loaded)."""
    return xp is not None and isinstance(x, xp.ndarray)


def to_host(x):
    """A NumPy copy of a GPU array (a device-to-host copy: the host waits for the GPU)."""
    return x.get()


def from_other(x):
    """A host array (or NumPy scalar) uploaded to the GPU."""
    return xp.asarray(x)


def is_shared_view(a):
    """CuPy has no read-only arrays (its ``flags`` has no ``writeable``): a stride-0 axis gives a broadcast view away."""
    return any(stride == 0 and n > 1 for stride, n in zip(a.strides, a.shape))


def scalar_operand(x, like):
    """A Python number next to a GPU array: a NumPy scalar, which CuPy passes as a kernel argument
    (a 0-d device array would cost an allocation and a fill kernel)."""
    return like.dtype.type(x)


def scatter_add(target, indices, values):
    """``cupyx.scatter_add``, whose atomic adds have no complex type: complex targets are added part by part."""
    import cupyx

    if target.dtype.kind == "c":
        values = values if owns(values) else xp.asarray(values, dtype=target.dtype)
        cupyx.scatter_add(target.real, indices, values.real)
        cupyx.scatter_add(target.imag, indices, values.imag)
    else:
        cupyx.scatter_add(target, indices, values)
    return target


def fuse(function):
    """``function(xp, *arrays)`` compiled into one kernel by ``cupy.fuse``."""
    return xp.fuse(kernel_name=function.__name__)(lambda *arrays: function(xp, *arrays))

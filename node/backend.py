"""The one module that decides which array library holds the data.

NumPy is always there. CuPy is imported only when asked for (``set_backend("cupy")``,
``to("cupy")``), so ``import node`` never touches the GPU. Every other module
asks this one for the array module of its data (``get_array_module``) instead
of calling ``np.`` functions on arrays that may live on the GPU.
"""
import functools
import math
import sys
import threading

import numpy as np

from .config import Config

_BACKEND_NAMES = {"numpy": "numpy", "cpu": "numpy", "cupy": "cupy", "gpu": "cupy", "cuda": "cupy"}
_cupy = None  # the cupy module, once it has been imported successfully

INSTALL_HINT = (
    "Install the GPU extra that matches your driver's CUDA version (the 'CUDA Version' nvidia-smi prints): "
    "pip install -e '.[gpu-cuda12]' for CUDA 12.x, pip install -e '.[gpu-cuda13]' for CUDA 13.x"
)


class BackendError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


class DeviceError(RuntimeError):
    """Arrays on different devices (CPU and GPU) were combined in one operation."""


def _load_cupy():
    """Import CuPy and check that a GPU answers; raise BackendError saying why not."""
    global _cupy
    if _cupy is not None:
        return _cupy
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
    _cupy = cupy
    return cupy


def canonical_name(name):
    """Map 'numpy'/'cpu' and 'cupy'/'gpu'/'cuda' to 'numpy' or 'cupy'."""
    try:
        return _BACKEND_NAMES[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; use one of {sorted(_BACKEND_NAMES)}") from None


def cupy_available():
    """True when CuPy imports and sees a GPU. Never raises."""
    try:
        _load_cupy()
    except BackendError:
        return False
    return True


def set_backend(name):
    """Choose where new data lives: 'numpy' (CPU) or 'cupy' (GPU).

    Affects arrays made from Python data, DataLoader batches and new layers,
    in this thread (a new thread starts on NumPy, as every setting in
    ``node.Config`` does). Existing Nodes and layers stay where they are; move
    them with ``.to()``.
    """
    name = canonical_name(name)
    if name == "cupy":
        _load_cupy()
    Config.backend = name


def get_backend():
    """Name of this thread's active backend: 'numpy' or 'cupy'."""
    return Config.backend


def backend_module(name=None):
    """The array module (numpy or cupy) of the named or the active backend."""
    name = Config.backend if name is None else canonical_name(name)
    return _load_cupy() if name == "cupy" else np


def get_array_module(*arrays):
    """numpy or cupy: the module that owns the given arrays (or Nodes)."""
    if _cupy is None:  # fast path: CuPy never loaded, so nothing can live on a GPU
        return np
    for a in arrays:
        a = getattr(a, "value", a)
        if isinstance(a, _cupy.ndarray):
            return _cupy
    return np


def device_name(x):
    """'GPU (cupy)' or 'CPU (numpy)': where an array or Node lives, for error messages."""
    return "GPU (cupy)" if get_array_module(x) is not np else "CPU (numpy)"


def check_same_device(what, **arrays):
    """Raise DeviceError naming ``what`` and each argument's device when they are not all on one device.

    Args:
        what: the operation or layer, e.g. ``"CenterLoss"``.
        **arrays: the arrays or Nodes by the names the message should use.
    """
    kinds = {name: get_array_module(a) for name, a in arrays.items() if is_array(getattr(a, "value", a))}
    if len(set(kinds.values())) > 1:
        where = ", ".join(f"{name} on the {device_name(arrays[name])}" for name in kinds)
        raise DeviceError(
            f"{what}: expected all arrays on the same device, got {where}. Move them to one device first: "
            "model.to('gpu') and loss.to('gpu') move layers and losses in place; x.to('gpu') and "
            "dataset.to('gpu') return copies of a Node and a dataset ('cpu' goes the other way)."
        )


def is_array(x):
    """True for a NumPy or CuPy ndarray."""
    if isinstance(x, np.ndarray):
        return True
    if _cupy is None:
        return _first_cupy_array(x)
    return isinstance(x, _cupy.ndarray)


def _first_cupy_array(x):
    """A CuPy array met before node loaded CuPy (the user imported it): load it now, so the array is recognised."""
    if not type(x).__module__.startswith("cupy"):
        return False
    try:
        cupy = _load_cupy()
    except BackendError:
        return False
    return isinstance(x, cupy.ndarray)


def asnumpy(x):
    """A NumPy copy (or the array itself) of an array or Node on any backend."""
    x = getattr(x, "value", x)
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return x.get()
    return np.asarray(x)


def is_shared_view(a):
    """True for a view whose elements share memory (a broadcast view), which must not be written into.

    NumPy marks such views read-only; CuPy has no read-only arrays (its ``flags``
    has no ``writeable``), so there a stride-0 axis is what gives them away.
    """
    if isinstance(a, np.ndarray):
        return not a.flags.writeable
    return any(stride == 0 and n > 1 for stride, n in zip(a.strides, a.shape))


def to_backend(x, name):
    """Move an array to the named backend ('numpy' or 'cupy')."""
    if canonical_name(name) == "cupy":
        return _load_cupy().asarray(x)
    return asnumpy(x)


def as_array(x, xp=None, dtype=None):
    """Coerce ``x`` to an array of module ``xp`` (default: the active backend).

    Python floats, and lists holding them, get ``Config.default_dtype``; integer
    data stays integer; arrays keep their dtype unless ``dtype`` is given.
    """
    if xp is None:
        xp = backend_module()
    if isinstance(x, xp.ndarray):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if is_array(x) or isinstance(x, np.generic):  # array of the other backend, or a NumPy scalar
        out = asnumpy(x) if xp is np else xp.asarray(x)
    else:  # Python data
        out = np.asarray(x)
        if out.dtype == np.float64 or isinstance(x, (int, float)) and not isinstance(x, bool):
            out = out.astype(Config.default_dtype if dtype is None else dtype)
        out = xp.asarray(out)
    if dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    return out


def broadcast_shapes(*shapes):
    """The shape that broadcasting the given shapes (tuples, not arrays) produces.

    Pure Python: for the few short tuples of one op this is several times
    faster than ``np.broadcast_shapes``, and it runs on every binary op.
    """
    ndim = max(len(s) for s in shapes)
    result = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, n in enumerate(shape):
            current = result[offset + i]
            if current == 1:
                result[offset + i] = n
            elif n != 1 and n != current:
                raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be broadcast together")
    return tuple(result)


def tune_host_allocator():
    """Let training loops reuse freed host memory instead of page-faulting fresh memory each step.

    glibc's malloc serves arrays above a size threshold with fresh pages from
    the kernel and returns them on free, so every step's large temporaries are
    page-faulted and zeroed again; conv nets spend more time on that than on
    arithmetic. This raises the threshold to its maximum (32 MiB on 64-bit) and
    stops trimming freed memory, so those arrays are recycled: the process keeps
    its peak memory. Before the layers reused their arrays (``Workspace``) this
    made conv steps up to twice as fast; now it adds little (docs/performance.md).

    It changes the whole process, so it is never done on import, nor by node's
    defaults: call it once, before training (the examples' ``--tune-allocator``).
    Returns False (and changes nothing) where libc's ``mallopt`` is not
    available, e.g. on macOS or Windows.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 * 2**20)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def sum_per_channel(x):
    """Σ over every axis but axis 1 (the channel axis of NC... data), as a (C,) array.

    Convolutions leave activations in channels-interleaved memory orders, where
    NumPy's reductions over axes (0, 2, 3) crawl along short inner loops.
    Viewing the array in its memory order as (outer, C·inner) turns the sum
    into one matrix-vector product with a vector of ones, many times faster.
    """
    xp = get_array_module(x)
    if x.ndim < 3:
        return x.sum(axis=0) if x.ndim == 2 else x
    order = sorted(range(x.ndim), key=lambda i: -x.strides[i])  # axes from outermost to innermost in memory
    t = x.transpose(order)
    if not t.flags.c_contiguous:
        return x.sum(axis=(0,) + tuple(range(2, x.ndim)))
    j = order.index(1)
    outer = math.prod(t.shape[:j])
    inner = math.prod(t.shape[j + 1 :])
    channels = xp.ones(outer, dtype=x.dtype) @ t.reshape(outer, -1) if outer > 1 else t.reshape(-1)
    return channels.reshape(x.shape[1], inner).sum(axis=1)


def sliding_windows(x, kh, kw, stride):
    """A view (N, OH, OW, KH, KW, C) of channels-last x (N, H, W, C): every kh×kw window, not copied."""
    xp = get_array_module(x)
    n, h, w, c = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    sn, sh, sw, sc = x.strides
    # Never written through: overlapping windows share memory.
    return xp.lib.stride_tricks.as_strided(x, (n, oh, ow, kh, kw, c), (sn, sh * stride, sw * stride, sh, sw, sc))


def scatter_add(target, indices, values):
    """``target[indices] += values`` in place, adding repeated indices up.

    NumPy's ``a[i] += v`` keeps only one write per repeated index; ``np.add.at``
    (CuPy: ``cupyx.scatter_add``) accumulates all of them. CuPy's atomic adds
    have no complex type, so complex targets get their real and imaginary
    parts added separately.
    """
    if isinstance(target, np.ndarray):
        np.add.at(target, indices, values)
        return target
    import cupyx

    if target.dtype.kind == "c":
        values = values if is_array(values) else _cupy.asarray(values, dtype=target.dtype)
        cupyx.scatter_add(target.real, indices, values.real)
        cupyx.scatter_add(target.imag, indices, values.imag)
    else:
        cupyx.scatter_add(target, indices, values)
    return target


def fused(function):
    """Decorator: ``function(xp, *arrays)`` run as one CuPy kernel (``cupy.fuse``) on GPU arrays.

    Elementwise work such as an optimizer's step is a dozen small kernels when
    run op by op on a GPU; fused it is one. ``function`` gets the array module
    first and writes its maths with it (``xp.exp``) and with operators,
    including in-place ones (``m *= beta``) on its array arguments; no
    reductions, and no arithmetic between two scalar arguments (CuPy's fusion
    does that in float16, or int8 for ints: pass ``1 - beta`` in ready-made).
    On NumPy arrays it runs as written, one operation at a time::

        @fused
        def axpy(xp, y, a, x):
            y += a * x

        axpy(y, 0.5, x)  # the caller leaves out xp
    """
    kernel = None

    @functools.wraps(function)
    def call(*args):
        nonlocal kernel
        if _cupy is None or not any(isinstance(a, _cupy.ndarray) for a in args):
            return function(np, *args)
        if kernel is None:
            kernel = _cupy.fuse(kernel_name=function.__name__)(lambda *arrays: function(_cupy, *arrays))
        return kernel(*args)

    return call


def _references(slots, name):
    """How many references the array in ``slots[name]`` has, counted the same way every time."""
    return sys.getrefcount(slots[name])


# The count ``_references`` sees for an array held by nothing but its slot
# (interpreters differ in how many references a call adds: measured, not assumed).
_UNREFERENCED = _references({"probe": np.empty(0)}, "probe")


class Workspace:
    """Scratch arrays that one layer (or one Function) reuses from one call to the next.

    A training step's large temporaries are the same shapes every step.
    Allocating them anew each time costs more than the arithmetic on them
    for conv nets: the C library hands arrays of megabytes back to the
    kernel when they are freed, so every step page-faults and zeroes them
    again (``tune_host_allocator`` changes that for the whole process; a
    workspace avoids it without changing anything outside the layer).

    ``empty(name, shape, dtype)`` returns an uninitialised array for the role
    ``name``; the next call with that name returns the same memory again,
    **but only once nothing else refers to it**: an array that reached the
    user (a Node's value, a gradient, a view of either, a saved tensor of a
    graph that is still alive) is never handed out again while anyone holds
    it, so results never alias one another. Python's reference count decides
    that, and it is exact: every view of the memory holds a reference. If the
    previous array is still in use, a new one is allocated and takes its place.

    One array per name is kept (the largest shape seen with that name, so a
    smaller last batch of an epoch reuses the front of it), per thread, so
    memory is bounded by one call's worth of temporaries. Only NumPy arrays are
    recycled; other backends (CuPy has its own memory pool) get fresh arrays.
    A copy (``copy.deepcopy`` or pickling the layer) starts empty.
    """

    def __init__(self):
        self._local = threading.local()

    def empty(self, name, shape, dtype, xp=np):
        """An uninitialised array of ``shape`` and ``dtype``, recycled when nothing else holds it."""
        if xp is not np:
            return xp.empty(shape, dtype)
        slots = getattr(self._local, "slots", None)
        if slots is None:
            slots = self._local.slots = {}
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        # Counted before any local name refers to the array, as _UNREFERENCED was.
        if name in slots and _references(slots, name) <= _UNREFERENCED:
            buffer = slots[name]
            if buffer.dtype == dtype and buffer.size >= size:
                return buffer[:size].reshape(shape)
        buffer = slots[name] = np.empty(max(size, 1), dtype)
        return buffer[:size].reshape(shape)

    def clear(self):
        """Forget this thread's arrays (the ones still in use stay with their users)."""
        self._local = threading.local()

    def nbytes(self):
        """Bytes this thread's workspace holds."""
        return sum(a.nbytes for a in getattr(self._local, "slots", {}).values())

    def __deepcopy__(self, memo):
        return Workspace()

    def __reduce__(self):
        return Workspace, ()

    def __repr__(self):
        return f"Workspace({self.nbytes()} bytes in this thread)"


def workspace_of(owner):
    """The ``Workspace`` stored on ``owner`` (a layer) as ``_workspace``, created on first use."""
    ws = owner.__dict__.get("_workspace")
    if ws is None:
        ws = owner.__dict__["_workspace"] = Workspace()
    return ws


def scratch(workspace, name, shape, dtype, xp=np):
    """``workspace.empty(...)``, or a fresh ``xp.empty`` when there is no workspace (None)."""
    if workspace is None:
        return xp.empty(shape, dtype)
    return workspace.empty(name, shape, dtype, xp)


_thread = threading.local()  # an empty per-thread namespace; its Workspace is made on first use


def thread_workspace():
    """This thread's shared Workspace, for temporaries that die inside one Function call."""
    ws = getattr(_thread, "workspace", None)
    if ws is None:
        ws = _thread.workspace = Workspace()
    return ws


def temporary(workspace, name, shape, dtype, xp=np):
    """Scratch for a short-lived array: a temporary of one call, or a gradient the next backward consumes.

    Layers keep the arrays that live from the forward to the backward pass (their
    outputs, what backward needs) in their own ``workspace``; short-lived arrays
    of every layer, and of functional calls (``workspace`` None), share the
    thread's workspace instead (one array per name, the largest any call
    needed), so that the memory kept between steps is close to one step's peak
    rather than the sum of every layer's temporaries. The reference-count rule
    of ``Workspace`` still holds: an array someone still uses is never handed
    out again. ``release_thread_workspace()`` drops the shared arrays.
    """
    return thread_workspace().empty(name, shape, dtype, xp)


def release_thread_workspace():
    """Drop this thread's shared temporaries (arrays still in use stay with their users)."""
    _thread.workspace = None


def memory_order(x):
    """x's axes from outermost to innermost in memory, or None when x is not a transposed C-contiguous array."""
    order = tuple(sorted(range(x.ndim), key=lambda i: -x.strides[i]))
    return order if x.transpose(order).flags.c_contiguous else None


def empty_like_layout(x, shape=None, workspace=None, name="out", dtype=None, allocate=scratch):
    """An uninitialised array of ``shape`` (default x's) and ``dtype`` (default x's) whose axes lie in memory in x's order.

    Elementwise work between two arrays is fastest when both have one memory
    order; convolutions leave activations in channels-interleaved orders, and
    the ops that follow keep that order instead of falling back to NCHW.
    """
    xp = get_array_module(x)
    shape = x.shape if shape is None else tuple(shape)
    order = memory_order(x) or tuple(range(x.ndim))
    buffer = allocate(workspace, name, tuple(shape[i] for i in order), x.dtype if dtype is None else dtype, xp)
    return buffer.transpose(tuple(order.index(i) for i in range(x.ndim)))


def channel_matrix(x):
    """(x as a 2-D view (outer, C·inner) in memory order, inner) for x (N, C, ...), or (None, 0).

    Axis 1 is the channel axis; ``inner`` is how many consecutive values of one
    channel lie together in memory. A per-channel vector v then acts on the view
    as the row ``repeat(v, inner)``: one long, contiguous inner loop per
    elementwise pass instead of NumPy broadcasting over short strided axes.
    """
    if x.ndim < 2 or x.size == 0:
        return None, 0
    order = memory_order(x)
    if order is None:
        return None, 0
    j = order.index(1)
    inner = math.prod(x.shape[i] for i in order[j + 1 :])
    outer = math.prod(x.shape[i] for i in order[:j])
    return x.transpose(order).reshape(outer, -1), inner


def same_layout(a, b):
    """True when a and b have one shape and lie in memory in one order (their channel matrices line up)."""
    return a.shape == b.shape and memory_order(a) is not None and memory_order(a) == memory_order(b)

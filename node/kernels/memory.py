"""Memory machinery of the fast kernels: reused scratch arrays and memory orders.

None of this is needed to compute anything: the reference ops in
``node.functions`` allocate fresh arrays and work in NCHW order. The kernels
in this package use it to be fast on the CPU:

* ``Workspace``: scratch arrays a layer's kernels reuse from one training step
  to the next, handed out again only when nothing else refers to them;
* ``memory_order``, ``channel_matrix``, ``empty_like_layout``: working in the
  memory order a convolution leaves its output in, instead of copying it back
  to NCHW;
* ``tune_host_allocator``: an opt-in change to glibc's allocator for the whole
  process.
"""
import math
import sys
import threading

import numpy as np

from ..backend import get_array_module, recycles_memory


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
        if not recycles_memory(xp):
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






_thread = threading.local()  # an empty per-thread namespace; its Workspace is made on first use


def thread_workspace():
    """This thread's shared Workspace, for temporaries that die inside one Function call."""
    ws = getattr(_thread, "workspace", None)
    if ws is None:
        ws = _thread.workspace = Workspace()
    return ws


def temporary(name, shape, dtype, xp=np):
    """Scratch for a short-lived array: a temporary of one call, or a gradient the next backward consumes.

    Every kernel's short-lived arrays share the thread's workspace (one array
    per name, the largest any call needed), so that the memory kept between
    steps is close to one step's peak; arrays that live from a forward to its
    backward come from ``pooled`` instead. The reference-count rule of
    ``Workspace`` holds: an array someone still uses is never handed out
    again. ``release_thread_workspace()`` drops the shared arrays.
    """
    return thread_workspace().empty(name, shape, dtype, xp)


def release_thread_workspace():
    """Drop this thread's shared temporaries and pooled arrays (arrays still in use stay with their users)."""
    _thread.workspace = None
    _thread.pool = None


def _item_references(items, i):
    """How many references ``items[i]`` has, counted the same way every time."""
    return sys.getrefcount(items[i])


_UNREFERENCED_ITEM = _item_references([np.empty(0)], 0)


def pooled(name, shape, dtype, xp=np):
    """Scratch for an array that lives from a forward pass to its backward (an output, what a backward reads).

    Every layer of a network holds such arrays at once until its backward has
    run, so one array per name (``temporary``) would be taken by the first
    layer and every other layer would allocate afresh at each step. The thread
    keeps a list of arrays per name instead and hands out one that nothing
    refers to any more and is large enough; a free one that is too small is
    replaced, and a new one is added only when all are in use. So each name
    holds as many arrays as were in use at once, the largest each had to be,
    and a training step reuses the previous step's memory. Only NumPy arrays
    are recycled (CuPy has its own memory pool). ``release_thread_workspace()``
    drops them.
    """
    if not recycles_memory(xp):
        return xp.empty(shape, dtype)
    pool = getattr(_thread, "pool", None)
    if pool is None:
        pool = _thread.pool = {}
    arrays = pool.setdefault(name, [])
    dtype, size = np.dtype(dtype), math.prod(shape)
    spare = None  # a free array of the wrong size or dtype, replaced if none fits
    for i in range(len(arrays)):
        if _item_references(arrays, i) <= _UNREFERENCED_ITEM:
            if arrays[i].dtype == dtype and arrays[i].size >= size:
                return arrays[i][:size].reshape(shape)
            spare = i
    array = np.empty(max(size, 1), dtype)
    if spare is None:
        arrays.append(array)
    else:
        arrays[spare] = array
    return array[:size].reshape(shape)


def pooled_nbytes():
    """Bytes this thread's pool (``pooled``) holds."""
    return sum(a.nbytes for arrays in (getattr(_thread, "pool", None) or {}).values() for a in arrays)


def memory_order(x):
    """x's axes from outermost to innermost in memory, or None when x is not a transposed C-contiguous array."""
    order = tuple(sorted(range(x.ndim), key=lambda i: -x.strides[i]))
    return order if x.transpose(order).flags.c_contiguous else None




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


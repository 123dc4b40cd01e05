"""The backend facade: which array library holds the data.

node computes on whatever array library owns its data: NumPy always, CuPy
when asked for. Each library has a module of its own here with the same
names (``numpy_backend``, ``cupy_backend``); this facade picks the one that
owns an array and is the only place in node that tells the libraries apart.
Every other module asks it (``get_array_module(x)``, ``asnumpy``,
``scatter_add``, ``fused``, ...) instead of calling ``np.`` functions on arrays
that may live on the GPU.

CuPy is imported only when asked for (``set_backend("cupy")``, ``to("cupy")``,
or a CuPy array handed to node), so ``import node`` never touches the GPU.
"""
import functools

import numpy as np

from ..config import Config

_BACKEND_NAMES = {"numpy": "numpy", "cpu": "numpy", "cupy": "cupy", "gpu": "cupy", "cuda": "cupy"}
_cupy = None  # the cupy module, once cupy_backend has loaded it

INSTALL_HINT = (
    "Install the GPU extra that matches your driver's CUDA version (the 'CUDA Version' nvidia-smi prints): "
    "pip install -e '.[gpu-cuda12]' for CUDA 12.x, pip install -e '.[gpu-cuda13]' for CUDA 13.x"
)


class BackendError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


class DeviceError(RuntimeError):
    """Arrays on different devices (CPU and GPU) were combined in one operation."""


from . import numpy_backend  # noqa: E402  (the library modules use the names above)


def _load_cupy():
    """The cupy module, imported and checked by ``cupy_backend.load`` the first time."""
    global _cupy
    if _cupy is None:
        from . import cupy_backend

        _cupy = cupy_backend.load()
    return _cupy


def library_of(x):
    """The backend module (``numpy_backend`` or ``cupy_backend``) that owns array ``x``."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        from . import cupy_backend

        return cupy_backend
    return numpy_backend


def library(name=None):
    """The backend module of the named or the active backend."""
    name = Config.backend if name is None else canonical_name(name)
    if name == "cupy":
        _load_cupy()
        from . import cupy_backend

        return cupy_backend
    return numpy_backend


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
    return library(name).xp


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
    return library_of(getattr(x, "value", x)).device


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


def on_host(*arrays):
    """True when every array given (None skipped) is a NumPy array, in host memory.

    The CPU kernels of ``node.kernels`` (passes over rows in memory order,
    arrays reused between steps) apply there; on the GPU the reference ops,
    or kernels made for it, run instead.
    """
    return all(a is None or isinstance(a, np.ndarray) for a in arrays)


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
    return library_of(x).to_host(x)


def is_shared_view(a):
    """True for a view whose elements share memory (a broadcast view), which must not be written into."""
    return library_of(a).is_shared_view(a)


def recycles_memory(xp):
    """Whether arrays of the array module ``xp`` are worth reusing between steps (host memory: yes)."""
    return xp is numpy_backend.xp


def to_backend(x, name):
    """Move an array to the named backend ('numpy' or 'cupy')."""
    target = library(name)
    return x if target.owns(x) else target.from_other(x)


def scalar_operand(x, like):
    """The Python number ``x`` as an operand next to the float array ``like``, in ``like``'s dtype."""
    return library_of(like).scalar_operand(x, like)


def as_array(x, xp=None, dtype=None, what="value"):
    """Coerce ``x`` to an array of module ``xp`` (default: the active backend).

    Python floats, and lists holding them, get ``Config.default_dtype``; Python
    ints and bools (and lists of them) stay integer and boolean, as in PyTorch;
    arrays keep their dtype unless ``dtype`` is given. An ``np.matrix`` or other
    ndarray subclass becomes a plain array (so ``*`` stays elementwise).

    This is where every value handed to node becomes an array (``Node()``, the
    operands of every op, upstream gradients, loaded state), so it is also
    where values that are not numbers are refused.

    Raises:
        TypeError: ``x`` holds no numbers (None, a string, bytes, a dict, a
            generator, datetimes, an object or structured array, a masked
            array), or ``dtype`` is real and ``x`` complex (the imaginary part
            would be dropped). The message names ``what``.
        ValueError: ``x`` is a ragged list (rows of different lengths).
    """
    if xp is None:
        xp = backend_module()
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        x = _plain(x, what)
    if isinstance(x, xp.ndarray):
        out = check_numeric(x, what)
    elif is_array(x) or isinstance(x, np.generic):  # array of the other backend, or a NumPy scalar
        check_numeric(x, what, np.ndarray if is_array(x) else x)
        out = asnumpy(x) if xp is np else library("cupy").from_other(x)
    else:  # Python data
        out = check_numeric(_from_python(x, what), what, x)
        if out.dtype == np.float64 and dtype is None:
            out = out.astype(Config.default_dtype)
        out = xp.asarray(out)
    if dtype is not None and out.dtype != dtype:
        if out.dtype.kind == "c" and np.dtype(dtype).kind != "c":
            raise TypeError(
                f"{what} is complex ({out.dtype}) where a real {np.dtype(dtype)} is expected: "
                "converting would drop the imaginary part (see 'Complex numbers' in docs/autograd.md)"
            )
        out = out.astype(dtype)
    return out


NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integer, float, complex: dtype kinds that hold numbers
_KIND_NAMES = {"O": "Python objects", "U": "strings", "S": "bytes", "V": "structured records", "M": "datetimes", "m": "timedeltas"}


def check_numeric(a, what="value", source=np.ndarray):
    """``a``, or TypeError naming ``what`` unless array ``a`` holds numbers (bool, integer, float or complex).

    ``source`` is the Python value ``a`` was made from, to name its type in the
    message (``None``, ``str``, ``datetime``...); leave it out for an array.
    """
    kind = a.dtype.kind
    if kind in NUMERIC_KINDS:
        return a
    if source is np.ndarray:
        got = f"an array of dtype {a.dtype} ({_KIND_NAMES.get(kind, 'not numbers')})"
    else:
        got = _described(source, a)
    raise TypeError(f"{what} must be numbers (a Node, an array, a number or a list of numbers), got {got}")


def _described(x, a):
    """How the message names the non-number ``x`` that became array ``a``."""
    if x is None:
        return "None"
    if isinstance(x, (list, tuple)):
        bad = next((v for v in a.reshape(-1).tolist() if not isinstance(v, (bool, int, float, complex))), None)
        bad = "None" if bad is None else f"{type(bad).__name__} {bad!r:.40}"
        return f"a {type(x).__name__} holding {bad}"
    if isinstance(x, (str, bytes)):
        return f"{type(x).__name__} {x!r:.40}"
    return type(x).__name__ + (" (turn it into a list first)" if hasattr(x, "__next__") else "")


def _from_python(x, what):
    """Python data as a NumPy array, a ragged list refused with a message that says so."""
    try:
        return np.asarray(x)
    except ValueError as exc:
        if isinstance(x, (list, tuple)) and "inhomogeneous" in str(exc):
            raise ValueError(
                f"{what} is a ragged {type(x).__name__}: its rows have different lengths, so it is not an array. "
                "Pad the rows to one length, or keep them as separate Nodes"
            ) from None
        raise


def _plain(x, what):
    """An ndarray subclass as a plain ndarray; a masked array is refused (its mask would be lost)."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{what} is a masked array: node would ignore its mask. Pass x.filled(value) "
            "(masked entries replaced by value) or x.compressed() (only the unmasked ones)"
        )
    return np.asarray(x)


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


def sliding_windows(x, kh, kw, stride):
    """A view (N, OH, OW, KH, KW, C) of channels-last x (N, H, W, C): every kh×kw window, not copied."""
    xp = get_array_module(x)
    n, h, w, c = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    sn, sh, sw, sc = x.strides
    # Never written through: overlapping windows share memory.
    return xp.lib.stride_tricks.as_strided(x, (n, oh, ow, kh, kw, c), (sn, sh * stride, sw * stride, sh, sw, sc))


def as_index(k, data):
    """One part of an index (a list, an array, a slice, ...) made ready to index the array ``data``.

    Lists become arrays on ``data``'s device. An index array on the host is
    uploaded for data on the GPU, as CuPy itself would do; an index array on
    the GPU for data on the host raises DeviceError: reading it back would make
    the host wait for the device, so the caller should choose where it goes.
    Other parts (ints, slices, None, Ellipsis) are returned as they are.
    """
    xp = get_array_module(data)
    if isinstance(k, list):
        return xp.asarray(k)
    if not is_array(k) or isinstance(k, xp.ndarray):
        return k
    if library_of(data) is numpy_backend:
        raise DeviceError(
            "getitem: expected the index on the same device as the data, got the data on the CPU (numpy) and "
            "the index on the GPU (cupy); index with a NumPy array, or move the data with .to('gpu')"
        )
    return xp.asarray(k)


def scatter_add(target, indices, values):
    """``target[indices] += values`` in place, adding repeated indices up.

    NumPy's ``a[i] += v`` keeps only one write per repeated index; ``np.add.at``
    (CuPy: ``cupyx.scatter_add``) accumulates all of them.
    """
    return library_of(target).scatter_add(target, indices, values)


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
    kernel = None  # the CuPy kernel, compiled on the first call with GPU arrays

    @functools.wraps(function)
    def call(*args):
        nonlocal kernel
        if _cupy is None or not any(isinstance(a, _cupy.ndarray) for a in args):
            return function(np, *args)
        if kernel is None:
            from . import cupy_backend

            kernel = cupy_backend.fuse(function)
        return kernel(*args)

    return call

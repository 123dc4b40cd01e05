"""Making Nodes from nothing: zeros, ones, full, eye, arange, linspace, the ``*_like`` forms, and random ones.

Every function here creates its array on the active backend
(``node.set_backend``; ``device=`` names another one for one call) and
returns a leaf Node. As in PyTorch:

* ``dtype=`` chooses the dtype. Left out, floating results get the default
  float dtype (``node.get_default_dtype()``, float32); ``arange`` and
  ``randint`` give int64 when their arguments are integers, and ``full``
  takes its fill value's kind (int64 for an int, bool for a bool).
* ``requires_grad=`` is False by default (a created Node is a constant until
  you say otherwise); True needs a floating-point dtype.
* A shape is given as separate integers or as one tuple or list:
  ``node.zeros(2, 3)`` and ``node.zeros((2, 3))`` are the same.
* The ``*_like`` forms copy the shape, the dtype and the device of the Node or
  array they are given.

The random ones (``rand``, ``randn``, ``randint`` and their ``*_like``) draw
from a ``numpy.random.Generator`` read by :func:`node.config.as_generator`
from ``rng=`` (or PyTorch's name, ``generator=``): a Generator, an int seed, or
None for a child stream of the generator ``node.manual_seed`` set in this
thread (fresh entropy when it was never called). NumPy's global random state
is never used, so ``node.manual_seed(0)`` makes a run repeat exactly, thread
by thread. The numbers are drawn on the host in float64 (int64 for
``randint``) and then cast and moved to the backend, as layers' initial
weights are: a seed gives the same numbers on the CPU and on a GPU, at the
price of one host-to-device copy per call.
"""
import numbers

import numpy as np

from . import backend
from .config import Config, as_generator
from .core import Node
from .validation import flag, integer

__all__ = [
    "arange", "eye", "full", "full_like", "linspace", "ones", "ones_like", "rand",
    "rand_like", "randint", "randn", "randn_like", "zeros", "zeros_like",
]


# ---- arguments ------------------------------------------------------------------------------
def _shape(owner, size):
    """A shape from ``size``, the tuple of positional arguments: ``(2, 3)`` or ``((2, 3),)`` both give (2, 3).

    Raises TypeError for a size that is not integers (2.0, "3", None) and
    ValueError for a negative one, naming which entry is wrong.
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if any(isinstance(s, Node) or backend.is_array(s) for s in size):
        raise TypeError(f"{owner}: size must be integers or a tuple of integers, got a {type(size[0]).__name__}")
    name = "size" if len(size) == 1 else "size[{}]"
    return tuple(integer(owner, name.format(i), n, minimum=0) for i, n in enumerate(size))


def _dtype(owner, dtype, default):
    """``dtype`` as a numpy.dtype (``default`` when None); refuse what holds no numbers, with the argument named."""
    if dtype is None:
        return np.dtype(default)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: dtype must be a NumPy dtype or its name (float32, int64, bool, ...), got {dtype!r:.60}") from None
    if dtype.kind not in backend.NUMERIC_KINDS:
        raise TypeError(f"{owner}: dtype must be a numeric dtype (bool, integer, float or complex), got {dtype}")
    return dtype


def _xp(owner, device):
    """The array module of ``device`` ('cpu'/'numpy', 'gpu'/'cuda'/'cupy'), or of the active backend for None."""
    if device is None:
        return backend.backend_module()
    try:
        return backend.backend_module(device)
    except ValueError:
        raise ValueError(f"{owner}: device must be 'cpu' or 'gpu' (or 'numpy', 'cupy', 'cuda'), got {device!r:.60}") from None


def _leaf(owner, value, requires_grad):
    """The array as a leaf Node; requires_grad checked (True needs a float or complex dtype)."""
    requires_grad = flag(owner, "requires_grad", requires_grad)
    if requires_grad and value.dtype.kind not in "fc":
        raise TypeError(
            f"{owner}: requires_grad=True needs a floating-point dtype, got {value.dtype}: "
            "only floating-point (and complex) Nodes have gradients"
        )
    return Node(value, requires_grad=requires_grad)


def _number(owner, name, value):
    """A real Python or NumPy number (bool excluded), or TypeError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r:.60}")
    if not np.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value}")
    return value


def _reference(owner, x):
    """The array of the Node or array ``x`` that a ``*_like`` function copies shape, dtype and device from."""
    value = x.value if isinstance(x, Node) else x
    if not backend.is_array(value):
        raise TypeError(f"{owner}: expected a Node or an array to copy the shape, dtype and device of, got {type(x).__name__}")
    return value


def _generator(owner, rng, generator):
    """The numpy Generator of ``rng=`` or its PyTorch name ``generator=`` (at most one of them)."""
    if rng is not None and generator is not None:
        raise TypeError(f"{owner}: pass rng= or generator= (the same thing), not both")
    source = generator if rng is None else rng
    try:
        return as_generator(source)
    except TypeError:
        raise TypeError(f"{owner}: rng must be a numpy.random.Generator, an int seed or None, got {type(source).__name__}") from None


def _on(xp, values, dtype):
    """Host array ``values`` cast to ``dtype`` and moved to array module ``xp`` (one upload on a GPU)."""
    values = values.astype(dtype, copy=False)
    return values if xp is np else xp.asarray(values)


# ---- constant fills -------------------------------------------------------------------------
def zeros(*size, dtype=None, requires_grad=False, device=None):
    """A Node of zeros of the given shape (``zeros(2, 3)`` or ``zeros((2, 3))``), like ``torch.zeros``."""
    xp = _xp("zeros", device)
    return _leaf("zeros", xp.zeros(_shape("zeros", size), _dtype("zeros", dtype, Config.default_dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    """A Node of ones of the given shape, like ``torch.ones``."""
    xp = _xp("ones", device)
    return _leaf("ones", xp.ones(_shape("ones", size), _dtype("ones", dtype, Config.default_dtype)), requires_grad)


def _fill_dtype(value):
    """The dtype ``full`` gives a fill value, as PyTorch does: bool, int64, complex64/128, or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        return np.result_type(Config.default_dtype, np.complex64)
    return Config.default_dtype


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    """A Node of the given shape filled with ``fill_value`` (``size`` an int or a tuple), like ``torch.full``.

    Without ``dtype`` the fill value decides: an int gives int64, a bool bool,
    a float the default float dtype.
    """
    shape = _shape("full", size if isinstance(size, (tuple, list)) else (size,))
    if not isinstance(fill_value, (numbers.Number, np.bool_)):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__} {fill_value!r:.60}")
    xp = _xp("full", device)
    return _leaf("full", xp.full(shape, fill_value, _dtype("full", dtype, _fill_dtype(fill_value))), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    """The n×m identity matrix (m defaults to n), like ``torch.eye``."""
    n = integer("eye", "n", n, minimum=0)
    m = n if m is None else integer("eye", "m", m, minimum=0)
    xp = _xp("eye", device)
    return _leaf("eye", xp.eye(n, m, dtype=_dtype("eye", dtype, Config.default_dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """Numbers from ``start`` up to (not including) ``end`` in steps of ``step``, like ``torch.arange``.

    ``arange(5)`` counts 0..4. Integer arguments give int64; any float
    argument gives the default float dtype (NumPy would give float64).
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_number("arange", name, v) for name, v in (("start", start), ("end", end), ("step", step)))
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if (end - start) * step < 0:
        raise ValueError(f"arange: end {end} cannot be reached from start {start} in steps of {step}")
    integral = all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dtype = _dtype("arange", dtype, np.int64 if integral else Config.default_dtype)
    xp = _xp("arange", device)
    # Counted in float64 (or int64) and cast after, so a float32 result has no accumulated rounding.
    return _leaf("arange", xp.arange(start, end, step, dtype=np.int64 if integral else np.float64).astype(dtype), requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    """``steps`` evenly spaced numbers from ``start`` to ``end``, both included, like ``torch.linspace``."""
    start, end = _number("linspace", "start", start), _number("linspace", "end", end)
    steps = integer("linspace", "steps", steps, minimum=0)
    xp = _xp("linspace", device)
    values = xp.linspace(start, end, steps, dtype=np.float64)
    return _leaf("linspace", values.astype(_dtype("linspace", dtype, Config.default_dtype)), requires_grad)


def zeros_like(x, dtype=None, requires_grad=False):
    """Zeros with the shape, dtype (unless ``dtype`` is given) and device of the Node or array ``x``."""
    ref = _reference("zeros_like", x)
    xp = backend.get_array_module(ref)
    return _leaf("zeros_like", xp.zeros(ref.shape, _dtype("zeros_like", dtype, ref.dtype)), requires_grad)


def ones_like(x, dtype=None, requires_grad=False):
    """Ones with the shape, dtype (unless ``dtype`` is given) and device of the Node or array ``x``."""
    ref = _reference("ones_like", x)
    xp = backend.get_array_module(ref)
    return _leaf("ones_like", xp.ones(ref.shape, _dtype("ones_like", dtype, ref.dtype)), requires_grad)


def full_like(x, fill_value, dtype=None, requires_grad=False):
    """``fill_value`` everywhere, with the shape, dtype (unless ``dtype`` is given) and device of ``x``."""
    ref = _reference("full_like", x)
    if not isinstance(fill_value, (numbers.Number, np.bool_)):
        raise TypeError(f"full_like: fill_value must be a number, got {type(fill_value).__name__} {fill_value!r:.60}")
    xp = backend.get_array_module(ref)
    return _leaf("full_like", xp.full(ref.shape, fill_value, _dtype("full_like", dtype, ref.dtype)), requires_grad)


# ---- random ---------------------------------------------------------------------------------
def _float_dtype(owner, dtype, default):
    dtype = _dtype(owner, dtype, default)
    if dtype.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating-point dtype (float16, float32 or float64), got {dtype}")
    return dtype


def rand(*size, dtype=None, requires_grad=False, device=None, rng=None, generator=None):
    """Uniform random numbers in [0, 1) of the given shape, like ``torch.rand``; seeded by ``node.manual_seed`` or ``rng``."""
    shape, dtype = _shape("rand", size), _float_dtype("rand", dtype, Config.default_dtype)
    xp = _xp("rand", device)
    values = _generator("rand", rng, generator).random(shape)
    if dtype != np.float64:  # rounding to float32 can reach 1.0: keep PyTorch's half-open [0, 1)
        values = np.minimum(values, float(np.nextafter(dtype.type(1), dtype.type(0))))
    return _leaf("rand", _on(xp, values, dtype), requires_grad)


def randn(*size, dtype=None, requires_grad=False, device=None, rng=None, generator=None):
    """Standard normal random numbers (mean 0, variance 1) of the given shape, like ``torch.randn``."""
    shape, dtype = _shape("randn", size), _float_dtype("randn", dtype, Config.default_dtype)
    xp = _xp("randn", device)
    return _leaf("randn", _on(xp, _generator("randn", rng, generator).standard_normal(shape), dtype), requires_grad)


def randint(low, high=None, size=None, dtype=None, requires_grad=False, device=None, rng=None, generator=None):
    """Random integers in [low, high) of shape ``size``, like ``torch.randint``.

    Called as ``randint(high, size)`` or ``randint(low, high, size)`` (PyTorch's
    forms; ``size`` a tuple) or with keywords; a missing ``low`` is 0. The
    dtype is int64 unless ``dtype`` says otherwise (an integer or float dtype).
    """
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: size is required, e.g. randint(10, (2, 3)) or randint(0, 10, size=(2, 3))")
    low, high = integer("randint", "low", low), integer("randint", "high", high)
    if high <= low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    shape = _shape("randint", size if isinstance(size, (tuple, list)) else (size,))
    dtype = _dtype("randint", dtype, np.int64)
    if dtype.kind not in "iuf":
        raise TypeError(f"randint: dtype must be an integer or floating-point dtype, got {dtype}")
    xp = _xp("randint", device)
    values = _generator("randint", rng, generator).integers(low, high, shape, dtype=np.int64)
    return _leaf("randint", _on(xp, values, dtype), requires_grad)


def rand_like(x, dtype=None, requires_grad=False, rng=None, generator=None):
    """:func:`rand` with the shape, float dtype (unless given) and device of the Node or array ``x``."""
    ref = _reference("rand_like", x)
    dtype = _float_dtype("rand_like", dtype, ref.dtype if ref.dtype.kind == "f" else Config.default_dtype)
    return rand(ref.shape, dtype=dtype, requires_grad=requires_grad, device=backend.library_of(ref).xp.__name__,
                rng=rng, generator=generator)


def randn_like(x, dtype=None, requires_grad=False, rng=None, generator=None):
    """:func:`randn` with the shape, float dtype (unless given) and device of the Node or array ``x``."""
    ref = _reference("randn_like", x)
    dtype = _float_dtype("randn_like", dtype, ref.dtype if ref.dtype.kind == "f" else Config.default_dtype)
    return randn(ref.shape, dtype=dtype, requires_grad=requires_grad, device=backend.library_of(ref).xp.__name__,
                 rng=rng, generator=generator)

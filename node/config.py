"""Switches, one set per thread: whether graphs are recorded, the default float dtype, checks.

One ``using_config`` context manager is behind both ``no_grad`` and the
notebook's name for it, ``zero_grad``. Settings are per thread, as PyTorch's
grad mode is: a ``no_grad()`` block in one thread (an evaluation loop, say)
never stops another thread from recording its graph, and a new thread starts
from the defaults.
"""
import contextlib
import threading

import numpy as np


class Settings(threading.local):
    """The settings read by ``Function.__call__`` and array coercion; ``node.Config`` is the one instance.

    Each thread sees its own values (``threading.local``): ``__init__`` gives a
    thread the defaults the first time it reads one.

    Attributes:
        enable_backprop: when False, functions record no graph (inference).
        default_dtype: dtype given to Python numbers and lists turned into
            arrays. Arrays that already have a float dtype keep it.
        detect_anomaly: check every forward output and backward gradient for
            NaN and infinity (``with node.detect_anomaly():``); slow, for debugging.
        default_generator: the ``numpy.random.Generator`` that layers,
            Dropout, the Center Loss family and DataLoader built without a
            seed draw from (a child stream each), once ``node.manual_seed``
            has set it; None means fresh entropy.
        backend: where new data goes, 'numpy' or 'cupy'; set it with
            ``node.set_backend``, which also checks that CuPy can run.
        check_device_labels: range-check integer labels that are already on
            the GPU in every loss call. Off by default: reading them back makes
            each training step wait for the device. Labels on the host are
            always checked (for free), before they are uploaded.
        kernels: "auto" lets a registered fast kernel (``node.kernels``) run an
            op's forward where one applies; "reference" runs only the readable
            reference code in ``node.functions``. Both give the same values.
        compiled_kernels: "auto" lets kernels run numba-compiled loops where
            numba is installed (``node.kernels.compiled``); "off" keeps them to NumPy.
        conv_algorithm: None lets a cost model choose each stride-1
            convolution's fast kernel; "winograd", "spectral" or "im2col" forces
            one (set it with ``node.kernels.use_algorithm``, for tests and benchmarks).
        plain_backward: True while ``backward()`` walks a graph without
            ``create_graph``: backward code then computes on arrays, and a
            Function applied to arrays alone returns an array (nothing is
            recorded). Set by the engine, not by users.
        tracer: while ``node.compile`` records a step in this thread, the
            recorder that ``Function.__call__`` and the backward walk report
            to; None otherwise. Set by ``node.compile``, not by users.
    """

    def __init__(self):
        self.enable_backprop = True
        self.default_dtype = np.dtype(np.float32)
        self.check_device_labels = False
        self.detect_anomaly = False
        self.backend = "numpy"
        self.default_generator = None
        self.kernels = "auto"
        self.compiled_kernels = "auto"
        self.conv_algorithm = None
        self.plain_backward = False
        self.tracer = None


Config = Settings()


@contextlib.contextmanager
def using_config(name, value):
    """Temporarily set ``Config.<name>`` to ``value`` in this thread; restored on exit."""
    if not hasattr(Config, name):
        raise AttributeError(f"node.Config has no setting {name!r}")
    old = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, old)


def no_grad():
    """Context manager: run without recording a graph (``with node.no_grad():``)."""
    return using_config("enable_backprop", False)


def zero_grad():
    """The original Center Loss notebook's name for :func:`no_grad` (``with node.zero_grad():``)."""
    return using_config("enable_backprop", False)


def is_grad_enabled():
    """True when functions record the graph needed by ``backward()``."""
    return Config.enable_backprop


def set_default_dtype(dtype):
    """Set the float dtype given to Python numbers and lists in this thread (float32 by default)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"default dtype must be a float dtype, got {dtype}")
    Config.default_dtype = dtype


def get_default_dtype():
    """The float dtype given to Python numbers and lists."""
    return Config.default_dtype


def detect_anomaly():
    """Context manager: raise ``node.AnomalyError`` at the first Function whose forward output
    or backward gradient holds NaN or infinity, naming it and the line of your code that called it.

    Every check reads values back (on a GPU, a sync per op): use it to find a
    NaN's source, not for training.
    """
    return using_config("detect_anomaly", True)


def manual_seed(seed):
    """Make everything built without ``rng=``/``seed=`` reproducible in this thread.

    Layers' initial weights, Dropout masks, Center Loss centers and DataLoader
    shuffling then draw from one generator seeded here (each object takes its
    own child stream from it, in the order they are built), so running the same
    code again gives the same model and batches. NumPy's global random state
    is not touched. Explicit ``rng=``/``seed=`` arguments still win.
    """
    Config.default_generator = np.random.default_rng(seed)


def as_generator(rng=None):
    """A ``numpy.random.Generator`` from a Generator, an int seed, or None: how every ``rng=``/``seed=`` argument is read.

    A Generator is returned as it is; an int seeds a new one. None gives a
    child stream of the generator :func:`manual_seed` set in this thread, or
    fresh OS entropy when it was never called.

    Raises:
        TypeError: ``rng`` is none of those.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None and Config.default_generator is not None:
        return np.random.default_rng(Config.default_generator.integers(2**63))
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")

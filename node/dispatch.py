"""Fast kernels: other implementations of a reference op's forward, chosen per call.

Every op in ``node.functions`` is written once, readably: its ``forward`` is
the reference. A *kernel* is a faster way to compute the same forward for
some inputs (a convolution through the DFT, a batch norm in the input's memory
order). Kernels live in ``node.kernels``, each registered here for one
Function class::

    register_kernel(Convolution2D, SpectralConvolution())

``Function.__call__`` asks ``choose_kernel`` before running ``forward``. With
the per-thread setting ``node.Config.kernels == "reference"`` (e.g. inside
``with node.using_config("kernels", "reference"):``) no kernel runs, so a
debugger steps through the reference code only. A kernel changes how the
forward is computed, never what: the derivative is the op's one ``backward``,
and the suite checks every kernel against its reference.
"""
from .config import Config

_KERNELS = {}  # Function class -> its kernels, in the order they were registered


class Kernel:
    """A fast forward for one Function class. Subclass it and register an instance.

    Attributes:
        name: shown by ``node.to_dot`` and stored on the Function as ``.kernel``.
    """

    name = "kernel"

    def applies(self, f, *xs):
        """Whether this kernel computes ``f.forward(*xs)`` for these arrays (and is worth it)."""
        return True

    def forward(self, f, *xs):
        """The same result as ``f.forward(*xs)``. It may save on ``f`` what ``f.backward`` reads."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")


def register_kernel(function_class, kernel):
    """Make ``kernel`` a candidate for ``function_class``'s forward (exactly that class, not subclasses)."""
    if not isinstance(kernel, Kernel):
        raise TypeError(f"register_kernel: kernel must be a node.dispatch.Kernel, got {type(kernel).__name__}")
    _KERNELS.setdefault(function_class, []).append(kernel)


def kernels_for(function_class):
    """The kernels registered for ``function_class`` (a new list)."""
    return list(_KERNELS.get(function_class, ()))


def choose_kernel(f, xs):
    """The first registered kernel that applies to ``f`` and arrays ``xs``, or None for the reference forward."""
    candidates = _KERNELS.get(type(f))
    if not candidates:
        return None
    mode = Config.kernels
    if mode == "reference":
        return None
    if mode != "auto":
        raise ValueError(f"node.Config.kernels must be 'auto' or 'reference', got {mode!r}")
    if any(x is not None and x.size == 0 for x in xs):
        return None  # an empty array (an empty batch): nothing to speed up, and the reference handles every shape
    for kernel in candidates:
        if kernel.applies(f, *xs):
            return kernel
    return None

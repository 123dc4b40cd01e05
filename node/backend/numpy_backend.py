"""The NumPy backend: arrays in host memory. Always available.

Every array library node can use has a module like this one, with the same
names; ``node.backend`` (the facade) picks the module that owns an array.
"""
import numpy as np

xp = np
device = "CPU (numpy)"
recycles_memory = True  # host arrays are worth reusing between steps (node.kernels.memory)


def owns(x):
    """True for an array of this library."""
    return isinstance(x, np.ndarray)


def to_host(x):
    """``x`` as a NumPy array (itself when it is one)."""
    return np.asarray(x)


def from_other(x):
    """An array of another library (or a NumPy scalar) as one of this library's."""
    from . import asnumpy  # the facade knows how to bring any array to the host

    return asnumpy(x)


def is_shared_view(a):
    """NumPy marks views whose elements share memory (broadcast views) read-only."""
    return not a.flags.writeable


def scalar_operand(x, like):
    """A Python number next to a host array: a 0-d array of its dtype."""
    return np.asarray(x, dtype=like.dtype)


def scatter_add(target, indices, values):
    """``np.add.at``: adds every value, repeated indices included."""
    np.add.at(target, indices, values)
    return target


def fuse(function):
    """On the host, ``function(xp, *arrays)`` runs as written, one operation at a time."""
    return lambda *args: function(np, *args)

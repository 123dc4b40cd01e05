"""Weight initialisation from a seeded ``numpy.random.Generator`` (never global RNG state).

Layers take ``rng``: a Generator, an int seed, or None (fresh OS entropy, or
a stream of the generator ``node.manual_seed`` set), read by
:func:`node.config.as_generator` (also importable from here and from
``node.layers``).
Values are drawn on the host in float64, then cast to the default float dtype
and moved to the active backend, so a seed gives the same weights everywhere.
"""
import numpy as np

from .. import backend
from ..config import Config, as_generator

__all__ = ["as_generator", "constant", "normal", "uniform"]


def _to_param_array(values, dtype):
    return backend.as_array(values, backend.backend_module(), dtype=np.dtype(dtype or Config.default_dtype))


def uniform(rng, shape, bound, dtype=None):
    """U(-bound, bound): PyTorch's default for Linear and Conv2d, with bound = 1/√fan_in."""
    return _to_param_array(rng.uniform(-bound, bound, size=shape), dtype)


def normal(rng, shape, std=1.0, dtype=None):
    """N(0, std²): PyTorch's default for Embedding (std 1)."""
    return _to_param_array(rng.normal(0.0, std, size=shape), dtype)


def constant(shape, value, dtype=None):
    """An array filled with ``value``."""
    return _to_param_array(np.full(shape, value, dtype=np.float64), dtype)

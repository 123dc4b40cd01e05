"""Global switches: whether graphs are recorded, and the default float dtype.

One ``using_config`` context manager is behind both ``no_grad`` and the
notebook's name for it, ``zero_grad``.
"""
import contextlib

import numpy as np


class Config:
    """Process-wide settings read by ``Function.__call__`` and array coercion.

    Attributes:
        enable_backprop: when False, functions record no graph (inference).
        default_dtype: dtype given to Python numbers and lists turned into
            arrays. Arrays that already have a float dtype keep it.
        check_device_labels: range-check integer labels that are already on
            the GPU in every loss call. Off by default: reading them back makes
            each training step wait for the device. Labels on the host are
            always checked (for free), before they are uploaded.
    """

    enable_backprop = True
    default_dtype = np.dtype(np.float32)
    check_device_labels = False


@contextlib.contextmanager
def using_config(name, value):
    """Temporarily set ``Config.<name>`` to ``value``; restored on exit."""
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
    """The seed notebook's name for :func:`no_grad` (``with node.zero_grad():``)."""
    return using_config("enable_backprop", False)


def is_grad_enabled():
    """True when functions record the graph needed by ``backward()``."""
    return Config.enable_backprop


def set_default_dtype(dtype):
    """Set the float dtype given to Python numbers and lists (float32 by default)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"default dtype must be a float dtype, got {dtype}")
    Config.default_dtype = dtype


def get_default_dtype():
    """The float dtype given to Python numbers and lists."""
    return Config.default_dtype

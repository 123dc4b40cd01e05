"""Checks for constructor arguments and hyperparameters, with one message form.

Every public constructor checks its arguments when the object is made, as
PyTorch does, so that a bad value fails at the line that wrote it and not at
the first forward or step. The message names the class, the argument, the
value and what was expected::

    Linear: in_features must be an integer >= 1, got 0
    Adam: lr must be a finite number >= 0, got nan
    Adam: betas must be a pair of numbers in [0, 1), got 0.9

A value of the wrong type raises TypeError; a value of the right type out of
range raises ValueError. ``bool`` is not accepted where a number is meant
(``batch_size=True`` is a mistake, not 1).
"""
import math
import numbers

import numpy as np


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value):
    return type(value).__name__


def integer(owner, name, value, minimum=None, maximum=None):
    """``value`` as an int, checked to be an integer (not a bool or a float) in [minimum, maximum]."""
    bounds = interval(minimum, maximum)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer{bounds}, got {_kind(value)} {_shown(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{owner}: {name} must be an integer{bounds}, got {value}")
    return value


def real(owner, name, value, minimum=None, maximum=None, open_minimum=False, open_maximum=False):
    """``value`` as a float, checked to be a finite real number in the given range (ends closed unless open_*)."""
    bounds = interval(minimum, maximum, open_minimum, open_maximum)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a finite number{bounds}, got {_kind(value)} {_shown(value)}")
    value = float(value)
    too_low = minimum is not None and (value <= minimum if open_minimum else value < minimum)
    too_high = maximum is not None and (value >= maximum if open_maximum else value > maximum)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{owner}: {name} must be a finite number{bounds}, got {_shown(value)}")
    return value


def pair(owner, name, value, check, what):
    """A pair of values each passed through ``check(owner, f"{name}[i]", v)``; ``what`` describes one element in the message."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{owner}: {name} must be a pair of {what}, got {_shown(value)}")
    return tuple(check(owner, f"{name}[{i}]", v) for i, v in enumerate(value))


def int_or_pair(owner, name, value, minimum=None):
    """An integer or a pair of integers, each >= ``minimum``, as a pair: 3 -> (3, 3), (3, 5) -> (3, 5).

    For the sizes of a 2-D window (kernel_size, stride, padding, dilation), one
    number for both axes or one per axis (height, width), as PyTorch accepts them.
    """
    if isinstance(value, (tuple, list)):
        return pair(owner, name, value, lambda o, n, v: integer(o, n, v, minimum), f"integers{interval(minimum)}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{owner}: {name} must be an integer{interval(minimum)} or a pair of them, got {_kind(value)} {_shown(value)}"
        )
    value = integer(owner, name, value, minimum)
    return value, value


def choice(owner, name, value, options):
    """``value`` checked to be one of ``options``."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{owner}: {name} must be one of {listed}, got {_shown(value)}")
    return value


def flag(owner, name, value):
    """``value`` checked to be True or False (NumPy's bool too): 1, "yes" and None are not flags."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {_kind(value)} {_shown(value)}")
    return bool(value)


def float_dtype(owner, name, value):
    """None (the default float dtype, left to the caller) or a real floating-point dtype, as a ``numpy.dtype``.

    Parameters, images and one-hot rows hold real numbers: an integer dtype would
    round them (or wrap 0..255 into int8's -128..127), a complex one has no order.
    """
    if value is None:
        return None
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{owner}: {name} must be a floating-point dtype (float16, float32 or float64), got {_shown(value)}") from None
    if dtype.kind != "f":
        raise ValueError(f"{owner}: {name} must be a floating-point dtype (float16, float32 or float64), got {dtype}")
    return dtype


def interval(minimum=None, maximum=None, open_minimum=False, open_maximum=False):
    """A range as the messages write it: ``" in [0, 1)"``, ``" >= 0"``, ``" > 0"``, or ``""`` for no bounds."""
    if minimum is not None and maximum is not None:
        return f" in {'(' if open_minimum else '['}{minimum}, {maximum}{')' if open_maximum else ']'}"
    if minimum is not None:
        return f" {'>' if open_minimum else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if open_maximum else '<='} {maximum}"
    return ""


def image_batch_error(owner, shape):
    """The ValueError for an input of ``shape`` where a batch of images (N, C, H, W) is needed.

    A learner coming from an MLP passes flattened images, (N, 784) from
    ``node.MNIST()``'s default; a single image comes as (C, H, W). The message
    says how to get the 4-D batch in both cases.
    """
    shape = tuple(shape)
    message = f"{owner}: expected input of shape (N, C, H, W), got {shape}"
    if len(shape) == 2:
        mnist = f", x.reshape({shape[0]}, 1, 28, 28) for MNIST's 784 pixels" if shape[1] == 784 else ""
        message += (
            f". Flattened images? Reshape them to (N, C, H, W){mnist}, or load MNIST unflattened: "
            "node.MNIST(..., flatten=False) gives (N, 1, 28, 28)"
        )
    elif len(shape) == 3:
        message += f". One image (C, H, W)? Add the batch axis: x.reshape(1, {', '.join(map(str, shape))})"
    return ValueError(message)

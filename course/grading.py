"""What the course's checks (course/checks/stepNN.py) are written with.

A check is a function ``exercise_K(step, rng)`` in ``course/checks/stepNN.py``:
``step`` is the learner's module for that step (or the reference solution's),
``rng`` a seeded ``numpy.random.Generator``. It returns quietly when the
exercise is right and raises :class:`Wrong` with a message that says what is
wrong (the input, the index, expected and got) when it is not. The grader,
``course/check.py``, turns everything else (a blank's NotImplementedError,
any other exception) into a one-line message too.

The gradient checks here are the grader's own, written independently of the
learner's step 1, so that a mistake there cannot hide one elsewhere.
"""
import numpy as np


class Wrong(AssertionError):
    """An exercise gave a wrong value; the message says which and where."""


def show(value):
    """A short text for a value in a message: arrays are rounded and cut."""
    if isinstance(value, np.ndarray) or np.isscalar(value):
        return np.array2string(np.asarray(value), precision=6, threshold=12, edgeitems=2, separator=", ")
    return repr(value)


def data_of(value):
    """The array in a learner's node (its ``data``), or the value itself."""
    return getattr(value, "data", value)


def expect_close(what, expected, got, rtol=1e-6, atol=1e-8):
    """Raise Wrong unless ``got`` equals ``expected`` (shape, then values) within the tolerances."""
    got = data_of(got)
    if got is None:
        raise Wrong(f"{what}: expected {show(expected)}, got None")
    expected = np.asarray(expected, dtype=np.float64)
    try:
        got_array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{what}: expected a number or an array, got {type(got).__name__} {got!r:.80}") from None
    if got_array.shape != expected.shape:
        raise Wrong(f"{what}: expected shape {expected.shape}, got shape {got_array.shape}")
    bad = ~np.isclose(got_array, expected, rtol=rtol, atol=atol)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {index}" if index else ""
        raise Wrong(f"{what}: expected {expected[index]:.8g}, got {got_array[index]:.8g}{where}"
                    + (f" ({int(bad.sum())} of {bad.size} elements differ)" if bad.size > 1 else ""))


def expect_equal(what, expected, got):
    """Raise Wrong unless ``got == expected`` (for shapes, counts, flags)."""
    if not (got == expected):
        raise Wrong(f"{what}: expected {show(expected)}, got {show(got)}")


def expect(condition, message):
    """Raise Wrong(message) unless ``condition``."""
    if not condition:
        raise Wrong(message)


def depends_on(g, node):
    """Whether ``node`` is among the inputs of the Functions behind ``g``: is the gradient ``g`` recorded from it?

    A backward written on ``.data`` gives a Node too, but one whose graph does
    not reach the inputs, so step 12 could not differentiate it again.
    """
    seen, stack = set(), [getattr(g, "creator", None)]
    while stack:
        function = stack.pop()
        if function is None or id(function) in seen:
            continue
        seen.add(id(function))
        for x in function.inputs:
            if x is node:
                return True
            stack.append(getattr(x, "creator", None))
    return False


def central_gradient(f, arrays, upstream, h=1e-6):
    """The gradient of ``sum(upstream * f(*arrays))`` with respect to each array, by central differences in float64."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    gradients = []
    for a in arrays:
        g = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            old = a[index]
            a[index] = old + h
            plus = np.sum(upstream * np.asarray(f(*arrays), dtype=np.float64))
            a[index] = old - h
            minus = np.sum(upstream * np.asarray(f(*arrays), dtype=np.float64))
            a[index] = old
            g[index] = (plus - minus) / (2 * h)
        gradients.append(g)
    return gradients


def expect_gradients(what, f, arrays, upstream, got, rtol=1e-5, atol=1e-7, names=None):
    """Compare ``got`` (one gradient per array) with central differences of ``sum(upstream * f(*arrays))``."""
    expected = central_gradient(f, arrays, upstream)
    if got is None or not isinstance(got, (tuple, list)):
        got = [got]
    if len(got) != len(expected):
        raise Wrong(f"{what}: expected {len(expected)} gradients (one per input), got {len(got)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        name = names[i] if names else f"input {i}"
        inputs = ", ".join(f"shape {np.shape(a)}" for a in arrays)
        expect_close(f"{what}, gradient of {name} (inputs of {inputs}, random upstream gradient)", e, g, rtol=rtol, atol=atol)

"""Step 1: numerical derivatives and gradient checking.

Before any autograd, a way to know the right answer: nudge an input a little
and watch the output. Every later step checks its derivatives against the
functions written here.

Run it: ``python -m course.exercises.step01_numerical``.
"""
import numpy as np


def central_difference(f, x, h=1e-6):
    """The derivative of the scalar function ``f`` at the number ``x``: (f(x + h) - f(x - h)) / 2h.

    The error of this central difference shrinks like h², against h for the
    one-sided (f(x + h) - f(x)) / h.
    """
    # --- exercise 1: the derivative of a scalar function by central differences ---
    return (f(x + h) - f(x - h)) / (2 * h)
    # --- end of exercise 1 ---


def numerical_gradient(f, x, h=1e-6):
    """The gradient of the scalar-valued ``f`` at the array ``x``, by central differences on each element.

    ``x`` is a float64 array of any shape; the result has its shape. Change
    one element at a time (``for index in np.ndindex(x.shape)``), and put it
    back afterwards: the caller's ``x`` must be unchanged.
    """
    # --- exercise 2: the gradient of f at an array x, one element at a time ---
    gradient = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        minus = f(x)
        x[index] = old
        gradient[index] = (plus - minus) / (2 * h)
    return gradient
    # --- end of exercise 2 ---


def check_gradient(f, backward, x, rng, rtol=1e-5, atol=1e-7):
    """Compare an analytic gradient with central differences; return (worst index, expected, got), or None if they agree.

    ``f(x)`` is an array-valued function and ``backward(x, g)`` claims to give
    the gradient of ``sum(g * f(x))`` with respect to ``x``. Draw a random
    upstream gradient ``g`` with ``rng.standard_normal`` of ``f(x)``'s shape
    (a gradient of ones would miss a transposed or mis-summed result), find
    the numerical gradient of ``sum(g * f(x))`` with ``numerical_gradient``,
    and compare element by element with ``np.isclose(got, expected, rtol, atol)``.
    When some differ, return the index of the largest difference as a tuple,
    with the expected and the analytic value there.
    """
    # --- exercise 3: a gradient check with a random upstream gradient ---
    g = rng.standard_normal(np.shape(f(x)))
    expected = numerical_gradient(lambda v: np.sum(g * f(v)), x)
    got = np.asarray(backward(x, g), dtype=np.float64)
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if not bad.any():
        return None
    index = np.unravel_index(np.argmax(np.where(bad, np.abs(got - expected), -1)), x.shape)
    index = tuple(int(i) for i in index)
    return index, float(expected[index]), float(got[index])
    # --- end of exercise 3 ---


if __name__ == "__main__":
    print("d/dx x**3 at 2:", central_difference(lambda x: x**3, 2.0), "(exactly 12)")
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    print("gradient of sum(x**2):\n", numerical_gradient(lambda v: np.sum(v**2), x))
    rng = np.random.default_rng(0)
    print("tanh's derivative 1 - tanh² checks:", check_gradient(np.tanh, lambda v, g: g * (1 - np.tanh(v) ** 2), x, rng) is None)
    print("a wrong derivative is caught at:", check_gradient(np.tanh, lambda v, g: g * (1 - np.tanh(v)), x, rng))

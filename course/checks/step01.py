"""Grading of step 1: numerical derivatives and gradient checking."""
import numpy as np

from course.grading import Wrong, expect, expect_close, expect_equal


def exercise_1(step, rng):
    for f, df, x, name in [
        (lambda v: v**3, lambda v: 3 * v**2, 2.0, "x**3"),
        (np.sin, np.cos, 0.7, "sin(x)"),
        (np.exp, np.exp, -1.3, "exp(x)"),
    ]:
        expect_close(f"central_difference({name}, x={x})", df(x), step.central_difference(f, x), rtol=1e-6)
    # Central, not one-sided: for x**2 the central difference is exact up to rounding, the forward one is off by h.
    got = step.central_difference(lambda v: v * v, 1.0, h=1e-3)
    expect(abs(got - 2.0) < 1e-9, f"central_difference(x**2, x=1.0, h=1e-3): expected 2 (a central difference is exact for a square), got {got!r}; "
                                  "use (f(x + h) - f(x - h)) / (2h), not the one-sided (f(x + h) - f(x)) / h")


def exercise_2(step, rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    a = rng.standard_normal((3, 4))
    got = step.numerical_gradient(lambda v: np.sum(a * v**2), x)
    expect_close("numerical_gradient(sum(a * x**2)) (a and x random, shape (3, 4))", 2 * a * before, got, rtol=1e-5, atol=1e-7)
    if not np.array_equal(x, before):
        index = tuple(int(i) for i in np.argwhere(x != before)[0])
        raise Wrong(f"numerical_gradient changed the caller's x at index {index} (by {float(x[index] - before[index]):.3g}): "
                    "store the old value and assign it back after nudging (undoing the nudge by arithmetic, += h then -= h, "
                    "is not exact in floating point)")
    v = rng.standard_normal(5)
    expect_close("numerical_gradient(sum(exp(x))) (x of shape (5,))", np.exp(v), step.numerical_gradient(lambda w: np.sum(np.exp(w)), v.copy()))


def _shape_changing(rng):
    """f(x) = x @ A with A (3, 5): f(x) has another shape than x, so g must be drawn with f(x)'s shape."""
    a = rng.standard_normal((3, 5))
    return (lambda v: v @ a), (lambda v, g: g @ a.T)


def exercise_3(step, rng):
    x = rng.standard_normal((2, 3))
    right = step.check_gradient(np.tanh, lambda v, g: g * (1 - np.tanh(v) ** 2), x.copy(), np.random.default_rng(1))
    expect(right is None, f"check_gradient(tanh, its right derivative) should return None, got {right!r}")
    # A function whose output has another shape than its input: g has f(x)'s shape (2, 5), not x's (2, 3).
    f, backward_f = _shape_changing(rng)
    try:
        right = step.check_gradient(f, backward_f, x.copy(), np.random.default_rng(4))
    except ValueError as exc:
        raise Wrong(f"check_gradient(f, its right derivative) for f(x) = x @ A, x (2, 3), A (3, 5) raised ValueError: {exc}; "
                    "draw g with the shape of f(x) (here (2, 5)), not of x") from None
    expect(right is None, f"check_gradient(f, its right derivative) for f(x) = x @ A, x (2, 3), A (3, 5) should return None, "
                          f"got {right!r}; draw g with the shape of f(x) (here (2, 5)), not of x")
    # A derivative that is right only for an upstream gradient of ones (it ignores g) must be caught.
    result = step.check_gradient(np.tanh, lambda v, g: 1 - np.tanh(v) ** 2, x.copy(), np.random.default_rng(2))
    expect(result is not None, "check_gradient accepted a backward that ignores the upstream gradient g: draw g at random "
                               "and compare with the gradient of sum(g * f(x))")
    # Wrong at two places: a small error first (in row-major order), the largest one later.
    worst, other = (1, 2), (0, 1)
    x_bad = x.copy()

    def backward(v, g):
        grad = g * (1 - np.tanh(v) ** 2)
        grad[worst] += 1.0
        grad[other] += 0.25
        return grad

    result = step.check_gradient(np.tanh, backward, x_bad, np.random.default_rng(3))
    expect(isinstance(result, tuple) and len(result) == 3,
           f"check_gradient of a wrong backward: expected (index, expected, got), got {result!r}")
    index, expected, got = result
    index = tuple(int(i) for i in np.atleast_1d(index))
    expect(index != other, f"check_gradient of a backward wrong at {other} by 0.25 and at {worst} by 1.0 returned {other}, "
                           "the first difference: return the index of the largest |got - expected|")
    expect_equal(f"check_gradient's worst index for a backward that is wrong at {other} by 0.25 and at {worst} by 1.0", worst, index)
    error = float(got) - float(expected)
    swapped = " (expected and got swapped?)" if abs(error + 1.0) < 1e-4 else ""
    expect(abs(error - 1.0) < 1e-4,
           f"check_gradient at {worst}: got - expected should be the error 1.0 put there, was {error:.6g}{swapped}; "
           "return (index, expected from central differences, got from backward)")
    if not np.array_equal(x_bad, x):
        index = tuple(int(i) for i in np.argwhere(x_bad != x)[0])
        raise Wrong(f"check_gradient changed its x argument at index {index}: numerical_gradient must put each element back")

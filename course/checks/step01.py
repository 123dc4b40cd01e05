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
        raise Wrong(f"numerical_gradient changed the caller's x at index {index}: put each element back after nudging it")
    v = rng.standard_normal(5)
    expect_close("numerical_gradient(sum(exp(x))) (x of shape (5,))", np.exp(v), step.numerical_gradient(lambda w: np.sum(np.exp(w)), v.copy()))


def exercise_3(step, rng):
    x = rng.standard_normal((2, 3))
    right = step.check_gradient(np.tanh, lambda v, g: g * (1 - np.tanh(v) ** 2), x.copy(), np.random.default_rng(1))
    expect(right is None, f"check_gradient(tanh, its right derivative) should return None, got {right!r}")
    # A derivative that is right only for an upstream gradient of ones (it ignores g) must be caught.
    result = step.check_gradient(np.tanh, lambda v, g: 1 - np.tanh(v) ** 2, x.copy(), np.random.default_rng(2))
    expect(result is not None, "check_gradient accepted a backward that ignores the upstream gradient g: draw g at random "
                               "and compare with the gradient of sum(g * f(x))")
    worst = (1, 2)
    x_bad = x.copy()

    def backward(v, g):
        grad = g * (1 - np.tanh(v) ** 2)
        grad[worst] += 1.0
        return grad

    result = step.check_gradient(np.tanh, backward, x_bad, np.random.default_rng(3))
    expect(isinstance(result, tuple) and len(result) == 3,
           f"check_gradient of a wrong backward: expected (index, expected, got), got {result!r}")
    index, expected, got = result
    expect_equal("check_gradient's worst index for a backward that is wrong at (1, 2) only", worst, tuple(int(i) for i in np.atleast_1d(index)))
    expect(abs((got - expected) - 1.0) < 1e-4, f"check_gradient at (1, 2): got - expected should be the error 1.0 put there, was {got - expected!r}")
    if not np.array_equal(x_bad, x):
        index = tuple(int(i) for i in np.argwhere(x_bad != x)[0])
        raise Wrong(f"check_gradient changed its x argument at index {index}: numerical_gradient must put each element back")

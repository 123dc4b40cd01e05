"""Grading of step 2: the backward of each scalar Function, by central differences.

Each check calls a Function on Nodes, then its ``backward(gy)`` directly with
a random upstream gradient ``gy`` (no walk needed: that is step 3), and
compares each input's gradient with the central difference of
``gy * forward(...)``, where the forward is written here with NumPy.
"""
import numpy as np

from course.grading import Wrong, central_gradient, expect, expect_close, show


def _gradients(op, result, count):
    """The backward's result as a list of ``count`` numbers, or Wrong saying what came back instead."""
    if count == 1 and isinstance(result, (tuple, list)) and len(result) == 1:
        result = result[0]  # a 1-tuple works in the walk too
    if count == 1:
        result = [result]
    elif not isinstance(result, (tuple, list)) or len(result) != count:
        raise Wrong(f"{op}.backward should return {count} gradients (a tuple, one per input), got {show(result)}")
    for i, g in enumerate(result):
        try:
            float(g)
        except (TypeError, ValueError):
            raise Wrong(f"{op}.backward: the gradient of input {i} should be a number, got {show(g)}") from None
    return list(result)


def _check_op(step, rng, op, make, numpy_forward, draw, points=4):
    """Call ``make()`` on Nodes at random points, then its backward with a random gy; compare with central differences."""
    for _ in range(points):
        xs = draw(rng)
        gy = float(rng.standard_normal())
        function = make()
        output = function(*[step.Node(x) for x in xs])
        expect(isinstance(output, step.Node), f"{op}: calling it on Nodes should give a Node, got {show(output)}")
        got = _gradients(op, function.backward(gy), len(xs))
        expected = central_gradient(numpy_forward, [np.float64(x) for x in xs], gy)
        inputs = ", ".join(f"x{i}={x:.6g}" for i, x in enumerate(xs)) if len(xs) > 1 else f"x={xs[0]:.6g}"
        for i, (e, g) in enumerate(zip(expected, got)):
            name = f"x{i}" if len(xs) > 1 else "x"
            expect_close(f"{op}.backward(gy={gy:.6g}) at {inputs}, gradient of {name}", e, g, rtol=1e-5, atol=1e-7)


def _away_from_zero(rng, low=0.5, high=2.0):
    return float(rng.uniform(low, high) * rng.choice([-1.0, 1.0]))


def exercise_1(step, rng):
    _check_op(step, rng, "Mul", step.Mul, lambda a, b: a * b,
              lambda r: (float(r.standard_normal()), float(r.standard_normal())))


def exercise_2(step, rng):
    _check_op(step, rng, "Div", step.Div, lambda a, b: a / b,
              lambda r: (float(r.standard_normal()), _away_from_zero(r)))


def exercise_3(step, rng):
    for c in (2, 3, 0.5, -1.0, -2.5):
        positive = c != int(c)  # a fractional power needs a positive base
        _check_op(step, rng, f"Power(c={c})", lambda c=c: step.Power(c), lambda a, c=c: a**c,
                  lambda r, positive=positive: (float(r.uniform(0.3, 2.0)) if positive else _away_from_zero(r),), points=2)


def exercise_4(step, rng):
    _check_op(step, rng, "Exp", step.Exp, np.exp, lambda r: (float(r.uniform(-2.0, 2.0)),))
    # The derivative of e^x is e^x, which the forward already computed: backward should read the output, not recompute it.
    function = step.Exp()
    x = step.Node(0.3)
    y = function(x)
    y.data = 5.0  # a value e^x never takes at 0.3, put there to see where backward reads from
    got = _gradients("Exp", function.backward(2.0), 1)[0]
    expect(abs(got - 10.0) < 1e-9,
           f"Exp.backward(gy=2.0) at x=0.3: it should read the output y from self.outputs[0]() and return gy * y; "
           f"with the output's data set to 5.0 it should give 10.0, got {got!r} (recomputed e^x = {2 * np.exp(0.3):.6g}?)")

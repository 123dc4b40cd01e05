"""Grading of step 5: arrays and broadcasting."""
import numpy as np

from course.grading import Wrong, depends_on, expect, expect_close, expect_gradients
from course.solutions.step03_walk import backward as walk


def _sum_to(x, shape):
    """sum_to by its definition, element by element: each element of x lands where broadcasting took it from."""
    out = np.zeros(shape)
    lead = x.ndim - len(shape)
    for index in np.ndindex(x.shape):
        out[tuple(0 if n == 1 else i for i, n in zip(index[lead:], shape))] += x[index]
    return out


def _is_node(what, g):
    expect(g is not None, f"{what}: the gradient is None: return one gradient per input")
    expect(hasattr(g, "data") and not isinstance(g, np.ndarray),
           f"{what}: the gradient is a {type(g).__name__}, not a Node: compute it with Node operations "
           "(gy * x1, sum_to_node(...)), not on .data, so that step 12 can differentiate it")


def exercise_1(step, rng):
    pairs = [
        ((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((2, 3), (1, 1)), ((2, 3), ()),
        ((2, 3, 4), (3, 1)), ((2, 3, 4), (4,)), ((2, 3, 4), (2, 1, 4)), ((2, 3, 4), (1, 3, 1)),
        ((5, 2, 3, 4), (2, 1, 4)), ((5, 2, 3, 4), (1, 1, 1, 1)), ((3,), (1,)), ((3,), ()),
        ((2, 1, 4), (1, 1, 4)), ((2, 1, 4), (2, 1, 4)), ((), ()), ((6, 1), (1,)),
    ]
    for source, target in pairs:
        x = rng.standard_normal(source)
        got = step.sum_to(x.copy(), target)
        expect(isinstance(got, np.ndarray) or np.isscalar(got),
               f"sum_to(x of shape {source}, {target}) returned a {type(got).__name__}: it works on NumPy arrays and returns one")
        expect_close(f"sum_to(x of shape {source}, {target})", _sum_to(x, target), got)


def exercise_2(step, rng):
    cases = [((2, 3), (3,)), ((3,), (2, 3)), ((4, 1, 3), (2, 1)), ((), (2, 3)), ((2, 3), ()), ((2, 3), (2, 3)), ((2, 1), (1, 4))]
    for s0, s1 in cases:
        a0, a1 = rng.standard_normal(s0), rng.standard_normal(s1)
        x0, x1 = step.Node(a0.copy()), step.Node(a1.copy())
        y = step.mul(x0, x1)
        g = rng.standard_normal(y.shape)
        walk(y, step.Node(g))
        what = f"mul(x0 of shape {s0}, x1 of shape {s1})"
        _is_node(what + ", x0", x0.grad)
        _is_node(what + ", x1", x1.grad)
        expect_gradients(what, lambda p, q: p * q, [a0, a1], g, [x0.grad, x1.grad], names=["x0", "x1"])
        # The walk ran with recording on: x0's gradient gy·x1 must be made by engine ops from the Node x1 itself
        # (and x1's from x0), so that step 12 can differentiate it again. gy * x1.data makes a Node too,
        # but from a copy of the numbers: nothing leads back to x1.
        for name, gradient, other in [("x0", x0.grad, "x1"), ("x1", x1.grad, "x0")]:
            source = x1 if other == "x1" else x0
            expect(depends_on(gradient, source),
                   f"{what}: {name}.grad is right but is not computed from the Node {other} (walking the creators of {name}.grad "
                   f"never reaches {other}): Mul.backward used {other}.data, or wrapped numbers in a new Node; write it with "
                   f"the input Nodes themselves (gy * {other}, then sum_to_node), so that step 12 can differentiate it again")


def exercise_3(step, rng):
    shape = (2, 3, 4)
    for axis in [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]:
        for keepdims in (False, True):
            a = rng.standard_normal(shape)
            x = step.Node(a.copy())
            what = f"sum(x of shape {shape}, axis={axis}, keepdims={keepdims})"
            kept = np.sum(a, axis=axis, keepdims=True).shape
            g = rng.standard_normal(np.shape(a.sum(axis=axis, keepdims=keepdims)))
            try:
                y = step.sum(x, axis, keepdims)
                walk(y, step.Node(g))
            except (ValueError, IndexError, TypeError) as exc:
                text = str(exc).splitlines()[0] if str(exc) else ""
                raise Wrong(f"{what}, backward with an upstream gradient of shape {g.shape}: raised {type(exc).__name__}: {text}; "
                            f"reshape the upstream gradient to keep the summed axes as 1 (here {kept}) before broadcast_to "
                            f"x's shape {shape}") from None
            _is_node(what, x.grad)
            expect_gradients(what, lambda v, axis=axis, keepdims=keepdims: v.sum(axis=axis, keepdims=keepdims), [a], g, [x.grad], names=["x"])
    a = rng.standard_normal(5)
    x = step.Node(a.copy())
    walk(step.sum(x, None, False), step.Node(np.array(2.5)))
    expect_close("sum(x of shape (5,)) with upstream 2.5: every element's gradient", np.full(5, 2.5), x.grad)

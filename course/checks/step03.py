"""Grading of step 3: accumulate, the order of the walk, and the walk itself.

The graphs are built with step 2's reference Node and ops (the package the
graded file is imported in), and every gradient is compared with central
differences of the same function written here with NumPy.
"""
import importlib
import math
import sys

import numpy as np

from course.grading import Wrong, central_gradient, expect, expect_close, expect_equal, show

DEEP = 20_000  # far deeper than Python's recursion limit (sys.getrecursionlimit(), 1000 by default)


def scalar_of(step):
    """Step 2's module in the package ``step`` was imported in (the reference solution when grading)."""
    return importlib.import_module(step.__name__.rpartition(".")[0] + ".step02_scalar")


def _no_recursion(what, call):
    """``call()``, turning a RecursionError into a message that says why."""
    try:
        return call()
    except RecursionError:
        raise Wrong(f"{what} on a chain of {DEEP:,} Functions raised RecursionError (Python's limit is "
                    f"{sys.getrecursionlimit()} nested calls): use a loop with a list or a heap, not recursion") from None


def exercise_1(step, rng):
    scalar = scalar_of(step)
    node = scalar.Node(1.5)
    step.accumulate(node, 2.0)
    expect_close("accumulate(node, 2.0) on a node whose grad is None: node.grad", 2.0, node.grad)
    step.accumulate(node, -0.5)
    expect_close("accumulate(node, -0.5) after accumulate(node, 2.0): node.grad (the sum)", 1.5, node.grad)
    # Arrays: the first gradient may be shared with another node (Add passes the same gy to both inputs),
    # so accumulating must make a new array, never add into the one that was given.
    first, second = rng.standard_normal(3), rng.standard_normal(3)
    kept = first.copy()
    node, other = scalar.Node(0.0), scalar.Node(0.0)
    step.accumulate(node, first)
    step.accumulate(other, first)  # the same array given to two nodes, as Add's backward does
    step.accumulate(node, second)
    expect_close("accumulate(node, a) then accumulate(node, b) on arrays: node.grad", kept + second, node.grad)
    if not np.array_equal(first, kept):
        raise Wrong("accumulate changed the first gradient array in place (node.grad += grad adds into the array it was "
                    f"given, which another node shares): it was {show(kept)}, now {show(first)}; write node.grad = node.grad + grad")
    expect_close("accumulate: a second node given the same first array keeps it unchanged: other.grad", kept, other.grad)


def _functions_behind(output):
    """Every Function behind ``output``, found here independently (a set of ids)."""
    seen, stack = set(), [output.creator]
    while stack:
        function = stack.pop()
        if function is None or id(function) in seen:
            continue
        seen.add(id(function))
        stack.extend(x.creator for x in function.inputs)
    return seen


def _check_order(what, output, order):
    expect(isinstance(order, (list, tuple)), f"functions_in_order({what}) should return a list, got {show(order)}")
    ids = [id(f) for f in order]
    expected = _functions_behind(output)
    if len(set(ids)) != len(ids):
        twice = next(f for i, f in enumerate(order) if id(f) in ids[:i])
        raise Wrong(f"functions_in_order({what}): number of Functions listed: expected {len(expected)}, got {len(order)}; "
                    f"a Function ({type(twice).__name__}, generation {twice.generation}) is listed twice: keep a set of the ids "
                    "seen and push a creator only when its id is not in it yet")
    expect_equal(f"functions_in_order({what}): number of Functions listed", len(expected), len(order))
    expect(set(ids) == expected, f"functions_in_order({what}) lists Functions that are not in the graph, or misses some")
    position = {id(f): i for i, f in enumerate(order)}
    for i, function in enumerate(order):
        if i and function.generation > order[i - 1].generation:
            raise Wrong(f"functions_in_order({what}): generations should never increase along the list, but "
                        f"{type(order[i - 1]).__name__} (generation {order[i - 1].generation}) at position {i - 1} comes before "
                        f"{type(function).__name__} (generation {function.generation}) at position {i}")
        for x in function.inputs:
            if x.creator is not None and position[id(x.creator)] < i:
                raise Wrong(f"functions_in_order({what}): {type(x.creator).__name__} at position {position[id(x.creator)]} comes "
                            f"before {type(function).__name__} at position {i}, which uses its output: it would run before "
                            "all its output's gradients arrived")


def exercise_2(step, rng):
    scalar = scalar_of(step)
    # A diamond: a is used by two Functions, whose results meet again.
    x = scalar.Node(float(rng.uniform(0.2, 1.0)), name="x")
    a = x**2
    y = scalar.exp(a) + a * 3.0
    _check_order("y = exp(a) + a * 3 with a = x**2 (a diamond)", y, step.functions_in_order(y))
    # Depth-first from y goes into b first, reaches a's creator through b while c's long branch still holds
    # a gradient for a: only the generations put a's creator after the whole long branch.
    x = scalar.Node(0.5, name="x")
    a = scalar.exp(x)
    b = -a
    c = a
    for _ in range(5):
        c = c * 1.5
    y = b + c
    _check_order("y = -a + a*1.5*1.5*1.5*1.5*1.5 with a = exp(x) (a short and a long branch)", y, step.functions_in_order(y))
    z = scalar.Node(1.0)
    for _ in range(DEEP):
        z = -z
    order = _no_recursion("functions_in_order", lambda: step.functions_in_order(z))
    expect_equal(f"functions_in_order on a chain of {DEEP:,} Neg Functions: number listed", DEEP, len(order))
    expect(all(order[i].generation == DEEP - 1 - i for i in range(0, DEEP, 997)),
           f"functions_in_order on a chain of {DEEP:,}: the Functions should come from the output's back to the input's")


def _reused_product(ops, x0, x1):
    a = x0 * x1
    return ops.exp(a) + a**2 - a * x0


# (what, number of inputs, the graph built with step 2's ops, the same function in NumPy): every graph reuses a Node
GRAPHS = [
    ("y = x*x + exp(x)*x", 1, lambda ops, x: x * x + ops.exp(x) * x, lambda x: x * x + np.exp(x) * x),
    ("y = (x0 - x1) * x0 / (x1 + 2)", 2, lambda ops, x0, x1: (x0 - x1) * x0 / (x1 + 2.0), lambda x0, x1: (x0 - x1) * x0 / (x1 + 2.0)),
    ("a = x0 * x1; y = exp(a) + a**2 - a * x0", 2, _reused_product, lambda x0, x1: np.exp(x0 * x1) + (x0 * x1) ** 2 - x0 * x1 * x0),
]


def _order_problem(step):
    """What is wrong with the learner's functions_in_order (exercise 2), in one sentence, or None if nothing shows.

    Exercise 3's backward calls it, so a wrong order or a recursion there
    shows up in exercise 3 as a wrong gradient or a RecursionError that is
    not the walk's fault. A blank exercise 2 gives None: its own message
    (not written yet) then comes from backward itself.
    """
    try:
        exercise_2(step, np.random.default_rng(0))
    except NotImplementedError:
        return None
    except Wrong as wrong:
        return str(wrong)
    except Exception as exc:  # anything else exercise 2's own check would report
        return f"functions_in_order raised {type(exc).__name__}: {exc}"
    return None


def _walk(step, what, call, *args):
    """``call(*args)`` (a backward walk), with the blame put on exercise 2 when the learner's functions_in_order is wrong."""
    try:
        return call(*args)
    except NotImplementedError:
        raise
    except (Wrong, RecursionError, TypeError, AttributeError, KeyError) as exc:
        problem = _order_problem(step)
        if problem is not None:
            failure = "gave a wrong gradient" if isinstance(exc, Wrong) else f"raised {type(exc).__name__}"
            raise Wrong(f"{what} {failure}, and the likely cause is exercise 2: backward calls your functions_in_order, "
                        f"which its own check finds wrong ({problem}); fix exercise 2 first") from None
        if isinstance(exc, TypeError) and "float' object is not iterable" in str(exc):
            raise Wrong(f"{what} raised TypeError: {exc}: f.backward returned one gradient (a float), not a tuple: wrap it, "
                        "gxs = (gxs,), before pairing the gradients with f.inputs") from None
        if isinstance(exc, Wrong):
            raise
        if isinstance(exc, RecursionError):
            raise Wrong(f"{what} raised RecursionError (Python's limit is {sys.getrecursionlimit()} nested calls): "
                        "walk with a loop over functions_in_order(output), not by recursion") from None
        raise


def _walk_and_compare(step, y, upstream, xs, expected, what):
    """Run the learner's backward(y, upstream) and compare each x.grad with its central difference."""
    step.backward(y, upstream)
    for i, (e, x) in enumerate(zip(expected, xs)):
        name = f"x{i}" if len(xs) > 1 else "x"
        expect_close(f"{what}: {name}.grad", e, x.grad, rtol=1e-5, atol=1e-7)


def exercise_3(step, rng):
    scalar = scalar_of(step)
    for what, count, build, numpy_forward in GRAPHS:
        for _ in range(2):
            values = [float(rng.uniform(-1.0, 1.0)) for _ in range(count)]
            upstream = float(rng.standard_normal())
            xs = [scalar.Node(v, name=f"x{i}") for i, v in enumerate(values)]
            y = build(scalar, *xs)
            expected = central_gradient(numpy_forward, [np.float64(v) for v in values], upstream)
            at = ", ".join(f"x{i}={v:.6g}" for i, v in enumerate(values)) if count > 1 else f"x={values[0]:.6g}"

            _walk(step, f"backward({what})", _walk_and_compare, step, y, upstream, xs, expected, f"backward({what}, grad={upstream:.6g}) at {at}")
    x = scalar.Node(1.0, name="x")
    z = x
    for _ in range(DEEP):
        z = z * 1.0001
    _walk(step, f"backward on a chain of {DEEP:,} Functions", step.backward, z)
    expect_close(f"backward on a chain of {DEEP:,} Functions z = x * 1.0001 * ... * 1.0001: x.grad", 1.0001**DEEP, x.grad, rtol=1e-9)
    expect(not math.isnan(z.grad) and z.grad == 1.0, f"backward(z) should set z.grad to the grad given (1.0), got {show(z.grad)}")

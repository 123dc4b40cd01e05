"""Grading of step 6: the matrix product and the affine layer."""
import numpy as np

from course.grading import expect, expect_close, expect_equal, expect_gradients
from course.solutions.step03_walk import backward as walk


def _recorded(what, grads):
    """Gradients must be Nodes made by engine operations (step 12 differentiates them again)."""
    for name, g in grads.items():
        expect(g is not None, f"{what}: the gradient of {name} is None: return one gradient per input")
        expect(hasattr(g, "data") and not isinstance(g, np.ndarray),
               f"{what}: the gradient of {name} is a {type(g).__name__}, not a Node: write it with the engine's "
               "matmul and .T on the Nodes (matmul(gy, W.T)), not on .data")


def _run(step, f, arrays, upstream):
    """Nodes for ``arrays``, ``y = f(*nodes)``, the walk with the given upstream gradient; the nodes' gradients."""
    nodes = [step.Node(np.array(a, dtype=np.float64)) for a in arrays]
    y = f(*nodes)
    walk(y, step.Node(upstream))
    return nodes


def exercise_1(step, rng):
    for n, i, o in [(3, 4, 5), (2, 3, 1), (1, 2, 3), (5, 1, 4)]:
        x, W = rng.standard_normal((n, i)), rng.standard_normal((i, o))
        g = rng.standard_normal((n, o))
        nx, nW = _run(step, step.matmul, [x, W], g)
        what = f"matmul(x {x.shape}, W {W.shape})"
        _recorded(what, {"x": nx.grad, "W": nW.grad})
        expect_gradients(what, lambda a, b: a @ b, [x, W], g, [nx.grad, nW.grad], names=["x", "W"])


def exercise_2(step, rng):
    for n, i, o in [(4, 3, 2), (1, 5, 3), (6, 2, 4)]:
        x, W, b = rng.standard_normal((n, i)), rng.standard_normal((i, o)), rng.standard_normal(o)
        g = rng.standard_normal((n, o))
        nx, nW, nb = _run(step, step.affine, [x, W, b], g)
        what = f"affine(x {x.shape}, W {W.shape}, b {b.shape})"
        _recorded(what, {"x": nx.grad, "W": nW.grad, "b": nb.grad})
        expect_gradients(what, lambda a, w, c: a @ w + c, [x, W, b], g, [nx.grad, nW.grad, nb.grad], names=["x", "W", "b"])
    x, W = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    g = rng.standard_normal((3, 2))
    nx, nW = _run(step, step.affine, [x, W], g)
    _recorded("affine(x, W) without a bias", {"x": nx.grad, "W": nW.grad})
    expect_gradients("affine(x (3, 4), W (4, 2)) without a bias", lambda a, w: a @ w, [x, W], g, [nx.grad, nW.grad], names=["x", "W"])


def exercise_3(step, rng):
    x, W = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    got = step.jacobian(lambda v: step.matmul(v, step.Node(W)), x.copy())
    # y_nk = Σ_i x_ni W_ik, so ∂y_nk/∂x_mi = δ_nm W_ik.
    expected = np.einsum("nm,ik->nkmi", np.eye(2), W)
    expect_equal("jacobian(x @ W) shape for x (2, 3), W (3, 4) (y's shape + x's shape)", expected.shape, np.shape(got))
    expect_close("jacobian(x @ W), J[n, k, m, i] = ∂y_nk/∂x_mi", expected, got)
    c = rng.standard_normal(3)
    v = rng.standard_normal((2, 3))
    got = step.jacobian(lambda a: (a * step.Node(c)) * a, v.copy())  # y = c·x² elementwise: a diagonal Jacobian
    expected = np.zeros((2, 3, 2, 3))
    for index in np.ndindex(2, 3):
        expected[index + index] = 2 * c[index[1]] * v[index]
    expect_close("jacobian(c * x * x) for x (2, 3), c (3,) (diagonal: 2·c·x on the diagonal; a fresh x and y = f(x) for each row, since a second walk over one graph adds to its gradients)", expected, got)
    s = rng.standard_normal(4)
    got = step.jacobian(lambda a: a.sum(), s.copy())  # a 0-d output: one backward pass, the gradient itself
    expect_close("jacobian(sum(x)) for x (4,) (a 0-d output: J has x's shape, all ones)", np.ones(4), got)

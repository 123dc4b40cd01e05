"""Grading of step 7: softmax with cross entropy."""
import numpy as np

from course.grading import Wrong, depends_on, expect, expect_close, expect_gradients
from course.solutions.step03_walk import backward as walk


def _softmax(x):
    """Softmax over the last axis in float64, computed here independently (the shift by the maximum, in NumPy)."""
    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def _log_softmax(x):
    z = np.asarray(x, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _cross_entropy(x, t):
    return -_log_softmax(x)[np.arange(len(t)), t].mean()


def _finite(what, got):
    got = np.asarray(getattr(got, "data", got), dtype=np.float64)
    bad = ~np.isfinite(got)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        if got[index] == -np.inf:
            why = ("-inf is the log of 0: exp of a very negative logit underflows to 0 (as in log(softmax(x)), where a "
                   "probability like exp(-2000) is 0 in float64); compute x − logsumexp(x) with the row maximum taken out instead")
        else:
            why = ("an overflow: exp of a large logit is inf, and inf / inf is NaN; subtract each row's maximum before exp")
        expect(False, f"{what}: got {got[index]} at index {index} ({why})")


def _shape_kept(what, f, shape, rng):
    """Run ``f`` on a (N, C) Node with N ≠ C and check the shape, so that a missing keepdims cannot pass by broadcasting."""
    try:
        got = f(rng.standard_normal(shape))
    except ValueError as exc:
        if "broadcast" not in str(exc):
            raise
        raise Wrong(f"{what} of a {shape} array raised ValueError: {str(exc).splitlines()[0]}; a max or sum over the last axis "
                    "without keepdims=True drops that axis, and the result no longer lines up with x's rows: use "
                    "keepdims=True") from None
    got_shape = np.shape(getattr(got, "data", got))
    expect(got_shape == shape, f"{what} of a {shape} array: expected shape {shape}, got shape {got_shape}; a max or sum over "
                               "the last axis without keepdims=True drops that axis and broadcasts wrongly: use keepdims=True")


def _scale_hint(expected, got, N, gy):
    """' (got/expected = ×5.0: divide by N = 5?)' when got is expected times one number, else ''."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(getattr(got, "data", got), dtype=np.float64)
    if got.shape != expected.shape or not np.all(np.abs(expected) > 1e-6):
        return ""
    ratio = got / expected
    r = float(ratio.flat[0])
    if not np.allclose(ratio, r, rtol=1e-6) or np.isclose(r, 1.0):
        return ""
    guesses = [(N, f"divide by N = {N}?"), (1 / N, f"divided by N = {N} twice, or multiplied by 1/N where none is due?"),
               (1 / gy, f"multiply by the upstream gradient gy = {gy:.4f}?"), (N / gy, f"divide by N = {N} and multiply by gy = {gy:.4f}?"),
               (-1.0, "the sign: softmax(x) − onehot(t), not the other way round?")]
    guess = next((text for value, text in guesses if np.isclose(r, value, rtol=1e-6)), "")
    return f" (got/expected = ×{r:.6g}{': ' + guess if guess else ''})"


def _gradient_of(step, f, x, upstream):
    node = step.Node(np.array(x, dtype=np.float64))
    walk(f(node), step.Node(upstream))
    expect(node.grad is not None, "the input got no gradient: is the result a Node made from it by engine operations?")
    return node.grad


def exercise_1(step, rng):
    _shape_kept("softmax", lambda a: step.softmax(step.Node(a)), (2, 5), rng)
    big = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1000.5], [0.0, 0.0, 0.0], [1e4, 2e4, -5e4]])
    got = step.softmax(step.Node(big))
    _finite("softmax of logits like ±1000", got)
    expect_close("softmax of logits like ±1000 (each row)", _softmax(big), got)
    x = rng.standard_normal((2, 3, 5)) * 3
    expect_close("softmax over the last axis of a (2, 3, 5) array", _softmax(x), step.softmax(step.Node(x)))
    rows = step.softmax(step.Node(x)).data.sum(axis=-1)
    expect_close("the sums of softmax's rows", np.ones((2, 3)), rows)
    g = rng.standard_normal((4, 5))
    z = rng.standard_normal((4, 5))
    expect_gradients("softmax(x) for x (4, 5)", _softmax, [z], g, [_gradient_of(step, step.softmax, z, g)], names=["x"])


def exercise_2(step, rng):
    _shape_kept("log_softmax", lambda a: step.log_softmax(step.Node(a)), (2, 5), rng)
    _shape_kept("log_softmax", lambda a: step.log_softmax(step.Node(a)), (2, 3, 4), rng)
    big = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1000.5], [1e4, 2e4, -5e4]])
    got = step.log_softmax(step.Node(big))
    _finite("log_softmax of logits like ±1000", got)
    expect_close("log_softmax of logits like ±1000", _log_softmax(big), got)
    x = rng.standard_normal((3, 4, 6)) * 3
    expect_close("log_softmax over the last axis of a (3, 4, 6) array", _log_softmax(x), step.log_softmax(step.Node(x)))
    z = rng.standard_normal((4, 5)) * 2
    g = rng.standard_normal((4, 5))
    expect_gradients("log_softmax(x) for x (4, 5)", _log_softmax, [z], g, [_gradient_of(step, step.log_softmax, z, g)], names=["x"])
    # The gradient at large logits, against its formula g − softmax(x) · Σ g (no difference quotient is exact there).
    gb = rng.standard_normal(big.shape)
    grad = _gradient_of(step, step.log_softmax, big, gb)
    _finite("the gradient of log_softmax at logits like ±1000", grad)
    expect_close("the gradient of log_softmax at logits like ±1000 (g − softmax(x)·Σ_j g_j)",
                 gb - _softmax(big) * gb.sum(axis=-1, keepdims=True), grad)


def exercise_3(step, rng):
    N, C = 5, 4
    x = rng.standard_normal((N, C)) * 2
    t = rng.integers(0, C, size=N)
    gy = float(rng.uniform(0.5, 2.0))
    # The backward first, on its own (its inputs set by hand), so that a blank here says so.
    f = step.SoftmaxCrossEntropy(t)
    f.inputs = [step.Node(x.copy())]
    gx = f.backward(step.Node(np.array(gy)))
    expect(hasattr(gx, "data") and not isinstance(gx, np.ndarray),
           f"SoftmaxCrossEntropy.backward returned a {type(gx).__name__}, not a Node: write it with engine operations "
           "on the input Node (softmax(x) − onehot) * (gy / N)")
    expected = (_softmax(x) - np.eye(C)[t]) * gy / N
    try:
        expect_close(f"SoftmaxCrossEntropy.backward for x {x.shape}, upstream gy = {gy:.4f} ((softmax(x) − onehot(t)) · gy / N)", expected, gx)
    except Wrong as wrong:
        raise Wrong(f"{wrong}{_scale_hint(expected, gx, N, gy)}") from None
    # Recording is on (as in every walk of this course): the gradient must be made by engine ops from the input
    # Node, so that it can be differentiated again (step 12). Node(numbers) is a Node, but a constant.
    expect(depends_on(gx, f.inputs[0]),
           "SoftmaxCrossEntropy.backward's result is right but is not computed from the input Node x (walking its creators "
           "never reaches x): it was made from .data, or wrapped in a new Node; write it with engine operations on x, "
           "softmax(x) − onehot(t), times gy / N, so that it stays differentiable")
    # Then the whole loss: its value against NumPy and its gradient against central differences.
    loss = step.softmax_cross_entropy(step.Node(x.copy()), t)
    try:
        expect_close("softmax_cross_entropy's value (the mean over the batch)", _cross_entropy(x, t), loss)
    except Wrong as wrong:
        raise Wrong(f"{wrong}{_scale_hint(_cross_entropy(x, t), loss, N, 1.0)}") from None
    got = _gradient_of(step, lambda v: step.softmax_cross_entropy(v, t), x, np.array(gy))
    expect_gradients(f"softmax_cross_entropy(x {x.shape}, t) with upstream {gy:.4f}", lambda v: _cross_entropy(v, t), [x], gy, [got], names=["x"])
    big = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    tb = np.array([1, 2])
    loss = step.softmax_cross_entropy(step.Node(big), tb)
    _finite("softmax_cross_entropy at logits like ±1000", loss)
    expect_close("softmax_cross_entropy at logits like ±1000", _cross_entropy(big, tb), loss)
    grad = _gradient_of(step, lambda v: step.softmax_cross_entropy(v, tb), big, np.array(1.0))
    expect_close("the gradient of softmax_cross_entropy at logits like ±1000", (_softmax(big) - np.eye(3)[tb]) / 2, grad)

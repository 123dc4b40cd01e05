"""The losses' fast kernels (node.kernels.loss) against their reference Functions, in float64.

The fused cross entropy gradient applies on the GPU only (``xp`` is CuPy, or
../shared/fake_cupy); on NumPy the reference runs either way, and the tests
check that too.
"""
import numpy as np
import pytest
from helpers import probabilities, randn

import node
import node.functions as F
from node.functions.loss import SoftmaxCrossEntropyGrad

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference

SHAPES = [(1, 1), (4, 3), (7, 10)]


def _gradient_function(xp, rng, shape, mode):
    """SoftmaxCrossEntropyGrad on random (log p, s, t, gy), with the setting ``mode``: (kernel, value, input gradients)."""
    n, c = shape
    log_p = xp.log(probabilities(xp, rng, shape))
    t = xp.asarray(rng.random(shape))
    arrays = (log_p, t.sum(axis=1, keepdims=True), t, xp.asarray(rng.standard_normal(())))
    upstream = randn(xp, rng, shape)
    inputs = [node.Node(a) for a in arrays]
    with node.using_config("kernels", mode):
        f = SoftmaxCrossEntropyGrad(n)
        y = f(*inputs)
    kernel = f.kernel  # before backward() frees f
    y.backward(upstream)
    return kernel, node.asnumpy(y.value), [node.asnumpy(x.grad) for x in inputs]


@pytest.mark.parametrize("shape", SHAPES)
def test_fused_cross_entropy_gradient_matches_the_reference(xp, shape):
    kernel, value, grads = _gradient_function(xp, np.random.default_rng(0), shape, "auto")
    reference_kernel, expected, expected_grads = _gradient_function(xp, np.random.default_rng(0), shape, "reference")
    assert kernel == (None if xp is np else "fused") and reference_kernel is None
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_with_target_rows_is_the_same_with_and_without_kernels(xp, shape):
    rng = np.random.default_rng(1)
    x, t = randn(xp, rng, shape) * 3, xp.asarray(rng.random(shape))
    results = []
    for mode in ("auto", "reference"):
        xs, ts = node.Node(x.copy()), node.Node(t.copy())
        with node.using_config("kernels", mode):
            loss = F.softmax_with_cross_entropy(xs, ts)
            loss.backward()
        results.append([node.asnumpy(v) for v in (loss.value, xs.grad, ts.grad)])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    node.gradcheck(F.softmax_with_cross_entropy, x, t)
    node.gradgradcheck(F.softmax_with_cross_entropy, x, t)

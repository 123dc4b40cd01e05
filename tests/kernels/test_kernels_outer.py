"""The one-term matrix product kernel (node.kernels.outer) against MatMul's reference, and Affine's weight gradient through it.

a (n, 1) @ b (1, m) is one product per element whichever way it is computed,
so the kernel's result must be the same bits as the reference's ``a @ b``.
"""
import importlib.util

import numpy as np
import pytest

import node
import node.functions as F
from node.functions.arithmetic import MatMul
from node.kernels import compiled, outer

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference


def product(a, b, mode):
    """(kernel that ran, a @ b, gradients of a and b for a random upstream gradient) with the kernels in ``mode``."""
    with node.using_config("kernels", mode):
        f = MatMul()
        nodes = [node.Node(a), node.Node(b)]
        y = f(*nodes)
        kernel = getattr(f, "kernel", None)
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(y.dtype)
        grads = node.grad([y], nodes, grad_outputs=[gy])
    return kernel, node.asnumpy(y.value), [node.asnumpy(g) for g in grads]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape, b_shape", [((784, 1), (1, 256)), ((1, 1), (1, 16)), ((2, 5, 1), (2, 1, 20)), ((3, 4, 1), (1, 17))])
def test_one_term_product_is_the_reference_bit_for_bit(dtype, a_shape, b_shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    kernel, y, grads = product(a, b, "auto")
    reference, expected, expected_grads = product(a, b, "reference")
    assert (kernel, reference) == ("outer", None)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, expected)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_compiled_loop_and_numpys_multiply_give_the_same_bits(monkeypatch, dtype):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((300, 1)).astype(dtype), rng.standard_normal((1, 40)).astype(dtype)
    a[:3, 0] = [np.inf, -0.0, np.nan]
    calls = []
    original = compiled.loop
    monkeypatch.setattr(compiled, "loop", lambda name, t: calls.append(name) or original(name, t))
    got = {}
    for mode in ("auto", "off"):
        with node.using_config("compiled_kernels", mode):
            got[mode] = product(a, b, "auto")[1]
    assert calls.count("outer") == 1  # "off" never asks for the loop
    np.testing.assert_array_equal(got["auto"].view(np.uint8), got["off"].view(np.uint8))
    np.testing.assert_array_equal(got["off"].view(np.uint8), (a * b).view(np.uint8))


def test_a_transposed_operand_is_fine():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 40)).astype(np.float32)  # x.T: (40, 1), not C-contiguous
    gy = rng.standard_normal((1, 32)).astype(np.float32)
    with node.using_config("kernels", "auto"):
        f = MatMul()
        y = f(node.Node(x.T), node.Node(gy)).value
    assert f.kernel == "outer"
    np.testing.assert_array_equal(y, x.T @ gy)


@pytest.mark.parametrize(
    "what, a, b",
    [
        ("two terms: BLAS is faster", np.ones((8, 2)), np.ones((2, 32))),
        ("rows shorter than 16", np.ones((256, 1)), np.ones((1, 2))),
        ("mixed dtypes", np.ones((8, 1), np.float32), np.ones((1, 32))),
        ("integers", np.ones((8, 1), np.int64), np.ones((1, 32), np.int64)),
        ("complex", np.ones((8, 1), complex), np.ones((1, 32), complex)),
        ("a vector", np.ones(1), np.ones((1, 32))),
    ],
)
def test_the_kernel_stays_out_of_other_products(what, a, b):
    assert not outer.OuterProduct().applies(MatMul(), a, b), what
    with node.using_config("kernels", "auto"):
        f = MatMul()
        y = f(node.Node(a), node.Node(b))
    assert getattr(f, "kernel", None) is None, what
    np.testing.assert_array_equal(y.value, a @ b)


def test_the_kernel_does_not_apply_on_the_gpu(xp):
    a, b = xp.ones((8, 1), dtype=np.float32), xp.ones((1, 32), dtype=np.float32)
    assert outer.OuterProduct().applies(MatMul(), a, b) == (xp is np)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_weight_gradient_at_batch_one_goes_through_the_kernel(monkeypatch, dtype):
    ran = []
    original = outer.OuterProduct.forward
    monkeypatch.setattr(outer.OuterProduct, "forward", lambda self, f, a, b: ran.append((a.shape, b.shape)) or original(self, f, a, b))
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((1, 30)).astype(dtype), rng.standard_normal((30, 20)).astype(dtype), rng.standard_normal(20).astype(dtype)
    gy = rng.standard_normal((1, 20)).astype(dtype)
    results = []
    for mode in ("auto", "reference"):
        with node.using_config("kernels", mode):
            nodes = [node.Node(x), node.Node(W), node.Node(b)]
            results.append([node.asnumpy(g) for g in node.grad([F.linear(*nodes)], nodes, grad_outputs=[gy])])
    assert ran == [((30, 1), (1, 20))]  # gW = xᵀ·gy, once, with the kernels on
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(results[0][1], x.T * gy)


def test_linear_at_batch_one_matches_finite_differences():
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((1, 6)), rng.standard_normal((6, 17)), rng.standard_normal(17)
    node.gradcheck(F.linear, x, W, b)
    node.gradgradcheck(F.linear, x, W, b)  # under create_graph gW is a recorded MatMul
    node.gradcheck(F.linear, rng.standard_normal((1, 1, 6)), W, b)  # a leading axis: still one row, one term

"""The reductions beyond sum and mean: answers without a gradient, edge cases written out, refused arguments.

Forward values and gradients on ordinary inputs are in the op table
(test_op_table.py); here are argmax/argmin/any/all (no gradient), the
gradients at the edges (zeros in prod and cumprod, the norm at 0) as numbers,
and the messages for bad arguments. Where PyTorch is installed, the same
calls are compared with it.
"""
import math

import numpy as np
import pytest

import node
import node.functions as F

X = np.array([[0.5, -2.0, 3.0, 3.0], [1.0, 4.0, -1.0, 0.0], [2.0, 2.0, 2.0, -5.0]])


# ---- no gradient: (label, call, expected value as NumPy gives it) ------------------------------------------------------
CONSTANTS = [
    ("argmax axis 1", lambda x: F.argmax(x, 1), X.argmax(1)),
    ("argmax keepdims", lambda x: F.argmax(x, -1, keepdims=True), X.argmax(1)[:, None]),
    ("argmax all", lambda x: F.argmax(x), np.array(X.argmax())),
    ("argmax all keepdims", lambda x: F.argmax(x, keepdims=True), np.array([[X.argmax()]])),
    ("argmin axis 0", lambda x: F.argmin(x, 0), X.argmin(0)),
    ("argmax method", lambda x: x.argmax(axis=1), X.argmax(1)),
    ("argmin method keepdims", lambda x: x.argmin(0, keepdims=True), X.argmin(0)[None]),
    ("any", lambda x: F.any(x > 3.5, axis=1), np.array([False, True, False])),
    ("all", lambda x: F.all(x, axis=1, keepdims=True), np.array([[True], [False], [True]])),
    ("any all axes", lambda x: x.any(), np.array(True)),
    ("all method", lambda x: (x > -6).all(axis=(0, 1)), np.array(True)),
]


@pytest.mark.parametrize("label, call, expected", CONSTANTS, ids=[c[0] for c in CONSTANTS])
def test_indices_and_truth_values_are_constants(xp, label, call, expected):
    got = call(node.Node(xp.asarray(X)))
    assert isinstance(got, node.Node) and not got.requires_grad and got.creator is None
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)


def test_a_0d_node_takes_axis_0_and_minus_1():
    x = node.Node(2.5)
    assert F.argmax(x, 0).item() == 0 and F.argmin(x, -1).item() == 0
    assert F.prod(x, 0).item() == 2.5 and F.logsumexp(x, -1).item() == 2.5 and F.norm(x, axis=0).item() == 2.5
    assert F.cumsum(x, 0) is x and F.any(x, 0).item() is True


# ---- edge cases, as numbers ---------------------------------------------------------------------------------------
def grad_of(f, value):
    x = node.Node(np.asarray(value, dtype=np.float64))
    f(x).sum().backward()
    return x.grad


def test_prod_gradient_with_one_and_two_zeros():
    """∂/∂xᵢ Π x = the product of the others: one zero gets it, the rest 0; two zeros: all 0 (as PyTorch)."""
    g = grad_of(lambda x: F.prod(x, axis=1), [[2.0, 0.0, 3.0], [0.0, 5.0, 0.0], [2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(g, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [12.0, 8.0, 6.0]])


def test_prod_second_derivative_with_a_zero():
    x = node.Node(np.array([2.0, 0.0, 3.0]))
    (g,) = node.grad(F.prod(x), [x], create_graph=True)
    (h,) = node.grad(g[1], [x])  # ∂/∂x (x0 x2) = (x2, 0, x0)
    np.testing.assert_array_equal(h, [3.0, 0.0, 2.0])


def test_cumprod_gradient_with_zeros():
    """y = (x0, x0x1, x0x1x2): Σy has gradient (1 + x1 + x1x2, x0 + x0x2, x0x1)."""
    np.testing.assert_allclose(grad_of(lambda x: F.cumprod(x, 0), [2.0, 0.0, 3.0]), [1.0, 8.0, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: F.cumprod(x, 0), [0.0, 0.0, 3.0]), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("p", [2, 3, 1.5, math.inf, "fro"])
def test_norm_gradient_at_zero_is_zero(p):
    np.testing.assert_array_equal(grad_of(lambda x: F.norm(x, p, axis=1), np.zeros((2, 3))), np.zeros((2, 3)))


def test_norm_inf_shares_the_gradient_between_ties():
    np.testing.assert_allclose(grad_of(lambda x: F.norm(x, math.inf), [3.0, -3.0, 1.0]), [0.5, -0.5, 0.0])


def test_logsumexp_does_not_overflow():
    x = node.Node(np.array([[1000.0, 1000.0], [-1000.0, -math.inf]]))
    y = F.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.value, [1000.0 + math.log(2.0), -1000.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [[0.5, 0.5], [1.0, 0.0]])


def test_var_correction_and_unbiased():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    assert F.var(x).item() == pytest.approx(x.var(ddof=1))  # PyTorch's default, not NumPy's
    assert F.var(x, correction=0).item() == pytest.approx(x.var())
    assert F.var(x, unbiased=False).item() == pytest.approx(x.var())
    assert F.std(x, correction=2).item() == pytest.approx(x.std(ddof=2))
    assert node.Node(x).std(unbiased=True).item() == pytest.approx(x.std(ddof=1))


def test_var_with_no_degrees_of_freedom_is_nan_or_inf_as_in_pytorch():
    with np.errstate(invalid="ignore"):
        assert math.isnan(F.var(np.array([3.0])).item())
        assert F.var(np.array([1.0, 2.0]), correction=3).item() == math.inf


def test_integer_input_gives_a_float_variance():
    assert F.var(np.array([1, 2, 3])).dtype == node.get_default_dtype()


# ---- refused arguments: (label, call, exception, message regex) ------------------------------------------------------
def ones(*shape):
    return node.Node(np.ones(shape))


REFUSED = [
    ("prod axis out of range", lambda: F.prod(ones(2, 3), 2), ValueError, r"^prod: axis 2 is out of range for an array with 2 dimensions"),
    ("var correction -1", lambda: F.var(ones(3), correction=-1), ValueError, r"^var: correction must be an integer >= 0, got -1$"),
    ("var correction float", lambda: F.var(ones(3), correction=0.5), TypeError, r"^var: correction must be an integer >= 0, got float 0\.5$"),
    ("std unbiased 1", lambda: F.std(ones(3), unbiased=1), TypeError, r"^std: unbiased must be True or False, got int 1$"),
    ("norm p 0", lambda: F.norm(ones(3), 0), ValueError, r"^norm: p must be a number > 0, inf, -inf or 'fro', got 0$"),
    ("norm nuc", lambda: F.norm(ones(3, 3), "nuc"), ValueError, r"^norm: p must be .*got 'nuc'$"),
    ("norm complex", lambda: F.norm(np.array([1j])), TypeError, r"^norm: argument x is complex"),
    ("cumsum no axis", lambda: F.cumsum(ones(3), None), TypeError, r"^cumsum: axis must be an integer \(flatten first"),
    ("cumprod axis 1 of 1-D", lambda: F.cumprod(ones(3), 1), ValueError, r"^cumprod: axis must be an integer in \[-1, 0\], got 1$"),
    ("argmax tuple axis", lambda: F.argmax(ones(2, 2), (0, 1)), TypeError, r"^argmax: axis must be an integer in \[-2, 1\], got tuple"),
    ("argmax keepdims 1", lambda: F.argmax(ones(2), 0, 1), TypeError, r"^argmax: keepdims must be True or False, got int 1$"),
    ("argmax out", lambda: ones(2).argmax(out=np.zeros(())), TypeError, r"^argmax: out= is not supported"),
    ("any axis 3", lambda: F.any(ones(2, 2), 3), ValueError, r"^any: axis 3 is out of range"),
    ("0-d axis 1", lambda: F.logsumexp(node.Node(1.0), 1), ValueError, r"^logsumexp: axis must be an integer in \[-1, 0\], got 1$"),
]


@pytest.mark.parametrize("label, call, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_arguments_are_refused(label, call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- against PyTorch, where it is installed ----------------------------------------------------------------------
TORCH_CASES = [
    ("prod zeros", lambda F_, x: F_.prod(x, 1), lambda t, x: t.prod(x, 1)),
    ("var", lambda F_, x: F_.var(x, 0), lambda t, x: t.var(x, 0)),
    ("std keepdims", lambda F_, x: F_.std(x, 1, True), lambda t, x: t.std(x, 1, keepdim=True)),
    ("logsumexp", lambda F_, x: F_.logsumexp(x, 1), lambda t, x: t.logsumexp(x, 1)),
    ("norm 2", lambda F_, x: F_.norm(x, 2, 1), lambda t, x: t.linalg.vector_norm(x, 2, 1)),
    ("norm 0.5", lambda F_, x: F_.norm(x, 0.5, 0), lambda t, x: t.linalg.vector_norm(x, 0.5, 0)),
    ("norm -inf", lambda F_, x: F_.norm(x, -math.inf, 1), lambda t, x: t.linalg.vector_norm(x, -math.inf, 1)),
    ("cumsum", lambda F_, x: F_.cumsum(x, 0), lambda t, x: t.cumsum(x, 0)),
    ("cumprod zeros", lambda F_, x: F_.cumprod(x, 1), lambda t, x: t.cumprod(x, 1)),
]


@pytest.mark.parametrize("label, ours, theirs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_values_and_gradients_match_pytorch(label, ours, theirs):
    torch = pytest.importorskip("torch")
    value = np.random.default_rng(0).standard_normal((3, 4))
    value[0, 1] = value[1, 0] = value[1, 2] = 0.0  # one zero in row 0, two in row 1
    g = np.random.default_rng(1).standard_normal
    x, t = node.Node(value), torch.tensor(value, requires_grad=True)
    y, u = ours(F, x), theirs(torch, t)
    upstream = g(y.shape)
    y.backward(upstream)
    u.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.value, u.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)

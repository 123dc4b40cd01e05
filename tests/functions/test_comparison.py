"""Comparisons, predicates and selection (node/functions/comparison.py): values against NumPy, no gradients
where there are none, PyTorch's tie rule for maximum/minimum, and the errors for bad arguments."""
import numpy as np
import pytest

import node
import node.functions as F

COMPARISONS = [(F.eq, np.equal), (F.ne, np.not_equal), (F.lt, np.less), (F.le, np.less_equal), (F.gt, np.greater), (F.ge, np.greater_equal)]
PREDICATES = [(F.isnan, np.isnan), (F.isinf, np.isinf), (F.isfinite, np.isfinite)]


@pytest.mark.parametrize("op, expected", COMPARISONS, ids=lambda v: getattr(v, "__name__", ""))
def test_comparisons_broadcast_and_match_numpy(xp, op, expected):
    a = node.Node(xp.asarray([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), requires_grad=True)
    b = node.Node(xp.asarray([2.0, 2.0, 2.0]))
    got = op(a, b)
    assert got.dtype == bool and not got.requires_grad and got.shape == (2, 3)
    np.testing.assert_array_equal(got.numpy(), expected(a.numpy(), b.numpy()))
    np.testing.assert_array_equal(op(a, 2).numpy(), expected(a.numpy(), 2))


@pytest.mark.parametrize("op, expected", PREDICATES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_predicates_match_numpy(xp, op, expected, dtype):
    values = [0.0, np.nan, np.inf, -np.inf, 1.5] if dtype != "int64" else [0, 3, -2]
    x = node.Node(xp.asarray(np.array(values, dtype=dtype)))
    got = op(x)
    assert got.dtype == bool and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), expected(np.array(values, dtype=dtype)))
    np.testing.assert_array_equal(getattr(x, op.__name__)().numpy(), got.numpy())


def test_where_takes_numbers_and_gives_each_branch_its_gradient():
    x = node.Node(np.array([[1.0, -2.0], [-3.0, 4.0]]), requires_grad=True)
    y = node.Node(np.array([10.0, 20.0]), requires_grad=True)
    out = F.where(x > 0, x, y)
    np.testing.assert_array_equal(out.value, [[1.0, 20.0], [10.0, 4.0]])
    out.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(x.grad, [[1.0, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(y.grad, [3.0, 2.0])  # summed back over the broadcast axis
    assert F.where(x > 0, x, 0).dtype == np.float64 and F.where(np.array([True, False]), 1, 2.5).dtype == np.float32
    np.testing.assert_array_equal(x.where(x > 0, 0.0).value, [[1.0, 0.0], [0.0, 4.0]])


def test_masked_fill_keeps_x_shape_and_dtype():
    x = node.Node(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = F.masked_fill(x, np.array([True, False, True]), -1.0)
    np.testing.assert_array_equal(out.value, [[-1.0, 1.0, -1.0], [-1.0, 4.0, -1.0]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    ints = node.Node(np.array([1, 2, 3]))
    assert F.masked_fill(ints, ints > 1, 2.7).value.tolist() == [1, 2, 2]  # the value takes x's dtype, as in PyTorch
    assert x.masked_fill(x > 2, float("-inf")).value[1, 2] == -np.inf


def test_a_node_fill_value_receives_the_gradient_of_the_filled_places():
    x = node.Node(np.zeros(4), requires_grad=True)
    v = node.Node(np.array(2.0), requires_grad=True)
    F.masked_fill(x, np.array([True, True, False, True]), v).sum().backward()
    assert float(v.grad) == 3.0


@pytest.mark.parametrize("op, use_min", [(F.maximum, False), (F.minimum, True)])
def test_maximum_and_minimum_split_the_gradient_at_ties_as_pytorch(op, use_min):
    a = node.Node(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = node.Node(np.array([1.0, 1.0, 4.0]), requires_grad=True)
    op(a, b).backward(np.ones(3))
    wins_a = [0.5, 0.0, 1.0] if use_min else [0.5, 1.0, 0.0]
    np.testing.assert_array_equal(a.grad, wins_a)
    np.testing.assert_array_equal(b.grad, [1.0 - w if i else 0.5 for i, w in enumerate(wins_a)])


def test_maximum_matches_torch_at_ties_and_nans():
    torch = pytest.importorskip("torch")
    values = ([1.0, 2.0, 3.0, np.nan, 0.0], [1.0, 1.0, 4.0, 0.0, np.nan])
    for name in ("maximum", "minimum"):
        a, b = (node.Node(np.array(v), requires_grad=True) for v in values)
        ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values)
        getattr(F, name)(a, b).backward(np.arange(1.0, 6.0))
        getattr(torch, name)(ta, tb).backward(torch.arange(1.0, 6.0, dtype=torch.float64))
        np.testing.assert_array_equal(a.grad, ta.grad.numpy())
        np.testing.assert_array_equal(b.grad, tb.grad.numpy())


BAD = [
    (lambda: F.lt(node.Node(np.array([1j])), 0), TypeError, r"^lt: complex numbers have no order, got dtype complex128"),
    (lambda: F.eq(np.zeros(3), np.zeros(2)), ValueError, r"^eq: shapes \(3,\) and \(2,\) cannot be broadcast together$"),
    (lambda: F.where(np.array([1, 0]), 1.0, 2.0), TypeError, r"^where: condition must be boolean \(e\.g\. x > 0\), got dtype int64"),
    (lambda: F.where(np.ones((2, 2), bool), np.zeros(3), 1.0), ValueError, r"^where: condition of shape \(2, 2\) does not broadcast"),
    (lambda: F.masked_fill(np.zeros(3), np.ones((2, 3), bool), 0.0), ValueError, r"^masked_fill: mask of shape \(2, 3\) does not broadcast to x's shape \(3,\)$"),
    (lambda: F.masked_fill(np.zeros(3), np.ones(3), 0.0), TypeError, r"^masked_fill: mask must be boolean"),
    (lambda: F.masked_fill(np.zeros(3), np.ones(3, bool), "a"), TypeError, r"^masked_fill: value must be a number or a one-element Node, got str"),
    (lambda: F.masked_fill(np.zeros(3), np.ones(3, bool), np.zeros(2)), ValueError, r"^masked_fill: value must have one element, got shape \(2,\)$"),
    (lambda: F.maximum(np.zeros(3), np.zeros(4)), ValueError, r"^maximum: shapes \(3,\) and \(4,\) cannot be broadcast together$"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()

"""The elementwise ops of issue 23 beyond the op table: erf's accuracy, the zero gradient of the rounding ops,
the activations' arguments, true division's dtype rule, 0-d Nodes and their axes, and agreement with PyTorch."""
import math

import numpy as np
import pytest

import node
import node.functions as F


def test_erf_is_within_a_few_ulp_of_math_erf_in_float64():
    x = np.concatenate([np.linspace(-7, 7, 20001), np.geomspace(1e-300, 6, 500), -np.geomspace(1e-12, 6, 500)])
    got = F.erf(node.Node(x)).value
    expected = np.array([math.erf(v) for v in x])
    relative = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-300)
    assert relative.max() < 1e-15, (relative.max(), x[relative.argmax()])


def test_erf_keeps_float32_and_handles_infinities_and_nan(xp):
    got = F.erf(node.Node(xp.asarray(np.array([-np.inf, -1.0, 0.0, 0.5, np.inf, np.nan], np.float32))))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy()[:5], [-1.0, math.erf(-1), 0.0, math.erf(0.5), 1.0], rtol=1e-6)
    assert np.isnan(got.numpy()[5])


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_rounding_ops_have_a_zero_gradient_and_keep_integers(name):
    x = node.Node(np.array([-1.5, -0.2, 0.5, 2.5]), requires_grad=True)
    y = getattr(F, name)(x)
    np.testing.assert_array_equal(y.value, {"floor": np.floor, "ceil": np.ceil, "round": np.round, "sign": np.sign}[name](x.value))
    assert y.requires_grad  # as in PyTorch: backward through it runs and gives zeros
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))
    ints = node.Node(np.array([-3, 0, 4]))
    assert getattr(F, name)(ints).dtype == np.int64 and getattr(ints, name)().value.tolist() == (
        [-1, 0, 1] if name == "sign" else [-3, 0, 4]
    )


def test_round_takes_decimals_and_rounds_halves_to_even():
    np.testing.assert_array_equal(F.round(node.Node(np.array([0.5, 1.5, 2.5, 1.2345])), 0).value, [0.0, 2.0, 2.0, 1.0])
    np.testing.assert_allclose(F.round(node.Node(np.array([1.2345, -2.675])), 2).value, [1.23, -2.68])


BAD = [
    (lambda: F.softplus(np.zeros(2), beta=0), ValueError, r"^softplus: beta must be a finite number > 0, got 0\.0$"),
    (lambda: F.softplus(np.zeros(2), threshold="a"), TypeError, r"^softplus: threshold must be a finite number, got str"),
    (lambda: F.gelu(np.zeros(2), approximate="fast"), ValueError, r"^gelu: approximate must be one of 'none', 'tanh', got 'fast'$"),
    (lambda: F.elu(np.zeros(2), alpha=float("nan")), ValueError, r"^elu: alpha must be a finite number, got nan$"),
    (lambda: F.round(np.zeros(2), 1.5), TypeError, r"^round: decimals must be an integer, got float 1\.5$"),
    (lambda: F.atan2(np.zeros(3), np.zeros(2)), ValueError, r"^atan2: shapes \(3,\) and \(2,\) cannot be broadcast together$"),
    (lambda: F.erf(np.array([1j])), TypeError, r"complex"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- true division: one rule, PyTorch's -------------------------------------------------------
DIVISION = [  # (a, b, dtype of a / b)
    (np.array([1, 2]), np.array([2, 4]), "default"),
    (np.array([1, 2], np.int32), 2, "default"),
    (np.array([True, False]), np.array([2, 4]), "default"),
    (np.array([1, 2]), np.array([2.0, 4.0]), "float64"),
    (np.array([1, 2]), np.array([2.0, 4.0], np.float32), "float32"),
    (np.array([1.0, 2.0], np.float32), np.array([2, 4]), "float32"),
    (np.array([1, 2]), 2.5, "default"),
    (3, np.array([2, 4]), "default"),
]


@pytest.mark.parametrize("a, b, dtype", DIVISION, ids=[f"div{i}" for i in range(len(DIVISION))])
@pytest.mark.parametrize("default", ["float32", "float64"])
def test_true_division_of_integers_gives_the_default_float_dtype(a, b, dtype, default):
    node.set_default_dtype(default)
    wrap = (lambda v: node.Node(v)) if isinstance(a, np.ndarray) else (lambda v: v)
    got = wrap(a) / node.Node(b) if not isinstance(a, np.ndarray) else node.Node(a) / (node.Node(b) if isinstance(b, np.ndarray) else b)
    assert got.dtype == np.dtype(default if dtype == "default" else dtype)
    np.testing.assert_allclose(got.value, np.true_divide(a, b), rtol=1e-6)


# ---- 0-d Nodes accept axis 0 and -1, as 0-d tensors do ------------------------------------------
ZERO_DIM = [
    ("sum axis=-1", lambda x: x.sum(axis=-1)),
    ("sum axis=0", lambda x: F.sum(x, 0)),
    ("sum axis=(0,)", lambda x: x.sum(axis=(0,))),
    ("sum keepdims", lambda x: x.sum(axis=0, keepdims=True)),
    ("mean axis=0", lambda x: x.mean(axis=0)),
    ("mean axis=-1", lambda x: F.mean(x, -1)),
    ("max axis=-1", lambda x: x.max(axis=-1)),
    ("min axis=0", lambda x: x.min(axis=0, keepdims=True)),
    ("squeeze 0", lambda x: F.squeeze(x, 0)),
    ("squeeze -1", lambda x: x.squeeze(-1)),
    ("squeeze (0,)", lambda x: F.squeeze(x, (0,))),
]


@pytest.mark.parametrize("name, op", ZERO_DIM, ids=[row[0] for row in ZERO_DIM])
def test_zero_dim_nodes_accept_axis_0_and_minus_1(xp, name, op):
    x = node.Node(xp.asarray(3.5), requires_grad=True)
    y = op(x)
    assert y.shape == () and float(y) == 3.5
    (y * y).backward()
    assert float(x.grad) == 7.0


@pytest.mark.parametrize("axis, message", [(1, r"axis 1 is out of range for an array with 0 dimensions \(expected -1\.\.0\)"),
                                           ((0, -1), r"names an axis more than once")])
def test_zero_dim_nodes_refuse_other_axes(axis, message):
    with pytest.raises(ValueError, match=message):
        node.Node(3.0).sum(axis=axis)


def test_repeated_axes_are_refused_on_any_node():
    with pytest.raises(ValueError, match=r"axis \(1, -1\) names an axis more than once"):
        F.mean(node.Node(np.zeros((2, 3))), (1, -1))


# ---- agreement with PyTorch (values and gradients, float64) -------------------------------------
TORCH = [  # (node op, torch op, input values)
    (F.gelu, "torch.nn.functional.gelu", np.linspace(-6, 6, 25)),
    (lambda x: F.gelu(x, approximate="tanh"), "lambda t: torch.nn.functional.gelu(t, approximate='tanh')", np.linspace(-6, 6, 25)),
    (F.silu, "torch.nn.functional.silu", np.linspace(-30, 30, 25)),
    (F.elu, "torch.nn.functional.elu", np.linspace(-5, 5, 24)),
    (lambda x: F.elu(x, 0.3), "lambda t: torch.nn.functional.elu(t, 0.3)", np.linspace(-5, 5, 24)),
    (F.selu, "torch.nn.functional.selu", np.linspace(-5, 5, 24)),
    (F.softplus, "torch.nn.functional.softplus", np.linspace(-40, 40, 25)),
    (lambda x: F.softplus(x, 2.0, 5.0), "lambda t: torch.nn.functional.softplus(t, 2.0, 5.0)", np.linspace(-5, 5, 24)),
    (F.logsigmoid, "torch.nn.functional.logsigmoid", np.linspace(-800, 800, 25)),
    (F.erf, "torch.erf", np.linspace(-7, 7, 29)),
    (F.log1p, "torch.log1p", np.geomspace(1e-12, 10, 12)),
    (F.expm1, "torch.expm1", np.linspace(-1e-8, 1e-8, 5)),
    (F.asinh, "torch.asinh", np.linspace(-9, 9, 12)),
    (F.atanh, "torch.atanh", np.linspace(-0.99, 0.99, 12)),
]


@pytest.mark.parametrize("op, torch_op, values", TORCH, ids=[row[1].split(".")[-1].split("(")[0] for row in TORCH])
def test_values_and_gradients_match_torch(op, torch_op, values):
    torch = pytest.importorskip("torch")
    reference = eval(torch_op, {"torch": torch})  # a fixed expression from the table above
    x = node.Node(values, requires_grad=True)
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    y, ty = op(x), reference(t)
    upstream = np.linspace(0.5, 1.5, values.size)
    y.backward(upstream)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.value, ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_atan2_gradient_is_zero_at_the_origin_as_in_torch():
    y = node.Node(np.array([0.0, 1.0, 0.0]), requires_grad=True)
    x = node.Node(np.array([0.0, 0.0, -2.0]), requires_grad=True)
    F.atan2(y, x).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, -0.5])
    np.testing.assert_array_equal(x.grad, [0.0, -1.0, 0.0])

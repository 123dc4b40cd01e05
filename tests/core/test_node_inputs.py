"""What Node() and the operands of every op accept, and how they refuse the rest.

One table of values that are not numbers, each with the exception and the
message it must give: from ``Node(value)``, as an operand (``x + value``) and
as the argument of a function (``F.exp(value)``). The check lives in one place
(``node.backend.as_array``); these tests reach it through every door.
"""
import datetime

import numpy as np
import pytest

import node
import node.functions as F

NOT_NUMBERS = "must be numbers \\(a Node, an array, a number or a list of numbers\\)"

# (label, a function making the value, the exception, what the message says about the value)
REFUSED = [
    ("None", lambda: None, TypeError, "got None"),
    ("str", lambda: "abc", TypeError, "got str 'abc'"),
    ("bytes", lambda: b"abc", TypeError, "got bytes b'abc'"),
    ("dict", lambda: {"a": 1}, TypeError, "got dict"),
    ("set", lambda: {1, 2}, TypeError, "got set"),
    ("generator", lambda: (i for i in range(3)), TypeError, r"got generator \(turn it into a list first\)"),
    ("datetime", lambda: datetime.datetime(2024, 1, 1), TypeError, "got datetime"),
    ("timedelta", lambda: datetime.timedelta(days=1), TypeError, "got timedelta"),
    ("object", lambda: object(), TypeError, "got object"),
    ("list with None", lambda: [1.0, None], TypeError, "got a list holding None"),
    ("list with str", lambda: [1, "a"], TypeError, "got a list holding str '1'"),
    ("datetime64 array", lambda: np.array(["2020-01-01"], dtype="datetime64[D]"), TypeError, r"got an array of dtype datetime64\[D\] \(datetimes\)"),
    ("timedelta64 array", lambda: np.array([1], dtype="timedelta64[s]"), TypeError, r"got an array of dtype timedelta64\[s\] \(timedeltas\)"),
    ("object array", lambda: np.array([1, "a"], dtype=object), TypeError, r"got an array of dtype object \(Python objects\)"),
    ("str array", lambda: np.array(["a", "b"]), TypeError, r"got an array of dtype <U1 \(strings\)"),
    ("structured array", lambda: np.zeros(3, dtype=[("a", "f4")]), TypeError, r"got an array of dtype .* \(structured records\)"),
    ("NumPy str scalar", lambda: np.str_("abc"), TypeError, "got str_"),
]
RAGGED = [
    ("ragged list", lambda: [[1, 2], [3]], "list"),
    ("ragged tuple", lambda: ((1.0,), (2.0, 3.0)), "tuple"),
    ("ragged arrays", lambda: [np.ones(2), np.ones(3)], "list"),
]


@pytest.mark.parametrize("label, make, error, got", REFUSED, ids=[r[0] for r in REFUSED])
def test_node_refuses_what_is_not_numbers(label, make, error, got):
    with pytest.raises(error, match=f"^Node: value {NOT_NUMBERS}, {got}"):
        node.Node(make())


@pytest.mark.parametrize("label, make, kind", RAGGED, ids=[r[0] for r in RAGGED])
def test_a_ragged_list_is_called_ragged(label, make, kind):
    with pytest.raises(ValueError, match=f"^Node: value is a ragged {kind}: its rows have different lengths") as info:
        node.Node(make())
    assert "inhomogeneous" not in str(info.value)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns that it is deprecated
def test_a_masked_array_is_refused_and_a_matrix_becomes_a_plain_array():
    with pytest.raises(TypeError, match=r"Node: value is a masked array: node would ignore its mask\. Pass x\.filled"):
        node.Node(np.ma.array([1.0, 2.0], mask=[0, 1]))
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    a = node.Node(m)
    assert type(a.value) is np.ndarray
    np.testing.assert_array_equal((a * a).value, [[1.0, 4.0], [9.0, 16.0]])  # elementwise, not m @ m
    np.testing.assert_array_equal((node.Node(np.ones((2, 2))) * m).value, [[1.0, 2.0], [3.0, 4.0]])


# ---- the dtype Python values get ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, dtype",
    [(1, np.int64), ([1, 2], np.int64), (True, np.bool_), ([True], np.bool_), (1.0, np.float32), ([1, 2.5], np.float32),
     (1j, np.complex128), (np.float64(1), np.float64), (np.int32(3), np.int32)],
)
def test_python_values_get_pytorchs_dtypes(value, dtype):
    """ints stay integer (as torch.tensor(1) is int64), floats take the default float dtype, NumPy scalars keep theirs."""
    x = node.Node(value)
    assert x.dtype == dtype
    assert x.requires_grad == (np.dtype(dtype).kind in "fc")


def test_a_node_made_from_an_int_can_index():
    x = node.Node(np.arange(10.0) * 2)
    i = node.Node(3)
    assert x[i].item() == 6.0
    assert x[node.Node([1, 4])].value.tolist() == [2.0, 8.0]
    with node.using_config("default_dtype", np.dtype(np.float64)):
        assert node.Node(1.0).dtype == np.float64 and node.Node(1).dtype == np.int64


# ---- operands of the operators and arguments of the functions ---------------------------------------------------
OPERATIONS = [
    ("x + v", "add", "b", lambda x, v: x + v),
    ("v + x", "add", "a", lambda x, v: v + x),
    ("x - v", "sub", "b", lambda x, v: x - v),
    ("v - x", "sub", "a", lambda x, v: v - x),
    ("x * v", "mul", "b", lambda x, v: x * v),
    ("x / v", "div", "b", lambda x, v: x / v),
    ("v / x", "div", "a", lambda x, v: v / x),
    ("x ** v", "pow", "b", lambda x, v: x**v),
    ("F.pow(x, v)", "pow", "b", lambda x, v: F.pow(x, v)),
    ("v ** x", "pow", "a", lambda x, v: v**x),
    ("x @ v", "matmul", "b", lambda x, v: x @ v),
    ("F.exp(v)", "exp", "x", lambda x, v: F.exp(v)),
    ("F.log(v)", "log", "x", lambda x, v: F.log(v)),
    ("F.sqrt(v)", "sqrt", "x", lambda x, v: F.sqrt(v)),
    ("F.abs(v)", "abs", "x", lambda x, v: F.abs(v)),
    ("F.relu(v)", "relu", "x", lambda x, v: F.relu(v)),
    ("F.sigmoid(v)", "sigmoid", "x", lambda x, v: F.sigmoid(v)),
    ("F.tanh(v)", "tanh", "x", lambda x, v: F.tanh(v)),
    ("F.softmax(v)", "softmax", "x", lambda x, v: F.softmax(v)),
    ("F.sum(v)", "sum", "x", lambda x, v: F.sum(v)),
    ("F.mean_squared_error(x, v)", "mean_squared_error", "t", lambda x, v: F.mean_squared_error(x, v)),
    ("F.linear(v, W)", "linear", "x", lambda x, v: F.linear(v, np.ones((3, 2)))),
    ("F.concat([x, v])", "concat", "x", lambda x, v: F.concat([x, v])),
]


@pytest.mark.parametrize("value", [None, "abc"], ids=["None", "str"])
@pytest.mark.parametrize("label, op, argument, apply", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_ops_refuse_operands_that_are_not_numbers_naming_op_and_argument(xp, label, op, argument, apply, value):
    """None used to become NaN (x + None) or x**nan; strings gave raw ufunc errors. Now: the op, the argument, the type."""
    x = node.Node(xp.ones((2, 3)))
    got = "None" if value is None else "str 'abc'"
    with pytest.raises(TypeError, match=f"^{op}: argument {argument} {NOT_NUMBERS}, got {got}$"):
        apply(x, value)


def test_a_function_called_directly_names_itself_and_the_input():
    with pytest.raises(TypeError, match=f"^Exp: input 0 {NOT_NUMBERS}, got None$"):
        F.math.Exp()(None)
    with pytest.raises(TypeError, match=f"^as_node: argument x {NOT_NUMBERS}, got str 'a'$"):
        node.as_node("a")


# ---- complex values where they would be cut to their real part ----------------------------------------------------
def test_a_complex_upstream_gradient_on_a_real_output_is_refused(xp):
    x = node.Node(xp.ones(3))
    y = x * 2
    with pytest.raises(TypeError, match=r"^backward\(\): the upstream gradient is complex \(complex128\) where a real float64"):
        y.backward(xp.ones(3) + 1j)
    with pytest.raises(TypeError, match=r"drop the imaginary part"):
        y.backward(node.Node(xp.ones(3) * 1j), create_graph=True)
    y.backward(xp.asarray([1.0, 2.0, 3.0]))  # a real one still works
    np.testing.assert_array_equal(node.asnumpy(x.grad), [2.0, 4.0, 6.0])


def test_load_state_dict_refuses_complex_values_for_a_real_model():
    model = node.Linear(2, 3, rng=0)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: v + 1j for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match=r"Linear.load_state_dict: '\w+' is complex \(complex64\) in the checkpoint but real \(float32\)"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():  # nothing was half loaded
        np.testing.assert_array_equal(v, before[k])
    model.load_state_dict({k: v.real * 2 for k, v in state.items()})
    np.testing.assert_array_equal(model.state_dict()["W"], before["W"] * 2)

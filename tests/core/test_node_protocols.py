"""Node's Python protocols with PyTorch's habits: comparisons give boolean Nodes, a Node hashes by identity,
float()/int()/bool() of one element, and an integer Node as an index."""
import operator

import numpy as np
import pytest

import node

COMPARISONS = [
    (operator.eq, np.equal),
    (operator.ne, np.not_equal),
    (operator.lt, np.less),
    (operator.le, np.less_equal),
    (operator.gt, np.greater),
    (operator.ge, np.greater_equal),
]


@pytest.mark.parametrize("op, expected", COMPARISONS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("other", [2.0, np.array([1.0, 2.0, 4.0]), "node"], ids=["number", "array", "node"])
def test_comparison_operators_give_boolean_nodes_without_gradient(op, expected, other):
    x = node.Node(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    if isinstance(other, str):
        other = node.Node(np.array([3.0, 2.0, 1.0]), requires_grad=True)
    got = op(x, other)
    assert isinstance(got, node.Node) and got.dtype == bool and not got.requires_grad and got.creator is None
    np.testing.assert_array_equal(got.value, expected(x.value, getattr(other, "value", other)))
    reflected = op(getattr(other, "value", other), x)  # array/number on the left: NumPy defers to the Node
    assert isinstance(reflected, node.Node)
    np.testing.assert_array_equal(reflected.value, expected(getattr(other, "value", other), x.value))


def test_a_node_is_hashed_by_identity_so_it_stays_a_dict_key_and_set_member():
    a, b = node.Node([1.0, 2.0]), node.Node([1.0, 2.0])
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    assert a in table and node.Node([1.0, 2.0]) not in table


def test_comparing_with_something_that_is_not_numbers_falls_back_to_python():
    x = node.Node([1.0, 2.0])
    assert (x == None) is False and (x != "text") is True  # noqa: E711
    with pytest.raises(TypeError):
        x < "text"  # noqa: B015


def test_float_int_bool_of_one_element():
    assert float(node.Node(2.5)) == 2.5 and isinstance(float(node.Node([[2.5]])), float)
    assert int(node.Node(2.7)) == 2 and int(node.Node(-2.7)) == -2  # truncates, as int(tensor) does
    assert bool(node.Node(0.0)) is False and bool(node.Node([3])) is True
    loss = node.Node(12.0, requires_grad=True)
    assert bool(loss < 20) and not bool(loss > 20)
    if loss < 20:  # the training-loop habit
        pass


@pytest.mark.parametrize("convert", [float, int])
def test_float_and_int_of_several_elements_name_the_shape(convert):
    with pytest.raises(ValueError, match=r"needs a Node with one element, this one has shape \(2, 3\)"):
        convert(node.Node(np.zeros((2, 3))))


@pytest.mark.parametrize("value", [np.zeros(3), np.zeros(0)])
def test_bool_of_several_or_no_elements_is_ambiguous(value):
    with pytest.raises(ValueError, match=r"truth value of a Node with \d+ elements .* is ambiguous"):
        bool(node.Node(value))


def test_an_integer_node_with_one_element_is_an_index():
    i = node.Node(1)
    assert i.dtype.kind == "i"
    assert [10, 20, 30][i] == 20 and np.arange(5)[i] == 1 and list(range(5))[node.Node(1):node.Node(3)] == [1, 2]
    for bad in (node.Node(1.0), node.Node([1, 2])):
        with pytest.raises(TypeError, match="only integer Nodes with one element can be used as an index"):
            [10, 20, 30][bad]


@pytest.mark.parametrize("as_node", [False, True], ids=["array predictions", "Node predictions"])
def test_np_mean_of_predictions_equal_to_a_batch_node_of_labels_is_the_accuracy(as_node):
    logits = node.Node(np.array([[2.0, 0.1, 0.3], [0.1, 0.2, 3.0], [1.0, 0.0, 0.0], [0.0, 5.0, 0.0]]))
    y = node.Node(np.array([0, 2, 1, 1]))  # a batch of labels, as a DataLoader gives them
    pred = logits.value.argmax(axis=1)
    if as_node:
        pred = node.Node(pred)
    accuracy = np.mean(pred == y)
    assert isinstance(accuracy, node.Node) and accuracy.dtype == node.get_default_dtype()
    assert float(accuracy) == 0.75
    assert float((pred == y).mean()) == 0.75 and int(np.sum(pred == y)) == 3


def test_numpy_reductions_call_node_methods_with_dtype_and_refuse_out():
    x = node.Node(np.array([1, 2, 4]))
    assert np.sum(x, dtype=np.float64).dtype == np.float64 and float(np.max(x)) == 4.0
    with pytest.raises(TypeError, match="out= is not supported"):
        np.sum(x, out=np.zeros(()))


def test_lists_of_nodes_are_searched_by_identity_inside_node():
    """Graph bookkeeping must not compare Nodes by value: two equal leaves get their own gradients."""
    a = node.Node(np.array([1.0, 2.0]), requires_grad=True)
    b = node.Node(np.array([1.0, 2.0]), requires_grad=True)
    (a * 2 + b * 3).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [3.0, 3.0])
    ga, gb = node.grad((a * b).sum(), [a, b])
    np.testing.assert_array_equal(ga, b.value)
    np.testing.assert_array_equal(gb, a.value)

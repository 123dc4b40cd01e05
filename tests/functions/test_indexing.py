"""gather/scatter, sort/argsort/topk, one_hot, pad, tril/triu: indices, the two pad forms, refused arguments.

Values and gradients of the differentiable ones are in the op table; here
are the outputs without a gradient (indices, one-hot rows), the semantics
where PyTorch and NumPy differ, and the error messages. Where PyTorch is
installed, the same calls are compared with it.
"""
import numpy as np
import pytest

import node
import node.functions as F

X = np.array([[0.5, -2.0, 3.0, 1.0], [1.0, 4.0, -1.0, 0.0], [2.5, 2.0, 7.0, -5.0]])


def constant_node(got, expected):
    assert isinstance(got, node.Node) and not got.requires_grad and got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), expected)


def test_sort_argsort_and_topk_indices(xp):
    x = node.Node(xp.asarray(X))
    values, indices = F.sort(x, axis=1)
    np.testing.assert_array_equal(values.numpy(), np.sort(X, 1))
    constant_node(indices, np.argsort(X, 1))
    constant_node(F.argsort(x, 0, descending=True), np.argsort(-X, 0))
    values, indices = F.topk(x, 2)
    np.testing.assert_array_equal(values.numpy(), [[3.0, 1.0], [4.0, 1.0], [7.0, 2.5]])
    constant_node(indices, [[2, 3], [1, 0], [2, 0]])
    values, indices = x.topk(1, axis=0, largest=False)
    constant_node(indices, [[0, 0, 1, 2]])
    assert values.requires_grad


def test_sort_puts_nan_last_ascending_and_first_descending_as_pytorch():
    x = np.array([1.0, np.nan, -1.0])
    np.testing.assert_array_equal(F.sort(x)[0].numpy(), [-1.0, 1.0, np.nan])
    np.testing.assert_array_equal(F.sort(x, descending=True)[0].numpy(), [np.nan, 1.0, -1.0])


def test_gather_adds_the_gradient_of_an_element_picked_twice(xp):
    x = node.Node(xp.asarray([[1.0, 2.0, 3.0]]))
    y = F.gather(x, 1, np.array([[2, 2, 0]]))
    np.testing.assert_array_equal(y.numpy(), [[3.0, 3.0, 1.0]])
    y.sum().backward()
    np.testing.assert_array_equal(node.asnumpy(x.grad), [[1.0, 0.0, 2.0]])


def test_scatter_add_sums_repeated_places_and_scatter_writes_a_number(xp):
    x = node.Node(xp.zeros((2, 3)))
    y = F.scatter_add(x, 1, np.array([[0, 0], [2, 1]]), node.Node(xp.asarray([[1.0, 2.0], [3.0, 4.0]])))
    np.testing.assert_array_equal(y.numpy(), [[3.0, 0.0, 0.0], [0.0, 4.0, 3.0]])
    z = x.scatter(0, np.array([[1, 0, 1]]), 5.0)
    np.testing.assert_array_equal(z.numpy(), [[0.0, 5.0, 0.0], [5.0, 0.0, 5.0]])


def test_scatter_reads_a_larger_src_up_to_index_shape():
    y = F.scatter(np.zeros((2, 3)), 1, np.array([[2], [0]]), np.array([[1.0, 9.0], [2.0, 9.0]]))
    np.testing.assert_array_equal(y.numpy(), [[0.0, 0.0, 1.0], [2.0, 0.0, 0.0]])


def test_one_hot_is_an_int64_constant(xp):
    constant_node(F.one_hot(node.Node(xp.asarray([0, 2, 1]))), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    constant_node(F.one_hot([[1], [3]], num_classes=5), np.eye(5, dtype=np.int64)[[[1], [3]]])


def test_pad_takes_pytorchs_flat_form_and_numpys_pairs():
    x = node.Node(np.arange(6.0).reshape(1, 2, 3))
    flat = F.pad(x, (1, 2, 0, 1), "replicate")  # last axis (1, 2), second last (0, 1)
    pairs = F.pad(x, ((0, 0), (0, 1), (1, 2)), "replicate")
    np.testing.assert_array_equal(flat.numpy(), pairs.numpy())
    np.testing.assert_array_equal(flat.numpy(), np.pad(x.value, ((0, 0), (0, 1), (1, 2)), "edge"))
    np.testing.assert_array_equal(F.pad(x, 1, value=-1.0).numpy(), np.pad(x.value, 1, constant_values=-1.0))
    np.testing.assert_array_equal(F.pad(x, ((1, 0),), "edge").numpy(), np.pad(x.value, ((1, 0),), "edge"))


def test_reflect_padding_sums_the_gradient_of_the_mirrored_copies():
    x = node.Node(np.array([1.0, 2.0, 3.0]))
    F.pad(x, (2, 1), "reflect").sum().backward()  # [3, 2, 1, 2, 3, 2]
    np.testing.assert_array_equal(x.grad, [1.0, 3.0, 2.0])


def test_tril_and_triu_on_a_stack_of_matrices():
    x = np.ones((2, 3, 3))
    np.testing.assert_array_equal(F.tril(x).numpy(), np.tril(x))
    np.testing.assert_array_equal(node.Node(x).triu(1).numpy(), np.triu(x, 1))


# ---- refused arguments -------------------------------------------------------------------------------------------
def ones(*shape):
    return node.Node(np.ones(shape))


IDX = np.array([[0, 1]])
REFUSED = [
    ("gather float index", lambda: F.gather(ones(2, 3), 1, np.array([[0.0]])), TypeError, r"^gather: index must hold integers, got dtype float64$"),
    ("gather index ndim", lambda: F.gather(ones(2, 3), 1, np.array([0, 1])), ValueError, r"^gather: index must have as many axes as x \(2\), got shape \(2,\)$"),
    ("gather index too large", lambda: F.gather(ones(2, 3), 1, np.zeros((3, 1), int)), ValueError,
     r"^gather: index of shape \(3, 1\) is larger than x of shape \(2, 3\) on an axis other than 1$"),
    ("gather index out of range", lambda: F.gather(ones(2, 3), 1, np.array([[3]])), IndexError, r"^gather: index values must be in \[0, 2\]"),
    ("gather negative index", lambda: F.gather(ones(2, 3), 0, np.array([[-1]])), IndexError, r"^gather: index values must be in \[0, 1\]"),
    ("gather axis 2", lambda: F.gather(ones(2, 3), 2, IDX), ValueError, r"^gather: axis must be an integer in \[-2, 1\], got 2$"),
    ("scatter small src", lambda: F.scatter(ones(2, 3), 1, IDX, ones(1, 1)), ValueError, r"^scatter: src of shape \(1, 1\) must have index's"),
    ("scatter_add bad src", lambda: F.scatter_add(ones(2, 3), 1, IDX, "a"), TypeError, r"scatter_add"),
    ("one_hot floats", lambda: F.one_hot(np.array([0.0, 1.0])), TypeError, r"^one_hot: labels must be integers, got dtype float64$"),
    ("one_hot out of range", lambda: F.one_hot(np.array([0, 3]), 3), ValueError, r"^one_hot: labels must be in \[0, 2\], got values from 0 to 3$"),
    ("one_hot negative", lambda: F.one_hot(np.array([-1, 1])), ValueError, r"^one_hot: labels must be in \[0, 1\], got values from -1 to 1$"),
    ("one_hot num_classes -2", lambda: F.one_hot(np.array([0]), -2), ValueError, r"^one_hot: num_classes must be an integer >= -1, got -2$"),
    ("topk k too large", lambda: F.topk(ones(2, 3), 4), ValueError, r"^topk: k must be an integer in \[0, 3\], got 4$"),
    ("topk largest None", lambda: F.topk(ones(3), 1, largest=None), TypeError, r"^topk: largest must be True or False, got NoneType None$"),
    ("sort axis 1 of 1-D", lambda: F.sort(ones(3), 1), ValueError, r"^sort: axis must be an integer in \[-1, 0\], got 1$"),
    ("pad odd length", lambda: F.pad(ones(2, 3), (1, 2, 3)), TypeError, r"^pad: pad must be PyTorch's flat \(before, after, \.\.\.\) from the last axis back"),
    ("pad too long", lambda: F.pad(ones(3), (1, 1, 1, 1)), TypeError, r"even length <= 2"),
    ("pad pairs count", lambda: F.pad(ones(2, 3), ((1, 1), (1, 1), (1, 1))), ValueError, r"^pad: pairs must be one \(before, after\) pair per axis \(2 axes\)"),
    ("pad negative", lambda: F.pad(ones(2, 3), (-1, 0)), ValueError, r"^pad: pad widths must be an integer >= 0, got -1$"),
    ("pad mode", lambda: F.pad(ones(2, 3), (1, 1), "symmetric"), ValueError,
     r"^pad: mode must be one of 'constant', 'reflect', 'replicate', 'circular', got 'symmetric'$"),
    ("pad reflect too wide", lambda: F.pad(ones(2, 3), (3, 0), "reflect"), ValueError,
     r"^pad: reflect padding of \(3, 0\) on axis 1 needs widths smaller than the axis length 3$"),
    ("pad circular too wide", lambda: F.pad(ones(2, 3), (0, 4), "circular"), ValueError, r"needs widths at most the axis length 3$"),
    ("pad value str", lambda: F.pad(ones(2), (1, 1), value="0"), TypeError, r"^pad: value must be a real number, got str '0'$"),
    ("tril 1-D", lambda: F.tril(ones(3)), ValueError, r"^tril: x must have at least 2 axes .*got shape \(3,\)$"),
    ("triu diagonal float", lambda: F.triu(ones(3, 3), 0.5), TypeError, r"^triu: diagonal must be an integer, got float 0\.5$"),
]


@pytest.mark.parametrize("label, call, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_arguments_are_refused(label, call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- against PyTorch, where it is installed ----------------------------------------------------------------------
def _torch_cases():
    index = np.array([[0, 2, 2], [1, 0, 0]])
    unique = np.array([[0, 2, 1], [3, 1, 0]])
    return [
        ("gather", lambda F_, x: F_.gather(x, 1, index), lambda t, x: t.gather(x, 1, t.tensor(index))),
        ("scatter", lambda F_, x: F_.scatter(x, 1, unique, x[:, :3] * 2), lambda t, x: t.scatter(x, 1, t.tensor(unique), x[:, :3] * 2)),
        ("scatter_add", lambda F_, x: F_.scatter_add(x, 1, index, x[:, 1:] ** 2), lambda t, x: t.scatter_add(x, 1, t.tensor(index), x[:, 1:] ** 2)),
        ("sort", lambda F_, x: F_.sort(x, 0, descending=True)[0], lambda t, x: t.sort(x, 0, descending=True)[0]),
        ("topk", lambda F_, x: F_.topk(x, 3, 1)[0], lambda t, x: t.topk(x, 3, 1)[0]),
        ("pad reflect", lambda F_, x: F_.pad(x, (2, 1), "reflect"), lambda t, x: t.nn.functional.pad(x[None], (2, 1), "reflect")[0]),
        ("pad replicate", lambda F_, x: F_.pad(x, (2, 1, 1, 0), "replicate"), lambda t, x: t.nn.functional.pad(x[None], (2, 1, 1, 0), "replicate")[0]),
        ("pad circular", lambda F_, x: F_.pad(x, (1, 3), "circular"), lambda t, x: t.nn.functional.pad(x[None], (1, 3), "circular")[0]),
        ("pad constant", lambda F_, x: F_.pad(x, (1, 0, 2, 2), value=1.5), lambda t, x: t.nn.functional.pad(x, (1, 0, 2, 2), value=1.5)),
        ("tril", lambda F_, x: F_.tril(x, -1), lambda t, x: t.tril(x, -1)),
        ("triu", lambda F_, x: F_.triu(x, 2), lambda t, x: t.triu(x, 2)),
    ]


TORCH_CASES = _torch_cases()


@pytest.mark.parametrize("label, ours, theirs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_values_and_gradients_match_pytorch(label, ours, theirs):
    torch = pytest.importorskip("torch")
    value = np.random.default_rng(0).standard_normal((2, 4))
    x, t = node.Node(value), torch.tensor(value, requires_grad=True)
    y, u = ours(F, x), theirs(torch, t)
    upstream = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(upstream)
    u.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.value, u.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)

"""The boundary of the ops: bad arguments, complex values, empty batches, dtypes, and pow at zero.

Tables of calls with the exception and message each must give, and of the
values and gradients the edge cases must produce (written out as numbers:
PyTorch's, where it defines them, checked by central differences where the
derivative exists).
"""
import numpy as np
import pytest

import node
import node.functions as F


def ones(*shape):
    return node.Node(np.ones(shape))


def x4():
    return node.Node(np.random.default_rng(0).standard_normal((2, 1, 4, 4)))


# ---- bad arguments: (label, call, exception, message regex) -------------------------------------------------------
REFUSED = [
    ("linear bias shape", lambda: F.linear(ones(2, 3), ones(3, 4), ones(5)), ValueError,
     r"^linear: bias of shape \(5,\) does not fit weights of shape \(3, 4\): expected shape \(4,\)$"),
    ("linear 2-D bias", lambda: F.linear(ones(2, 3), ones(3, 4), ones(1, 4)), ValueError, r"bias of shape \(1, 4\) .* expected shape \(4,\)"),
    ("conv2d bias shape", lambda: F.conv2d(x4(), ones(2, 1, 3, 3), ones(3)), ValueError,
     r"^conv2d: bias of shape \(3,\) does not fit weights of shape \(2, 1, 3, 3\): expected shape \(2,\)$"),
    ("sum_to impossible", lambda: F.sum_to(ones(4, 5), (10,)), ValueError,
     r"^sum_to: cannot sum \(4, 5\) to \(10,\): shape \(10,\) does not broadcast to shape \(4, 5\)$"),
    ("sum_to bigger", lambda: F.sum_to(ones(4, 5), (2, 4, 5)), ValueError, r"^sum_to: cannot sum \(4, 5\) to \(2, 4, 5\)"),
    ("sum_to None", lambda: F.sum_to(ones(4, 5), None), TypeError, r"^sum_to: shape must be an int or a tuple of ints, got NoneType None$"),
    ("broadcast_to impossible", lambda: F.broadcast_to(ones(4, 5), (10,)), ValueError, r"^broadcast_to: cannot broadcast \(4, 5\) to \(10,\)"),
    ("reshape str", lambda: F.reshape(ones(2, 3), "abc"), TypeError, r"^reshape: shape must be an int or a tuple of ints, got str 'abc'$"),
    ("sigmoid CE target 2", lambda: F.sigmoid_cross_entropy(ones(2, 3), np.full((2, 3), 2.0)), ValueError,
     r"^sigmoid_cross_entropy: targets must be probabilities in \[0, 1\], got 2\.0$"),
    ("sigmoid CE target -0.5", lambda: F.sigmoid_cross_entropy(ones(2, 3), np.full((2, 3), -0.5)), ValueError, r"got -0\.5$"),
    ("sigmoid CE target nan", lambda: F.sigmoid_cross_entropy(ones(1, 2), np.array([[0.5, np.nan]])), ValueError, r"got nan$"),
    ("int ** -1", lambda: node.Node(np.array([1, 2])) ** -1, ValueError,
     r"^pow: an integer base \(dtype int64\) to a negative integer exponent is not an integer; convert the base"),
    ("int ** int Node", lambda: node.Node(np.array([1, 2])) ** node.Node(np.array([2, -1])), ValueError, r"^pow: an integer base"),
    ("astype None", lambda: F.astype(ones(2), None), TypeError, r"^astype: dtype must be a numeric dtype .*got None$"),
    ("astype str dtype", lambda: F.astype(ones(2), "U3"), TypeError, r"^astype: dtype must be a numeric dtype .*got 'U3'$"),
    ("leaky_relu slope None", lambda: F.leaky_relu(ones(2), None), TypeError, r"^leaky_relu: slope must be a finite number, got NoneType None$"),
    ("scale_grad str", lambda: F.scale_grad(ones(2), "abc"), TypeError, r"^scale_grad: factor must be a finite number"),
    ("clip str bound", lambda: F.clip(ones(2), "a", 1.0), TypeError, r"^clip: min must be a number, an array or None, got str 'a'$"),
    ("dropout p None", lambda: F.dropout(ones(2), None, 0), TypeError, r"^dropout: p must be a finite number in \[0, 1\), got NoneType None$"),
    ("max_pool2d kernel None", lambda: F.max_pool2d(x4(), None), TypeError, r"^max_pool2d: kernel_size must be an integer >= 1 or a pair of them, got NoneType None$"),
    ("avg_pool2d stride 0", lambda: F.avg_pool2d(x4(), 2, stride=0), ValueError, r"^avg_pool2d: stride must be an integer >= 1, got 0$"),
    ("conv2d stride 0", lambda: F.conv2d(x4(), ones(2, 1, 3, 3), stride=0), ValueError, r"^conv2d: stride must be an integer >= 1, got 0$"),
    ("conv2d padding -1", lambda: F.conv2d(x4(), ones(2, 1, 3, 3), padding=-1), ValueError, r"^conv2d: padding must be an integer >= 0, got -1$"),
    ("expand_dims str", lambda: F.expand_dims(ones(2), "a"), TypeError, r"^expand_dims: axis must be an integer in \[-2, 1\], got str 'a'$"),
    ("squeeze str", lambda: F.squeeze(ones(2, 1), "a"), TypeError, r"^squeeze: axis must be an integer in \[-2, 1\], got str 'a'$"),
    ("concat None", lambda: F.concat(None), TypeError, r"^concat: xs must be a list or tuple of Nodes \(or arrays\), got NoneType$"),
    ("stack a Node", lambda: F.stack(ones(2)), TypeError, r"^stack: xs must be a list or tuple of Nodes \(or arrays\), got Node$"),
    ("getitem str", lambda: ones(2, 3)["a"], IndexError, r"^getitem: index 'a' is invalid for a Node of shape \(2, 3\)"),
]

# ---- complex values where they mean nothing ---------------------------------------------------------------------------
Z = np.array([[1 + 1j, -2j, 0.5]])


def real_only(op, argument="x"):
    return rf"^{op}: argument {argument} is complex \(complex128\), but this op is defined for real numbers only"


REFUSED += [
    ("relu complex", lambda: F.relu(Z), TypeError, real_only("relu")),
    ("relu method complex", lambda: node.Node(Z).relu(), TypeError, real_only("relu")),
    ("leaky_relu complex", lambda: F.leaky_relu(node.Node(Z)), TypeError, real_only("leaky_relu")),
    ("prelu complex", lambda: F.prelu(node.Node(Z), np.ones(3)), TypeError, real_only("prelu")),
    ("max complex", lambda: F.max(Z), TypeError, real_only("max")),
    ("min complex", lambda: node.Node(Z).min(), TypeError, real_only("min")),
    ("clip complex", lambda: F.clip(Z, 0.0), TypeError, real_only("clip")),
    ("abs complex", lambda: F.abs(Z), TypeError, real_only("abs")),
    ("softmax complex", lambda: F.softmax(Z), TypeError, real_only("softmax")),
    ("log_softmax complex", lambda: F.log_softmax(Z), TypeError, real_only("log_softmax")),
    ("cross entropy complex logits", lambda: F.softmax_with_cross_entropy(Z, np.array([0])), TypeError, real_only("softmax_with_cross_entropy")),
    ("nll complex", lambda: F.nll_loss(Z, np.array([0])), TypeError, real_only("nll_loss", "log_p")),
    ("mse complex", lambda: F.mean_squared_error(Z, np.zeros((1, 3))), TypeError, real_only("mean_squared_error")),
    ("sigmoid CE complex", lambda: F.sigmoid_cross_entropy(Z, np.zeros((1, 3))), TypeError, real_only("sigmoid_cross_entropy")),
    ("max_pool2d complex", lambda: F.max_pool2d(x4().value + 1j, 2), TypeError, real_only("max_pool2d")),
    ("batch_norm complex", lambda: F.batch_norm(Z.repeat(2, 0), np.ones(3), np.zeros(3)), TypeError, real_only("batch_norm")),
    ("Linear layer complex", lambda: node.Linear(3, 2, rng=0)(Z), TypeError,
     r"^linear: the input is complex \(complex128\) but the weights are real \(float32\); complex input needs complex weights"),
    ("Conv2d layer complex", lambda: node.Conv2d(1, 2, 3, rng=0)(x4().value + 1j), TypeError, r"^conv2d: the input is complex"),
]


@pytest.mark.parametrize("label, call, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_arguments_are_refused_at_the_boundary(label, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_complex_values_go_through_the_holomorphic_ops():
    """Arithmetic, matmul, exp, sum, linear and conv2d with complex weights: values as NumPy's, gradient gy·f'(z)."""
    z = node.Node(np.array([1 + 2j, -0.5j]))
    y = (F.exp(z) * z + 1).sum()
    np.testing.assert_allclose(y.value, (np.exp(z.value) * z.value + 1).sum())
    y.backward()
    np.testing.assert_allclose(z.grad, np.exp(z.value) * (z.value + 1))  # d/dz (z eᶻ), not conjugated
    W = node.Node(np.array([[1j], [2.0 + 0j]]))
    np.testing.assert_allclose(F.linear(z.value[None], W).value, [[(1 + 2j) * 1j + (-0.5j) * 2]])
    assert F.conv2d(x4().value + 1j, np.ones((2, 1, 3, 3), complex)).dtype == np.complex128


# ---- an empty batch ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernels", ["auto", "reference"])
@pytest.mark.parametrize("stride, padding, out", [(1, 0, (0, 2, 3, 3)), (1, 1, (0, 2, 5, 5)), (2, 1, (0, 2, 3, 3))])
def test_conv2d_on_an_empty_batch_gives_an_empty_output_and_zero_gradients(xp, kernels, stride, padding, out):
    x = node.Node(xp.zeros((0, 1, 5, 5)))
    W, b = node.Node(xp.ones((2, 1, 3, 3))), node.Node(xp.ones(2))
    with node.using_config("kernels", kernels):
        y = F.conv2d(x, W, b, stride=stride, padding=padding)
        assert y.shape == out
        y.sum().backward()
    assert x.grad.shape == (0, 1, 5, 5)
    np.testing.assert_array_equal(node.asnumpy(W.grad), np.zeros((2, 1, 3, 3)))
    np.testing.assert_array_equal(node.asnumpy(b.grad), np.zeros(2))


def test_conv2d_and_linear_layers_take_an_empty_batch(xp):
    conv, linear = node.Conv2d(1, 4, 3, rng=0).to(xp.__name__), node.Linear(6, 2, rng=0).to(xp.__name__)
    assert conv(node.Node(xp.zeros((0, 1, 8, 8), np.float32))).shape == (0, 4, 6, 6)
    assert linear(node.Node(xp.zeros((0, 6), np.float32))).shape == (0, 2)


# ---- dtypes -------------------------------------------------------------------------------------------------------
def test_astype_to_an_integer_dtype_is_a_constant(xp):
    x = node.Node(xp.asarray([1.7, -2.2, 3.0]))
    i = F.astype(x, "int32")
    assert i.dtype == np.int32 and not i.requires_grad and i.creator is None
    assert node.asnumpy(i.value).tolist() == [1, -2, 3]
    f = F.astype(x, "float32")  # between floats the gradient flows, back in float64
    assert f.requires_grad
    (f * 2).sum().backward()
    assert x.grad.dtype == np.float64 and node.asnumpy(x.grad).tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("op, reference", [
    (F.exp, np.exp), (F.log, np.log), (F.sqrt, np.sqrt), (F.tanh, np.tanh),
    (F.sigmoid, lambda v: 1 / (1 + np.exp(-v))), (F.softmax, lambda v: np.exp(v) / np.exp(v).sum()),
])
@pytest.mark.parametrize("values", [[True, False], [1, 2], np.array([3, 1], np.uint8)], ids=["bool", "int", "uint8"])
def test_float_ops_on_bool_and_integer_input_compute_in_the_default_float_dtype(xp, op, reference, values):
    """NumPy would pick float16 for bool and float64 for int64; node, like PyTorch, the default float dtype."""
    with np.errstate(divide="ignore"):  # log(False) is -inf
        y = op(node.Node(xp.asarray(values)))
        expected = reference(np.asarray(values, np.float64))
    assert y.dtype == np.float32
    np.testing.assert_allclose(node.asnumpy(y.value), expected, rtol=1e-6)
    with node.using_config("default_dtype", np.dtype(np.float64)), np.errstate(divide="ignore"):
        assert op(node.Node(xp.asarray(values))).dtype == np.float64


# ---- pow at zero: PyTorch's values --------------------------------------------------------------------------------
def central_difference(f, v, eps=1e-6):
    return (f(v + eps) - f(v - eps)) / (2 * eps)


def test_pow_with_exponent_zero_has_gradient_zero_at_zero(xp):
    x = node.Node(xp.asarray([0.0, 1.5, -2.0]))
    (x**0.0).sum().backward()
    np.testing.assert_array_equal(node.asnumpy(x.grad), [0.0, 0.0, 0.0])  # torch: 0 (was NaN at 0)
    assert central_difference(lambda v: v**0.0, 0.0) == 0.0
    x.grad = None
    (x**0).sum().backward()
    np.testing.assert_array_equal(node.asnumpy(x.grad), [0.0, 0.0, 0.0])


def test_pow_of_two_nodes_at_a_zero_base(xp):
    """a ** b with a = 0: d/da is 0 where b = 0, b·0^(b-1) elsewhere; d/db is 0 where b ≥ 0 (torch's choices)."""
    a = node.Node(xp.asarray([0.0, 0.0, 0.0, 2.0, 0.0]))
    b = node.Node(xp.asarray([0.0, 1.0, 2.0, 0.0, 3.0]))
    (a**b).sum().backward()
    np.testing.assert_array_equal(node.asnumpy(a.grad), [0.0, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(node.asnumpy(b.grad), [0.0, 0.0, 0.0, np.log(2.0), 0.0])
    # where the derivatives exist, central differences agree
    assert central_difference(lambda v: v**1.0, 0.0) == pytest.approx(1.0)
    assert central_difference(lambda v: v**2.0, 0.0) == pytest.approx(0.0)
    assert central_difference(lambda t: 0.0**t, 2.0) == 0.0
    assert central_difference(lambda t: 2.0**t, 0.0) == pytest.approx(np.log(2.0))


def test_a_constant_zero_base_gives_the_exponent_gradient_zero(xp):
    """0 ** t for t >= 0 (was -inf at t = 0 and NaN for t > 0)."""
    t = node.Node(xp.asarray([0.0, 0.5, 1.0, 2.0]))
    y = 0.0**t
    np.testing.assert_array_equal(node.asnumpy(y.value), [1.0, 0.0, 0.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(node.asnumpy(t.grad), [0.0, 0.0, 0.0, 0.0])
    assert central_difference(lambda s: 0.0**s, 1.0) == 0.0


def test_pow_away_from_zero_is_unchanged_to_second_order():
    a = node.Node(np.array([0.7, 1.3, 2.0]))
    b = node.Node(np.array([0.0, -1.5, 2.5]))
    assert node.gradcheck(lambda u, v: u**v, a, b)
    assert node.gradgradcheck(lambda u, v: u**v, a, b)
    assert node.gradgradcheck(lambda u: u**0.0 + u**2.0, a)

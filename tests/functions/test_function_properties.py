"""Every differentiable op against central finite differences in float64, with a
random upstream gradient, on shapes (broadcasting ones included) drawn by hypothesis."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import node
import node.functions as F
from helpers import away_from_zero, randn

pair_shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div])
@given(shapes=pair_shapes, seed=seeds)
def test_binary_broadcasting(xp, op, shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, sb), _ = shapes
    a = randn(xp, rng, sa)
    b = away_from_zero(xp, rng, sb, margin=0.5) if op is F.div else randn(xp, rng, sb)
    node.gradcheck(op, a, b, seed=seed)


@given(shapes=pair_shapes, seed=seeds)
def test_pow_node_exponent(xp, shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, sb), _ = shapes
    base = xp.asarray(0.5 + rng.random(sa))  # positive base: log(a) appears in d/db
    node.gradcheck(lambda a, b: a**b, base, randn(xp, rng, sb), seed=seed)


@pytest.mark.parametrize("c", [2, 3, 0.5, -1.5])
@given(shape=shapes, seed=seeds)
def test_pow_constant(xp, c, shape, seed):
    rng = np.random.default_rng(seed)
    node.gradcheck(lambda a: a**c, xp.asarray(0.5 + rng.random(shape)), seed=seed)


@given(shape=shapes, seed=seeds)
def test_operators_with_python_numbers_on_either_side(xp, shape, seed):
    rng = np.random.default_rng(seed)
    fn = lambda a: (2 * a - 1) / 3 + 1 / (a * a + 1) - (-a) + 2 ** (a * 0.1)
    node.gradcheck(fn, randn(xp, rng, shape), seed=seed)


def test_operators_with_arrays_on_the_left(xp, rng):
    arr = randn(xp, rng, (3, 1))
    fn = lambda a: arr + a - arr * a + arr / (a * a + 1) + (arr @ a.reshape(1, 4)).sum(axis=0)
    node.gradcheck(fn, randn(xp, rng, (4,)))


@pytest.mark.parametrize(
    "sa, sb",
    [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))],
)
def test_matmul(xp, rng, sa, sb):
    node.gradcheck(lambda a, b: a @ b, randn(xp, rng, sa), randn(xp, rng, sb))
    node.gradcheck(lambda a, b: a.dot(b), randn(xp, rng, sa), randn(xp, rng, sb))


def _axes(shape):
    return st.sampled_from([None] + list(range(-len(shape), len(shape))) + ([(0, len(shape) - 1)] if len(shape) > 1 else []))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@given(data=st.data(), seed=seeds)
def test_reductions(xp, name, data, seed):
    shape = data.draw(shapes)
    axis = data.draw(_axes(shape))
    keepdims = data.draw(st.booleans())
    rng = np.random.default_rng(seed)
    # A permutation of spread-out values: no ties, so max/min are differentiable.
    x = xp.asarray(rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + 0.01 * rng.random(shape))
    node.gradcheck(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), x, seed=seed)


def test_max_ties_share_gradient(xp):
    x = node.Node(xp.asarray([1.0, 3.0, 3.0, 2.0]))
    x.max().backward()
    assert node.asnumpy(x.grad).tolist() == [0.0, 0.5, 0.5, 0.0]


@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), seed=seeds)
def test_reshape_transpose_flatten(xp, shape, seed):
    rng = np.random.default_rng(seed)
    perm = tuple(rng.permutation(len(shape)).tolist())
    x = randn(xp, rng, shape)
    node.gradcheck(lambda a: a.reshape(-1), x, seed=seed)
    node.gradcheck(lambda a: a.transpose(perm), x, seed=seed)
    node.gradcheck(lambda a: a.T, x, seed=seed)
    node.gradcheck(lambda a: F.expand_dims(a, 1), x, seed=seed)
    node.gradcheck(lambda a: F.squeeze(F.expand_dims(a, 0)), x, seed=seed)
    if len(shape) > 1:
        node.gradcheck(F.flatten, x, seed=seed)


def test_getitem_basic_and_advanced(xp, rng):
    x = randn(xp, rng, (4, 5))
    node.gradcheck(lambda a: a[1], x)
    node.gradcheck(lambda a: a[1:3, ::2], x)
    node.gradcheck(lambda a: a[..., -1], x)
    node.gradcheck(lambda a: a[None, :, 2], x)
    node.gradcheck(lambda a: a[[0, 0, 3, 0]], x)  # repeated rows: gradients must add up
    node.gradcheck(lambda a: a[xp.asarray([2, 2, 1]), xp.asarray([0, 0, 4])], x)
    node.gradcheck(lambda a: a[:, [4, 4]], x)
    mask = xp.asarray(rng.random((4, 5)) > 0.5)
    node.gradcheck(lambda a: a[mask], x)


def test_getitem_repeated_index_accumulates(xp):
    x = node.Node(xp.zeros(3))
    x[[1, 1, 1, 2]].sum().backward()
    assert node.asnumpy(x.grad).tolist() == [0.0, 3.0, 1.0]


@given(shape=shapes, seed=seeds)
def test_elementwise_math(xp, shape, seed):
    rng = np.random.default_rng(seed)
    x = randn(xp, rng, shape)
    positive = xp.asarray(0.2 + rng.random(shape))
    kinked = away_from_zero(xp, rng, shape)
    node.gradcheck(lambda a: a.exp(), x, seed=seed)
    node.gradcheck(lambda a: a.log(), positive, seed=seed)
    node.gradcheck(lambda a: a.sqrt(), positive, seed=seed)
    node.gradcheck(lambda a: a.abs(), kinked, seed=seed)
    node.gradcheck(lambda a: abs(a), kinked, seed=seed)
    node.gradcheck(lambda a: a.clip(-0.05, 0.05), kinked, seed=seed)  # all outside: zero gradient
    node.gradcheck(lambda a: a.clip(min=-5.0), kinked, seed=seed)


@given(shape=shapes, seed=seeds)
def test_activations(xp, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(xp, rng, shape)
    node.gradcheck(lambda a: a.relu(), x, seed=seed)
    node.gradcheck(lambda a: a.leaky_relu(0.2), x, seed=seed)
    node.gradcheck(lambda a: a.sigmoid(), x * 3, seed=seed)
    node.gradcheck(lambda a: a.tanh(), x, seed=seed)


@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds)
def test_softmax_family(xp, shape, seed):
    rng = np.random.default_rng(seed)
    x = randn(xp, rng, shape) * 3
    for axis in range(-len(shape), len(shape)):
        node.gradcheck(lambda a, axis=axis: a.softmax(axis), x, seed=seed)
        node.gradcheck(lambda a, axis=axis: a.log_softmax(axis), x, seed=seed)


@pytest.mark.parametrize("shape, slopes", [((4, 3), (3,)), ((2, 3, 4, 4), (3,)), ((2, 3, 4), (1,)), ((5,), (5,))])
def test_prelu(xp, rng, shape, slopes):
    x = away_from_zero(xp, rng, shape)
    node.gradcheck(F.prelu, x, xp.asarray(rng.random(slopes)))


def test_concat_stack(xp, rng):
    a, b, c = randn(xp, rng, (2, 3)), randn(xp, rng, (2, 1)), randn(xp, rng, (2, 4))
    node.gradcheck(lambda *xs: node.concat(xs, axis=1), a, b, c)
    node.gradcheck(lambda *xs: node.concat(xs, axis=0), a, randn(xp, rng, (5, 3)))
    for axis in (0, 1, -1):
        node.gradcheck(lambda *xs, axis=axis: node.stack(xs, axis=axis), a, randn(xp, rng, (2, 3)), randn(xp, rng, (2, 3)))


@given(shapes=pair_shapes, seed=seeds)
def test_broadcast_to_and_sum_to(xp, shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, _), target = shapes
    node.gradcheck(lambda a: F.broadcast_to(a, target), randn(xp, rng, sa), seed=seed)
    node.gradcheck(lambda a: F.sum_to(a, sa), randn(xp, rng, target), seed=seed)


@given(shape=shapes, seed=seeds)
def test_mean_squared_error(xp, shape, seed):
    rng = np.random.default_rng(seed)
    node.gradcheck(lambda a, b: a.mean_squared_error(b), randn(xp, rng, shape), randn(xp, rng, shape), seed=seed)


@given(n=st.integers(1, 5), c=st.integers(1, 6), seed=seeds)
def test_softmax_cross_entropy(xp, n, c, seed):
    rng = np.random.default_rng(seed)
    x = randn(xp, rng, (n, c)) * 2
    labels = xp.asarray(rng.integers(0, c, n))
    onehot = xp.eye(c)[labels]
    soft = xp.asarray(rng.random((n, c)))  # rows need not sum to 1
    node.gradcheck(lambda a, t: a.softmax_with_cross_entropy(t), x, labels, seed=seed)
    node.gradcheck(lambda a: a.softmax_with_cross_entropy(onehot), x, seed=seed)
    node.gradcheck(lambda a, t: a.softmax_with_cross_entropy(t), x, soft, seed=seed)  # gradient to t as well
    node.gradcheck(lambda a, t: F.nll_loss(a.log_softmax(), t), x, labels, seed=seed)
    node.gradcheck(lambda a: F.nll_loss(a, labels), x, seed=seed)


@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds)
def test_sigmoid_cross_entropy(xp, shape, seed):
    rng = np.random.default_rng(seed)
    x = randn(xp, rng, shape) * 3
    t = xp.asarray(rng.random(shape))
    node.gradcheck(F.sigmoid_cross_entropy, x, t, seed=seed)


def test_custom_function_is_checked(xp, rng):
    class Cube(node.Function):
        def forward(self, x):
            return x**3

        def backward(self, gy):
            return 3 * self.inputs[0].value ** 2 * gy

    node.gradcheck(lambda a: Cube()(a), randn(xp, rng, (3, 2)))


def test_gradcheck_catches_a_wrong_backward(xp, rng):
    class WrongSquare(node.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return self.inputs[0].value * gy  # missing the factor 2

    with pytest.raises(AssertionError, match=r"input 0 .*index \(.*analytic .* vs numeric"):
        node.gradcheck(lambda a: WrongSquare()(a), randn(xp, rng, (3,)))


def test_gradcheck_catches_a_gradient_that_ignores_broadcasting(xp, rng):
    class SumsWrongAxis(node.Function):
        def forward(self, a, b):
            return a * b

        def backward(self, gy):
            a, b = self.inputs
            return gy * b.value, (gy * a.value).mean(axis=0)  # right shape, but mean instead of sum

    with pytest.raises(AssertionError, match="input 1"):
        node.gradcheck(lambda a, b: SumsWrongAxis()(a, b), randn(xp, rng, (3, 4)), randn(xp, rng, (4,)))

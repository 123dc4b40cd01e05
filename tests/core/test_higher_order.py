"""Higher-order gradients: every op's backward differentiated again (gradgradcheck in float64,
random upstream gradients for both orders, shapes drawn by hypothesis), closed-form Hessians and
third derivatives, node.grad, and the memory behaviour of create_graph."""
import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import node
import node.functions as F
from node.kernels.conv import use_algorithm

from helpers import away_from_zero, randn

pair_shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
matrix_shapes = array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=3)
seeds = st.integers(0, 2**32 - 1)
few = settings(max_examples=8)  # each example runs the first-order backward 2·(elements) times


# ---- every op, differentiated twice -------------------------------------------------------
@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div])
@few
@given(shapes=pair_shapes, seed=seeds)
def test_binary_broadcasting(xp, op, shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, sb), _ = shapes
    b = away_from_zero(xp, rng, sb, margin=0.5) if op is F.div else randn(xp, rng, sb)
    node.gradgradcheck(op, randn(xp, rng, sa), b, seed=seed)


@few
@given(shapes=pair_shapes, seed=seeds)
def test_pow(xp, shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, sb), _ = shapes
    node.gradgradcheck(lambda a, b: a**b, xp.asarray(0.5 + rng.random(sa)), randn(xp, rng, sb), seed=seed)
    node.gradgradcheck(lambda a: a**3 + a**0.5 + a**-1.5, xp.asarray(0.5 + rng.random(sa)), seed=seed)


@pytest.mark.parametrize(
    "sa, sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2))]
)
def test_matmul(xp, rng, sa, sb):
    node.gradgradcheck(lambda a, b: a @ b, randn(xp, rng, sa), randn(xp, rng, sb))


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@few
@given(data=st.data(), seed=seeds)
def test_reductions(xp, name, data, seed):
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    rng = np.random.default_rng(seed)
    # squared afterwards so that the second derivative is not trivially zero
    node.gradgradcheck(lambda a: getattr(F, name)(a, axis, keepdims) ** 2, randn(xp, rng, shape), seed=seed)


@few
@given(shape=array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=3), seed=seeds)
def test_shape_ops(xp, shape, seed):
    rng = np.random.default_rng(seed)
    fn = lambda a: (a.reshape(-1) ** 2).reshape(shape[::-1]).transpose() * a + F.expand_dims(a, 0).sum(axis=0)
    node.gradgradcheck(fn, randn(xp, rng, shape), seed=seed)


def test_indexing_with_repeats_and_slices(xp, rng):
    index = xp.asarray([0, 2, 0, 1])
    node.gradgradcheck(lambda a: a[index] ** 2 + a[1:3].sum(), randn(xp, rng, (3, 2)))
    node.gradgradcheck(lambda a: (a[:, index] * a[:, :1]) ** 2, randn(xp, rng, (2, 3)))


def test_concat_stack_broadcast_to_sum_to(xp, rng):
    a, b = randn(xp, rng, (2, 3)), randn(xp, rng, (2, 1))
    node.gradgradcheck(lambda a, b: F.concat([a, b], axis=1) ** 2, a, b)
    node.gradgradcheck(lambda a, b: F.stack([a, a * b], axis=1) ** 2, a, b)
    node.gradgradcheck(lambda b: F.sum_to(F.broadcast_to(b, (2, 2, 4)) ** 3, (2, 1)), b)


@few
@given(shape=shapes, seed=seeds)
def test_elementwise_math(xp, shape, seed):
    rng = np.random.default_rng(seed)
    positive = xp.asarray(0.5 + rng.random(shape))
    node.gradgradcheck(lambda a: a.exp() + a.log() + a.sqrt(), positive, seed=seed)
    signed = away_from_zero(xp, rng, shape, margin=0.2)
    node.gradgradcheck(lambda a: a.abs() * a + a.clip(-0.1, 0.1) * a, signed, seed=seed)


@few
@given(shape=shapes, seed=seeds)
def test_activations(xp, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(xp, rng, shape, margin=0.1)
    for fn in (F.relu, lambda a: F.leaky_relu(a, 0.2), F.sigmoid, F.tanh):
        node.gradgradcheck(lambda a, fn=fn: fn(a) * a, x, seed=seed)


@few
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), seed=seeds)
def test_softmax_family(xp, shape, seed):
    rng = np.random.default_rng(seed)
    x = randn(xp, rng, shape)
    node.gradgradcheck(lambda a: F.softmax(a, axis=0), x, seed=seed)
    node.gradgradcheck(lambda a: F.log_softmax(a, axis=-1), x, seed=seed)


@pytest.mark.parametrize("shape, slopes", [((4, 3), (3,)), ((2, 3, 2, 2), (3,)), ((2, 3, 4), (1,)), ((5,), (5,))])
def test_prelu(xp, rng, shape, slopes):
    node.gradgradcheck(lambda a, s: F.prelu(a, s) * a, away_from_zero(xp, rng, shape), xp.asarray(rng.random(slopes)))


def test_losses(xp, rng):
    x, soft = randn(xp, rng, (4, 3)), xp.asarray(rng.random((4, 3)))
    labels = xp.asarray([0, 2, 1, 1])
    node.gradgradcheck(F.mean_squared_error, x, randn(xp, rng, (4, 3)))
    node.gradgradcheck(F.softmax_with_cross_entropy, x, labels)
    node.gradgradcheck(F.softmax_with_cross_entropy, x, soft)  # the soft targets get a second derivative too
    node.gradgradcheck(lambda a, t: F.nll_loss(F.log_softmax(a), t), x, labels)
    node.gradgradcheck(F.sigmoid_cross_entropy, x, soft)


def test_linear_and_dropout(xp, rng):
    node.gradgradcheck(lambda a, w, b: F.linear(a, w, b).tanh(), randn(xp, rng, (4, 3)), randn(xp, rng, (3, 2)), randn(xp, rng, (2,)))
    node.gradgradcheck(lambda a, w: F.linear(a, w) ** 2, randn(xp, rng, (2, 4, 3)), randn(xp, rng, (3, 2)))
    node.gradgradcheck(lambda a: F.dropout(a, 0.5, np.random.default_rng(1)) ** 2, randn(xp, rng, (3, 4)))


@pytest.mark.parametrize("algorithm, stride, padding, kernel", [("im2col", 1, 1, 3), ("im2col", 2, 0, 3), ("im2col", 2, 1, 2), ("spectral", 1, 2, 5)])
def test_conv2d(xp, rng, algorithm, stride, padding, kernel):
    x, w, b = randn(xp, rng, (2, 2, 5, 5)), randn(xp, rng, (3, 2, kernel, kernel)), randn(xp, rng, (3,))
    with use_algorithm(algorithm):
        node.gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding).tanh(), x, w, b)
    with node.using_config("kernels", "reference"):
        node.gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding).tanh(), x, w, b)


def test_pooling(xp, rng):
    x = randn(xp, rng, (2, 2, 5, 5))
    node.gradgradcheck(lambda a: F.max_pool2d(a, 2) ** 2, x)
    node.gradgradcheck(lambda a: F.max_pool2d(a, 3, 2, 1) ** 2, x)
    node.gradgradcheck(lambda a: (F.avg_pool2d(a, 3, 2, 1) ** 2).sum() + (F.global_avg_pool2d(a) ** 3).sum(), x)


def test_batch_norm_training_and_evaluation(xp, rng):
    x, gamma, beta = randn(xp, rng, (4, 3, 2, 2)), randn(xp, rng, (3,)), randn(xp, rng, (3,))
    node.gradgradcheck(F.batch_norm, x, gamma, beta)
    node.gradgradcheck(lambda a, g, b: F.batch_norm(a, g, b) ** 2, randn(xp, rng, (5, 3)), gamma, beta)
    mean, var = randn(xp, rng, (3,)), xp.asarray(0.5 + rng.random(3))
    node.gradgradcheck(lambda a, g, b: F.batch_norm(a, g, b, running_mean=mean, running_var=var) ** 2, x, gamma, beta)


def test_gradient_penalty_on_a_conv_net(xp, rng):
    """What a gradient penalty needs: d/dweights of ‖∂loss/∂input‖², through conv, BN, PReLU, pooling."""

    def loss(x, w1, gamma, beta, slopes, w2):
        h = F.conv2d(x, w1, padding=1)
        h = F.prelu(F.batch_norm(h, gamma, beta), slopes)
        h = F.max_pool2d(h, 2).reshape(x.shape[0], -1)
        return F.softmax_with_cross_entropy(h @ w2, xp.asarray([0, 2]))

    args = [randn(xp, rng, (2, 1, 4, 4)), randn(xp, rng, (2, 1, 3, 3)), xp.asarray(1 + rng.random(2)),
            randn(xp, rng, (2,)), xp.asarray(rng.random(2)), randn(xp, rng, (8, 3))]
    node.gradgradcheck(loss, *args)
    nodes = [node.Node(a) for a in args]
    (gx,) = node.grad(loss(*nodes), nodes[0], create_graph=True)
    penalty = (gx * gx).sum()
    penalty.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in nodes[1:])


# ---- closed forms -----------------------------------------------------------------------------
def hessian(f, x):
    """The full Hessian of a scalar f at x (1-D), one node.grad per row."""
    x = node.Node(x)
    (g,) = node.grad(f(x), x, create_graph=True)
    return np.stack([node.grad(g[i], x, retain_graph=True)[0] for i in range(x.size)])


def test_hessians_of_closed_forms(rng):
    x = rng.standard_normal(3)
    np.testing.assert_allclose(hessian(lambda v: (v**3).sum(), x), np.diag(6 * x), rtol=1e-12)
    a, b = x[0], x[1]
    poly = lambda v: v[0] ** 2 * v[1] + v[1] ** 3 - 2 * v[0] * v[1]
    np.testing.assert_allclose(hessian(poly, x[:2]), [[2 * b, 2 * a - 2], [2 * a - 2, 6 * b]], rtol=1e-12)
    p = np.exp(x) / np.exp(x).sum()
    logsumexp = lambda v: v.exp().sum().log()
    np.testing.assert_allclose(hessian(logsumexp, x), np.diag(p) - np.outer(p, p), atol=1e-12)


def test_third_derivative_of_tanh():
    x = node.Node(np.array([-1.3, 0.2, 0.7]))
    g1 = node.grad(x.tanh().sum(), x, create_graph=True)[0]
    g2 = node.grad(g1.sum(), x, create_graph=True)[0]
    g3 = node.grad(g2.sum(), x)[0]
    t = np.tanh(x.value)
    np.testing.assert_allclose(g1.value, 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(g2.value, -2 * t * (1 - t**2), rtol=1e-12)
    np.testing.assert_allclose(g3, -2 * (1 - t**2) ** 2 + 4 * t**2 * (1 - t**2), rtol=1e-12)


def test_hessian_vector_product_through_an_mlp(xp, rng):
    params = [node.Node(randn(xp, rng, s)) for s in [(4, 5), (5,), (5, 3), (3,)]]
    x, labels = randn(xp, rng, (6, 4)), xp.asarray(rng.integers(0, 3, 6))

    def loss():
        h = F.linear(x, params[0], params[1]).tanh()
        return F.softmax_with_cross_entropy(F.linear(h, params[2], params[3]), labels)

    v = [randn(xp, rng, p.shape) for p in params]
    grads = node.grad(loss(), params, create_graph=True)
    hvp = node.grad(sum((g * vi).sum() for g, vi in zip(grads, v)), params)
    eps = 1e-5  # (∇L(θ + εv) - ∇L(θ - εv)) / 2ε = H v + O(ε²)

    def gradient_at(step):
        for p, vi in zip(params, v):
            p.value = p.value + step * vi
        try:
            return node.grad(loss(), params)
        finally:
            for p, vi in zip(params, v):
                p.value = p.value - step * vi

    plus, minus = gradient_at(eps), gradient_at(-eps)
    for got, a, b in zip(hvp, plus, minus):
        np.testing.assert_allclose(node.asnumpy(got), node.asnumpy((a - b) / (2 * eps)), rtol=1e-6, atol=1e-8)


def test_backward_create_graph_makes_grad_a_node():
    x = node.Node(np.array([2.0, -1.0]))
    (x**3).sum().backward(create_graph=True)
    assert isinstance(x.grad, node.Node) and x.grad.creator is not None
    np.testing.assert_allclose(x.grad.value, 3 * x.value**2)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad, 6 * x.value)
    assert isinstance(x.grad, np.ndarray)


def test_create_graph_works_inside_no_grad_and_keeps_no_grad():
    x = node.Node(np.array([0.5]))
    y = (x * x * x).sum()
    with node.no_grad():
        (g,) = node.grad(y, x, create_graph=True)
        assert not node.Config.enable_backprop
    assert g.requires_grad
    np.testing.assert_allclose(node.grad(g.sum(), x)[0], [3.0])


def test_upstream_gradient_node_is_differentiated():
    x = node.Node(np.array([1.0, 2.0]))
    v = node.Node(np.array([3.0, -1.0]))
    (g,) = node.grad(x * x, x, grad_outputs=v, create_graph=True)  # g = 2x·v
    gx, gv = node.grad(g.sum(), [x, v])
    np.testing.assert_allclose(gx, 2 * v.value)
    np.testing.assert_allclose(gv, 2 * x.value)


# ---- node.grad -------------------------------------------------------------------------------------
def test_grad_leaves_dot_grad_alone_and_walks_only_what_it_needs():
    a, b = node.Node(np.array([1.0, 2.0])), node.Node(np.array([3.0, 4.0]))
    calls = []
    b.register_hook(lambda g: calls.append("b"))
    loss = (a * b).sum() + (b * b).sum()
    (ga,) = node.grad(loss, a)
    np.testing.assert_allclose(ga, b.value)
    assert a.grad is None and b.grad is None and calls == []


def test_grad_of_intermediate_nodes_and_several_outputs():
    x = node.Node(np.array([1.0, -2.0]))
    h = x * 3
    y1, y2 = (h * h).sum(), h.sum()
    gh, gx = node.grad([y1, y2], [h, x], retain_graph=True)
    np.testing.assert_allclose(gh, 2 * h.value + 1)
    np.testing.assert_allclose(gx, 3 * (2 * h.value + 1))
    (gy,) = node.grad(h, x, grad_outputs=np.array([1.0, 10.0]))
    np.testing.assert_allclose(gy, [3.0, 30.0])


def test_grad_errors_name_the_problem():
    x, unused = node.Node(np.array([1.0])), node.Node(np.array([2.0]), name="unused")
    y = (x * x).sum()
    with pytest.raises(node.GraphError, match=r"input 1 \(shape \(1,\), name 'unused'\) is not used.*allow_unused"):
        node.grad(y, [x, unused], retain_graph=True)
    assert node.grad(y, [x, unused], allow_unused=True)[1] is None
    data = node.Node(np.array([1.0]), requires_grad=False)
    with pytest.raises(node.GraphError, match="input 0 .* does not require grad"):
        node.grad((x * data).sum(), data)
    pair = node.Node(np.array([1.0, 2.0]))
    with pytest.raises(node.GraphError, match="one element"):
        node.grad(pair * pair, pair)
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        node.grad(x * x, x, grad_outputs=[None, None])
    with pytest.raises(TypeError, match="inputs must be Nodes"):
        node.grad((x * x).sum(), [x.value])


def test_grad_does_not_see_stale_retained_gradients():
    x = node.Node(np.array([1.0, 2.0]))
    h = x * 2
    loss = (h * h).sum()
    loss.backward(retain_graph=True, retain_grad=True)
    np.testing.assert_allclose(node.grad(loss, x)[0], 8 * x.value)


# ---- Functions without a differentiable backward ---------------------------------------------------
class Cube(node.Function):
    def forward(self, x):
        return x**3

    def backward(self, gy):
        return 3 * self.inputs[0].value ** 2 * gy


class CubeTwice(Cube):
    differentiable_backward = True

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return 3 * x**2 * gy


def test_function_with_an_array_backward_names_itself():
    x = node.Node(np.array([1.0, 2.0]))
    (g,) = node.grad(Cube()(x).sum(), x, create_graph=True)  # first derivatives still work
    np.testing.assert_allclose(g.value, 3 * x.value**2)
    with pytest.raises(node.GraphError, match="Cube cannot be differentiated twice.*differentiable_backward"):
        g.sum().backward()
    with pytest.raises(node.GraphError, match="Cube cannot be differentiated twice"):
        node.gradgradcheck(lambda a: Cube()(a), np.array([0.5]))
    assert node.gradgradcheck(lambda a: CubeTwice()(a), np.array([0.5, -1.0]))


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class Wrong(Cube):
        differentiable_backward = True

        def backward(self, gy):
            (x,) = self.saved_inputs()
            return 3 * getattr(x, "value", x) ** 2 * gy  # x read as a constant: right first, wrong second derivative

    with pytest.raises(AssertionError, match=r"gradgradcheck: input 0 \(shape \(2,\)\), index \(0,\): analytic .* vs numeric"):
        node.gradgradcheck(lambda a: Wrong()(a), np.array([0.5, -1.0]))

    class ConstantUpstream(Cube):
        differentiable_backward = True

        def backward(self, gy):
            (x,) = self.saved_inputs()
            return 3 * x**2 * getattr(gy, "value", gy)  # drops the dependence on gy

    with pytest.raises(AssertionError, match="upstream gradient 0"):
        node.gradgradcheck(lambda a: ConstantUpstream()(a), np.array([0.5, -1.0]))


# ---- memory -------------------------------------------------------------------------------------------
def _live(refs):
    return sum(r() is not None for r in refs)


def test_first_order_backward_leaves_no_graph(xp):
    gc.collect()
    gc.disable()  # reference counting alone must free it: no cycles
    try:
        x = node.Node(xp.ones(4))
        h = (x * 1.5).tanh()
        loss = (h * h).sum()
        refs = [weakref.ref(h), weakref.ref(loss.creator)]
        del h
        loss.backward()
        assert _live(refs) == 1 and loss.creator.inputs is None  # only the loss's own (released) creator
        assert not isinstance(x.grad, node.Node)
    finally:
        gc.enable()


def test_create_graph_graphs_are_freed_when_dropped(xp):
    gc.collect()
    gc.disable()
    try:
        x = node.Node(xp.asarray([0.5, 1.5]))
        (g,) = node.grad((x.tanh() ** 2).sum(), x, create_graph=True)
        refs = [weakref.ref(g), weakref.ref(g.creator)]
        (g2,) = node.grad(g.sum(), x)
        del g
        assert _live(refs) == 0  # node.grad makes no cycle: dropping g frees its graph
        # backward(create_graph=True) makes the cycle x -> x.grad -> ... -> x (as in PyTorch);
        # clearing .grad breaks it.
        (x.tanh() ** 2).sum().backward(create_graph=True)
        refs = [weakref.ref(x.grad), weakref.ref(x.grad.creator)]
        x.grad = None
        assert _live(refs) == 0
    finally:
        gc.enable()


def test_optimizers_step_on_gradients_from_create_graph():
    """A gradient penalty trains: backward(create_graph=True) leaves Node gradients that optimizers use."""
    for make in (lambda ps: node.SGD(ps, lr=0.1, momentum=0.9), lambda ps: node.Adam(ps, lr=0.1)):
        w_graph, w_plain = node.Node(np.array([1.0, -2.0])), node.Node(np.array([1.0, -2.0]))
        opt_graph, opt_plain = make([w_graph]), make([w_plain])
        for _ in range(3):
            for w, opt, create_graph in ((w_graph, opt_graph, True), (w_plain, opt_plain, False)):
                opt.zero_grad()
                (w**4).sum().backward(create_graph=create_graph)
                opt.step()
        assert isinstance(w_graph.grad, node.Node)
        np.testing.assert_allclose(w_graph.value, w_plain.value, rtol=1e-12)


def test_hooks_see_node_gradients_under_create_graph():
    x = node.Node(np.array([1.0, 2.0]))
    seen = []
    x.register_hook(lambda g: seen.append(g) or g * 2)  # doubles the gradient, and stays differentiable
    (g,) = node.grad((x**3).sum(), x, create_graph=True)
    assert isinstance(seen[0], node.Node)
    np.testing.assert_allclose(g.value, 6 * x.value**2)
    (h,) = node.grad(g.sum(), x)
    np.testing.assert_allclose(h, 2 * 12 * x.value)  # the second pass runs the hook again

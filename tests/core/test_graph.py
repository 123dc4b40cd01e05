"""Graph semantics: order of the backward walk, accumulation, freeing, no-grad mode, dtypes."""
import gc
import weakref

import numpy as np
import pytest

import node
import node.functions as F


def test_diamond(xp):
    x = node.Node(xp.asarray([1.5, -2.0]))
    a = x * 2
    b = x.exp()
    y = (a * b).sum()
    y.backward()
    v = node.asnumpy(x.value)
    np.testing.assert_allclose(node.asnumpy(x.grad), 2 * np.exp(v) + 2 * v * np.exp(v), rtol=1e-6)


def test_reuse_accumulates(xp):
    x = node.Node(xp.asarray(3.0))
    (x * x + x).backward()
    assert float(x.grad) == pytest.approx(7.0)


def test_paths_of_different_length_are_summed_before_use(xp):
    # x feeds y directly and through a chain of 3 ops; x's creator must run once, after both.
    calls = []

    class Recorder(node.Function):
        def forward(self, v):
            return v * 1.0

        def backward(self, gy):
            calls.append(node.asnumpy(gy).copy())
            return gy

    w = node.Node(xp.asarray([2.0]))
    x = Recorder()(w)
    y = x * 3 + ((x + 1) * 0.5).exp() + x.tanh()
    y.sum().backward()
    expected = 3 + 0.5 * np.exp(1.5) + (1 - np.tanh(2.0) ** 2)
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [expected], rtol=1e-12)
    np.testing.assert_allclose(node.asnumpy(w.grad), [expected], rtol=1e-12)


def test_each_function_runs_once_in_a_wide_graph(xp):
    counts = {"n": 0}

    class Count(node.Function):
        def forward(self, v):
            return v + 0

        def backward(self, gy):
            counts["n"] += 1
            return gy

    x = node.Node(xp.ones(3))
    h = Count()(x)
    total = sum((h * float(i)).sum() for i in range(50))
    total.backward()
    assert counts["n"] == 1
    np.testing.assert_allclose(node.asnumpy(x.grad), np.full(3, sum(range(50))))


def test_deep_chain_has_no_recursion_limit(xp):
    x = node.Node(xp.asarray(1.0))
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert float(x.grad) == pytest.approx(1.0001**10_000, rel=1e-6)
    # A 10,000-long graph that is never backpropagated must also free without a crash.
    z = x
    for _ in range(10_000):
        z = z + 1
    del z


def test_no_grad_records_nothing(xp):
    x = node.Node(xp.ones(2))
    for context in (node.no_grad, node.zero_grad):
        with context():
            y = (x * 2).sum()
        assert y.creator is None and not y.requires_grad
        with pytest.raises(node.GraphError, match="does not require grad"):
            y.backward()
    y = (x * 2).sum()  # recording again after the block
    assert y.creator is not None


def test_no_grad_nests_and_restores_after_exceptions():
    with pytest.raises(KeyError):
        with node.no_grad():
            with node.no_grad():
                pass
            assert not node.Config.enable_backprop
            raise KeyError
    assert node.Config.enable_backprop


def test_inputs_without_grad_are_not_recorded(xp):
    data = node.Node(xp.ones((2, 3)), requires_grad=False)
    y = data * 2 + 1
    assert y.creator is None and not y.requires_grad


def _live(refs):
    return sum(r() is not None for r in refs)


def test_graph_is_freed_when_the_loss_is_dropped(xp):
    gc.collect()
    gc.disable()  # freeing must come from reference counting alone: no cycles
    try:
        x = node.Node(xp.ones(4))
        refs, h = [], x
        for _ in range(20):
            h = (h * 1.5).tanh()
            refs.append(weakref.ref(h))
        loss = h.sum()
        refs.append(weakref.ref(loss))
        assert _live(refs) == 21
        del h, loss
        assert _live(refs) == 0
    finally:
        gc.enable()


def test_backward_frees_intermediates_and_saved_arrays(xp):
    gc.disable()
    try:
        x = node.Node(xp.ones(4))
        h1 = x * 2
        h2 = h1.exp()
        loss = h2.sum()
        refs = [weakref.ref(h1), weakref.ref(h2)]
        del h1, h2
        assert _live(refs) == 2  # held by the graph behind loss
        loss.backward()
        assert _live(refs) == 0  # graph released after backward
        assert loss.creator.inputs is None
    finally:
        gc.enable()


def test_repeated_forward_passes_leak_nothing(xp):
    w = node.Node(xp.ones((3, 3)))
    refs = []
    for _ in range(200):
        out = ((w @ w).relu() * 2).sum()
        refs.append(weakref.ref(out))
        del out
    assert _live(refs) == 0


def test_second_backward_raises_unless_retained(xp):
    x = node.Node(xp.asarray([1.0, 2.0]))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(node.GraphError, match="retain_graph=True"):
        y.backward()

    x.zero_grad()
    assert x.grad is None
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(node.asnumpy(x.grad), 2 * 2 * np.array([1.0, 2.0]))


def test_intermediate_grads_dropped_unless_retained(xp):
    x = node.Node(xp.asarray([1.0, 2.0]))
    h = x * 3
    h.sum().backward()
    assert h.grad is None and x.grad is not None
    h = x * 3
    h.sum().backward(retain_grad=True)
    np.testing.assert_allclose(node.asnumpy(h.grad), [1.0, 1.0])


def test_backward_with_explicit_gradient(xp):
    x = node.Node(xp.asarray([[1.0, 2.0], [3.0, 4.0]]))
    g = xp.asarray([[1.0, -1.0], [0.5, 2.0]])
    (x * x).backward(g)
    np.testing.assert_allclose(node.asnumpy(x.grad), node.asnumpy(2 * x.value * g))


def test_leaf_backward_sets_its_own_grad(xp):
    x = node.Node(xp.asarray(2.0))
    x.backward()
    assert float(x.grad) == 1.0


DTYPE_OPS = {
    "add": lambda a, b: a + b,
    "rsub": lambda a, b: 1 - a * b,
    "div": lambda a, b: a / (b * b + 1),
    "pow": lambda a, b: (a * a + 1) ** 0.5 + a**2,
    "matmul": lambda a, b: a @ b.T,
    "sum_mean_max": lambda a, b: a.sum(axis=0) + a.mean() + b.max(axis=1).sum() + a.min(),
    "math": lambda a, b: (a * a + 1).log() + a.exp() + (b * b + 1).sqrt() + abs(a) + a.clip(-1, 1),
    "activations": lambda a, b: a.relu() + a.leaky_relu() + a.sigmoid() + a.tanh() + a.softmax() + a.log_softmax(),
    "shape": lambda a, b: a.reshape(-1)[[0, 1]].sum() + a.T[0].sum() + node.concat([a, b]).sum() + node.stack([a, b]).sum(),
    "losses": lambda a, b: a.mean_squared_error(b) + a.softmax_with_cross_entropy([0, 2]) + F.sigmoid_cross_entropy(a, b.sigmoid()),
    "python_scalars": lambda a, b: a * 0.5 + 2.5 - a / 3 + 2 ** (a * 0.1),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(DTYPE_OPS))
def test_dtype_is_preserved_through_ops_and_gradients(xp, dtype, name, rng):
    a = node.Node(xp.asarray(rng.standard_normal((2, 3)), dtype=dtype))
    b = node.Node(xp.asarray(rng.standard_normal((2, 3)), dtype=dtype))
    out = DTYPE_OPS[name](a, b)
    assert out.dtype == dtype
    out.sum().backward()
    for leaf in (a, b):
        assert leaf.grad is None or leaf.grad.dtype == dtype


def test_mixed_precision_promotes_forward_and_casts_gradients_back(xp):
    a = node.Node(xp.ones(3, dtype="float32"))
    b = node.Node(xp.ones(3, dtype="float64"))
    out = (a * b).sum()
    assert out.dtype == "float64"
    out.backward()
    assert a.grad.dtype == "float32" and b.grad.dtype == "float64"


def test_default_dtype():
    assert node.Node(1.0).dtype == np.float32
    assert node.Node([1.0, 2.0]).dtype == np.float32
    assert node.Node(np.zeros(2)).dtype == np.float64  # arrays keep their dtype
    assert not node.Node(np.arange(3)).requires_grad  # integers never need gradients
    node.set_default_dtype("float64")
    try:
        assert node.Node(1.0).dtype == np.float64
    finally:
        node.set_default_dtype("float32")
    with pytest.raises(TypeError, match="float dtype"):
        node.set_default_dtype("int32")


def test_repr_and_properties():
    x = node.Node(np.zeros((2, 3), dtype=np.float32), name="x")
    y = x * 2
    assert "grad_fn=Mul" in repr(y) and "name='x'" in repr(x)
    assert (x.shape, x.ndim, x.size, x.dtype, len(x)) == ((2, 3), 2, 6, np.float32, 2)
    assert node.Node(3.0).item() == 3.0

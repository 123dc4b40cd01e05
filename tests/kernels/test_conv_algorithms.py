"""Convolution algorithms and the reused arrays of the fast kernels.

Every algorithm (the spectral and im2col kernels, chosen with
``node.kernels.conv.use_algorithm``, and the reference) is checked against the
naive loop reference (values in float64, gradients by finite differences,
float32 within float32 accuracy), for inputs in each memory order the layers
produce. The reused arrays (workspaces, the thread's pool) are checked for what
makes buffer reuse dangerous: a value or gradient that reached the user must
never be overwritten by a later call, and changing shapes must not grow memory.
"""
import contextlib
import copy

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import node
import node.functions as F
from helpers import conv_reference, gradcheck_layer, pool_reference, randn
from node.kernels.conv import use_algorithm
from node.kernels.memory import pooled, pooled_nbytes

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference


LAYOUTS = {  # memory orders of (N, C, H, W) data: what the input data, im2col and the spectral kernel leave
    "NCHW": (0, 1, 2, 3),
    "NHWC": (0, 2, 3, 1),
    "WHCN": (3, 2, 1, 0),
}


def in_layout(xp, a, layout):
    """a (N, C, H, W) with its memory in the given axis order (a view of a contiguous copy)."""
    order = LAYOUTS[layout]
    return xp.ascontiguousarray(a.transpose(order)).transpose(tuple(order.index(i) for i in range(4)))


def as_whcn(a):
    """The Node a (N, C, H, W) copied into (W, H, C, N) memory by node operations (so gradcheck sees through it)."""
    n, c, h, w = a.shape
    return a.transpose(3, 2, 1, 0).reshape(-1).reshape(w, h, c, n).transpose(3, 2, 1, 0)


@contextlib.contextmanager
def algorithm_chosen(algorithm):
    """Run convolutions with one algorithm: a kernel ("spectral", "im2col") or the reference (no kernel)."""
    if algorithm == "reference":
        with node.using_config("kernels", "reference"):
            yield
    else:
        with use_algorithm(algorithm):
            yield


@pytest.mark.parametrize("algorithm", ["im2col", "spectral", "reference"])
@pytest.mark.parametrize("shape, kernel, padding", [((2, 3, 7, 6), 3, 1), ((2, 4, 6, 6), 5, 2), ((1, 2, 5, 5), 3, 0), ((2, 3, 4, 4), 5, 4), ((3, 2, 5, 7), 2, 1), ((2, 3, 4, 5), 3, 3)])
def test_each_algorithm_matches_loops_and_finite_differences(xp, rng, algorithm, shape, kernel, padding):
    x, W, b = randn(xp, rng, shape), randn(xp, rng, (5, shape[1], kernel, kernel)), randn(xp, rng, (5,))
    expected = conv_reference(*(node.asnumpy(a) for a in (x, W, b)), 1, padding)
    with algorithm_chosen(algorithm):
        for layout in LAYOUTS:
            y = F.conv2d(node.Node(in_layout(xp, x, layout)), W, b, 1, padding)
            assert type(y.creator).__name__ == "Convolution2D"
            assert y.creator.kernel == (None if algorithm == "reference" else algorithm)
            np.testing.assert_allclose(node.asnumpy(y.value), expected, rtol=1e-10, atol=1e-10, err_msg=layout)
        node.gradcheck(lambda a, w, c: F.conv2d(a, w, c, 1, padding), x, W, b)
        node.gradcheck(lambda a, w: F.conv2d(as_whcn(a), w, None, 1, padding), x, W)
        # float32 stays float32, within float32 accuracy of the reference
        y32 = F.conv2d(x.astype("float32"), W.astype("float32"), b.astype("float32"), 1, padding).value
    assert y32.dtype == np.float32
    np.testing.assert_allclose(node.asnumpy(y32), expected, rtol=1e-4, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 6), kw=st.integers(1, 6), padding=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_spectral_matches_loops_for_any_size_kernel_and_padding(h, w, kh, kw, padding, seed):
    """The short DFT length (n + p, see node.kernels.spectral.transform_size) is exact for every shape, not just the nets'."""
    assume(h + 2 * padding >= kh and w + 2 * padding >= kw)
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((2, 3, h, w)), rng.standard_normal((2, 3, kh, kw))
    b = np.zeros(2)
    with use_algorithm("spectral"):
        y = F.conv2d(node.Node(x), W, None, 1, padding)
    assert y.creator.kernel == "spectral"
    np.testing.assert_allclose(y.value, conv_reference(x, W, b, 1, padding), rtol=1e-10, atol=1e-10)


def test_spectral_gradients_with_only_some_inputs_requiring_them(xp, rng):
    x, W = randn(xp, rng, (2, 3, 6, 6)), randn(xp, rng, (4, 3, 5, 5))
    gy = randn(xp, rng, (2, 4, 6, 6))
    grads = {}
    for algorithm in ("im2col", "spectral", "reference"):
        with algorithm_chosen(algorithm):
            xn, Wn = node.Node(x), node.Node(W)
            F.conv2d(xn, Wn, None, 1, 2).backward(gy)
            grads[algorithm] = (node.asnumpy(xn.grad), node.asnumpy(Wn.grad))
            frozen = node.Node(x, requires_grad=False)
            Wn2 = node.Node(W)
            F.conv2d(frozen, Wn2, None, 1, 2).backward(gy)
            np.testing.assert_allclose(node.asnumpy(Wn2.grad), grads[algorithm][1], rtol=1e-12)
            assert frozen.grad is None
    for other in ("spectral", "reference"):
        for a, b in zip(grads["im2col"], grads[other]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_complex_inputs_take_the_reference(rng):
    x = node.Node(rng.standard_normal((2, 32, 10, 10)) + 1j)
    W = node.Node(rng.standard_normal((32, 32, 5, 5)).astype(complex))
    b = np.zeros(32)
    for algorithm in ("spectral", "im2col"):
        with use_algorithm(algorithm):
            y = F.conv2d(x, W, padding=2)
        assert y.creator.kernel is None
        real = conv_reference(x.value.real, W.value.real, b, 1, 2) - conv_reference(x.value.imag, W.value.imag, b, 1, 2)
        np.testing.assert_allclose(y.value.real, real, atol=1e-9)


def as_nhwc(a):
    n, c, h, w = a.shape
    return a.transpose(0, 2, 3, 1).reshape(-1).reshape(n, h, w, c).transpose(0, 3, 1, 2)


# ---- the elementwise layers' row paths, in every memory order ----------------------------------------
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_batch_norm_and_prelu_in_every_layout(xp, rng, layout):
    x = in_layout(xp, randn(xp, rng, (3, 4, 5, 6)) * 3 + 1, layout)
    gamma, beta = randn(xp, rng, (4,)), randn(xp, rng, (4,))
    ref = node.asnumpy(x)
    mean, var = ref.mean(axis=(0, 2, 3), keepdims=True), ref.var(axis=(0, 2, 3), keepdims=True)
    expected = (ref - mean) / np.sqrt(var + 1e-5) * node.asnumpy(gamma).reshape(1, -1, 1, 1) + node.asnumpy(beta).reshape(1, -1, 1, 1)
    np.testing.assert_allclose(node.asnumpy(F.batch_norm(x, gamma, beta).value), expected, rtol=1e-10, atol=1e-10)
    relayout = {"NCHW": lambda a: a, "NHWC": as_nhwc, "WHCN": as_whcn}[layout]
    x0 = xp.ascontiguousarray(x)  # gradcheck perturbs contiguous inputs; the layout is made inside
    node.gradcheck(lambda a, g, b: F.batch_norm(relayout(a), g, b), x0, gamma, beta)
    running = (xp.asarray(rng.standard_normal(4)), xp.asarray(rng.random(4) + 0.5))
    node.gradcheck(lambda a, g, b: F.batch_norm(relayout(a), g, b, 1e-5, *running), x0, gamma, beta)
    for slopes in ([0.25, -0.5, 1.0, 0.1], [1.5, 2.0, 1.0, 3.0], [0.5, 2.0, 0.1, 1.0], [0.3]):
        a = xp.asarray(np.array(slopes))
        a_full = np.broadcast_to(np.array(slopes), (4,)).reshape(1, -1, 1, 1)
        np.testing.assert_allclose(node.asnumpy(F.prelu(x, a).value), np.where(ref > 0, ref, a_full * ref), rtol=1e-12)
        node.gradcheck(lambda v, s: F.prelu(relayout(v), s), x0, a)


def test_elementwise_layers_accept_a_gradient_in_another_layout(rng):
    """The backward lines gy up with x's memory order first; the result must not depend on gy's layout."""
    x = in_layout(np, rng.standard_normal((3, 4, 5, 6)), "NHWC")
    gy = rng.standard_normal((3, 4, 5, 6))
    for make in (lambda v: F.batch_norm(v, np.ones(4), np.zeros(4)), lambda v: F.prelu(v, np.full(4, 0.2))):
        results = []
        for layout in LAYOUTS:
            v = node.Node(x)
            make(v).backward(in_layout(np, gy, layout))
            results.append(v.grad)
        for r in results[1:]:
            np.testing.assert_allclose(r, results[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("size", [6, 7])
def test_max_pool_rows_path_matches_loops_and_shares_ties(xp, rng, layout, size):
    x0 = xp.asarray(rng.permutation(2 * 3 * size * size).reshape(2, 3, size, size) * 0.1)
    x = in_layout(xp, x0, layout)
    y = F.max_pool2d(x, 2)
    np.testing.assert_allclose(node.asnumpy(y.value), pool_reference(node.asnumpy(x), 2, 2, 0, np.max))
    relayout = {"NCHW": lambda a: a, "NHWC": as_nhwc, "WHCN": as_whcn}[layout]
    node.gradcheck(lambda a: F.max_pool2d(relayout(a), 2), x0)
    # ties (e.g. zeros after a ReLU) share the gradient equally; the row and column no window reaches get 0
    flat = node.Node(in_layout(xp, xp.zeros((1, 2, size, size)), layout))
    F.max_pool2d(flat, 2).backward(xp.ones((1, 2, size // 2, size // 2)))
    expected = np.zeros((1, 2, size, size))
    expected[:, :, : size // 2 * 2, : size // 2 * 2] = 0.25
    np.testing.assert_allclose(node.asnumpy(flat.grad), expected)


# ---- workspaces -------------------------------------------------------------------------------------
def conv_block(rng):
    """Conv (im2col) - BN - PReLU - Conv (spectral) - BN - PReLU - pool, as in LeNets++, in float64 (exact comparisons)."""
    layers = node.Sequential(
        node.Conv2d(1, 32, 5, padding=2, rng=rng, dtype="float64"),
        node.BatchNorm2d(32, dtype="float64"),
        node.PReLU(32, dtype="float64"),
        node.Conv2d(32, 32, 5, padding=2, bias=False, rng=rng, dtype="float64"),
        node.BatchNorm2d(32, dtype="float64"),
        node.PReLU(32, dtype="float64"),
        node.MaxPool2d(2),
    )
    return layers


def step(model, x, seed):
    """Forward and backward; returns (output Node, {name: grad array}) — what a user could keep."""
    model.zero_grad()
    y = model(node.Node(x, requires_grad=False))
    y.backward(np.random.default_rng(seed).standard_normal(y.shape))
    return y, {name: p.grad for name, p in model.named_parameters()}


def test_workspaces_never_overwrite_what_the_user_holds(rng):
    model = conv_block(node.layers.as_generator(0))
    for n in (17, 20):  # both batch sizes below take the spectral kernel in the second convolution
        assert model[3](node.Node(np.zeros((n, 32, 10, 10)))).creator.kernel == "spectral"
    fresh = copy.deepcopy(model)  # a deep copy gets empty workspaces of its own
    x1, x2 = rng.standard_normal((20, 1, 10, 10)), rng.standard_normal((20, 1, 10, 10))
    y1, g1 = step(model, x1, 1)
    kept_y, kept_g = y1.value.copy(), {k: v.copy() for k, v in g1.items()}
    view = y1.value[:, :1]  # a view of the output, kept alone
    kept_view = view.copy()
    del y1
    y2, g2 = step(model, x2, 2)  # same shapes: the workspaces are reused
    np.testing.assert_array_equal(view, kept_view)
    for k in kept_g:
        np.testing.assert_array_equal(g1[k], kept_g[k], err_msg=k)
        assert not np.shares_memory(g1[k], g2[k])
    # and the second step is right: the same as a model that never ran before
    y_ref, g_ref = step(fresh, x2, 2)
    np.testing.assert_allclose(y2.value, y_ref.value, rtol=1e-12)
    for k in g_ref:
        np.testing.assert_allclose(g2[k], g_ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(kept_y[:, :1], view)


def test_workspaces_follow_changing_shapes_without_growing(rng):
    model = conv_block(node.layers.as_generator(0))
    fresh = copy.deepcopy(model)
    big, small = rng.standard_normal((20, 1, 10, 10)), rng.standard_normal((17, 1, 10, 10))

    def held_bytes():
        spaces = [layer._workspace for layer in model.sublayers() if "_workspace" in vars(layer)]
        return sum(ws.nbytes() for ws in spaces) + node.kernels.memory.thread_workspace().nbytes() + pooled_nbytes()

    step(model, big, 0)
    step(model, small, 0)  # the smaller last batch of an epoch
    after_first_epoch = held_bytes()
    for _ in range(3):
        y_big, _ = step(model, big, 0)
        del y_big
        y_small, g_small = step(model, small, 0)
        del y_small
    assert held_bytes() == after_first_epoch
    y_ref, g_ref = step(fresh, small, 0)
    for k in g_ref:
        np.testing.assert_allclose(g_small[k], g_ref[k], rtol=1e-10, atol=1e-12, err_msg=k)


class Twice(node.Layer):
    """One block of layers applied twice: every layer (and its reused arrays) twice in one graph."""

    def __init__(self, block):
        self.block = block

    def forward(self, x):
        return self.block(self.block(x))


def test_layers_used_twice_in_one_graph(rng):
    """Weight sharing: the second call must not reuse arrays the first call's backward still needs."""
    x = rng.standard_normal((2, 3, 8, 8))
    gen = node.layers.as_generator(0)
    block = node.Sequential(node.Conv2d(3, 3, 5, padding=2, rng=gen, dtype="float64"), node.BatchNorm2d(3, dtype="float64"), node.PReLU(3, dtype="float64"))
    for algorithm in ("spectral", "im2col"):
        with use_algorithm(algorithm):
            assert block[0](node.Node(x)).creator.kernel == algorithm
            gradcheck_layer(Twice(block), x)
    assert pooled_nbytes() > 0


def test_workspace_reuses_only_unreferenced_arrays():
    ws = node.kernels.Workspace()
    a = ws.empty("a", (3, 4), np.float32)
    b = ws.empty("a", (3, 4), np.float32)
    assert not np.shares_memory(a, b)  # a is still held
    del a
    c = ws.empty("a", (2, 4), np.float32)
    assert not np.shares_memory(b, c)  # b (now in the slot) is still held
    del b
    view = c.T
    del c
    d = ws.empty("a", (2, 4), np.float32)
    assert not np.shares_memory(view, d)  # a view keeps the memory in use
    del view
    e_ptr = d.__array_interface__["data"][0]
    del d
    e = ws.empty("a", (2, 2), np.float32)  # smaller: the front of the same memory
    assert e.__array_interface__["data"][0] == e_ptr
    assert copy.deepcopy(ws).nbytes() == 0


def test_pooled_arrays_are_reused_only_when_unreferenced_several_per_name():
    node.kernels.release_thread_workspace()
    a = pooled("t", (3, 4), np.float32)
    b = pooled("t", (3, 4), np.float32)  # a is held: a second array for the same name
    assert not np.shares_memory(a, b)
    a_ptr = a.__array_interface__["data"][0]
    view = b.T
    del a, b
    c = pooled("t", (2, 4), np.float32)  # the first free one, smaller: the front of a's memory
    assert c.__array_interface__["data"][0] == a_ptr and not np.shares_memory(c, view)
    d = pooled("t", (3, 4), np.float32)  # a's memory is in use again, b's through its view: a third array
    assert not np.shares_memory(d, view) and not np.shares_memory(d, c)
    assert pooled_nbytes() == 3 * 48
    del c, d, view
    big = pooled("t", (4, 4), np.float32)  # none is large enough: a free one is replaced, none added
    assert big.shape == (4, 4) and pooled_nbytes() == 2 * 48 + 64
    node.kernels.release_thread_workspace()
    assert pooled_nbytes() == 0

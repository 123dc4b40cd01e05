"""The fast kernels of the activations, pooling and batch norm against their reference Functions.

Every kernel must give what the reference forward gives, and the gradients
through it must match the reference's: float64, several shapes and memory
orders, including the (W, H, N, C) order an im2col convolution leaves its
output in. Each test also checks which kernel ran (``Function.kernel``), so a
kernel that stops applying where it should, or applies where it should not,
fails here too. Batch norm and PReLU run twice: with the compiled kernels off
(NumPy's "rows" kernels run) and on (numba's "compiled" kernels, where numba is
installed; tests/kernels/test_kernels_compiled.py compares the two in float32).
"""
import importlib.util

import numpy as np
import pytest

import node
import node.functions as F
from node.functions.activation import ParametricReLU, ParametricReLUGrad, RectifiedLinear, ReLUGrad
from node.functions.normalization import BatchNormalization, BatchNormalizationGrad
from node.functions.pooling import MaxPooling2D, MaxPooling2DGrad

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference

ORDERS = {  # memory orders of (N, C, H, W) data, outermost axis first
    "NCHW": (0, 1, 2, 3),
    "NHWC": (0, 2, 3, 1),
    "WHNC": (3, 2, 0, 1),  # what an im2col convolution leaves
    "WHCN": (3, 2, 1, 0),
}


def in_order(a, order):
    """a with the same values, its memory laid out in ``order`` (a view of a contiguous copy)."""
    return np.ascontiguousarray(a.transpose(order)).transpose(tuple(np.argsort(order)))


def whnc(v):
    """The Node v (N, C, H, W) copied into (W, H, N, C) memory by node operations, so gradcheck sees through it."""
    n, c, h, w = v.shape
    return v.transpose(3, 2, 0, 1).reshape(-1).reshape(w, h, n, c).transpose(2, 3, 1, 0)


def run(make, arrays, mode, gy=None, seed=0):
    """Apply the Function ``make()`` to ``arrays`` with the kernels in ``mode``; backpropagate random gradients.

    Returns (the kernel that ran, the outputs' values, the inputs' gradients), copied: the kernels' arrays are reused.
    """
    with node.using_config("kernels", mode):
        f = make()
        nodes = [node.Node(a) for a in arrays]
        outs = f(*nodes)
        outs = list(outs) if isinstance(outs, list) else [outs]
        kernel = f.kernel  # read before the backward frees f
        rng = np.random.default_rng(seed)
        if gy is None:
            gys = [rng.standard_normal(o.shape) for o in outs]
        else:
            gys = [gy]
        grads = node.grad(outs, nodes, grad_outputs=gys, allow_unused=True)
        return kernel, [o.value.copy() for o in outs], [None if g is None else g.copy() for g in grads]


def assert_kernel_matches_reference(make, arrays, kernel, gy=None):
    """``make()`` on ``arrays``: the kernel named ``kernel`` ran (None: none did), and values and gradients match the reference's."""
    ran, values, grads = run(make, arrays, "auto", gy)
    assert ran == kernel
    reference, ref_values, ref_grads = run(make, arrays, "reference", gy)
    assert reference is None
    for got, expected in zip(values + grads, ref_values + ref_grads):
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


HAS_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.fixture(params=["off", "auto"])
def compiled_kernels(request):
    """``node.Config.compiled_kernels`` for the test: "off" (NumPy kernels) or "auto" (numba's, skipped without numba)."""
    if request.param == "auto" and not HAS_NUMBA:
        pytest.skip("numba is not installed")
    node.Config.compiled_kernels = request.param
    return request.param


def fast(kernel, compiled_kernels):
    """The kernel expected to run: "rows" becomes "compiled" when the compiled kernels are on."""
    return "compiled" if kernel == "rows" and compiled_kernels == "auto" else kernel


# ---- batch normalization ------------------------------------------------------------------------
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_rows_kernel(rng, order, training, compiled_kernels):
    x = in_order(rng.standard_normal((4, 3, 5, 6)) * 2 + 1, ORDERS[order])
    gamma, beta = rng.random(3) + 0.5, rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    statistics = {}

    def make():
        running = (mean.copy(), var.copy())
        statistics[node.Config.kernels] = running
        return BatchNormalization(1e-5, *running, momentum=0.1, training=training)

    assert_kernel_matches_reference(make, (x, gamma, beta), fast("rows", compiled_kernels))
    for got, expected in zip(statistics["auto"], statistics["reference"]):  # the running statistics moved alike
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    if training:
        assert not np.allclose(statistics["auto"][0], mean)


@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 3), (2, 3, 1, 7)])
def test_batch_norm_rows_kernel_on_other_shapes(rng, shape, compiled_kernels):
    x = rng.standard_normal(shape)
    assert_kernel_matches_reference(BatchNormalization, (x, rng.random(shape[1]) + 0.5, rng.standard_normal(shape[1])), fast("rows", compiled_kernels))


@pytest.mark.parametrize("x_order, gy_order", [("WHNC", "WHNC"), ("WHNC", "NCHW"), ("NHWC", "WHCN"), ("NCHW", "NCHW")])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradient_rows_kernel(rng, x_order, gy_order, training, compiled_kernels):
    x = in_order(rng.standard_normal((5, 4, 3, 6)) * 3 - 1, ORDERS[x_order])
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    f = BatchNormalization(1e-5, rng.standard_normal(4), rng.random(4) + 0.5, training=training)
    f.forward(x, gamma, beta)  # the statistics the gradient reads
    gy = in_order(rng.standard_normal(x.shape), ORDERS[gy_order])
    assert_kernel_matches_reference(lambda: BatchNormalizationGrad(f), (x, gamma, gy), fast("rows", compiled_kernels))


def test_batch_norm_kernels_stay_out_of_what_they_do_not_cover(rng, compiled_kernels):
    x = rng.standard_normal((4, 3, 2, 2))
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    assert_kernel_matches_reference(BatchNormalization, (x, g.astype(np.float32), b), None)  # mixed dtypes
    assert_kernel_matches_reference(BatchNormalization, (x[:, :, ::2], g, b), None)  # not one memory order
    f = BatchNormalization(1e-5, np.zeros(3, np.float32), np.ones(3, np.float32), training=False)
    assert f.forward(x, g, b).dtype == np.float64  # evaluation with float32 statistics: the reference promotes
    assert_kernel_matches_reference(lambda: BatchNormalization(1e-5, np.zeros(3, np.float32), np.ones(3, np.float32), training=False), (x, g, b), None)


def test_batch_norm_through_kernels_matches_finite_differences(rng, compiled_kernels):
    x = rng.standard_normal((4, 3, 5, 6))
    gamma, beta = rng.random(3) + 0.5, rng.standard_normal(3)
    node.gradcheck(lambda a, g, b: F.batch_norm(whnc(a), g, b), x, gamma, beta)
    running = (rng.standard_normal(3), rng.random(3) + 0.5)
    node.gradcheck(lambda a, g, b: F.batch_norm(whnc(a), g, b, 1e-5, *running), x, gamma, beta)


# ---- PReLU ----------------------------------------------------------------------------------------
SLOPES = {
    "at most 1": ([0.25, -0.5, 1.0, 0.1], "rows"),
    "at least 1": ([1.5, 2.0, 1.0, 3.0], "rows"),
    "shared": ([0.3], "rows"),
    "both sides of 1": ([0.5, 2.0, 0.1, 1.0], None),  # max(x, a·x) does not hold: the reference runs
}


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("slopes", list(SLOPES))
def test_prelu_rows_kernel(rng, order, slopes, compiled_kernels):
    x = in_order(rng.standard_normal((3, 4, 5, 6)), ORDERS[order])
    a, kernel = SLOPES[slopes]
    if compiled_kernels == "auto":
        kernel = "compiled"  # x where x > 0, else a·x: any slopes
    assert_kernel_matches_reference(ParametricReLU, (x, np.array(a)), kernel)


@pytest.mark.parametrize("x_order, gy_order", [("WHNC", "WHNC"), ("WHNC", "NCHW"), ("NHWC", "WHCN")])
@pytest.mark.parametrize("slopes", [[0.25, -0.5, 1.0, 0.1], [0.3]])
def test_prelu_gradient_rows_kernel(rng, x_order, gy_order, slopes, compiled_kernels):
    x = in_order(rng.standard_normal((3, 4, 5, 6)), ORDERS[x_order])
    gy = in_order(rng.standard_normal(x.shape), ORDERS[gy_order])
    assert_kernel_matches_reference(ParametricReLUGrad, (x, np.array(slopes), gy), fast("rows", compiled_kernels))


def test_prelu_kernels_on_other_shapes(rng, compiled_kernels):
    for shape in [(6, 4), (5, 4, 3)]:
        assert_kernel_matches_reference(ParametricReLU, (rng.standard_normal(shape), rng.random(4)), fast("rows", compiled_kernels))
    x = rng.standard_normal(5)  # 1-D: one slope per element, no channel axis; the reference runs
    assert_kernel_matches_reference(ParametricReLU, (x, rng.random(5)), None)
    assert_kernel_matches_reference(ParametricReLUGrad, (x, rng.random(5), rng.standard_normal(5)), None)


def test_prelu_through_kernels_matches_finite_differences(rng, compiled_kernels):
    x = np.sign(rng.standard_normal((3, 4, 5, 6))) * (0.1 + rng.random((3, 4, 5, 6)))
    node.gradcheck(lambda v, s: F.prelu(whnc(v), s), x, np.array([0.25, -0.5, 1.0, 0.1]))
    node.gradcheck(lambda v, s: F.prelu(whnc(v), s), x, np.array([0.3]))


# ---- max pooling --------------------------------------------------------------------------------
def distinct(rng, shape):
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("size", [6, 7])
@pytest.mark.parametrize("k, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 3, 0)])
def test_max_pooling_kernels(rng, order, size, k, stride, padding):
    x = in_order(distinct(rng, (2, 3, size, size)), ORDERS[order])
    assert_kernel_matches_reference(lambda: MaxPooling2D(k, stride, padding), (x,), "in layout")
    pool = MaxPooling2D(k, stride, padding)
    y = pool.forward(x)
    tiles = "tiles" if stride == k and not padding else None
    for gy in (rng.standard_normal(y.shape), in_order(rng.standard_normal(y.shape), ORDERS[order])):
        assert_kernel_matches_reference(lambda: MaxPooling2DGrad(pool, x, y), (gy,), tiles)


@pytest.mark.parametrize("order", list(ORDERS))
def test_max_pooling_gradient_kernel_shares_ties(order):
    x = in_order(np.zeros((2, 3, 7, 7)), ORDERS[order])  # every window ties four ways (zeros after a ReLU)
    pool = MaxPooling2D(2, 2)
    y = pool.forward(x)
    gy = np.ones(y.shape)
    assert_kernel_matches_reference(lambda: MaxPooling2DGrad(pool, x, y), (gy,), "tiles")
    with node.using_config("kernels", "auto"):
        g = MaxPooling2DGrad(pool, x, y)
        gx = g(gy).value
    assert g.kernel == "tiles"
    expected = np.zeros(x.shape)
    expected[:, :, :6, :6] = 0.25  # the last row and column belong to no window
    np.testing.assert_array_equal(gx, expected)


def test_max_pooling_through_kernels_matches_finite_differences(rng):
    x = distinct(rng, (2, 3, 6, 6))
    node.gradcheck(lambda a: F.max_pool2d(whnc(a), 2), x)
    node.gradcheck(lambda a: F.max_pool2d(whnc(a), 3, 2, 1), x)


# ---- ReLU ---------------------------------------------------------------------------------------
def test_relu_gradient_is_fused_on_the_gpu_compiled_on_the_host(xp, rng, compiled_kernels):
    x = xp.asarray(rng.standard_normal((4, 5)))
    gy = xp.asarray(rng.standard_normal((4, 5)))
    with node.using_config("kernels", "auto"):
        g = ReLUGrad(x)
        fused = g(gy).value
    on_host = node.backend.on_host(x)
    assert g.kernel == (("compiled" if compiled_kernels == "auto" else None) if on_host else "fused")
    np.testing.assert_array_equal(node.asnumpy(fused), node.asnumpy(gy) * (node.asnumpy(x) > 0))
    assert_kernel_matches_reference(RectifiedLinear, (rng.standard_normal((4, 5)),), "compiled" if compiled_kernels == "auto" else None)


# ---- a LeNets++ block -----------------------------------------------------------------------------
def test_a_conv_bn_prelu_pool_step_matches_the_reference(rng, compiled_kernels):
    """Conv - BN - PReLU - Conv - BN - PReLU - pool in training, twice (the second step reuses the kernels' arrays)."""
    x = rng.standard_normal((6, 2, 8, 8))

    def steps(mode):
        with node.using_config("kernels", mode):
            model = node.Sequential(
                node.Conv2d(2, 4, 3, padding=1, rng=0, dtype="float64"), node.BatchNorm2d(4, dtype="float64"), node.PReLU(4, dtype="float64"),
                node.Conv2d(4, 4, 3, padding=1, rng=1, dtype="float64"), node.BatchNorm2d(4, dtype="float64"), node.PReLU(4, dtype="float64"),
                node.MaxPool2d(2),
            )
            results = []
            for step in range(2):
                model.zero_grad()
                y = model(node.Node(x * (step + 1)))
                y.backward(np.random.default_rng(step).standard_normal(y.shape))
                results += [y.value.copy()] + [p.grad.copy() for p in model.parameters()] + [model[1].running_var.copy()]
            return results

    for got, expected in zip(steps("auto"), steps("reference")):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)

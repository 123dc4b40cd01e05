"""The compiled loops (node.kernels.compiled, numba) against the NumPy kernels and the reference ops.

numba is optional: without it every kernel takes its NumPy path, which these
tests check too (by hiding numba from the loader). Where the compiled loop does
NumPy's elementwise arithmetic in NumPy's order (Adam, SGD, PReLU), the results
must be the same bits; where it also sums per channel (batch norm, PReLU's
slope gradient), within a few units in the last place of the sums.
"""
import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

import node
from node.functions.activation import ParametricReLU, ParametricReLUGrad, RectifiedLinear, ReLUGrad
from node.functions.normalization import BatchNormalization, BatchNormalizationGrad
from node.kernels import compiled
from node.kernels import optim as fast

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
ORDERS = {"NCHW": (0, 1, 2, 3), "NHWC": (0, 2, 3, 1), "WHNC": (3, 2, 0, 1), "WHCN": (3, 2, 1, 0)}
EPS = {"float32": np.finfo(np.float32).eps, "float64": np.finfo(np.float64).eps}


def in_order(a, order):
    """a with the same values, its memory laid out in ``order``."""
    return np.ascontiguousarray(a.transpose(order)).transpose(tuple(np.argsort(order)))


@pytest.fixture
def fresh_loader():
    """Forget what the loader found and compiled, before and after the test (a test may hide or replace numba)."""
    compiled.forget_compiled()
    yield
    compiled.forget_compiled()


class FakeNumba:
    """numba with an ``njit`` that fails as told: "cache" (no writable cache directory) or "compile" (any compiler error)."""

    def __init__(self, failure):
        import numba

        self.numba, self.failure, self.calls = numba, failure, []

    def njit(self, *args, **options):
        self.calls.append(options)
        if self.failure == "compile":
            raise RuntimeError("LLVM had a bad day")
        if self.failure == "cache" and options.get("cache"):
            raise RuntimeError("cannot cache function 'adam': no locator available for file '/read-only/compiled.py'")
        return self.numba.njit(*args, **options)


# ---- numba stays optional ---------------------------------------------------------------------------
def test_importing_node_does_not_import_numba():
    code = "import sys, node, node.kernels, numpy as np; node.Node(np.ones(3)).sum(); assert 'numba' not in sys.modules, 'numba imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_setting_is_checked():
    node.Config.compiled_kernels = "fastest"
    with pytest.raises(ValueError, match="'auto' or 'off'"):
        compiled.enabled(np.ones(2))


def adam_run(dtype, steps=3, shape=(5, 7), weight_decay=0.0):
    """Parameters and Adam state after ``steps`` updates of one parameter by fast.adam_step (in the current settings)."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(shape).astype(dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, steps + 1):
        g = rng.standard_normal(shape).astype(dtype)
        c = math.sqrt(1 - 0.999**t)  # Python floats, as node.Adam passes (NumPy computes with a NumPy float64 in float64)
        fast.adam_step(p, g, m, v, 0.9, 0.999, weight_decay, 1e-2 * c / (1 - 0.9**t), 1e-8 * c)
    return p, m, v


def test_without_numba_the_numpy_kernels_run(fresh_loader, monkeypatch, rng):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    assert compiled.numba_module() is None and compiled.loop("adam", np.dtype(np.float32)) is None
    x = in_order(rng.standard_normal((4, 3, 5, 6)), ORDERS["WHNC"])
    f = BatchNormalization()
    f(node.Node(x), node.Node(np.ones(3)), node.Node(np.zeros(3)))
    assert f.kernel == "rows"
    with_numpy = adam_run("float32")
    node.Config.compiled_kernels = "off"
    for a, b in zip(with_numpy, adam_run("float32")):
        np.testing.assert_array_equal(a, b)


@needs_numba
def test_without_a_writable_cache_the_loops_compile_anyway(fresh_loader, monkeypatch):
    fake = FakeNumba("cache")
    monkeypatch.setattr(compiled, "numba_module", lambda: fake)
    assert compiled.loop("adam", np.dtype(np.float32)) is not None
    assert [options.get("cache", False) for options in fake.calls] == [True, False]  # tried with the cache, then without
    got = adam_run("float32")
    node.Config.compiled_kernels = "off"
    for a, b in zip(got, adam_run("float32")):
        np.testing.assert_array_equal(a, b)


@needs_numba
def test_a_loop_that_does_not_compile_warns_and_numpy_runs(fresh_loader, monkeypatch, rng):
    monkeypatch.setattr(compiled, "numba_module", lambda: FakeNumba("compile"))
    x = in_order(rng.standard_normal((4, 3, 5, 6)), ORDERS["WHNC"])
    f = BatchNormalization()
    with pytest.warns(RuntimeWarning, match="could not compile the centered_square_sums loop"):
        f(node.Node(x), node.Node(np.ones(3)), node.Node(np.zeros(3)))
    assert f.kernel == "rows"
    with pytest.warns(RuntimeWarning, match="could not compile the adam loop"):
        got = adam_run("float32")
    node.Config.compiled_kernels = "off"
    for a, b in zip(got, adam_run("float32")):
        np.testing.assert_array_equal(a, b)


# ---- the optimizers: the same bits --------------------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (1,), (13,), (784, 33)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_compiled_adam_gives_the_numpy_update(dtype, shape, weight_decay):
    got = adam_run(dtype, shape=shape, weight_decay=weight_decay)
    node.Config.compiled_kernels = "off"
    for a, b in zip(got, adam_run(dtype, shape=shape, weight_decay=weight_decay)):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)


def sgd_run(dtype, velocity, nesterov, weight_decay, steps=3, shape=(6, 5)):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(shape).astype(dtype)
    state = np.zeros_like(p) if velocity else None
    for _ in range(steps):
        fast.sgd_step(p, rng.standard_normal(shape).astype(dtype), state, 0.1, 0.9 if velocity else 0, nesterov, weight_decay)
    return p, state


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("velocity, nesterov", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_compiled_sgd_gives_the_numpy_update(dtype, velocity, nesterov, weight_decay):
    got = sgd_run(dtype, velocity, nesterov, weight_decay)
    node.Config.compiled_kernels = "off"
    expected = sgd_run(dtype, velocity, nesterov, weight_decay)
    for a, b in zip(got, expected):
        if b is not None:
            np.testing.assert_array_equal(a, b)


@needs_numba
def test_the_compiled_updates_stay_out_of_what_they_do_not_cover(monkeypatch):
    calls = []
    original = compiled.loop
    monkeypatch.setattr(compiled, "loop", lambda name, dtype: calls.append(name) or original(name, dtype))
    rng = np.random.default_rng(2)
    big = rng.standard_normal((6, 8)).astype(np.float32)
    cases = {
        "a strided parameter": (big[:, ::2], rng.standard_normal((6, 4)).astype(np.float32)),
        "a transposed gradient": (big[:4, :6].copy(), rng.standard_normal((6, 4)).astype(np.float32).T),
        "mixed dtypes": (big.copy(), rng.standard_normal((6, 8))),
        "float16": (big.astype(np.float16), big.astype(np.float16)),
    }
    for what, (p, g) in cases.items():
        results = []
        for mode in ("auto", "off"):
            node.Config.compiled_kernels = mode
            q, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
            if what == "a strided parameter":
                q = big.copy()[:, ::2]
            fast.adam_step(q, g, m, v, 0.9, 0.999, 0.0, 1e-2, 1e-8)
            results.append((q, m, v))
        for a, b in zip(*results):
            np.testing.assert_array_equal(a, b, err_msg=what)
    assert calls.count("adam") <= 1  # float16 asks for a loop and gets None; the others never ask


@needs_numba
def test_a_training_step_updates_alike_with_and_without_compiled_loops():
    def train(mode):
        node.Config.compiled_kernels = mode
        model = node.Sequential(node.Linear(6, 16, rng=0), node.PReLU(1), node.Linear(16, 3, rng=1))
        optimizer = node.Adam(model.parameters(), 0.01, weight_decay=0.01)
        rng = np.random.default_rng(3)
        for _ in range(3):
            optimizer.zero_grad()
            x = node.Node(rng.standard_normal((5, 6)).astype(np.float32))
            model(x).softmax_with_cross_entropy(rng.integers(0, 3, 5)).backward()
            optimizer.step()
        return [p.value.copy() for p in model.parameters()]

    for a, b in zip(train("auto"), train("off")):
        np.testing.assert_array_equal(a, b)


# ---- batch norm and PReLU: compiled against the NumPy kernels and the reference -----------------------
def outputs(make, arrays, mode, compiled_kernels):
    """The forward's outputs (copied) of ``make()`` on arrays, with the kernel that ran."""
    node.Config.kernels, node.Config.compiled_kernels = mode, compiled_kernels
    f = make()
    ys = f.compute(list(arrays))
    ys = ys if isinstance(ys, tuple) else (ys,)
    return getattr(f, "kernel", None), [np.array(y, copy=True) for y in ys]


def three_ways(make, arrays):
    """(compiled, NumPy kernel, reference) outputs of ``make()`` on ``arrays``; checks which kernel ran."""
    ran, got = outputs(make, arrays, "auto", "auto")
    rows, numpy_kernel = outputs(make, arrays, "auto", "off")
    _, reference = outputs(make, arrays, "reference", "auto")
    assert (ran, rows) == ("compiled", "rows")
    return got, numpy_kernel, reference


def assert_close(got, expected, dtype, ulps, scale=None):
    """|got - expected| within ``ulps`` units in the last place of ``scale`` (default: of expected's largest value)."""
    scale = np.abs(expected).max() if scale is None else scale
    np.testing.assert_allclose(got, expected, rtol=0, atol=ulps * EPS[dtype] * scale)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("training", [True, False])
def test_compiled_batch_norm_matches_numpy_and_the_reference(dtype, order, training):
    rng = np.random.default_rng(4)
    x = in_order((rng.standard_normal((6, 8, 7, 5)) * 3 + 2).astype(dtype), ORDERS[order])
    gamma, beta = (rng.random(8) + 0.5).astype(dtype), rng.standard_normal(8).astype(dtype)
    gy = in_order(rng.standard_normal(x.shape).astype(dtype), ORDERS[order][::-1])
    running = (rng.standard_normal(8).astype(dtype), (rng.random(8) + 0.5).astype(dtype))
    make = lambda: BatchNormalization(1e-5, running[0].copy(), running[1].copy(), training=training)
    got, numpy_kernel, reference = three_ways(make, (x, gamma, beta))
    for a, b, c in zip(got, numpy_kernel, reference):
        assert a.dtype == np.dtype(dtype)
        assert_close(a, b, dtype, 4)  # the same arithmetic; the sums in einsum's order or close to it
        assert_close(a, c, dtype, 64)  # the reference sums pairwise and normalizes in another order
    bn = make()
    bn.forward(x, gamma, beta)
    got, numpy_kernel, reference = three_ways(lambda: BatchNormalizationGrad(bn), (x, gamma, gy))
    for a, b, c in zip(got, numpy_kernel, reference):
        assert_close(a, b, dtype, 8)
        assert_close(a, c, dtype, 256)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("slopes", [[0.25, -0.5, 1.0, 0.1, 0.0], [0.5, 2.0, 0.1, 1.0, 3.0], [0.3]])
def test_compiled_prelu_is_the_reference(dtype, order, slopes):
    rng = np.random.default_rng(5)
    x = in_order(rng.standard_normal((3, 5, 4, 6)).astype(dtype), ORDERS[order])
    x[0, 0, 0, :2] = 0  # x = 0 takes the slope, as in the reference
    a = np.array(slopes, dtype=dtype)
    got, _, reference = three_ways(ParametricReLU, (x, a)) if max(slopes) <= 1 or min(slopes) >= 1 else (None, None, None)
    if got is not None:
        np.testing.assert_array_equal(got[0], reference[0])  # y = x or a·x: one product, the same bits
    gy = in_order(rng.standard_normal(x.shape).astype(dtype), ORDERS["WHNC"])
    got, numpy_kernel, reference = three_ways(ParametricReLUGrad, (x, a, gy))
    np.testing.assert_array_equal(got[0], reference[0])  # gx = gy or gy·a
    assert_close(got[1], reference[1], dtype, 64, scale=np.abs(gy * x).sum())  # ga: Σ gy·x where x ≤ 0, summed in another order
    assert_close(got[1], numpy_kernel[1], dtype, 8, scale=np.abs(gy * x).sum())


@needs_numba
def test_compiled_prelu_applies_for_slopes_on_both_sides_of_one():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    a = np.array([0.5, 2.0, -1.0], np.float32)
    ran, (y,) = outputs(ParametricReLU, (x, a), "auto", "auto")
    assert ran == "compiled"
    np.testing.assert_array_equal(y, np.where(x > 0, x, a[:, None] * x))
    assert outputs(ParametricReLU, (x, a), "auto", "off")[0] is None  # max(x, a·x) holds for neither side: the reference


def special_values(shape, dtype, rng):
    """Normal draws with ±0, ±inf and NaNs of both signs among them, in ``dtype``."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-30, -1e-30]
    return x


def bits(a):
    """The array's bytes, so that -0 differs from +0 and NaNs are compared by their bits."""
    return np.ascontiguousarray(a).view(np.uint8)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 256), (37, 3, 5), (513,)])
def test_compiled_relu_and_its_gradient_are_the_reference_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(9)
    x, gy = special_values(shape, dtype, rng), special_values(shape, dtype, rng)[::-1].copy()
    ran, (y,) = outputs(RectifiedLinear, (x,), "auto", "auto")
    reference, (expected,) = outputs(RectifiedLinear, (x,), "reference", "auto")
    assert (ran, reference) == ("compiled", None)
    np.testing.assert_array_equal(bits(y), bits(expected))  # NaN kept with its sign bit, -0 made +0, as np.maximum(x, 0)
    with np.errstate(invalid="ignore"):  # the reference's inf·0
        ran, (gx,) = outputs(lambda: ReLUGrad(x), (gy,), "auto", "auto")
        reference, (expected,) = outputs(lambda: ReLUGrad(x), (gy,), "reference", "auto")
    assert (ran, reference) == ("compiled", None)
    np.testing.assert_array_equal(bits(gx), bits(expected))  # gy·0 keeps gy's sign; inf·0 and NaN·0 are NaN


@needs_numba
def test_compiled_relu_stays_out_of_what_it_does_not_cover():
    x = np.random.default_rng(10).standard_normal((6, 8))
    for what, arrays in [("strided", (x[:, ::2],)), ("transposed", (x.T,)), ("float16", (x.astype(np.float16),)), ("integers", (np.arange(6) - 3,))]:
        ran, (y,) = outputs(RectifiedLinear, arrays, "auto", "auto")
        assert ran is None, what
        np.testing.assert_array_equal(y, np.maximum(arrays[0], 0))
    ran, _ = outputs(lambda: ReLUGrad(x.astype(np.float32)), (x,), "auto", "auto")
    assert ran is None  # x float32, gy float64: the reference's promotion


@needs_numba
def test_compiled_kernels_stay_out_of_what_they_do_not_cover():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 6, 6))
    ones, zeros = np.ones(3), np.zeros(3)
    for what, arrays, kernel in [
        ("strided", (x[:, :, ::2], ones, zeros), None),
        ("float16", (x.astype(np.float16), ones.astype(np.float16), zeros.astype(np.float16)), "rows"),
        ("mixed dtypes", (x.astype(np.float32), ones, zeros), None),
    ]:
        assert outputs(BatchNormalization, arrays, "auto", "auto")[0] == kernel, what
    assert outputs(ParametricReLU, (x[:, :, ::2], np.full(3, 0.25)), "auto", "auto")[0] is None


def test_compiled_kernels_do_not_apply_on_the_gpu(xp):
    if xp is np:
        pytest.skip("the CuPy backend's case")
    x = xp.asarray(np.random.default_rng(8).standard_normal((4, 3, 5, 5)).astype(np.float32))
    f = BatchNormalization()
    f(node.Node(x), node.Node(xp.ones(3, np.float32)), node.Node(xp.zeros(3, np.float32)))
    assert f.kernel != "compiled"
    assert not compiled.enabled(x)

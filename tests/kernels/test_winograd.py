"""The Winograd convolution kernels (node.kernels.winograd) against the reference kernels.

The forward, the input gradient and the weight gradient must match the
reference (``node.using_config("kernels", "reference")``) to rounding in
float64 and within float32's accuracy for float32 (the tolerance below), on
image sizes that are and are not multiples of the tile, batches of one and
more, with and without bias, 3×3 and 5×5 kernels, for inputs in each memory
order the layers leave; gradients also by finite differences. The kernels
must refuse what they do not compute, and the cost model must pick them
where they were measured fastest.
"""
from fractions import Fraction

import numpy as np
import pytest

import node
import node.functions as F
from helpers import randn
from node.functions.conv import Convolution2D, Convolution2DGradInput, Convolution2DGradWeight
from node.kernels.conv import use_algorithm
from node.kernels.spectral import conv_algorithm
from node.kernels.winograd import TILES, WinogradConvolution, WinogradGradInput, WinogradGradWeight, toom_cook

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference

# float32 results against the float64 reference, relative to the largest reference value. The
# transforms' larger entries (5.25, 1/0.45) cost some float32 accuracy against im2col's ~1e-7 (measured
# on these cases: at most 2e-5; docs/performance.md has the nets' layers).
FLOAT32_RTOL = 1e-4


def whnc(xp, a):
    """a (N, C, H, W) with its memory in (W, H, N, C) order, as Winograd and im2col leave their outputs."""
    return xp.ascontiguousarray(a.transpose(3, 2, 0, 1)).transpose(2, 3, 1, 0)


def whcn(xp, a):
    """a (N, C, H, W) with its memory in (W, H, C, N) order, as the spectral kernels leave theirs."""
    return xp.ascontiguousarray(a.transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0)


def run(algorithm, x, W, b, gy, padding):
    """(y, gx, gW, gb) of one forward and backward, and the forward's kernel name, under an algorithm or the reference."""
    xn, Wn = node.Node(x), node.Node(W)
    bn = None if b is None else node.Node(b)
    if algorithm == "reference":
        with node.using_config("kernels", "reference"):
            y = F.conv2d(xn, Wn, bn, 1, padding)
            kernel = y.creator.kernel
            y.backward(gy)
    else:
        with use_algorithm(algorithm):
            y = F.conv2d(xn, Wn, bn, 1, padding)
            kernel = y.creator.kernel
            y.backward(gy)
    values = (y.value, xn.grad, Wn.grad, None if b is None else bn.grad)
    return tuple(None if v is None else node.asnumpy(v) for v in values), kernel


CASES = [  # (n, c, oc, h, w, k, padding, bias): the nets' maps (28, 14, 7), sizes off the tile, batch 1, k 3 and 5
    (2, 3, 4, 7, 7, 5, 2, True),
    (1, 4, 3, 14, 14, 5, 2, False),
    (2, 2, 3, 28, 28, 5, 2, True),
    (3, 5, 2, 9, 6, 5, 2, False),
    (2, 3, 2, 5, 8, 5, 0, True),
    (1, 2, 2, 4, 4, 5, 4, True),
    (2, 3, 5, 11, 13, 3, 1, True),
    (1, 4, 4, 6, 6, 3, 0, False),
]


@pytest.mark.parametrize("case", CASES)
def test_winograd_matches_the_reference_in_float64_and_float32(xp, rng, case):
    n, c, oc, h, w, k, padding, bias = case
    x, W = randn(xp, rng, (n, c, h, w)), randn(xp, rng, (oc, c, k, k)) / np.sqrt(c * k * k)
    b = randn(xp, rng, (oc,)) if bias else None
    oh, ow = h + 2 * padding - k + 1, w + 2 * padding - k + 1
    gy = randn(xp, rng, (n, oc, oh, ow))
    expected, kernel = run("reference", x, W, b, gy, padding)
    assert kernel is None
    for layout in (lambda a: a, lambda a: whnc(xp, a), lambda a: whcn(xp, a)):
        got, kernel = run("winograd", layout(x), W, b, layout(gy), padding)
        assert kernel == "winograd"
        for name, g, e in zip(("y", "gx", "gW", "gb"), got, expected):
            if e is not None:
                np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10 * np.abs(e).max(), err_msg=name)
    as32 = (lambda a: None if a is None else a.astype("float32"))
    got, kernel = run("winograd", *map(as32, (x, W, b, gy)), padding)
    assert kernel == "winograd"
    for name, g, e in zip(("y", "gx", "gW", "gb"), got, expected):
        if e is not None:
            assert g.dtype == np.float32, name
            np.testing.assert_allclose(g, e, rtol=0, atol=FLOAT32_RTOL * np.abs(e).max(), err_msg=name)


def test_winograd_float32_error_on_a_lenet_layer_is_small_and_larger_than_rounding(rng):
    """A 64-channel 14×14 layer: the float32 error is within the stated tolerance, and not zero (the check can fail)."""
    x, W = rng.standard_normal((2, 64, 14, 14)), rng.standard_normal((64, 64, 5, 5)) / 40
    expected, _ = run("reference", x, W, None, np.ones((2, 64, 14, 14)), 2)
    got, _ = run("winograd", x.astype("float32"), W.astype("float32"), None, np.ones((2, 64, 14, 14), "float32"), 2)
    for g, e in zip(got[:3], expected[:3]):
        error = np.abs(g - e).max() / np.abs(e).max()
        assert 1e-8 < error < FLOAT32_RTOL


def test_winograd_gradients_by_finite_differences(rng):
    x, W, b = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(4)
    with use_algorithm("winograd"):
        assert F.conv2d(node.Node(x), W, b, 1, 2).creator.kernel == "winograd"
        node.gradcheck(lambda a, w, c: F.conv2d(a, w, c, 1, 2), x, W, b)
        node.gradcheck(lambda a, w: F.conv2d(a, w, None, 1, 1), x[:, :, :5, :5], W[:, :, 1:4, 1:4])
        node.gradgradcheck(lambda a, w: F.conv2d(a, w, None, 1, 2), x[:1, :2, :4, :4], W[:2, :2])


@pytest.mark.parametrize("wanted", ["both", "x", "W"])
def test_only_the_wanted_gradients_are_computed_and_they_are_right(rng, wanted):
    x, W, gy = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((2, 4, 7, 7))
    grads = {}
    for algorithm in ("winograd", "reference"):
        xn, Wn = node.Node(x, requires_grad=wanted != "W"), node.Node(W, requires_grad=wanted != "x")
        with (use_algorithm(algorithm) if algorithm == "winograd" else node.using_config("kernels", "reference")):
            F.conv2d(xn, Wn, None, 1, 2).backward(gy)
        grads[algorithm] = (xn.grad, Wn.grad)
    for got, expected in zip(*grads.values()):
        assert (got is None) == (expected is None)
        if expected is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_the_gradient_kernels_reuse_the_forward_only_for_its_own_arrays(rng):
    x, W = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 5, 5))
    with use_algorithm("winograd"):
        y = F.conv2d(node.Node(x), node.Node(W), None, 1, 2)
    f, gy = y.creator, rng.standard_normal(y.shape)
    grad_input, grad_weight = Convolution2DGradInput(f, x.shape), Convolution2DGradWeight(f, W.shape)
    assert WinogradGradInput().applies(grad_input, gy, W) and WinogradGradWeight().applies(grad_weight, x, gy)
    assert not WinogradGradInput().applies(grad_input, gy, W.copy())  # other arrays: computed by another kernel
    assert not WinogradGradWeight().applies(grad_weight, x.copy(), gy)
    assert not WinogradGradInput().applies(grad_input, gy.astype("float32"), W)
    # what they compute: the reference's results
    np.testing.assert_allclose(WinogradGradInput().forward(grad_input, gy, W), grad_input.forward(gy, W), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(WinogradGradWeight().forward(grad_weight, x, gy), grad_weight.forward(x, gy), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "options, shapes",
    [
        ((2, 2, 1, 1), ((2, 3, 8, 8), (4, 3, 5, 5))),  # stride 2
        ((1, 2, 2, 1), ((2, 3, 9, 9), (4, 3, 5, 5))),  # dilation
        ((1, 2, 1, 3), ((2, 3, 8, 8), (6, 1, 5, 5))),  # groups
        ((1, 3, 1, 1), ((2, 3, 8, 8), (4, 3, 7, 7))),  # a 7×7 kernel
        ((1, (2, 1), 1, 1), ((2, 3, 8, 8), (4, 3, 5, 3))),  # not square
        ((1, 1, 1, 1), ((2, 3, 8, 8), (4, 3, 2, 2))),  # a 2×2 kernel
    ],
)
def test_winograd_refuses_what_it_does_not_compute(rng, options, shapes):
    x, W = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    f = Convolution2D(*options)
    with use_algorithm("winograd"):
        assert not WinogradConvolution(lambda *shapes: True).applies(f, x, W)
        assert F.conv2d(node.Node(x), W, None, *options).creator.kernel != "winograd"


def test_winograd_refuses_complex_and_mixed_dtypes(rng):
    f = Convolution2D(1, 2)
    x, W = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 5, 5))
    kernel = WinogradConvolution(lambda *shapes: True)
    assert kernel.applies(f, x, W)
    assert not kernel.applies(f, x + 1j, W + 0j)
    assert not kernel.applies(f, x.astype("float32"), W)
    assert not kernel.applies(f, x, W, np.zeros(4, "float32"))
    assert not WinogradConvolution(lambda *shapes: False).applies(f, x, W)  # the algorithm choice says no


@pytest.mark.parametrize("r", sorted(TILES))
def test_toom_cook_matrices_compute_the_correlation_exactly(r):
    m, points = TILES[r]
    a, g, b = toom_cook(m, r, points)
    d = [Fraction(v) for v in (3, -1, 4, 1, -5, 9, 2, -6)[: m + r - 1]]
    k = [Fraction(v) for v in (2, 7, -1, 8, 3)[:r]]
    alpha = m + r - 1
    gk = [sum(g[j][i] * k[i] for i in range(r)) for j in range(alpha)]
    bd = [sum(b[i][j] * d[i] for i in range(alpha)) for j in range(alpha)]  # Bᵀ d
    y = [sum(a[j][i] * gk[j] * bd[j] for j in range(alpha)) for i in range(m)]  # Aᵀ (...)
    assert y == [sum(d[i + t] * k[t] for t in range(r)) for i in range(m)]
    with pytest.raises(ValueError, match="distinct points"):
        toom_cook(m, r, (0, 0) + tuple(points[2:]))


def test_the_cost_model_picks_winograd_for_small_batches_of_lenet_layers():
    layers = [(32, 32, 28), (32, 64, 14), (64, 64, 14), (64, 128, 7), (128, 128, 7)]
    for n, algorithm in ((8, "winograd"), (128, "spectral")):
        assert [conv_algorithm((n, c, h, h), (oc, c, 5, 5), 2) for c, oc, h in layers] == [algorithm] * 5
    assert conv_algorithm((8, 1, 28, 28), (32, 1, 5, 5), 2) == "im2col"  # one input channel
    assert conv_algorithm((8, 32, 28, 28), (32, 32, 7, 7), 3) != "winograd"  # no tiles for 7×7 kernels
    with use_algorithm("winograd"):
        assert conv_algorithm((128, 32, 28, 28), (32, 32, 5, 5), 2) == "winograd"
    with pytest.raises(ValueError, match="winograd"):
        with use_algorithm("fft"):
            pass

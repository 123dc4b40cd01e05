"""Every convolution kernel against the reference it replaces (node.functions.conv).

The convolution and its two gradient Functions each have a spectral and an
im2col kernel (node.kernels.conv). For shapes drawn by hypothesis and a few
fixed ones, every kernel that accepts the arrays must return what the
reference forward returns (float64, to 1e-10), and the kernels must accept
and refuse exactly the inputs they are meant to: the spectral ones only after
a spectral forward of the very same arrays, the flipped-kernel input gradient
only for stride 1, square kernels and padding below the kernel size, none of
them complex or mixed dtypes. End to end, a backward through the kernels
must give the reference's gradients, also when only one input wants one.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import node
import node.functions as F
from node.dispatch import kernels_for
from node.functions.conv import Convolution2D, Convolution2DGradBias, Convolution2DGradInput, Convolution2DGradWeight
from node.kernels.conv import ChannelSums, Im2colConvolution, Im2colGradInput, Im2colGradWeight, use_algorithm
from node.kernels.spectral import SpectralConvolution, SpectralGradInput, SpectralGradWeight, spectral_pays_off
from node.kernels.winograd import WinogradConvolution, WinogradGradInput, WinogradGradWeight

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference


def naive_conv(x, W, b, stride, padding):
    """The convolution by its definition, one output position at a time (independent of node)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oc, _, kh, kw = W.shape
    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    y = np.empty((x.shape[0], oc, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, W)
    return y if b is None else y + b[:, None, None]


def arrays(xp, rng, n, c, oc, h, w, kh, kw, stride, padding):
    """x, W, b and a gradient gy for the output, float64 on backend xp."""
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    return tuple(xp.asarray(rng.standard_normal(s)) for s in ((n, c, h, w), (oc, c, kh, kw), (oc,), (n, oc, oh, ow)))


def recorded_convolution(algorithm, x, W, b, stride, padding):
    """A Convolution2D run on Nodes under ``use_algorithm(algorithm)``, as a training step runs it: (f, y)."""
    with use_algorithm(algorithm):
        y = F.conv2d(node.Node(x), node.Node(W), node.Node(b), stride, padding)
    return y.creator, y


def check_kernels(function, arrays_in, expected_names):
    """Each registered kernel of ``function`` that applies must match its reference forward; return the names that applied."""
    reference = function.forward(*arrays_in)
    applied = []
    for kernel in kernels_for(type(function)):
        if kernel.applies(function, *arrays_in):
            got = kernel.forward(function, *arrays_in)
            assert got.shape == reference.shape and got.dtype == reference.dtype, kernel.name
            np.testing.assert_allclose(node.asnumpy(got), node.asnumpy(reference), rtol=1e-10, atol=1e-10, err_msg=f"{type(function).__name__} {kernel.name}")
            applied.append(kernel.name)
    assert applied == expected_names, (type(function).__name__, applied, expected_names)
    return reference


def flipped_kernel_fits(stride, padding, kh, kw):
    return stride == 1 and kh == kw and padding <= kh - 1


def check_case(xp, rng, algorithm, n, c, oc, h, w, kh, kw, stride, padding):
    """The forward through ``algorithm``'s kernel, then both gradient Functions' kernels, against the references."""
    x, W, b, gy = arrays(xp, rng, n, c, oc, h, w, kh, kw, stride, padding)
    f, y = recorded_convolution(algorithm, x, W, b, stride, padding)
    ran = "spectral" if algorithm == "spectral" and stride == 1 else "im2col"
    assert type(f).__name__ == "Convolution2D" and f.kernel == ran
    expected = naive_conv(*(node.asnumpy(a) for a in (x, W, b)), stride, padding)
    np.testing.assert_allclose(node.asnumpy(y.value), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(node.asnumpy(Convolution2D(stride, padding).forward(x, W, b)), expected, rtol=1e-10, atol=1e-10)

    spectral = ["spectral"] if ran == "spectral" else []
    grad_input = Convolution2DGradInput(f, x.shape)
    gx = check_kernels(grad_input, (gy, W), spectral + (["im2col"] if flipped_kernel_fits(stride, padding, kh, kw) else []))
    grad_weight = Convolution2DGradWeight(f, W.shape)
    gW = check_kernels(grad_weight, (x, gy), spectral + ["im2col"])
    gb = check_kernels(Convolution2DGradBias(), (gy,), ["channel sums"])
    np.testing.assert_allclose(node.asnumpy(gb), node.asnumpy(gy).sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)
    # the references are the adjoints: <gy, conv(x, W)> = <gx(gy, W), x> = <gW(x, gy), W>
    inner = float((node.asnumpy(gy) * expected).sum() - (node.asnumpy(gy).sum(axis=(0, 2, 3)) * node.asnumpy(b)).sum())
    assert np.isclose(float((node.asnumpy(gx) * node.asnumpy(x)).sum()), inner, rtol=1e-9, atol=1e-9)
    assert np.isclose(float((node.asnumpy(gW) * node.asnumpy(W)).sum()), inner, rtol=1e-9, atol=1e-9)


def test_the_kernels_are_registered_winograd_and_spectral_first():
    assert [type(k) for k in kernels_for(Convolution2D)] == [WinogradConvolution, SpectralConvolution, Im2colConvolution]
    assert [type(k) for k in kernels_for(Convolution2DGradInput)] == [WinogradGradInput, SpectralGradInput, Im2colGradInput]
    assert [type(k) for k in kernels_for(Convolution2DGradWeight)] == [WinogradGradWeight, SpectralGradWeight, Im2colGradWeight]
    assert [type(k) for k in kernels_for(Convolution2DGradBias)] == [ChannelSums]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3), c=st.integers(1, 4), oc=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
    kh=st.integers(1, 5), kw=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 4),
    algorithm=st.sampled_from(["spectral", "im2col"]), seed=st.integers(0, 2**16),
)
def test_every_kernel_matches_the_reference_for_drawn_shapes(n, c, oc, h, w, kh, kw, stride, padding, algorithm, seed):
    assume(h + 2 * padding >= kh and w + 2 * padding >= kw)
    check_case(np, np.random.default_rng(seed), algorithm, n, c, oc, h, w, kh, kw, stride, padding)


CASES = [  # (n, c, oc, h, w, kh, kw, stride, padding): the nets' 5×5 padding 2, strides, odd sizes, large paddings
    (2, 3, 4, 10, 10, 5, 5, 1, 2),
    (2, 3, 2, 7, 6, 3, 3, 1, 1),
    (2, 2, 3, 7, 7, 3, 3, 2, 1),
    (1, 2, 3, 6, 8, 2, 3, 1, 1),
    (3, 2, 2, 5, 5, 5, 5, 1, 4),
    (2, 3, 3, 8, 9, 3, 2, 3, 0),
    (1, 1, 2, 4, 4, 1, 1, 1, 0),
]


@pytest.mark.parametrize("algorithm", ["spectral", "im2col"])
@pytest.mark.parametrize("case", CASES)
def test_every_kernel_matches_the_reference(xp, rng, algorithm, case):
    check_case(xp, rng, algorithm, *case)


@pytest.mark.parametrize("algorithm", ["spectral", "im2col"])
@pytest.mark.parametrize("wanted", ["both", "x", "W"])
def test_a_backward_through_the_kernels_gives_the_reference_gradients(xp, rng, algorithm, wanted):
    """Also when only one input wants a gradient (the spectral kernels share gy's spectrum only when both do)."""
    x, W, b, gy = arrays(xp, rng, 3, 4, 5, 8, 7, 5, 5, 1, 2)
    grads = {}
    for mode in ("auto", "reference"):
        xn, Wn, bn = node.Node(x, requires_grad=wanted != "W"), node.Node(W, requires_grad=wanted != "x"), node.Node(b)
        with node.using_config("kernels", mode), use_algorithm(algorithm):
            y = F.conv2d(xn, Wn, bn, 1, 2)
            assert y.creator.kernel == (algorithm if mode == "auto" else None)
            y.backward(gy)
        grads[mode] = [None if g is None else node.asnumpy(g) for g in (xn.grad, Wn.grad, bn.grad)]
    for got, want in zip(grads["auto"], grads["reference"]):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("algorithm", ["spectral", "im2col"])
def test_the_gradient_functions_show_the_kernels_that_ran(rng, algorithm):
    """Under create_graph the gradients are recorded: their creators are the gradient Functions, with their kernels."""
    x, W, _, _ = arrays(np, rng, 2, 3, 4, 6, 6, 3, 3, 1, 1)
    xn, Wn = node.Node(x), node.Node(W)
    with use_algorithm(algorithm):
        y = F.conv2d(xn, Wn, None, 1, 1)
        gx, gW = node.grad((y * y).sum(), [xn, Wn], create_graph=True)
    assert (type(gx.creator).__name__, gx.creator.kernel) == ("Convolution2DGradInput", algorithm)
    assert (type(gW.creator).__name__, gW.creator.kernel) == ("Convolution2DGradWeight", algorithm)


def test_gy_spectrum_is_shared_only_for_the_same_gradient(rng):
    """The second gradient kernel reuses the first one's transform of gy only when it gets that very gy."""
    x, W, b, gy = arrays(np, rng, 2, 3, 4, 6, 6, 3, 3, 1, 1)
    other = rng.standard_normal(gy.shape)
    f, _ = recorded_convolution("spectral", x, W, b, 1, 1)
    grad_input, grad_weight = Convolution2DGradInput(f, x.shape), Convolution2DGradWeight(f, W.shape)
    spectral_input, spectral_weight = SpectralGradInput(), SpectralGradWeight()
    spectral_input.forward(grad_input, gy, W)  # keeps gy's spectrum for the weight gradient (both are wanted)
    assert f.spectra.gy is gy
    np.testing.assert_allclose(spectral_weight.forward(grad_weight, x, other), grad_weight.forward(x, other), rtol=1e-10, atol=1e-10)
    spectral_input.forward(grad_input, gy, W)
    np.testing.assert_allclose(spectral_weight.forward(grad_weight, x, gy), grad_weight.forward(x, gy), rtol=1e-10, atol=1e-10)
    assert f.spectra.gy is None  # handed over once, then let go
    np.testing.assert_allclose(spectral_input.forward(grad_input, other, W), grad_input.forward(other, W), rtol=1e-10, atol=1e-10)


def test_the_weight_gradient_reuses_the_forward_patches_only_for_the_same_input(rng):
    x, W, b, gy = arrays(np, rng, 2, 3, 4, 6, 6, 3, 3, 1, 1)
    f, _ = recorded_convolution("im2col", x, W, b, 1, 1)
    grad_weight = Convolution2DGradWeight(f, W.shape)
    for data in (x, x.copy(), rng.standard_normal(x.shape)):
        np.testing.assert_allclose(Im2colGradWeight().forward(grad_weight, data, gy), grad_weight.forward(data, gy), rtol=1e-10, atol=1e-10)


def test_what_each_kernel_accepts_and_refuses(rng):
    x, W, b, gy = arrays(np, rng, 32, 32, 32, 10, 10, 5, 5, 1, 2)
    spectral, im2col = SpectralConvolution(), Im2colConvolution()
    # the cost model decides between the two for stride 1
    assert spectral_pays_off(x.shape, W.shape, 1, 2) and spectral.applies(Convolution2D(1, 2), x, W, b)
    assert not spectral.applies(Convolution2D(1, 2), x[:1], W, b)  # one image: transforming the kernels does not pay
    assert not spectral.applies(Convolution2D(1, 1), x, W[:, :, :3, :3], b)  # 3×3: not enough to gain
    with use_algorithm("spectral"):
        assert spectral.applies(Convolution2D(1, 1), x[:1], W[:, :, :3, :3], b)
        assert not spectral.applies(Convolution2D(2, 2), x, W, b)  # stride 2: never
        assert not spectral.applies(Convolution2D(1, 2), x + 0j, W + 0j, b + 0j)  # complex: never
        assert not spectral.applies(Convolution2D(1, 2), x.astype(np.float32), W, b)  # mixed dtypes: the reference
    with use_algorithm("im2col"):
        assert not spectral.applies(Convolution2D(1, 2), x, W, b)
    assert im2col.applies(Convolution2D(2, 1), x, W, b) and im2col.applies(Convolution2D(1, 2), x.astype(np.float32), W.astype(np.float32), None)
    assert not im2col.applies(Convolution2D(1, 2), x + 0j, W + 0j, b + 0j)
    assert not im2col.applies(Convolution2D(1, 2), x, W, b.astype(np.float32))
    assert not im2col.applies(Convolution2D(1, 2), x.astype(np.int64), W.astype(np.int64), None)
    # the spectral gradients need a spectral forward of the very same arrays
    f, _ = recorded_convolution("spectral", x, W, b, 1, 2)
    assert SpectralGradInput().applies(Convolution2DGradInput(f, x.shape), gy, W)
    assert not SpectralGradInput().applies(Convolution2DGradInput(f, x.shape), gy, W.copy())
    assert SpectralGradWeight().applies(Convolution2DGradWeight(f, W.shape), x, gy)
    assert not SpectralGradWeight().applies(Convolution2DGradWeight(f, W.shape), x.copy(), gy)
    f_im2col, _ = recorded_convolution("im2col", x, W, b, 1, 2)
    assert not SpectralGradInput().applies(Convolution2DGradInput(f_im2col, x.shape), gy, W)
    assert not SpectralGradWeight().applies(Convolution2DGradWeight(f_im2col, W.shape), x, gy)
    # the flipped-kernel input gradient: stride 1, square kernels, padding below the kernel size
    flipped = Im2colGradInput()
    assert flipped.applies(Convolution2DGradInput(Convolution2D(1, 4), x.shape), gy, W)
    assert not flipped.applies(Convolution2DGradInput(Convolution2D(1, 5), x.shape), gy, W)
    assert not flipped.applies(Convolution2DGradInput(Convolution2D(2, 2), x.shape), gy, W)
    assert not flipped.applies(Convolution2DGradInput(Convolution2D(1, 2), x.shape), gy, W[:, :, :, :3])
    assert not flipped.applies(Convolution2DGradInput(Convolution2D(1, 2), x.shape), gy + 0j, W + 0j)
    assert ChannelSums().applies(Convolution2DGradBias(), gy) and not ChannelSums().applies(Convolution2DGradBias(), gy + 0j)


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 0, 1), (3, 2, 1, 0), (0, 2, 3, 1)])
def test_the_bias_gradient_in_every_memory_order(xp, rng, order):
    """gy arrives in the memory order the layers after the convolution leave; the channel sums must not depend on it."""
    gy = xp.asarray(rng.standard_normal((3, 4, 5, 6)))
    laid_out = xp.ascontiguousarray(gy.transpose(order)).transpose(tuple(order.index(i) for i in range(4)))
    got = ChannelSums().forward(Convolution2DGradBias(), laid_out)
    np.testing.assert_allclose(node.asnumpy(got), node.asnumpy(gy).sum(axis=(0, 2, 3)), rtol=1e-12)


def test_float32_stays_float32(rng):
    x, W, b, gy = (a.astype(np.float32) for a in arrays(np, rng, 2, 3, 4, 9, 9, 5, 5, 1, 2))
    expected = naive_conv(x.astype(float), W.astype(float), b.astype(float), 1, 2)
    for algorithm in ("spectral", "im2col"):
        xn, Wn = node.Node(x), node.Node(W)
        with use_algorithm(algorithm):
            y = F.conv2d(xn, Wn, b, 1, 2)
            assert y.creator.kernel == algorithm
            y.backward(gy)
        assert y.dtype == xn.grad.dtype == Wn.grad.dtype == np.float32
        np.testing.assert_allclose(y.value, expected, rtol=1e-4, atol=1e-4)


def test_the_reference_alone_trains_a_conv_block(rng):
    """With the kernels off, the layers' convolutions run the reference and still agree with the kernels."""
    model = node.Sequential(node.Conv2d(1, 4, 5, padding=2, rng=node.layers.as_generator(0)), node.ReLU(), node.Conv2d(4, 4, 3, stride=2, rng=node.layers.as_generator(1)))
    x = rng.standard_normal((3, 1, 9, 9)).astype(np.float32)
    results = {}
    for mode in ("auto", "reference"):
        model.zero_grad()
        with node.using_config("kernels", mode):
            y = model(node.Node(x, requires_grad=False))
            assert (y.creator.kernel is None) == (mode == "reference")
            y.sum().backward()
        results[mode] = [y.value] + [p.grad for p in model.parameters()]
    for got, want in zip(results["auto"], results["reference"]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

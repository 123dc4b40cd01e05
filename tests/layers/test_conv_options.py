"""Convolution options (issue 23, item 5): groups, dilation, per-axis stride and padding, and the transposed convolution.

The values are checked against loops over every output written in tests/helpers.py
(conv_loops, conv_transpose_loops), the derivatives by gradcheck and gradgradcheck
in float64, the layers' shapes, parameters and checkpoints, the fast kernels'
refusal of what they do not compute, and, where PyTorch is installed, equality
with torch.nn.functional and torch.nn with the same weights.
"""
import numpy as np
import pytest
from helpers import conv_loops, conv_transpose_loops, gradcheck_layer

import node
import node.functions as F
from node.dispatch import kernels_for
from node.functions.conv import Convolution2D, Convolution2DGradInput, Convolution2DGradWeight, square_options

# (x shape, W shape, stride, padding, dilation, groups)
CONVS = [
    ((2, 4, 7, 8), (6, 2, 3, 2), (2, 1), (1, 2), (2, 1), 2),
    ((2, 3, 6, 6), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),  # depthwise
    ((1, 2, 6, 5), (4, 2, 2, 3), (1, 2), (0, 1), (1, 1), 1),  # rectangular kernel, stride and padding
    ((2, 4, 7, 7), (4, 1, 3, 3), (2, 2), (2, 2), (2, 2), 4),
]

# (x shape, W shape, stride, padding, output_padding, groups, dilation)
TRANSPOSED = [
    ((2, 4, 3, 4), (4, 3, 3, 2), (2, 3), (1, 0), (1, 2), 2, (1, 2)),
    ((2, 3, 4, 4), (3, 1, 3, 3), (1, 1), (1, 1), (0, 0), 3, (1, 1)),
    ((1, 2, 4, 3), (2, 4, 2, 3), (2, 2), (0, 0), (1, 1), 1, (1, 1)),
    ((2, 2, 3, 3), (2, 2, 2, 2), (2, 2), (0, 0), (0, 0), 1, (1, 1)),  # doubles H and W
]


def draw(rng, xp, *shapes):
    return [xp.asarray(rng.standard_normal(s)) for s in shapes]


@pytest.mark.parametrize("kernels", ["auto", "reference"])
@pytest.mark.parametrize("case", CONVS, ids=str)
def test_conv2d_options_match_loops(xp, rng, case, kernels):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, W, b = draw(rng, xp, x_shape, w_shape, w_shape[:1])
    with node.using_config("kernels", kernels):
        got = F.conv2d(x, W, b, stride, padding, dilation, groups)
    expected = conv_loops(*map(node.asnumpy, (x, W, b)), stride, padding, dilation, groups)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CONVS, ids=str)
def test_conv2d_options_gradients(xp, rng, case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, W, b = draw(rng, xp, x_shape, w_shape, w_shape[:1])
    assert node.gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride, padding, dilation, groups), x, W, b, seed=1)
    assert node.gradgradcheck(lambda x, W: F.conv2d(x, W, None, stride, padding, dilation, groups) ** 2, x, W, seed=2)


@pytest.mark.parametrize("kernels", ["auto", "reference"])
@pytest.mark.parametrize("case", TRANSPOSED, ids=str)
def test_conv_transpose2d_matches_loops(xp, rng, case, kernels):
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = case
    x, W = draw(rng, xp, x_shape, w_shape)
    (b,) = draw(rng, xp, (w_shape[1] * groups,))
    with node.using_config("kernels", kernels):
        got = F.conv_transpose2d(x, W, b, stride, padding, output_padding, groups, dilation)
    expected = conv_transpose_loops(*map(node.asnumpy, (x, W, b)), stride, padding, output_padding, groups, dilation)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", TRANSPOSED, ids=str)
def test_conv_transpose2d_gradients(xp, rng, case):
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = case
    x, W = draw(rng, xp, x_shape, w_shape)
    (b,) = draw(rng, xp, (w_shape[1] * groups,))

    def f(x, W, b):
        return F.conv_transpose2d(x, W, b, stride, padding, output_padding, groups, dilation)

    assert node.gradcheck(f, x, W, b, seed=1)
    assert node.gradgradcheck(lambda x, W: f(x, W, None) ** 2, x, W, seed=2)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(rng):
    """⟨conv_transpose2d(y, W), x⟩ = ⟨y, conv2d(x, W)⟩ for the convolution with the same options."""
    x, W, y = draw(rng, np, (2, 4, 7, 6), (6, 2, 3, 2), (2, 6, 4, 4))
    options = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    left = (F.conv_transpose2d(y, W, output_padding=(0, 0), **options).numpy() * x).sum()
    right = (y * F.conv2d(x, W, **options).numpy()).sum()
    np.testing.assert_allclose(left, right, rtol=1e-12)


def test_kernels_leave_the_options_to_the_reference(rng):
    """The fast kernels compute plain convolutions only; every other one runs the reference."""
    x, W, b = draw(rng, np, (8, 4, 9, 9), (4, 4, 5, 5), (4,))
    plain = Convolution2D(1, 2)
    assert square_options(plain) == (1, 2)
    assert any(k.applies(plain, x, W, b) for k in kernels_for(Convolution2D))
    for f, w in [
        (Convolution2D(1, 2, dilation=2), W),
        (Convolution2D((1, 2), 2), W),
        (Convolution2D(1, (2, 1)), W),
        (Convolution2D(1, 2, groups=2), W[:, :2]),
    ]:
        assert square_options(f) is None
        assert not any(k.applies(f, x, w, b) for k in kernels_for(Convolution2D))
        gy = f.forward(x, w, b)
        assert not any(k.applies(Convolution2DGradInput(f, x.shape), gy, w) for k in kernels_for(Convolution2DGradInput))
        assert not any(k.applies(Convolution2DGradWeight(f, w.shape), x, gy) for k in kernels_for(Convolution2DGradWeight))
    y = F.conv2d(node.Node(x), node.Node(W[:, :1]), None, 1, 2, 1, 4)
    assert y.creator.kernel is None


@pytest.mark.parametrize(
    "layer, x_shape, y_shape",
    [
        (lambda: node.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2, rng=0, dtype="float64"), (2, 4, 7, 8), (2, 6, 3, 11)),
        (lambda: node.Conv2d(3, 3, 3, padding=1, groups=3, bias=False, rng=0, dtype="float64"), (2, 3, 5, 5), (2, 3, 5, 5)),
        (lambda: node.ConvTranspose2d(4, 6, 2, stride=2, rng=0, dtype="float64"), (2, 4, 3, 5), (2, 6, 6, 10)),
        (lambda: node.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2), rng=0, dtype="float64"), (2, 4, 3, 4), (2, 6, 6, 14)),
    ],
)
def test_conv_layers(xp, rng, layer, x_shape, y_shape):
    conv = layer().to(xp.__name__)
    (x,) = draw(rng, xp, x_shape)
    assert conv(x).shape == y_shape
    assert gradcheck_layer(conv, x, seed=3)
    other = layer()
    for p in other.parameters():
        p.value[...] = 0
    other.load_state_dict({k: node.asnumpy(v) for k, v in conv.state_dict().items()})
    np.testing.assert_allclose(other(x).numpy(), conv(x).numpy())


def test_conv_layer_shapes_and_initialisation():
    conv = node.Conv2d(4, 8, (3, 5), groups=4, rng=0)
    assert conv.W.shape == (8, 1, 3, 5) and conv.b.shape == (8,)
    assert np.abs(conv.W.numpy()).max() <= 1 / np.sqrt(1 * 3 * 5)
    up = node.ConvTranspose2d(4, 8, (3, 5), groups=2, rng=0)
    assert up.W.shape == (4, 4, 3, 5) and up.b.shape == (8,)
    assert np.abs(up.W.numpy()).max() <= 1 / np.sqrt(4 * 3 * 5)
    assert "kernel_size=(3, 5)" in repr(conv) and "groups=4" in repr(conv) and "output_padding=(0, 0)" in repr(up)
    assert conv.kernel_size == (3, 5) and node.Conv2d(1, 1, 3).stride == (1, 1)


BAD = [
    (lambda: node.Conv2d(4, 6, 3, groups=4), ValueError, r"^Conv2d: out_channels \(6\) must be a multiple of groups \(4\)$"),
    (lambda: node.Conv2d(3, 6, 3, groups=2), ValueError, r"^Conv2d: in_channels \(3\) must be a multiple of groups \(2\)$"),
    (lambda: node.Conv2d(3, 6, 3, groups=0), ValueError, r"^Conv2d: groups must be an integer >= 1, got 0$"),
    (lambda: node.Conv2d(1, 4, (3, 0)), ValueError, r"^Conv2d: kernel_size\[1\] must be an integer >= 1, got 0$"),
    (lambda: node.Conv2d(1, 4, (3, 3, 3)), TypeError, r"^Conv2d: kernel_size must be a pair of integers >= 1, got \(3, 3, 3\)$"),
    (lambda: node.Conv2d(1, 4, 3, dilation=0), ValueError, r"^Conv2d: dilation must be an integer >= 1, got 0$"),
    (lambda: node.Conv2d(1, 4, 3, stride=(1.5, 1)), TypeError, r"^Conv2d: stride\[0\] must be an integer >= 1, got float 1\.5$"),
    (lambda: node.Conv2d(1, 4, 3, padding=(0, -1)), ValueError, r"^Conv2d: padding\[1\] must be an integer >= 0, got -1$"),
    (lambda: node.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError, r"^ConvTranspose2d: output_padding \(2, 2\) must be smaller than the stride \(2, 2\)"),
    (lambda: node.ConvTranspose2d(2, 3, 3, groups=2), ValueError, r"^ConvTranspose2d: out_channels \(3\) must be a multiple of groups \(2\)$"),
    (lambda: node.ConvTranspose2d(2, 2, "3"), TypeError, r"^ConvTranspose2d: kernel_size must be an integer >= 1 or a pair of them, got str '3'$"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((2, 4, 3, 3)), groups=2), ValueError, r"^conv2d: weights of shape \(2, 4, 3, 3\) need 4 / groups=2 input channels \(W.shape\[1\]\) to fit input \(1, 4, 5, 5\)$"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2), ValueError, r"^conv2d: weights of shape \(3, 2, 3, 3\) have 3 output channels \(W.shape\[0\]\), not a multiple of groups=2$"),
    (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)), dilation=3), ValueError, r"^conv2d: kernel 3x3 \(spanning 7x7 with dilation \(3, 3\)\) is larger than the input \(5, 5\)"),
    (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)), stride=(1, 0)), ValueError, r"^conv2d: stride\[1\] must be an integer >= 1, got 0$"),
    (lambda: F.conv_transpose2d(np.ones((1, 3, 5, 5)), np.ones((2, 1, 3, 3))), ValueError, r"^conv_transpose2d: weights of shape \(2, 1, 3, 3\) do not fit input \(1, 3, 5, 5\)"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 1, 1)), np.ones((2, 1, 1, 1)), padding=1), ValueError, r"^conv_transpose2d: padding \(1, 1\) leaves no output"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2, output_padding=(0, 2)), ValueError, r"^conv_transpose2d: output_padding \(0, 2\) must be smaller than the stride"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_conv_options_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 7, 8))
    conv = node.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2, rng=0, dtype="float64")
    reference = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(conv.W.numpy()))
        reference.bias.copy_(torch.from_numpy(conv.b.numpy()))
    np.testing.assert_allclose(conv(x).numpy(), reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    up = node.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2), rng=0, dtype="float64")
    reference = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2)).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(up.W.numpy()))
        reference.bias.copy_(torch.from_numpy(up.b.numpy()))
    x = rng.standard_normal((2, 4, 3, 4))
    np.testing.assert_allclose(up(x).numpy(), reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)

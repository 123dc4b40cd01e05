"""Pooling options (issue 23, item 5): rectangular windows, per-axis stride and padding, ceil_mode, adaptive
average pooling, and the Flatten and Identity layers.

Values against loops written in tests/helpers.py (pool_loops, adaptive_pool_loops),
derivatives by gradcheck and gradgradcheck in float64, kernels on and off, the
layers' arguments and reprs, and torch where it is installed.
"""
import numpy as np
import pytest
from helpers import adaptive_pool_loops, distinct, pool_loops

import node
import node.functions as F

# (x shape, kernel, stride, padding, ceil_mode)
POOLS = [
    ((2, 3, 7, 8), (3, 2), (2, 1), (1, 1), True),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), True),
    ((2, 3, 6, 7), (2, 2), (2, 2), (0, 0), True),  # windows side by side, the last column's window overhangs
    ((1, 2, 5, 9), (2, 3), (2, 3), (1, 0), False),
    ((1, 2, 8, 5), (3, 1), (3, 1), (0, 0), True),
]


@pytest.mark.parametrize("kernels", ["auto", "reference"])
@pytest.mark.parametrize("case", POOLS, ids=str)
def test_pooling_matches_loops(xp, case, kernels):
    shape, k, s, p, ceil = case
    x = distinct(xp, np.random.default_rng(0), shape)
    with node.using_config("kernels", kernels):
        got_max, got_avg = F.max_pool2d(x, k, s, p, ceil), F.avg_pool2d(x, k, s, p, ceil)
    x = node.asnumpy(x)
    np.testing.assert_allclose(got_max.numpy(), pool_loops(x, k, s, p, ceil, np.max), rtol=1e-12)
    np.testing.assert_allclose(got_avg.numpy(), pool_loops(x, k, s, p, ceil, np.mean), rtol=1e-12)


@pytest.mark.parametrize("case", POOLS, ids=str)
def test_pooling_gradients(xp, case):
    shape, k, s, p, ceil = case
    x = distinct(xp, np.random.default_rng(1), shape)
    assert node.gradcheck(lambda a: F.max_pool2d(a, k, s, p, ceil), x, seed=2)
    assert node.gradcheck(lambda a: F.avg_pool2d(a, k, s, p, ceil), x, seed=2)
    assert node.gradgradcheck(lambda a: F.max_pool2d(a, k, s, p, ceil) ** 2, x, seed=3)
    assert node.gradgradcheck(lambda a: F.avg_pool2d(a, k, s, p, ceil) ** 2, x, seed=3)


@pytest.mark.parametrize("shape, size, out", [((2, 3, 7, 8), (3, 5), (3, 5)), ((1, 2, 5, 5), 1, (1, 1)), ((1, 2, 6, 4), (4, None), (4, 4)), ((1, 1, 3, 3), (5, 7), (5, 7))])
def test_adaptive_avg_pool2d(xp, rng, shape, size, out):
    x = xp.asarray(rng.standard_normal(shape))
    y = F.adaptive_avg_pool2d(x, size)
    assert y.shape == shape[:2] + out
    np.testing.assert_allclose(y.numpy(), adaptive_pool_loops(node.asnumpy(x), *out), rtol=1e-12)
    assert node.gradcheck(lambda a: F.adaptive_avg_pool2d(a, size), x, seed=1)
    layer = node.AdaptiveAvgPool2d(size)
    np.testing.assert_allclose(layer(x).numpy(), y.numpy())


def test_adaptive_avg_pool2d_of_one_is_the_global_average(rng):
    x = rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).numpy()[:, :, 0, 0], F.global_avg_pool2d(x).numpy(), rtol=1e-12)


def test_pooling_layers(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 3, 7, 8)))
    layer = node.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True)
    np.testing.assert_allclose(layer(x).numpy(), F.max_pool2d(x, (3, 2), (2, 1), (1, 1), True).numpy())
    assert layer(x).shape == (2, 3, 4, 9)
    assert node.AvgPool2d(2, ceil_mode=True)(x[:, :, :7, :7]).shape == (2, 3, 4, 4)
    assert node.AvgPool2d(2)(x[:, :, :7, :7]).shape == (2, 3, 3, 3)
    assert repr(layer) == "MaxPool2d((3, 2), stride=(2, 1), padding=1, ceil_mode=True)"
    assert repr(node.AvgPool2d(2)) == "AvgPool2d(2, stride=2, padding=0, ceil_mode=False)"
    assert repr(node.AdaptiveAvgPool2d((3, None))) == "AdaptiveAvgPool2d(output_size=(3, None))"


def test_flatten_and_identity_layers(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 3, 4, 5)))
    assert node.Flatten()(x).shape == (2, 60)
    assert node.Flatten(0)(x).shape == (120,)
    assert node.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert node.Flatten(-2, -1)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(node.Flatten(1, 2)(x).numpy(), node.asnumpy(x).reshape(2, 12, 5))
    identity = node.Identity(54, unused="argument")
    n = node.Node(x)
    assert identity(n) is n and identity.parameters() == []
    model = node.Sequential(node.Identity(), node.Flatten(), node.Linear(60, 2, rng=0, dtype="float64"))
    assert model(x).shape == (2, 2)
    assert "Identity()" in repr(model) and "Flatten(start_dim=1, end_dim=-1)" in repr(model)  # the sub-layers listed
    with pytest.raises(ValueError, match=r"^Flatten\(start_dim=3, end_dim=-1\) does not fit an input of shape \(2, 3\)$"):
        node.Flatten(3)(node.Node(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"^Flatten\(start_dim=2, end_dim=1\) does not fit"):
        node.Flatten(2, 1)(x)


BAD = [
    (lambda: node.MaxPool2d((2, 0)), ValueError, r"^MaxPool2d: kernel_size\[1\] must be an integer >= 1, got 0$"),
    (lambda: node.MaxPool2d((3, 2), padding=(1, 2)), ValueError, r"^MaxPool2d: padding\[1\] must be an integer in \[0, 1\], got 2$"),
    (lambda: node.MaxPool2d((4, 2), padding=2), ValueError, r"^MaxPool2d: padding must be an integer in \[0, 1\], got 2$"),
    (lambda: node.AvgPool2d(2, stride=(1, 0)), ValueError, r"^AvgPool2d: stride\[1\] must be an integer >= 1, got 0$"),
    (lambda: node.AvgPool2d(2, ceil_mode=1), TypeError, r"^AvgPool2d: ceil_mode must be True or False, got int 1$"),
    (lambda: node.AdaptiveAvgPool2d(0), ValueError, r"^AdaptiveAvgPool2d: output_size must be an integer >= 1, got 0$"),
    (lambda: node.AdaptiveAvgPool2d((2, 0)), ValueError, r"^AdaptiveAvgPool2d: output_size\[1\] must be an integer >= 1, got 0$"),
    (lambda: node.AdaptiveAvgPool2d("7"), TypeError, r"^AdaptiveAvgPool2d: output_size must be an integer >= 1 or a pair of them, got str '7'$"),
    (lambda: node.Flatten(1.5), TypeError, r"^Flatten: start_dim must be an integer, got float 1\.5$"),
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), (3, 2), padding=(2, 0)), ValueError, r"^max_pool2d: padding \(2, 0\) must be at most half the kernel size \(3, 2\)$"),
    (lambda: F.avg_pool2d(np.ones((1, 1, 4, 4)), 2, ceil_mode="yes"), TypeError, r"^avg_pool2d: ceil_mode must be True or False, got str 'yes'$"),
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 2)), (2, 3)), ValueError, r"^max_pool2d: kernel \(2, 3\) is larger than the padded input \(4, 2\)$"),
    (lambda: F.adaptive_avg_pool2d(np.ones((1, 4, 4)), 2), ValueError, r"^adaptive_avg_pool2d: expected input of shape \(N, C, H, W\), got \(1, 4, 4\)\. One image \(C, H, W\)\? Add the batch axis"),
    (lambda: F.adaptive_avg_pool2d(np.ones((1, 1, 4, 4)), (2, 2, 2)), TypeError, r"^adaptive_avg_pool2d: output_size must be an integer >= 1 or a pair"),
    (lambda: F.adaptive_avg_pool2d(np.ones((1, 1, 4, 4)), (2, -1)), ValueError, r"^adaptive_avg_pool2d: output_size\[1\] must be an integer >= 1, got -1$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_pooling_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8))
    t = torch.from_numpy(x)
    for case in POOLS[:2]:
        _, k, s, p, ceil = case
        np.testing.assert_allclose(node.MaxPool2d(k, s, p, ceil)(x).numpy(), torch.nn.MaxPool2d(k, s, p, ceil_mode=ceil)(t).numpy(), rtol=1e-12)
        np.testing.assert_allclose(node.AvgPool2d(k, s, p, ceil)(x).numpy(), torch.nn.AvgPool2d(k, s, p, ceil_mode=ceil)(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(node.AdaptiveAvgPool2d((3, 5))(x).numpy(), torch.nn.AdaptiveAvgPool2d((3, 5))(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(node.Flatten(1, 2)(x).numpy(), torch.nn.Flatten(1, 2)(t).numpy())

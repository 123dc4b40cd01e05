"""LayerNorm and GroupNorm (issue 23, item 5): values against NumPy, gradients to second order, the layers'
parameters and checkpoints, argument errors, and torch with the same weights where it is installed."""
import numpy as np
import pytest
from helpers import gradcheck_layer

import node
import node.functions as F


def standardize(x, axes, eps=1e-5):
    return (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


@pytest.mark.parametrize("shape, normalized", [((2, 3, 4), 4), ((2, 3, 4), (3, 4)), ((5, 6), (6,)), ((2, 1, 3), (2, 1, 3))])
def test_layer_norm_standardizes_the_last_axes(xp, rng, shape, normalized):
    x = xp.asarray(rng.standard_normal(shape) * 3 + 1)
    k = 1 if isinstance(normalized, int) else len(normalized)
    axes = tuple(range(len(shape) - k, len(shape)))
    y = F.layer_norm(x, normalized)
    np.testing.assert_allclose(y.numpy(), standardize(node.asnumpy(x), axes), rtol=1e-10, atol=1e-12)
    assert node.gradgradcheck(lambda a: F.layer_norm(a, normalized) ** 2, x, seed=1)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm_standardizes_each_group(xp, rng, groups):
    x = xp.asarray(rng.standard_normal((3, 4, 2, 3)))
    w, b = xp.asarray(rng.standard_normal(4)), xp.asarray(rng.standard_normal(4))
    y = F.group_norm(x, groups, w, b)
    a = node.asnumpy(x)
    expected = standardize(a.reshape(3, groups, -1), 2).reshape(a.shape) * node.asnumpy(w)[:, None, None] + node.asnumpy(b)[:, None, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert node.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), x, w, b, seed=2)
    assert node.gradgradcheck(lambda x, w: F.group_norm(x, groups, w) ** 2, x, w, seed=3)


def test_group_norm_on_3d_and_empty_inputs(rng):
    x = rng.standard_normal((2, 6, 5))
    np.testing.assert_allclose(F.group_norm(x, 3).numpy(), standardize(x.reshape(2, 3, 10), 2).reshape(x.shape), rtol=1e-10, atol=1e-12)
    assert F.group_norm(np.zeros((0, 6, 5)), 3).shape == (0, 6, 5)


def test_layers(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 3, 4)))
    ln = node.LayerNorm(4, dtype="float64").to(xp.__name__)
    assert [name for name, _ in ln.named_parameters()] == ["weight", "bias"]
    assert ln.weight.shape == (4,) and float(ln.weight.numpy().sum()) == 4 and float(abs(ln.bias.numpy()).sum()) == 0
    ln.weight.value[...] = xp.asarray(rng.standard_normal(4))
    ln.bias.value[...] = xp.asarray(rng.standard_normal(4))
    assert gradcheck_layer(ln, x, seed=4)
    gn = node.GroupNorm(2, 4, dtype="float64").to(xp.__name__)
    x4 = xp.asarray(rng.standard_normal((2, 4, 3, 3)))
    gn.weight.value[...] = xp.asarray(rng.standard_normal(4))
    assert gradcheck_layer(gn, x4, seed=5)
    other = node.GroupNorm(2, 4, dtype="float64").to(xp.__name__)
    other.load_state_dict(gn.state_dict())
    np.testing.assert_allclose(other(x4).numpy(), gn(x4).numpy())
    assert gn.train()(x4).numpy().tolist() == gn.eval()(x4).numpy().tolist()  # no running statistics
    assert node.LayerNorm((3, 4), elementwise_affine=False).parameters() == []
    assert [n for n, _ in node.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    assert node.GroupNorm(2, 4, affine=False).parameters() == []
    assert repr(node.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    assert repr(node.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True)"


BAD = [
    (lambda: node.LayerNorm(0), ValueError, r"^LayerNorm: normalized_shape must be an integer >= 1, got 0$"),
    (lambda: node.LayerNorm((3, 0)), ValueError, r"^LayerNorm: normalized_shape\[1\] must be an integer >= 1, got 0$"),
    (lambda: node.LayerNorm(4, eps=0), ValueError, r"^LayerNorm: eps must be a finite number > 0, got 0\.0$"),
    (lambda: node.LayerNorm(4, elementwise_affine=1), TypeError, r"^LayerNorm: elementwise_affine must be True or False, got int 1$"),
    (lambda: node.GroupNorm(3, 4), ValueError, r"^GroupNorm: num_channels \(4\) must be a multiple of num_groups \(3\)$"),
    (lambda: node.GroupNorm(0, 4), ValueError, r"^GroupNorm: num_groups must be an integer >= 1, got 0$"),
    (lambda: node.GroupNorm(2, 4, affine="yes"), TypeError, r"^GroupNorm: affine must be True or False, got str 'yes'$"),
    (lambda: node.GroupNorm(2, 4)(np.ones((2, 6, 3))), ValueError, r"^GroupNorm\(2, 4\) expects inputs \(N, 4, \.\.\.\), got \(2, 6, 3\)$"),
    (lambda: F.layer_norm(np.ones((2, 3)), (4,)), ValueError, r"^layer_norm: input of shape \(2, 3\) does not end in normalized_shape \(4,\)$"),
    (lambda: F.layer_norm(np.ones((2, 3)), 3, np.ones(4)), ValueError, r"^layer_norm: weight of shape \(4,\) must have shape \(3,\)$"),
    (lambda: F.group_norm(np.ones((2, 3)), 2), ValueError, r"^group_norm: expected input \(N, C, \.\.\.\) with C a multiple of num_groups=2, got \(2, 3\)$"),
    (lambda: F.group_norm(np.ones((2, 4)), 2, None, np.ones(3)), ValueError, r"^group_norm: bias of shape \(3,\) must have shape \(4,\)$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 3, 5))
    ln = node.LayerNorm((3, 5), dtype="float64")
    ln.weight.value[...] = rng.standard_normal((3, 5))
    ln.bias.value[...] = rng.standard_normal((3, 5))
    reference = torch.nn.LayerNorm((3, 5)).double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in ln.state_dict().items()})
    np.testing.assert_allclose(ln(x).numpy(), reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    gn = node.GroupNorm(2, 4, dtype="float64")
    gn.weight.value[...] = rng.standard_normal(4)
    reference = torch.nn.GroupNorm(2, 4).double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in gn.state_dict().items()})
    np.testing.assert_allclose(gn(x).numpy(), reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)

"""Layers: gradient checks in float64, conv/pooling against naive loops, and the Layer machinery."""
import os

import numpy as np
import pytest

import node
import node.functions as F
from node.functions.noise import InvertedDropout

from helpers import conv_reference, gradcheck_layer, pool_reference, randn


CONV_CASES = [(1, 0, 3), (1, 1, 3), (1, 2, 3), (2, 1, 3), (2, 2, 5), (3, 0, 2), (1, 2, 5), (1, 4, 5)]


@pytest.mark.parametrize("stride, padding, k", CONV_CASES)
def test_conv2d_matches_loops_and_finite_differences(xp, rng, stride, padding, k):
    x, W, b = randn(xp, rng, (2, 3, 7, 6)), randn(xp, rng, (4, 3, k, k)), randn(xp, rng, (4,))
    y = F.conv2d(x, W, b, stride, padding)
    expected = conv_reference(*(node.asnumpy(a) for a in (x, W, b)), stride, padding)
    np.testing.assert_allclose(node.asnumpy(y.value), expected, rtol=1e-10, atol=1e-10)
    node.gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride, padding), x, W, b)
    node.gradcheck(lambda x, W: F.conv2d(x, W, None, stride, padding), x, W)


@pytest.mark.parametrize("k, stride, padding", [(2, 2, 0), (3, 1, 1), (3, 2, 0), (2, 1, 0), (3, 3, 1)])
def test_pooling_matches_loops_and_finite_differences(xp, rng, k, stride, padding):
    # Distinct, spread-out values: no ties inside a window, so max pooling is differentiable.
    x = xp.asarray(rng.permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7) * 0.1)
    max_y = F.max_pool2d(x, k, stride, padding)
    np.testing.assert_allclose(node.asnumpy(max_y.value), pool_reference(node.asnumpy(x), k, stride, padding, np.max))
    avg_y = F.avg_pool2d(x, k, stride, padding)
    np.testing.assert_allclose(node.asnumpy(avg_y.value), pool_reference(node.asnumpy(x), k, stride, padding, np.mean), rtol=1e-12)
    node.gradcheck(lambda a: F.max_pool2d(a, k, stride, padding), x)
    node.gradcheck(lambda a: F.avg_pool2d(a, k, stride, padding), x)


def test_pooling_layers_and_global_average(xp, rng):
    x = randn(xp, rng, (2, 3, 6, 6))
    assert node.MaxPool2d(2)(node.Node(x)).shape == (2, 3, 3, 3)
    assert node.AvgPool2d(3, stride=1, padding=1)(node.Node(x)).shape == (2, 3, 6, 6)
    node.gradcheck(lambda a: node.GlobalAvgPool2d()(a), x)
    node.gradcheck(lambda a: node.Flatten()(a), x)
    np.testing.assert_allclose(node.asnumpy(node.GlobalAvgPool2d()(node.Node(x)).value), node.asnumpy(x).mean(axis=(2, 3)))


def test_linear_layer(xp, rng):
    layer = node.Linear(5, 3, rng=0, dtype="float64")
    x = randn(xp, rng, (4, 5))
    node.gradcheck(lambda a, W, b: F.linear(a, W, b), x, layer.W, layer.b)
    np.testing.assert_allclose(node.asnumpy(layer(node.Node(x)).value), node.asnumpy(x @ layer.W.value + layer.b.value))
    node.gradcheck(lambda a, W: F.linear(a, W), randn(xp, rng, (2, 3, 5)), layer.W)  # leading axes
    with pytest.raises(ValueError, match=r"input of shape \(4, 6\) does not fit weights of shape \(5, 3\)"):
        layer(node.Node(randn(xp, rng, (4, 6))))


@pytest.mark.parametrize("layer_cls, shape", [(node.BatchNorm1d, (6, 4)), (node.BatchNorm1d, (5, 4, 3)), (node.BatchNorm2d, (3, 4, 3, 2))])
def test_batch_norm_training_and_eval(xp, rng, layer_cls, shape):
    x = randn(xp, rng, shape) * 2 + 1
    gamma, beta = xp.asarray(rng.random(4) + 0.5), randn(xp, rng, (4,))
    node.gradcheck(lambda a, g, b: F.batch_norm(a, g, b), x, gamma, beta)
    mean, var = xp.asarray(rng.random(4)), xp.asarray(rng.random(4) + 0.5)
    node.gradcheck(lambda a, g, b: F.batch_norm(a, g, b, running_mean=mean, running_var=var), x, gamma, beta)

    layer = layer_cls(4, dtype="float64")
    out = layer(node.Node(x))
    axes = (0,) + tuple(range(2, len(shape)))
    normalized = node.asnumpy(out.value)
    np.testing.assert_allclose(normalized.mean(axis=axes), 0, atol=1e-10)
    np.testing.assert_allclose(normalized.var(axis=axes), 1, rtol=1e-3)
    m = x.size // 4
    xn = node.asnumpy(x)
    np.testing.assert_allclose(node.asnumpy(layer.running_mean), 0.1 * xn.mean(axis=axes), rtol=1e-10)
    np.testing.assert_allclose(node.asnumpy(layer.running_var), 0.9 + 0.1 * xn.var(axis=axes) * m / (m - 1), rtol=1e-10)
    layer.eval()
    evaluated = node.asnumpy(layer(node.Node(x)).value)
    expected = (xn - node.asnumpy(layer.running_mean).reshape((1, 4) + (1,) * (len(shape) - 2))) / np.sqrt(
        node.asnumpy(layer.running_var).reshape((1, 4) + (1,) * (len(shape) - 2)) + 1e-5
    )
    np.testing.assert_allclose(evaluated, expected, rtol=1e-10)
    with pytest.raises(ValueError, match="4 channels on axis 1"):
        layer(node.Node(randn(xp, rng, (2, 5))))


def test_batch_norm_function_updates_the_running_statistics_in_training(xp, rng):
    x = randn(xp, rng, (5, 4, 3)) * 2 + 1
    gamma, beta = xp.asarray(rng.random(4) + 0.5), randn(xp, rng, (4,))
    running_mean, running_var = xp.zeros(4), xp.ones(4)
    y = F.batch_norm(x, gamma, beta, 1e-5, running_mean, running_var, momentum=0.2, training=True)
    xn, m = node.asnumpy(x), 5 * 3
    mean, var = xn.mean(axis=(0, 2)), xn.var(axis=(0, 2))
    expected = (xn - mean[:, None]) / np.sqrt(var[:, None] + 1e-5) * node.asnumpy(gamma)[:, None] + node.asnumpy(beta)[:, None]
    np.testing.assert_allclose(node.asnumpy(y.value), expected, rtol=1e-10, atol=1e-12)  # the batch's statistics
    np.testing.assert_allclose(node.asnumpy(running_mean), 0.2 * mean, rtol=1e-12)  # updated in place
    np.testing.assert_allclose(node.asnumpy(running_var), 0.8 + 0.2 * var * m / (m - 1), rtol=1e-12)
    evaluated = F.batch_norm(x, gamma, beta, 1e-5, running_mean, running_var)  # running statistics given: evaluation
    np.testing.assert_allclose(node.asnumpy(running_mean), 0.2 * mean, rtol=1e-12)  # left alone
    normalized = (xn - 0.2 * mean[:, None]) / np.sqrt(node.asnumpy(running_var)[:, None] + 1e-5)
    np.testing.assert_allclose(node.asnumpy(evaluated.value), normalized * node.asnumpy(gamma)[:, None] + node.asnumpy(beta)[:, None], rtol=1e-10)


def test_batch_norm_function_checks_its_statistics(rng):
    x, ones = rng.standard_normal((4, 3)), np.ones(3)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        F.batch_norm(x, ones, ones, running_mean=np.zeros(3))
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batch_norm(x, ones, ones, training=False)
    with pytest.raises(ValueError, match=r"running_var of shape \(4,\) must have shape \(3,\)"):
        F.batch_norm(x, ones, ones, running_mean=np.zeros(3), running_var=np.ones(4))
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(x[:1], ones, ones)


def third_derivative_check(fn, *inputs, seed=0):
    """gradgradcheck of Σ (∂⟨fn(x), w⟩/∂x)²: the second derivatives of a first derivative, so third derivatives of fn."""

    def squared_gradient(*xs):
        with node.using_config("enable_backprop", True):  # also where the check evaluates it under no_grad
            y = fn(*xs)
            w = node.get_array_module(y.value).asarray(np.random.default_rng(seed).standard_normal(y.shape))
            grads = node.grad((y * w).sum(), list(xs), create_graph=True)
        return sum((g * g).sum() for g in grads)

    node.gradgradcheck(squared_gradient, *inputs)


def test_batch_norm_prelu_and_pooling_have_third_derivatives(xp, rng):
    x, gamma, beta = randn(xp, rng, (4, 3, 2, 2)), randn(xp, rng, (3,)), randn(xp, rng, (3,))
    third_derivative_check(F.batch_norm, x, gamma, beta)
    mean, var = randn(xp, rng, (3,)), xp.asarray(rng.random(3) + 0.5)
    third_derivative_check(lambda a, g, b: F.batch_norm(a, g, b, running_mean=mean, running_var=var) ** 2, x, gamma, beta)
    away = xp.asarray(np.sign(rng.standard_normal((2, 3, 2, 2))) * (0.2 + rng.random((2, 3, 2, 2))))
    third_derivative_check(lambda a, s: F.prelu(a, s) * a, away, xp.asarray(rng.random(3)))
    distinct = xp.asarray(rng.permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) * 0.1)
    third_derivative_check(lambda a: F.max_pool2d(a, 2) ** 3, distinct)
    third_derivative_check(lambda a: F.avg_pool2d(a, 3, 2, 1) ** 3, distinct)


def test_prelu_layer(xp, rng):
    x = xp.asarray(np.sign(rng.standard_normal((3, 4, 2, 2))) * (0.1 + rng.random((3, 4, 2, 2))))
    layer = node.PReLU(4, dtype="float64")
    node.gradcheck(lambda a, s: F.prelu(a, s), x, layer.slope)
    out = node.asnumpy(layer(node.Node(x)).value)
    xn = node.asnumpy(x)
    np.testing.assert_allclose(out, np.where(xn > 0, xn, 0.25 * xn))


def test_dropout(xp, rng):
    x = randn(xp, rng, (4, 5))
    mask = xp.asarray((rng.random((4, 5)) > 0.3) / 0.7)
    node.gradcheck(lambda a: InvertedDropout(mask)(a), x)
    layer = node.Dropout(0.5, rng=0)
    out = node.asnumpy(layer(node.Node(xp.ones((200, 50), dtype="float32"))).value)
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.4 < (out == 0).mean() < 0.6
    layer.eval()
    np.testing.assert_array_equal(node.asnumpy(layer(node.Node(x)).value), node.asnumpy(x))


def test_sequential_gradcheck(xp, rng):
    net = node.Sequential(node.Linear(4, 6, rng=1, dtype="float64"), node.Tanh(), node.Linear(6, 3, rng=2, dtype="float64"), node.LogSoftmax())
    gradcheck_layer(net, randn(xp, rng, (5, 4)))


def test_every_layer_with_its_parameters(xp, rng):
    positive_or_negative = xp.asarray(np.sign(rng.standard_normal((3, 2, 5, 5))) * (0.1 + rng.random((3, 2, 5, 5))))
    gradcheck_layer(node.Conv2d(2, 3, 3, stride=2, padding=1, rng=0, dtype="float64").to(node.get_backend()), positive_or_negative)
    gradcheck_layer(node.PReLU(2, dtype="float64").to(node.get_backend()), positive_or_negative)
    gradcheck_layer(node.BatchNorm2d(2, dtype="float64").to(node.get_backend()), positive_or_negative)
    gradcheck_layer(node.Linear(5, 2, rng=0, dtype="float64").to(node.get_backend()), positive_or_negative)


def test_seeded_initialisation_is_reproducible():
    a, b, c = node.Linear(8, 4, rng=7), node.Linear(8, 4, rng=7), node.Linear(8, 4, rng=8)
    np.testing.assert_array_equal(a.W.value, b.W.value)
    assert not np.array_equal(a.W.value, c.W.value)
    assert a.W.dtype == np.float32
    gen = np.random.default_rng(3)
    conv = node.Conv2d(2, 3, 3, rng=gen)
    assert conv.W.shape == (3, 2, 3, 3) and np.abs(conv.W.value).max() <= 1 / np.sqrt(18)
    with pytest.raises(TypeError, match="rng must be"):
        node.Linear(2, 2, rng="seed")


# ---- the Layer machinery -------------------------------------------------------------------
class NoSuperInit(node.Network):
    def __init__(self):  # deliberately no super().__init__(), like the seed notebook
        self.layers = [node.Linear(3, 4, rng=0), node.Linear(4, 2, rng=1)]
        self.heads = {"a": node.Linear(2, 2, rng=2), "b": [node.PReLU(2)]}
        self.shared = self.layers[0]  # the same layer reachable twice
        self.centers = np.zeros((10, 2))  # a buffer
        self.bn = node.BatchNorm1d(2)

    def __call__(self, x):
        h = self.bn(self.layers[1](self.layers[0](x).relu()))
        return self.heads["b"][0](self.heads["a"](h))


def test_parameters_found_without_super_init():
    net = NoSuperInit()
    names = [name for name, _ in net.named_parameters()]
    assert names == [
        "layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b",
        "heads.a.W", "heads.a.b", "heads.b.0.slope", "bn.gamma", "bn.beta",
    ]
    assert net.get_parameters() == net.parameters()
    assert [n for n, _ in net.named_buffers()] == ["centers", "bn.running_mean", "bn.running_var"]


def test_train_eval_propagates():
    net = NoSuperInit()
    assert net.training and net.bn.training
    net.eval()
    assert not net.training and not net.bn.training and not net.layers[0].training
    net.train()
    assert net.bn.training


def test_zero_grad_and_backward_through_network():
    net = NoSuperInit()
    net(node.Node(np.ones((4, 3), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_moves_parameters_and_buffers(xp):
    net = NoSuperInit()
    net.to(node.get_backend())
    assert all(isinstance(p.value, xp.ndarray) for p in net.parameters())
    assert isinstance(net.centers, xp.ndarray) and isinstance(net.bn.running_mean, xp.ndarray)
    out = net(node.Node(xp.ones((4, 3), dtype="float32")))
    assert isinstance(out.value, xp.ndarray)
    net.to("numpy")
    assert isinstance(net.centers, np.ndarray)


def test_save_and_load_roundtrip(tmp_path):
    a, b = NoSuperInit(), NoSuperInit()
    a.layers[0].W.value += 1
    a.centers += 3
    path = tmp_path / "model.npz"
    a.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]  # the temp file was renamed, nothing left over
    b.load(path)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.value, pb.value, err_msg=name)
    np.testing.assert_array_equal(b.centers, a.centers)


def test_load_names_the_mismatch(tmp_path):
    net = NoSuperInit()
    path = tmp_path / "model.npz"
    net.save(path)
    other = NoSuperInit()
    other.layers[1] = node.Linear(4, 5)
    with pytest.raises(ValueError, match=r"'layers.1.W' has shape \(4, 2\) in the checkpoint but \(4, 5\) in the model"):
        other.load(path)
    smaller = NoSuperInit()
    del smaller.bn
    with pytest.raises(KeyError, match=r"unexpected \['bn.beta', 'bn.gamma', 'bn.running_mean', 'bn.running_var'\]"):
        smaller.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        net.load(tmp_path / "missing.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        net.load(tmp_path / "broken.npz")


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    net = NoSuperInit()
    path = tmp_path / "model.npz"
    net.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_layer_without_forward_says_so():
    class Empty(node.Layer):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        Empty()(1)


def test_conv2d_names_a_channel_mismatch(rng):
    x = node.Node(rng.standard_normal((1, 3, 10, 10)))
    W = node.Node(rng.standard_normal((32, 32, 5, 5)))
    with pytest.raises(ValueError, match=r"weights of shape \(32, 32, 5, 5\) need 3 input channels"):
        F.conv2d(x, W)

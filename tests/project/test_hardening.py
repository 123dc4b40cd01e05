"""Hardening: the distribution name, layers and losses at their limits, and library-wide seeding."""
import configparser
import importlib.metadata
import re

import numpy as np
import pytest

import node

from helpers import REPO


# ---- packaging ---------------------------------------------------------------------------------------
def test_the_distribution_name_is_not_the_other_node():
    """`node` on the package index is another project (2.0.0, node trees); ours installs as node-autograd."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert config["metadata"]["name"] == "node-autograd"
    assert importlib.metadata.version("node-autograd") == node.__version__
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "node-autograd" in readme and "cannot share an environment" in readme
    # not published (issue 23): the README says so, and offers a clone or a wheel instead of the index
    assert "`pip install\nnode-autograd` finds nothing" in readme and "is **not published**" in readme
    assert "python -m pip install -e ." in readme and "python -m pip wheel . --no-deps -w dist" in readme
    assert not re.search(r"(?<!`)pip install node-autograd(?!` finds nothing)", readme.replace("\n", " "))


# ---- layers and losses ----------------------------------------------------------------------------
@pytest.mark.parametrize("layer, shape", [(lambda: node.BatchNorm1d(3), (0, 3)), (lambda: node.BatchNorm2d(3), (0, 3, 4, 4))])
def test_batch_norm_refuses_an_empty_batch_and_keeps_its_statistics(layer, shape):
    bn = layer()
    bn(node.Node(np.random.default_rng(0).standard_normal((4,) + shape[1:]).astype(np.float32)))
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    with pytest.raises(ValueError, match=r"empty batch .* running statistics are left unchanged"):
        bn(node.Node(np.zeros(shape, np.float32)))
    np.testing.assert_array_equal(bn.running_mean, mean)
    np.testing.assert_array_equal(bn.running_var, var)
    assert bn.eval()(node.Node(np.zeros(shape, np.float32))).shape == shape  # evaluation of nothing is fine


@pytest.mark.parametrize("alpha", [-0.1, 1.5, 3.5])
def test_center_loss_alpha_must_be_in_0_1(alpha):
    with pytest.raises(ValueError, match=r"alpha must be a finite number in \[0, 1\]"):
        node.CenterLoss(10, 2, alpha=alpha)
    for alpha in (0, 0.5, 1):
        node.CenterLoss(10, 2, alpha=alpha)


@pytest.mark.parametrize("make", [lambda: node.CenterLoss(3, 2, rng=0), lambda: node.LearnableCenterLoss(3, 2, rng=0), lambda: node.PCLoss(3, 2, rng=0)])
def test_center_losses_refuse_an_empty_batch(make):
    with pytest.raises(ValueError, match=r"empty batch \(features of shape \(0, 2\)\)"):
        make()(node.Node(np.zeros((0, 2), np.float32)), np.zeros(0, np.int64))


def test_seed_001_center_loss_is_ours_with_lambda_doubled():
    """Seed 001: Σ‖x - c_y‖²/B (no ½). LearnableCenterLoss(λ=2) gives exactly that."""
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((5, 2)), rng.integers(0, 3, 5)
    loss = node.LearnableCenterLoss(3, 2, lambda_=2.0, rng=1, dtype=np.float64)
    centers = loss.centers.value
    np.testing.assert_allclose(loss(x, labels).item(), ((x - centers[labels]) ** 2).sum() / 5)


# ---- reproducibility -------------------------------------------------------------------------------
def build_everything():
    """What the seed notebook builds without seeds: layers, Dropout, CenterLoss, a DataLoader; then one draw each."""
    model = node.Sequential(node.Linear(4, 3), node.Dropout(0.5), node.Linear(3, 2))
    center = node.CenterLoss(2, 2)
    loader = node.DataLoader(node.ArrayDataset(np.arange(10.0)), batch_size=10)
    out = model(node.Node(np.ones((2, 4), np.float32)))
    return [p.value.copy() for p in model.parameters()] + [center.centers.copy(), out.value.copy(), next(iter(loader))[0].value.copy()]


def test_manual_seed_makes_unseeded_objects_reproducible_without_numpy_global_state():
    numpy_state = np.random.get_state()[1].copy()
    try:
        node.manual_seed(0)
        first = build_everything()
        node.manual_seed(0)
        second = build_everything()
        node.manual_seed(1)
        third = build_everything()
    finally:
        node.Config.default_generator = None
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, third))
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_without_manual_seed_unseeded_objects_differ():
    assert node.Config.default_generator is None
    assert not np.array_equal(node.Linear(4, 3).W.value, node.Linear(4, 3).W.value)

"""The activation layers of issue 23 (GELU, SiLU, ELU, SELU, Softplus, LogSigmoid): each is its function as a
layer, has no parameters, passes gradcheck, prints its options and checks its arguments when made."""
import numpy as np
import pytest
from helpers import gradcheck_layer

import node
import node.functions as F

LAYERS = [
    (node.GELU(), F.gelu, "GELU(approximate='none')"),
    (node.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), "GELU(approximate='tanh')"),
    (node.SiLU(), F.silu, "SiLU()"),
    (node.ELU(0.5), lambda x: F.elu(x, 0.5), "ELU(alpha=0.5)"),
    (node.SELU(), F.selu, "SELU()"),
    (node.Softplus(2.0, 3.0), lambda x: F.softplus(x, 2.0, 3.0), "Softplus(beta=2.0, threshold=3.0)"),
    (node.LogSigmoid(), F.logsigmoid, "LogSigmoid()"),
]


@pytest.mark.parametrize("layer, function, text", LAYERS, ids=[row[2] for row in LAYERS])
def test_activation_layer_is_its_function(xp, layer, function, text):
    x = xp.asarray(np.random.default_rng(0).standard_normal((4, 5)) * 2)
    np.testing.assert_array_equal(layer(node.Node(x)).numpy(), function(node.Node(x)).numpy())
    assert repr(layer) == text and layer.state_dict() == {} and list(layer.parameters()) == []
    assert gradcheck_layer(layer, x)


def test_activation_layers_in_a_sequential_train():
    model = node.Sequential(node.Linear(3, 8, rng=0), node.GELU(), node.Linear(8, 8, rng=1), node.SiLU(), node.Linear(8, 1, rng=2))
    x = node.Node(np.random.default_rng(1).standard_normal((16, 3)).astype(np.float32))
    loss = (model(x) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None and np.isfinite(p.grad).all() for p in model.parameters())


BAD = [
    (lambda: node.GELU(approximate="erf"), ValueError, r"^GELU: approximate must be one of 'none', 'tanh', got 'erf'$"),
    (lambda: node.ELU(alpha="1"), TypeError, r"^ELU: alpha must be a finite number, got str '1'$"),
    (lambda: node.Softplus(beta=-1), ValueError, r"^Softplus: beta must be a finite number > 0, got -1\.0$"),
    (lambda: node.Softplus(threshold=float("inf")), ValueError, r"^Softplus: threshold must be a finite number, got inf$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_constructor_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()

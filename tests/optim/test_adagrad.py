"""Adagrad (node/optim/adagrad.py) against a NumPy reference and, when installed, torch.optim.Adagrad."""
import numpy as np
import pytest

import node

from helpers import optimizer_trajectory, torch_trajectory

SETTINGS = [
    {},  # PyTorch's defaults: lr=0.01, eps=1e-10
    {"lr": 0.1, "lr_decay": 0.05},
    {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6},
]
IDS = ["defaults", "lr-decay", "all"]


def adagrad_reference(p0, grads, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    """torch.optim.Adagrad's documented algorithm, step by step."""
    p, S, history = p0.copy(), initial_accumulator_value, []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        S = S + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(S) + eps)
        history.append(p)
    return np.array(history)


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_adagrad_matches_its_formula(xp, settings):
    got, p0, grads = optimizer_trajectory(lambda ps: node.Adagrad(ps, **settings), xp=xp, steps=8)
    np.testing.assert_allclose(got, adagrad_reference(p0, grads, **settings), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_adagrad_matches_pytorch(settings):
    torch = pytest.importorskip("torch")
    got, p0, grads = optimizer_trajectory(lambda ps: node.Adagrad(ps, **settings), steps=8)
    np.testing.assert_allclose(got, torch_trajectory(lambda ps: torch.optim.Adagrad(ps, **settings), p0, grads), rtol=1e-12, atol=1e-15)


def test_adagrad_state_resumes_exactly():
    p = node.Parameter(np.array([1.0, -2.0, 3.0]))
    opt = node.Adagrad([p], lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2)
    for _ in range(3):
        p.grad = np.array([0.5, -1.0, 2.0])
        opt.step()
    state = opt.state_dict()
    assert state["state"][0]["step"] == 3
    q = node.Parameter(p.value.copy())
    resumed = node.Adagrad([q], lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2)
    resumed.load_state_dict(state)
    for o, x in ((opt, p), (resumed, q)):
        x.grad = np.array([0.1, 0.2, 0.3])
        o.step()
    np.testing.assert_array_equal(p.value, q.value)


BAD = [
    (lambda ps: node.Adagrad(ps, lr=-1), ValueError, r"^Adagrad: lr must be a finite number >= 0, got -1\.0$"),
    (lambda ps: node.Adagrad(ps, lr_decay=-0.1), ValueError, r"^Adagrad: lr_decay must be a finite number >= 0, got -0\.1$"),
    (lambda ps: node.Adagrad(ps, weight_decay="0"), TypeError, r"^Adagrad: weight_decay must be a finite number >= 0, got str '0'$"),
    (lambda ps: node.Adagrad(ps, initial_accumulator_value=-1), ValueError, r"^Adagrad: initial_accumulator_value must be a finite number >= 0, got -1\.0$"),
    (lambda ps: node.Adagrad(ps, eps=float("inf")), ValueError, r"^Adagrad: eps must be a finite number >= 0, got inf$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_adagrad_refuses_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make([node.Parameter(np.ones(2))])

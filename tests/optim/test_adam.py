"""AdamW (node/optim/adam.py) against a NumPy reference and, when installed, torch.optim.AdamW."""
import numpy as np
import pytest

import node

from helpers import optimizer_trajectory, torch_trajectory

SETTINGS = [
    {},  # PyTorch's defaults: lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01
    {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.3},
    {"lr": 0.01, "weight_decay": 0.0},  # no decay: exactly Adam
]


def adamw_reference(p0, grads, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """torch.optim.AdamW's documented algorithm, step by step."""
    b1, b2 = betas
    p, m, v, history = p0.copy(), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr * weight_decay)  # decoupled: the parameter shrinks, the gradient is untouched
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        history.append(p)
    return np.array(history)


@pytest.mark.parametrize("kernels", ["auto", "reference"])
@pytest.mark.parametrize("settings", SETTINGS, ids=["defaults", "all", "no-decay"])
def test_adamw_matches_its_formula(xp, kernels, settings):
    with node.using_config("kernels", kernels):
        got, p0, grads = optimizer_trajectory(lambda ps: node.AdamW(ps, **settings), xp=xp, steps=8)
    np.testing.assert_allclose(got, adamw_reference(p0, grads, **settings), rtol=1e-12, atol=1e-15)


def test_adamw_decay_differs_from_adams_l2_and_zero_decay_is_adam():
    adamw, p0, grads = optimizer_trajectory(lambda ps: node.AdamW(ps, lr=0.1, weight_decay=0.5))
    adam, _, _ = optimizer_trajectory(lambda ps: node.Adam(ps, lr=0.1, weight_decay=0.5))
    assert np.abs(adamw - adam).max() > 1e-3
    plain, _, _ = optimizer_trajectory(lambda ps: node.Adam(ps, lr=0.1))
    no_decay, _, _ = optimizer_trajectory(lambda ps: node.AdamW(ps, lr=0.1, weight_decay=0))
    np.testing.assert_array_equal(no_decay, plain)
    assert node.AdamW([node.Parameter(np.ones(1))]).param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("settings", SETTINGS, ids=["defaults", "all", "no-decay"])
def test_adamw_matches_pytorch(settings):
    torch = pytest.importorskip("torch")
    got, p0, grads = optimizer_trajectory(lambda ps: node.AdamW(ps, **settings), steps=8)
    np.testing.assert_allclose(got, torch_trajectory(lambda ps: torch.optim.AdamW(ps, **settings), p0, grads), rtol=1e-12, atol=1e-15)


def test_adamw_state_resumes_exactly():
    p = node.Parameter(np.array([1.0, -2.0, 3.0]))
    opt = node.AdamW([p], lr=0.1)
    for _ in range(3):
        p.grad = np.array([0.5, -1.0, 2.0])
        opt.step()
    q = node.Parameter(p.value.copy())
    resumed = node.AdamW([q], lr=0.7, weight_decay=0.5)
    resumed.load_state_dict(opt.state_dict())
    assert resumed.param_groups[0]["lr"] == 0.1 and resumed.param_groups[0]["weight_decay"] == 0.01
    for o, x in ((opt, p), (resumed, q)):
        x.grad = np.array([0.1, 0.2, 0.3])
        o.step()
    np.testing.assert_array_equal(p.value, q.value)


BAD = [
    (lambda ps: node.AdamW(ps, lr=-1), ValueError, r"^AdamW: lr must be a finite number >= 0, got -1\.0$"),
    (lambda ps: node.AdamW(ps, weight_decay=-0.01), ValueError, r"^AdamW: weight_decay must be a finite number >= 0, got -0\.01$"),
    (lambda ps: node.AdamW(ps, betas=(0.9, 1.0)), ValueError, r"^AdamW: betas\[1\] must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda ps: node.AdamW(ps, eps="1e-8"), TypeError, r"^AdamW: eps must be a finite number >= 0, got str '1e-8'$"),
    (lambda ps: node.AdamW(ps, amsgrad=True), TypeError, r"unexpected keyword argument 'amsgrad'"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_adamw_refuses_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make([node.Parameter(np.ones(2))])

"""RMSprop (node/optim/rmsprop.py) against a NumPy reference and, when installed, torch.optim.RMSprop."""
import numpy as np
import pytest

import node

from helpers import optimizer_trajectory, torch_trajectory

SETTINGS = [
    {},  # PyTorch's defaults: lr=0.01, alpha=0.99, eps=1e-8
    {"lr": 0.02, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1},
    {"lr": 0.02, "momentum": 0.5},
    {"lr": 0.02, "centered": True},
    {"lr": 0.02, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.5, "centered": True},
]
IDS = ["defaults", "decay", "momentum", "centered", "all"]


def rmsprop_reference(p0, grads, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """torch.optim.RMSprop's documented algorithm, step by step."""
    p, s, a, b, history = p0.copy(), 0.0, 0.0, 0.0, []
    for g in grads:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        if centered:
            a = alpha * a + (1 - alpha) * g
            d = np.sqrt(s - a * a) + eps
        else:
            d = np.sqrt(s) + eps
        if momentum:
            b = momentum * b + g / d
            p = p - lr * b
        else:
            p = p - lr * g / d
        history.append(p)
    return np.array(history)


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_rmsprop_matches_its_formula(xp, settings):
    got, p0, grads = optimizer_trajectory(lambda ps: node.RMSprop(ps, **settings), xp=xp, steps=8)
    np.testing.assert_allclose(got, rmsprop_reference(p0, grads, **settings), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_rmsprop_matches_pytorch(settings):
    torch = pytest.importorskip("torch")
    got, p0, grads = optimizer_trajectory(lambda ps: node.RMSprop(ps, **settings), steps=8)
    np.testing.assert_allclose(got, torch_trajectory(lambda ps: torch.optim.RMSprop(ps, **settings), p0, grads), rtol=1e-12, atol=1e-15)


def test_rmsprop_state_resumes_exactly_and_keeps_float32():
    p = node.Parameter(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    opt = node.RMSprop([p], lr=0.1, momentum=0.9, centered=True)
    for _ in range(3):
        p.grad = np.array([0.5, -1.0, 2.0], dtype=np.float32)
        opt.step()
    assert p.value.dtype == np.float32 and {k for k in opt.state[p]} == {"step", "square_avg", "grad_avg", "momentum_buffer"}
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))
    q = node.Parameter(p.value.copy())
    resumed = node.RMSprop([q], lr=0.1, momentum=0.9, centered=True)
    resumed.load_state_dict(opt.state_dict())
    for o, x in ((opt, p), (resumed, q)):
        x.grad = np.array([0.1, 0.2, 0.3], dtype=np.float32)
        o.step()
    np.testing.assert_array_equal(p.value, q.value)


BAD = [
    (lambda ps: node.RMSprop(ps, lr=-0.01), ValueError, r"^RMSprop: lr must be a finite number >= 0, got -0\.01$"),
    (lambda ps: node.RMSprop(ps, alpha=1.5), ValueError, r"^RMSprop: alpha must be a finite number in \[0, 1\], got 1\.5$"),
    (lambda ps: node.RMSprop(ps, alpha=None), TypeError, r"^RMSprop: alpha must be a finite number in \[0, 1\], got NoneType None$"),
    (lambda ps: node.RMSprop(ps, eps=-1e-8), ValueError, r"^RMSprop: eps must be a finite number >= 0, got -1e-08$"),
    (lambda ps: node.RMSprop(ps, weight_decay=float("nan")), ValueError, r"^RMSprop: weight_decay must be a finite number >= 0, got nan$"),
    (lambda ps: node.RMSprop(ps, momentum=1.0), ValueError, r"^RMSprop: momentum must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda ps: node.RMSprop(ps, centered=1), TypeError, r"^RMSprop: centered must be True or False, got int 1$"),
    (lambda ps: node.RMSprop([{"params": ps, "alpha": -1}]), ValueError, r"^RMSprop: alpha must be a finite number in \[0, 1\], got -1\.0$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_rmsprop_refuses_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make([node.Parameter(np.ones(2))])

"""Optimizers against their formulas, parameter groups, schedules, and exact resumption."""
import numpy as np
import pytest

import node

from helpers import make_fake_mnist, optimizer_trajectory, torch_trajectory


def run(optimizer_factory, steps=5, seed=0, dtype="float64", xp=np):
    """Minimize Σ (p ⊙ c)² with a changing c; return the parameter after each step (on the host)."""
    rng = np.random.default_rng(seed)
    p = node.Parameter(xp.asarray(rng.standard_normal(4).astype(dtype)))
    opt = optimizer_factory([p])
    history = []
    for _ in range(steps):
        c = node.Node(xp.asarray(rng.standard_normal(4)), requires_grad=False)
        opt.zero_grad()
        ((p * c) ** 2).sum().backward()
        opt.step()
        history.append(node.asnumpy(p.value).copy())
    return history


def reference(update, steps=5, seed=0):
    """The same trajectory with a hand-written update(p, grad, state) -> p."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(4)
    state, history = {}, []
    for _ in range(steps):
        c = rng.standard_normal(4)
        p = update(p, 2 * c * c * p, state)
        history.append(p.copy())
    return history


@pytest.mark.parametrize("momentum, nesterov, wd", [(0, False, 0), (0.9, False, 0), (0.9, True, 0), (0.5, False, 0.01), (0.9, True, 0.1)])
def test_sgd_matches_its_formula(xp, momentum, nesterov, wd):
    lr = 0.1

    def update(p, g, state):
        g = g + wd * p
        if momentum:
            state["v"] = g if "v" not in state else momentum * state["v"] + g
            g = g + momentum * state["v"] if nesterov else state["v"]
        return p - lr * g

    got = run(lambda ps: node.SGD(ps, lr, momentum=momentum, nesterov=nesterov, weight_decay=wd), xp=xp)  # CuPy: fused kernels
    np.testing.assert_allclose(got, reference(update), rtol=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_matches_its_formula(xp, wd):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8

    def update(p, g, state):
        g = g + wd * p
        t = state["t"] = state.get("t", 0) + 1
        state["m"] = b1 * state.get("m", 0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0) + (1 - b2) * g * g
        m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)

    got = run(lambda ps: node.Adam(ps, lr, weight_decay=wd), steps=8, xp=xp)
    np.testing.assert_allclose(got, reference(update, steps=8), rtol=1e-10)


@pytest.mark.parametrize("make", [lambda ps: node.Adam(ps, 0.001), lambda ps: node.SGD(ps, 0.001, momentum=0.9)])
def test_optimizers_keep_float32_and_update_in_place(xp, make):
    p = node.Parameter(xp.ones(3, dtype=np.float32))
    buffer = p.value
    opt = make([p])
    (p * p).sum().backward()
    opt()
    assert p.value is buffer and p.value.dtype == np.float32
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if node.backend.is_array(v))
    expected = 1 - 0.001 * (1 if isinstance(opt, node.Adam) else 2)  # Adam's first step is lr·sign(g); SGD's lr·g
    np.testing.assert_allclose(node.asnumpy(p.value), expected, rtol=1e-6)


def test_parameter_groups_have_their_own_learning_rate():
    a, b = node.Parameter(np.ones(2)), node.Parameter(np.ones(2))
    opt = node.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.value, [0.9, 0.9])
    np.testing.assert_allclose(b.value, [0.5, 0.5])
    assert opt.param_groups[1]["momentum"] == 0.0  # missing hyperparameters come from the optimizer


def test_parameters_without_gradient_are_left_alone():
    a, b = node.Parameter(np.ones(2)), node.Parameter(np.ones(2))
    opt = node.Adam([a, b])
    a.sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.value, [1.0, 1.0])
    assert b not in opt.state


def test_optimizer_errors():
    p = node.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        node.SGD([])
    with pytest.raises(ValueError, match="more than one group"):
        node.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="unknown hyperparameters"):
        node.SGD([{"params": [p], "momentun": 0.9}])
    with pytest.raises(ValueError, match=r"lr must be a finite number >= 0, got -1"):
        node.Adam([p], -1.0)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        node.SGD([p], nesterov=True)
    with pytest.raises(TypeError, match="require grad"):
        node.SGD([np.ones(2)])


def test_step_lr():
    p = node.Parameter(np.ones(1))
    opt = node.SGD([{"params": [p]}], lr=1.0)
    sched = node.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    other = node.StepLR(node.SGD([p], lr=1.0), step_size=9)
    other.load_state_dict(sched.state_dict())
    other.step()
    assert other.get_last_lr() == [0.125]


# ---- exact resumption from a checkpoint ---------------------------------------------------
class Net(node.Network):
    def __init__(self, seed):
        self.body = node.Sequential(node.Linear(784, 32, rng=seed), node.ReLU(), node.Linear(32, 2, rng=seed + 1))
        self.head = node.Linear(2, 10, rng=seed + 2)
        self.centers = node.Parameter(np.random.default_rng(seed).standard_normal((10, 2)).astype(np.float32))

    def forward(self, x, t):
        h = self.body(x / 255)
        labels = t.value.argmax(axis=1)
        return self.head(h).softmax_with_cross_entropy(t) + (h - self.centers[labels]).mean_squared_error(np.zeros_like(h.value))


def make_training(seed, root):
    net = Net(seed)
    params = net.body.parameters() + net.head.parameters()
    opt = node.Adam(params, 0.01, weight_decay=1e-4)
    center_opt = node.SGD([net.centers], lr=0.5, momentum=0.9)
    sched = node.StepLR(opt, step_size=1, gamma=0.7)
    loader = node.DataLoader(node.MNIST(root=root), batch_size=64, seed=seed)
    return net, opt, center_opt, sched, loader


def train_epoch(net, opt, center_opt, sched, loader):
    losses = []
    for x, t in loader:
        opt.zero_grad()
        center_opt.zero_grad()
        loss = net(x, t)
        loss.backward()
        opt.step()
        center_opt.step()
        losses.append(float(loss.value))
    sched.step()
    return losses


def test_checkpoint_resume_is_exact(tmp_path):
    root = make_fake_mnist(tmp_path / "data", n_train=320)
    original = make_training(0, root)
    train_epoch(*original)
    net, opt, center_opt, sched, loader = original
    path = tmp_path / "checkpoint.npz"
    node.save(path, {
        "model": net.state_dict(), "optimizer": opt.state_dict(), "center_optimizer": center_opt.state_dict(),
        "scheduler": sched.state_dict(), "loader": loader.state_dict(), "epoch": 1,
    })
    uninterrupted = train_epoch(*original) + train_epoch(*original)

    resumed = make_training(123, root)  # different initial weights and shuffling: all must come from the file
    state = node.load(path)
    r_net, r_opt, r_center_opt, r_sched, r_loader = resumed
    r_net.load_state_dict(state["model"])
    r_opt.load_state_dict(state["optimizer"])
    r_center_opt.load_state_dict(state["center_optimizer"])
    r_sched.load_state_dict(state["scheduler"])
    r_loader.load_state_dict(state["loader"])
    assert state["epoch"] == 1
    after_resume = train_epoch(*resumed) + train_epoch(*resumed)

    assert after_resume == uninterrupted  # bit for bit, including the first step after resuming
    for (name, a), (_, b) in zip(net.named_parameters(), r_net.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)


def test_optimizer_state_dict_checks_sizes():
    a = node.Parameter(np.ones(2))
    opt = node.Adam([a])
    a.sum().backward()
    opt.step()
    other = node.Adam([node.Parameter(np.ones(2)), node.Parameter(np.ones(3))])
    with pytest.raises(ValueError, match=r"groups of sizes \[1\], this optimizer \[2\]"):
        other.load_state_dict(opt.state_dict())
    wrong_shape = node.Adam([node.Parameter(np.ones(5))])
    with pytest.raises(ValueError, match=r"state 'm' of parameter 0 has shape \(2,\), the parameter \(5,\)"):
        wrong_shape.load_state_dict(opt.state_dict())


@pytest.mark.parametrize("make, make_torch", [
    (lambda ps: node.SGD(ps, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01), lambda t, ps: t.optim.SGD(ps, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (lambda ps: node.SGD(ps, 0.1, momentum=0.5), lambda t, ps: t.optim.SGD(ps, 0.1, momentum=0.5)),
    (lambda ps: node.Adam(ps, 0.01, weight_decay=0.1), lambda t, ps: t.optim.Adam(ps, 0.01, weight_decay=0.1)),
], ids=["sgd-nesterov", "sgd-momentum", "adam-l2"])
@pytest.mark.parametrize("kernels", ["auto", "reference"])
def test_sgd_and_adam_match_pytorch_step_by_step(make, make_torch, kernels):
    torch = pytest.importorskip("torch")
    with node.using_config("kernels", kernels):
        got, p0, grads = optimizer_trajectory(make, steps=8)
    np.testing.assert_allclose(got, torch_trajectory(lambda ps: make_torch(torch, ps), p0, grads), rtol=1e-12, atol=1e-15)

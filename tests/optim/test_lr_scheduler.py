"""Learning-rate schedules (node/optim/lr_scheduler.py): closed forms written here, PyTorch when installed, resumption, argument errors."""
import math
import warnings

import numpy as np
import pytest

import node


def optimizer(kind="sgd", lr=0.5, groups=1):
    params = [{"params": [node.Parameter(np.ones(2))]} for _ in range(groups)]
    if kind == "adam":
        return node.Adam(params, lr=lr)
    return node.SGD(params, lr=lr, momentum=0.9)


def rates(schedule, opt, steps, key="lr"):
    """The value of ``key`` in group 0 after construction and after each step."""
    out = [opt.param_groups[0][key]]
    for _ in range(steps):
        schedule.step()
        out.append(opt.param_groups[0][key])
    return out


def one_cycle_reference(t, total, max_lr=1.0, pct=0.3, div=25.0, final=1e4, cos=True):
    """PyTorch's OneCycleLR (two phases), written out."""
    low, end_up = max_lr / div, pct * total - 1
    anneal = (lambda a, b, f: b + (a - b) / 2 * (math.cos(math.pi * f) + 1)) if cos else (lambda a, b, f: a + (b - a) * f)
    if t <= end_up:
        return anneal(low, max_lr, t / end_up)
    return anneal(max_lr, low / final, (t - end_up) / (total - 1 - end_up))


CLOSED_FORMS = [
    ("StepLR", lambda o: node.StepLR(o, 4, gamma=0.5), lambda t: 0.5 * 0.5 ** (t // 4)),
    ("MultiStepLR", lambda o: node.MultiStepLR(o, [3, 7, 7, 12], gamma=0.5), lambda t: 0.5 * 0.5 ** sum(m <= t for m in [3, 7, 7, 12])),
    ("LinearLR", lambda o: node.LinearLR(o, 0.1, 0.9, total_iters=7), lambda t: 0.5 * (0.1 + 0.8 * min(t, 7) / 7)),
    ("LinearLR-defaults", lambda o: node.LinearLR(o), lambda t: 0.5 * (1 / 3 + (2 / 3) * min(t, 5) / 5)),
    ("CosineAnnealingLR", lambda o: node.CosineAnnealingLR(o, 10, eta_min=0.01), lambda t: 0.01 + 0.49 * (1 + math.cos(math.pi * t / 10)) / 2),
    (
        "warmup+cosine",
        lambda o: node.SequentialLR(o, [node.LinearLR(o, 0.01, total_iters=5), node.CosineAnnealingLR(o, 20)], milestones=[5]),
        lambda t: 0.5 * (0.01 + 0.99 * t / 5) if t < 5 else 0.5 * (1 + math.cos(math.pi * (t - 5) / 20)) / 2,
    ),
    ("OneCycleLR", lambda o: node.OneCycleLR(o, 1.0, total_steps=30), lambda t: one_cycle_reference(t, 30)),
    ("OneCycleLR-linear", lambda o: node.OneCycleLR(o, 1.0, epochs=3, steps_per_epoch=10, anneal_strategy="linear"), lambda t: one_cycle_reference(t, 30, cos=False)),
]


@pytest.mark.parametrize("name, make, formula", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_schedules_follow_their_closed_form(name, make, formula):
    opt = optimizer()
    steps = 29 if name.startswith("OneCycle") else 30
    np.testing.assert_allclose(rates(make(opt), opt, steps), [formula(t) for t in range(steps + 1)], rtol=1e-12, atol=1e-15)


def torch_rates(make, steps, key="lr", kind="sgd"):
    import torch

    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.5) if kind == "adam" else torch.optim.SGD([p], lr=0.5, momentum=0.9)
    schedule = make(torch.optim.lr_scheduler, opt)
    value = lambda: opt.param_groups[0][key] if key != "beta1" else opt.param_groups[0]["betas"][0]
    out = [value()]
    for _ in range(steps):
        opt.step()
        schedule.step()
        out.append(value())
    return out


AGAINST_TORCH = [
    ("StepLR", lambda L, o: L.StepLR(o, 4, gamma=0.5)),
    ("MultiStepLR", lambda L, o: L.MultiStepLR(o, [3, 7, 7, 12], gamma=0.5)),
    ("LinearLR", lambda L, o: L.LinearLR(o, 0.1, 0.9, total_iters=7)),
    ("CosineAnnealingLR", lambda L, o: L.CosineAnnealingLR(o, 10, eta_min=0.01)),  # 30 steps: past T_max, up again
    ("warmup+cosine", lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.01, total_iters=5), L.CosineAnnealingLR(o, 20)], milestones=[5])),
    ("OneCycleLR", lambda L, o: L.OneCycleLR(o, 1.0, total_steps=30)),
    ("OneCycleLR-3", lambda L, o: L.OneCycleLR(o, [2.0], total_steps=30, three_phase=True, anneal_strategy="linear", pct_start=0.25)),
]


@pytest.mark.parametrize("name, make", AGAINST_TORCH, ids=[c[0] for c in AGAINST_TORCH])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_schedules_match_pytorch(name, make, kind):
    pytest.importorskip("torch")
    steps = 29 if name.startswith("OneCycle") else 30
    opt = optimizer(kind)
    keys = ["lr"] + (["beta1" if kind == "adam" else "momentum"] if name.startswith("OneCycle") else [])
    ours = make(node.optim.lr_scheduler, opt)
    got = {k: [] for k in keys}
    for t in range(steps + 1):
        if t:
            ours.step()
        for k in keys:
            got[k].append(opt.param_groups[0]["betas"][0] if k == "beta1" else opt.param_groups[0][k])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's warning about the order of step calls
        for k in keys:
            np.testing.assert_allclose(got[k], torch_rates(make, steps, k, kind), rtol=1e-12, atol=1e-15, err_msg=k)


def test_one_cycle_cycles_momentum_against_the_rate():
    opt = optimizer("sgd")
    schedule = node.OneCycleLR(opt, 1.0, total_steps=20)
    momenta = rates(schedule, opt, 19, key="momentum")
    assert momenta[0] == 0.95 and min(momenta) == pytest.approx(0.85) and momenta[-1] == pytest.approx(0.95)
    peak = int(np.argmax([one_cycle_reference(t, 20) for t in range(20)]))
    assert int(np.argmin(momenta)) == peak
    adam = optimizer("adam")
    node.OneCycleLR(adam, 1.0, total_steps=20, base_momentum=0.8, max_momentum=0.9)
    assert adam.param_groups[0]["betas"] == (0.9, 0.999)
    plain = optimizer("sgd")
    node.OneCycleLR(plain, 1.0, total_steps=20, cycle_momentum=False)
    assert plain.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 21 times; the cycle has total_steps=20"):
        rates(schedule, opt, 2)


def test_reduce_lr_on_plateau_follows_pytorchs_rule():
    opt = optimizer(lr=1.0, groups=2)
    plateau = node.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=[0.3, 0.0])
    losses = [5, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3]
    seen = []
    for loss in losses:
        plateau.step(node.Node(float(loss)))
        seen.append(plateau.get_last_lr())
    # 3 bad epochs (> patience 2) halve the rate; a cooldown epoch does not count; min_lr floors group 0
    assert [lr[1] for lr in seen] == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert seen[-1][0] == 0.3 and plateau.best == 3
    floor = node.ReduceLROnPlateau(optimizer(lr=0.3), factor=0.1, patience=0, min_lr=0.2)
    floor.step(1.0)
    floor.step(1.0)
    assert floor.get_last_lr() == [0.2]


@pytest.mark.parametrize("settings", [
    {"mode": "min"}, {"mode": "max", "patience": 1}, {"threshold_mode": "abs", "threshold": 0.3, "patience": 0},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.5, "patience": 1, "cooldown": 2, "factor": 0.3, "min_lr": 0.01},
])
def test_reduce_lr_on_plateau_matches_pytorch(settings):
    torch = pytest.importorskip("torch")
    metrics = [3.0, 2.9, 2.95, 2.9, 2.85, 2.99, 3.1, 2.5, 2.5, 2.5, 2.49, 2.6, 2.7, 2.2, 2.2, 2.2, 2.3, float("nan"), 2.0, 2.0]
    opt = optimizer(lr=1.0)
    ours = node.ReduceLROnPlateau(opt, **settings)
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=1.0)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **settings)
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == pytest.approx([g["lr"] for g in topt.param_groups], rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda o: node.CosineAnnealingLR(o, 10),
    lambda o: node.SequentialLR(o, [node.LinearLR(o, 0.1, total_iters=3), node.MultiStepLR(o, [2, 4])], milestones=[3]),
    lambda o: node.OneCycleLR(o, 1.0, total_steps=12),
    lambda o: node.ReduceLROnPlateau(o, patience=0),
], ids=["cosine", "sequential", "one-cycle", "plateau"])
def test_schedules_resume_from_a_checkpoint(tmp_path, make):
    def advance(schedule, n):
        out = []
        for t in range(n):
            schedule.step(*([10.0 - t % 3] if isinstance(schedule, node.ReduceLROnPlateau) else []))
            out.append(schedule.get_last_lr() + [schedule.optimizer.param_groups[0]["momentum"]])
        return out

    opt = optimizer()
    schedule = make(opt)
    advance(schedule, 4)
    node.save(tmp_path / "s.npz", {"schedule": schedule.state_dict(), "optimizer": opt.state_dict()})
    expected = advance(schedule, 5)
    other_opt = optimizer(lr=0.01)
    other = make(other_opt)
    state = node.load(tmp_path / "s.npz")
    other_opt.load_state_dict(state["optimizer"])
    other.load_state_dict(state["schedule"])
    assert advance(other, 5) == expected


def test_schedules_share_the_initial_learning_rate():
    opt = optimizer(lr=0.5)
    node.LinearLR(opt, 0.1, total_iters=4)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05) and opt.param_groups[0]["initial_lr"] == 0.5
    cosine = node.CosineAnnealingLR(opt, 10)  # based on 0.5 (initial_lr), not on the warmup's 0.05
    assert cosine.base_lrs == [0.5]


def sgd():
    return optimizer()


BAD = [
    (lambda: node.CosineAnnealingLR(None, 10), TypeError, r"^CosineAnnealingLR: optimizer must be a node Optimizer \(SGD, Adam, \.\.\.\), got NoneType None$"),
    (lambda: node.CosineAnnealingLR(sgd(), 0), ValueError, r"^CosineAnnealingLR: T_max must be an integer >= 1, got 0$"),
    (lambda: node.CosineAnnealingLR(sgd(), 10.0), TypeError, r"^CosineAnnealingLR: T_max must be an integer >= 1, got float 10\.0$"),
    (lambda: node.CosineAnnealingLR(sgd(), 10, eta_min=-1), ValueError, r"^CosineAnnealingLR: eta_min must be a finite number >= 0, got -1\.0$"),
    (lambda: node.LinearLR(sgd(), start_factor=0), ValueError, r"^LinearLR: start_factor must be a finite number in \(0, 1\], got 0\.0$"),
    (lambda: node.LinearLR(sgd(), end_factor=1.5), ValueError, r"^LinearLR: end_factor must be a finite number in \[0, 1\], got 1\.5$"),
    (lambda: node.LinearLR(sgd(), total_iters=0), ValueError, r"^LinearLR: total_iters must be an integer >= 1, got 0$"),
    (lambda: node.MultiStepLR(sgd(), 5), TypeError, r"^MultiStepLR: milestones must be a list of integers >= 1, got int 5$"),
    (lambda: node.MultiStepLR(sgd(), [3, 0]), ValueError, r"^MultiStepLR: milestones\[1\] must be an integer >= 1, got 0$"),
    (lambda: node.MultiStepLR(sgd(), [3], gamma=-0.1), ValueError, r"^MultiStepLR: gamma must be a finite number >= 0, got -0\.1$"),
    (lambda: node.SequentialLR(sgd(), [], []), TypeError, r"^SequentialLR: schedulers must be a non-empty list of node schedules"),
    (lambda: node.SequentialLR(sgd(), [node.StepLR(sgd(), 1)], []), ValueError, r"^SequentialLR: schedulers\[0\] \(StepLR\) is attached to another optimizer$"),
    (lambda: (lambda o: node.SequentialLR(o, [node.LinearLR(o), node.StepLR(o, 2)], [3, 5]))(sgd()), ValueError,
     r"^SequentialLR: milestones must be 1 increasing integers \(one fewer than the 2 schedulers\), got \[3, 5\]$"),
    (lambda: node.OneCycleLR(sgd(), 1.0), ValueError, r"^OneCycleLR: give total_steps, or both epochs and steps_per_epoch$"),
    (lambda: node.OneCycleLR(sgd(), 0.0, total_steps=10), ValueError, r"^OneCycleLR: max_lr must be a finite number > 0, got 0\.0$"),
    (lambda: node.OneCycleLR(sgd(), [1.0, 2.0], total_steps=10), ValueError, r"^OneCycleLR: max_lr has 2 values, but the optimizer has 1 parameter groups$"),
    (lambda: node.OneCycleLR(sgd(), 1.0, total_steps=1), ValueError, r"^OneCycleLR: total_steps must be an integer >= 2, got 1$"),
    (lambda: node.OneCycleLR(sgd(), 1.0, total_steps=10, pct_start=1.0), ValueError, r"^OneCycleLR: pct_start must be a finite number in \(0, 1\), got 1\.0$"),
    (lambda: node.OneCycleLR(sgd(), 1.0, total_steps=10, anneal_strategy="cosine"), ValueError, r"^OneCycleLR: anneal_strategy must be one of 'cos', 'linear', got 'cosine'$"),
    (lambda: node.OneCycleLR(sgd(), 1.0, total_steps=10, div_factor=0), ValueError, r"^OneCycleLR: div_factor must be a finite number > 0, got 0\.0$"),
    (lambda: node.OneCycleLR(sgd(), 1.0, total_steps=10, base_momentum=0.99), ValueError, r"^OneCycleLR: base_momentum \(0\.99\) must be at most max_momentum \(0\.95\) \(group 0\)$"),
    (lambda: node.OneCycleLR(node.Adagrad([node.Parameter(np.ones(1))]), 1.0, total_steps=10), ValueError,
     r"^OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas, Adagrad has neither; pass cycle_momentum=False$"),
    (lambda: node.ReduceLROnPlateau(sgd(), mode="minimum"), ValueError, r"^ReduceLROnPlateau: mode must be one of 'min', 'max', got 'minimum'$"),
    (lambda: node.ReduceLROnPlateau(sgd(), factor=1.0), ValueError, r"^ReduceLROnPlateau: factor must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.ReduceLROnPlateau(sgd(), patience=-1), ValueError, r"^ReduceLROnPlateau: patience must be an integer >= 0, got -1$"),
    (lambda: node.ReduceLROnPlateau(sgd(), threshold_mode="relative"), ValueError, r"^ReduceLROnPlateau: threshold_mode must be one of 'rel', 'abs', got 'relative'$"),
    (lambda: node.ReduceLROnPlateau(sgd(), cooldown=1.5), TypeError, r"^ReduceLROnPlateau: cooldown must be an integer >= 0, got float 1\.5$"),
    (lambda: node.ReduceLROnPlateau(sgd(), min_lr=-0.1), ValueError, r"^ReduceLROnPlateau: min_lr must be a finite number >= 0, got -0\.1$"),
    (lambda: node.ReduceLROnPlateau([], min_lr=-0.1), TypeError, r"^ReduceLROnPlateau: optimizer must be a node Optimizer"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_schedules_refuse_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_refused_schedule_leaves_the_optimizer_as_it_was():
    opt = optimizer(lr=0.5)
    with pytest.raises(ValueError):
        node.LinearLR(opt, start_factor=2.0)
    assert "initial_lr" not in opt.param_groups[0] and opt.param_groups[0]["lr"] == 0.5

"""Optimizers and schedulers check their hyperparameters when they are made (issue 25, areas 5 and 9).

PyTorch refuses all of these at construction; so does node, with messages of
node.validation's form. Per-group values and those a checkpoint brings back
are checked the same way. Edge cases (lr=0, momentum=0, eps=0, betas=(0, 0))
still build optimizers that step as their formula says.
"""
import numpy as np
import pytest

import node


def params():
    return [node.Parameter(np.ones(3))]


NAN, INF = float("nan"), float("inf")

BAD = [
    (lambda: node.SGD(params(), lr=-1), ValueError, r"^SGD: lr must be a finite number >= 0, got -1\.0$"),
    (lambda: node.SGD(params(), lr=NAN), ValueError, r"^SGD: lr must be a finite number >= 0, got nan$"),
    (lambda: node.SGD(params(), lr=INF), ValueError, r"^SGD: lr must be a finite number >= 0, got inf$"),
    (lambda: node.SGD(params(), lr="0.1"), TypeError, r"^SGD: lr must be a finite number >= 0, got str '0\.1'$"),
    (lambda: node.SGD(params(), lr=None), TypeError, r"^SGD: lr must be a finite number >= 0, got NoneType None$"),
    (lambda: node.SGD(params(), lr=True), TypeError, r"^SGD: lr must be a finite number >= 0, got bool True$"),
    (lambda: node.SGD(params(), momentum=1), ValueError, r"^SGD: momentum must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.SGD(params(), momentum=-0.5), ValueError, r"^SGD: momentum must be a finite number in \[0, 1\), got -0\.5$"),
    (lambda: node.SGD(params(), momentum=NAN), ValueError, r"^SGD: momentum must be a finite number in \[0, 1\), got nan$"),
    (lambda: node.SGD(params(), weight_decay=-1e-4), ValueError, r"^SGD: weight_decay must be a finite number >= 0, got -0\.0001$"),
    (lambda: node.SGD(params(), nesterov="yes", momentum=0.9), TypeError, r"^SGD: nesterov must be True or False, got str 'yes'$"),
    (lambda: node.SGD(params(), nesterov=True), ValueError, r"^SGD: nesterov=True needs momentum > 0, got momentum=0\.0$"),
    (lambda: node.SGD([{"params": params(), "lr": NAN}], lr=0.1), ValueError, r"^SGD: lr must be a finite number >= 0, got nan$"),
    (lambda: node.SGD([{"params": params(), "momentum": 2}], lr=0.1), ValueError, r"^SGD: momentum must be a finite number in \[0, 1\)"),
    (lambda: node.Adam(params(), lr=-0.001), ValueError, r"^Adam: lr must be a finite number >= 0, got -0\.001$"),
    (lambda: node.Adam(params(), lr=NAN), ValueError, r"^Adam: lr must be a finite number >= 0, got nan$"),
    (lambda: node.Adam(params(), lr="0.1"), TypeError, r"^Adam: lr must be a finite number >= 0, got str '0\.1'$"),
    (lambda: node.Adam(params(), betas=0.9), TypeError, r"^Adam: betas must be a pair of numbers in \[0, 1\), got 0\.9$"),
    (lambda: node.Adam(params(), betas=(0.9,)), TypeError, r"^Adam: betas must be a pair of numbers in \[0, 1\), got \(0\.9,\)$"),
    (lambda: node.Adam(params(), betas=(0.9, 0.99, 0.999)), TypeError, r"^Adam: betas must be a pair of numbers in \[0, 1\)"),
    (lambda: node.Adam(params(), betas="ab"), TypeError, r"^Adam: betas must be a pair of numbers in \[0, 1\), got 'ab'$"),
    (lambda: node.Adam(params(), betas=(1.0, 0.999)), ValueError, r"^Adam: betas\[0\] must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.Adam(params(), betas=(0.9, -0.1)), ValueError, r"^Adam: betas\[1\] must be a finite number in \[0, 1\), got -0\.1$"),
    (lambda: node.Adam(params(), betas=(0.9, None)), TypeError, r"^Adam: betas\[1\] must be a finite number in \[0, 1\), got NoneType None$"),
    (lambda: node.Adam(params(), eps=-1e-8), ValueError, r"^Adam: eps must be a finite number >= 0, got -1e-08$"),
    (lambda: node.Adam(params(), eps=NAN), ValueError, r"^Adam: eps must be a finite number >= 0, got nan$"),
    (lambda: node.Adam(params(), weight_decay=-1), ValueError, r"^Adam: weight_decay must be a finite number >= 0, got -1\.0$"),
    (lambda: node.Adam([{"params": params(), "betas": (0.9, 1.0)}]), ValueError, r"^Adam: betas\[1\] must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.StepLR(None, 1), TypeError, r"^StepLR: optimizer must be a node Optimizer \(SGD, Adam, \.\.\.\), got NoneType None$"),
    (lambda: node.StepLR(params(), 1), TypeError, r"^StepLR: optimizer must be a node Optimizer \(SGD, Adam, \.\.\.\), got list"),
    (lambda: node.StepLR(node.SGD(params()), 0), ValueError, r"^StepLR: step_size must be an integer >= 1, got 0$"),
    (lambda: node.StepLR(node.SGD(params()), 2.5), TypeError, r"^StepLR: step_size must be an integer >= 1, got float 2\.5$"),
    (lambda: node.StepLR(node.SGD(params()), None), TypeError, r"^StepLR: step_size must be an integer >= 1, got NoneType None$"),
    (lambda: node.StepLR(node.SGD(params()), 1, gamma=-0.5), ValueError, r"^StepLR: gamma must be a finite number >= 0, got -0\.5$"),
    (lambda: node.StepLR(node.SGD(params()), 1, gamma=NAN), ValueError, r"^StepLR: gamma must be a finite number >= 0, got nan$"),
    (lambda: node.StepLR(node.SGD(params()), 1, gamma="0.1"), TypeError, r"^StepLR: gamma must be a finite number >= 0, got str '0\.1'$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_hyperparameters_are_refused_at_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


def one_step(optimizer_class, **hyperparameters):
    p = node.Parameter(np.array([1.0, -2.0]))
    optimizer = optimizer_class([p], **hyperparameters)
    (p * p).sum().backward()  # gradient 2p = [2, -4]
    optimizer.step()
    return p.value.tolist()


@pytest.mark.parametrize("kernels", ["auto", "reference"])
def test_edge_cases_still_step_as_their_formula_says(kernels):
    with node.using_config("kernels", kernels):
        assert one_step(node.SGD, lr=0) == [1.0, -2.0]
        assert one_step(node.SGD, lr=0.5, momentum=0) == [0.0, 0.0]
        assert one_step(node.SGD, lr=0.5, momentum=0.0, weight_decay=0) == [0.0, 0.0]
        assert one_step(node.SGD, lr=np.float32(0.25), momentum=np.float64(0.9)) == [0.5, -1.0]  # first step: v = g
        assert one_step(node.Adam, lr=0) == [1.0, -2.0]
        assert one_step(node.Adam, lr=0.1, betas=[0, 0], eps=0) == pytest.approx([0.9, -1.9])  # m̂/√v̂ = sign(g)
        assert one_step(node.Adam, lr=0.1, betas=np.array([0.5, 0.5])) == pytest.approx([0.9, -1.9])


def test_a_checkpoint_with_bad_hyperparameters_is_refused_and_changes_nothing():
    p = node.Parameter(np.ones(2))
    adam = node.Adam([p], lr=0.01)
    saved = adam.state_dict()
    saved["param_groups"][0]["betas"] = [0.9, 1.5]
    with pytest.raises(ValueError, match=r"^Adam: betas\[1\] must be a finite number in \[0, 1\), got 1\.5$"):
        adam.load_state_dict(saved)
    assert adam.param_groups[0]["betas"] == (0.9, 0.999)
    saved["param_groups"][0].update(betas=[0.5, 0.6], lr=0.2)
    adam.load_state_dict(saved)
    assert adam.param_groups[0]["betas"] == (0.5, 0.6) and adam.param_groups[0]["lr"] == 0.2


def test_step_lr_accepts_numpy_integers_and_gamma_zero():
    optimizer = node.SGD(params(), lr=0.5)
    scheduler = node.StepLR(optimizer, np.int64(2), gamma=0)
    scheduler.step()
    assert scheduler.get_last_lr() == [0.5]
    scheduler.step()
    assert scheduler.get_last_lr() == [0.0]

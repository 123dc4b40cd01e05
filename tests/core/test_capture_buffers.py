"""node.compile's planned buffers: results written with out= on later replays, never an array that left the step.

After its first replay a compiled step keeps the arrays that simple operations
made (``node.kernels.into``) and writes into them on every later replay. These
tests check that this changes no bit, that it covers the seed step's work, and
that an array the user may still hold (a result, a view of one, a ``.grad``,
what a side effect kept) is never written into.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import node
from node.core import replayable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_capture import batches, mlp_setup, same


def run_mlp(plan_buffers, xp, steps=6):
    step, state, _ = mlp_setup()
    compiled = node.compile(step, plan_buffers=plan_buffers)
    losses = [compiled(x, t) for x, t in batches(xp, steps, 16, (784,))]
    return compiled, losses, state


def test_planned_buffers_change_no_bit_and_cover_the_seed_step(xp):
    planned, losses, state = run_mlp(True, xp)
    plain, plain_losses, plain_state = run_mlp(False, xp)
    assert all(same(a, b) for a, b in zip(losses, plain_losses))
    assert all(same(a, b) for a, b in zip(state, plain_state))
    summary = planned.describe().splitlines()[-1]
    print(summary)
    assert summary.startswith("buffers: 8 results written with out=")
    for form in ("divide_into", "affine_into", "relu_into", "add_into"):
        assert form in summary
    assert plain.describe().splitlines()[-1] == "buffers: not planned (plan_buffers=False)"


def test_results_and_their_views_are_never_written_into():
    w = node.Node(np.arange(1.0, 7.0).reshape(2, 3))

    @node.compile
    def step(x):
        y = x * w  # a Mul: it has a form with out=, but a view of it is returned
        return y.reshape(-1), (y + 1).sum()

    held = [step(np.full((2, 3), float(i))) for i in range(1, 6)]
    for i, (flat, total) in enumerate(held, start=1):
        np.testing.assert_array_equal(flat.value, i * np.arange(1.0, 7.0))
        assert float(total) == i * 21.0 + 6
    print(step.describe().splitlines()[-1])
    assert step.replays == 3


def test_a_stored_gradient_is_never_written_into():
    w = node.Node(np.ones(3))

    @node.compile
    def step(x):
        w.grad = None
        loss = (x * w).sum() + (w * w).sum()  # w's gradient is a sum of two: an add with a form
        loss.backward()
        return loss

    grads = []
    for i in range(5):
        step(np.full(3, float(i)))
        grads.append(w.grad)
    for i, g in enumerate(grads):
        np.testing.assert_array_equal(g, np.full(3, i + 2.0))
    assert len({id(g) for g in grads}) == 5


def test_what_a_side_effect_keeps_is_never_written_into():
    kept = []

    @replayable
    def keep(array):
        """Keep the array (a log, a running record)."""
        kept.append(array)

    w = node.Node(np.ones(2))

    @node.compile
    def step(x):
        y = x * w + 1
        keep(y.value)
        return (y * y).sum()

    for i in range(5):
        step(np.full(2, float(i)))
    assert [a.tolist() for a in kept] == [[i + 1.0, i + 1.0] for i in range(5)]


def test_plan_buffers_must_be_a_bool():
    with pytest.raises(TypeError, match="plan_buffers must be True or False, got 1"):
        node.compile(lambda x: x, plan_buffers=1)


def test_a_change_of_kernel_setting_after_planning_gives_that_settings_results(monkeypatch):
    """A planned form stands for the reference forward: under other kernel settings the replay asks the dispatcher again."""
    from node.kernels.outer import OuterProduct

    calls = []
    original = OuterProduct.forward
    monkeypatch.setattr(OuterProduct, "forward", lambda self, f, a, b: calls.append(1) or original(self, f, a, b))
    w = node.Node(np.random.default_rng(0).standard_normal((1, 256)))

    def make():
        v = node.Node(np.random.default_rng(1).standard_normal((4, 1)))

        def step(x):
            v.grad = None
            loss = (x @ w * v).sum()  # (4,1) @ (1,256): a one-term product, which node.kernels.outer computes
            loss.backward()
            return loss, v.grad

        return step

    eager, compiled = make(), node.compile(make())
    for i in range(7):
        x = np.full((4, 1), float(i + 1))
        mode = "reference" if i < 4 else "auto"  # planned under "reference" (4th call), replayed under "auto" after
        with node.using_config("kernels", mode):
            expected = eager(x)
            before = len(calls)
            got = compiled(x)
        assert same(expected[0], got[0]) and same(expected[1], got[1])
        assert (len(calls) > before) == (mode == "auto"), "the replay ran the planned form where the kernel applies"
    print(compiled.describe().splitlines()[-1])

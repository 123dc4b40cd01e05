"""node.compile's planned buffers: results written with out= on later replays, never an array that left the step.

After its first replay a compiled step keeps the arrays that simple operations
made (``node.kernels.into``) and writes into them on every later replay. These
tests check that this changes no bit, that it covers the seed step's work, and
that an array the user may still hold (a result, a view of one, a ``.grad``,
what a side effect kept) is never written into.
"""
import importlib.util
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
    relu_compiled = (  # a kernel runs ReLU: no form with out=
        xp is np and node.Config.kernels == "auto" and importlib.util.find_spec("numba") is not None
    )
    assert summary.startswith(f"buffers: {7 if relu_compiled else 8} results written with out=")
    for form in ("divide_into", "affine_into", "add_into") + (() if relu_compiled else ("relu_into",)):
        assert form in summary
    assert ("relu_into" in summary) != relu_compiled
    assert plain.describe().splitlines()[-1] == "buffers: not planned (plan_buffers=False)"


def test_results_and_their_views_are_never_written_into(xp):
    w = node.Node(xp.arange(1.0, 7.0).reshape(2, 3))

    @node.compile
    def step(x):
        y = x * w  # a Mul: it has a form with out=, but views of it are returned
        return y.reshape(-1), y.T, y[1:], (y + 1).sum()

    held = [step(xp.full((2, 3), float(i))) for i in range(1, 6)]
    for i, (flat, transposed, rows, total) in enumerate(held, start=1):
        expected = i * np.arange(1.0, 7.0)
        np.testing.assert_array_equal(node.asnumpy(flat.value), expected)
        np.testing.assert_array_equal(node.asnumpy(transposed.value), expected.reshape(2, 3).T)
        np.testing.assert_array_equal(node.asnumpy(rows.value), expected.reshape(2, 3)[1:])
        assert float(total) == i * 21.0 + 6
    print(step.describe().splitlines()[-1])
    assert step.replays == 3


def test_an_argument_in_another_memory_order_is_a_new_signature():
    """Sums add in memory order: a buffer planned for C-ordered data must not serve F-ordered data."""
    rng = np.random.default_rng(0)

    def step(x):
        return (-x).sum(axis=0)  # Neg has a form with out=; its buffer keeps the memory order it was made in

    compiled = node.compile(step)
    for order in "CCCFCFF":
        a = (rng.random((64, 64)) * 1000).astype(np.float32)
        x = node.Node(np.asfortranarray(a) if order == "F" else a, requires_grad=False)
        assert same(compiled(x), step(x)), f"a {order}-ordered argument"
    print(compiled.describe().splitlines()[0])
    assert compiled.signatures == 2 and compiled.replays == 3


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


def test_a_first_replay_stopped_midway_leaves_nothing_planned_from_it():
    """A replay stopped by a branch on the data (ignore_index) must not plan what a side effect kept meanwhile."""
    rng = np.random.default_rng(0)
    w = node.Node(rng.standard_normal((1, 16)).astype(np.float32))
    log = []

    @replayable
    def logger(h):
        """Keep the array."""
        log.append(h)

    def step(x, t):
        h = x @ w  # a (4,1) @ (1,16) MatMul: node.kernels.outer under "auto", the reference (with a form) otherwise
        logger(h)
        return node.functions.cross_entropy(h, t)

    compiled = node.compile(step)
    xs = [node.Node(rng.standard_normal((4, 1)).astype(np.float32)) for _ in range(5)]
    good, ignored = np.array([0, 1, 2, 3]), np.array([0, -100, 2, 3])
    compiled(xs[0], good)
    compiled(xs[1], good)
    with node.using_config("kernels", "reference"), pytest.raises(node.CaptureError, match="depends on the data"):
        compiled(xs[2], ignored)  # the first replay: stopped after the logger kept h
    kept = log[-1].value.copy()
    compiled(xs[3], good)  # plans the buffers: the MatMul ran the outer kernel, so it offered nothing
    with node.using_config("kernels", "reference"):
        compiled(xs[4], good)
    print(compiled.describe().splitlines()[-1])
    np.testing.assert_array_equal(log[2].value, kept)

"""The optimizers' fast updates (node.kernels.optim) against their readable formulas (node.optim).

Both are run on the same problem from the same start, once with the kernels
on ("auto") and once off ("reference"); on NumPy the parameters and the
optimizer's state must be identical to the last bit after every step, with
the compiled loops (numba, where installed) and without.
"""
import numpy as np
import pytest

import node
from node.kernels import optim as fast

pytestmark = pytest.mark.kernels  # kept on under NODE_TEST_KERNELS=reference

CASES = {
    "sgd": lambda ps: node.SGD(ps, 0.1),
    "sgd weight decay": lambda ps: node.SGD(ps, 0.1, weight_decay=0.05),
    "momentum": lambda ps: node.SGD(ps, 0.05, momentum=0.9),
    "momentum weight decay": lambda ps: node.SGD(ps, 0.05, momentum=0.5, weight_decay=0.01),
    "nesterov weight decay": lambda ps: node.SGD(ps, 0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    "adam": lambda ps: node.Adam(ps, 0.01),
    "adam weight decay": lambda ps: node.Adam(ps, 0.01, betas=(0.8, 0.99), weight_decay=0.05),
    "adam groups": lambda ps: node.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1, "eps": 1e-3}], 0.01),
}


def trajectory(make, kernels, xp, dtype, steps=6, seed=0):
    """Minimize Σ (W·c)² + Σ (b - c)³ with a fresh c each step; the parameters and state after every step."""
    rng = np.random.default_rng(seed)
    w = node.Parameter(xp.asarray(rng.standard_normal((3, 4)).astype(dtype)))
    b = node.Parameter(xp.asarray(rng.standard_normal(4).astype(dtype)))
    optimizer = make([w, b])
    history = []
    with node.using_config("kernels", kernels):
        for _ in range(steps):
            c = node.Node(xp.asarray(rng.standard_normal(4).astype(dtype)), requires_grad=False)
            optimizer.zero_grad()
            (((w * c) ** 2).sum() + ((b - c) ** 3).sum()).backward()
            optimizer.step()
            state = [node.asnumpy(v).copy() for p in (w, b) for v in optimizer.state[p].values() if node.backend.is_array(v)]
            history.append([node.asnumpy(w.value).copy(), node.asnumpy(b.value).copy(), *state])
    return history


@pytest.mark.parametrize("compiled_kernels", ["auto", "off"])  # numba's loops where installed, or NumPy's passes
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_updates_give_the_reference_parameters(xp, case, dtype, compiled_kernels):
    node.Config.compiled_kernels = compiled_kernels
    fast_run = trajectory(CASES[case], "auto", xp, dtype)
    reference_run = trajectory(CASES[case], "reference", xp, dtype)
    for step, (got, expected) in enumerate(zip(fast_run, reference_run)):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.dtype == np.dtype(dtype)
            if xp is np:  # the same arithmetic in the same order: identical
                np.testing.assert_array_equal(a, b, err_msg=f"{case}, step {step + 1}")
            else:  # a fused GPU kernel may contract a product and a sum
                np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == "float32" else 1e-12, err_msg=f"{case}, step {step + 1}")


@pytest.mark.parametrize("case", ["momentum", "adam"])
def test_the_setting_chooses_the_update(monkeypatch, case):
    calls = []
    for name in ("sgd_step", "adam_step"):
        original = getattr(fast, name)
        monkeypatch.setattr(fast, name, lambda *args, original=original, name=name: calls.append(name) or original(*args))
    trajectory(CASES[case], "reference", np, "float64", steps=2)
    assert calls == []
    trajectory(CASES[case], "auto", np, "float64", steps=2)
    assert calls == [("adam_step" if case == "adam" else "sgd_step")] * 4  # two parameters, two steps


def test_fast_updates_work_in_place(xp):
    w = node.Parameter(xp.ones(5, dtype=np.float32))
    optimizer = node.Adam([w], 0.1)
    (w * w).sum().backward()
    optimizer.step()
    m, v, value = optimizer.state[w]["m"], optimizer.state[w]["v"], w.value
    optimizer.step()
    assert optimizer.state[w]["m"] is m and optimizer.state[w]["v"] is v and w.value is value


def test_an_unknown_kernel_setting_is_refused():
    w = node.Parameter(np.ones(2))
    optimizer = node.SGD([w], 0.1)
    w.sum().backward()
    with node.using_config("kernels", "fastest"), pytest.raises(ValueError, match="'auto' or 'reference'"):
        optimizer.step()

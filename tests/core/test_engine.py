"""Engine guarantees: per-thread modes, in-place edits detected, anomaly mode, hooks, unshared leaf gradients."""
import threading

import numpy as np
import pytest

import node


# ---- modes are per thread ------------------------------------------------------------------------
def test_no_grad_in_one_thread_does_not_stop_training_in_another():
    """An evaluation thread inside no_grad() while another thread trains: every training step records its graph."""
    model = node.Linear(4, 2, rng=0)
    x = node.Node(np.ones((3, 4), np.float32), requires_grad=False)
    stop, failures = threading.Event(), []

    def evaluate():
        while not stop.is_set():
            with node.no_grad():
                model(x)

    def train():
        for _ in range(300):
            try:
                (model(x) ** 2).sum().backward()
            except node.GraphError as exc:
                failures.append(exc)

    evaluator = threading.Thread(target=evaluate)
    evaluator.start()
    try:
        train()
    finally:
        stop.set()
        evaluator.join()
    assert not failures, f"{len(failures)} of 300 training steps found recording switched off by the other thread"


def test_interleaved_no_grad_blocks_restore_each_threads_mode():
    """A enters, B enters, A exits, B exits: both threads, and the main thread, record afterwards."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with node.no_grad():
            a_in.set()
            b_in.wait()
        a_out.set()
        seen["a"] = node.Config.enable_backprop

    def thread_b():
        a_in.wait()
        with node.no_grad():
            b_in.set()
            a_out.wait()
            seen["b inside"] = node.Config.enable_backprop
        seen["b"] = node.Config.enable_backprop

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": True, "b inside": False, "b": True}
    assert node.Config.enable_backprop
    center = node.CenterLoss(2, 2, alpha=0.5, rng=0)
    before = center.centers.copy()
    center(node.Node(np.zeros((2, 2), np.float32)), np.array([0, 1]))
    assert not np.array_equal(center.centers, before)  # the centers still move


def test_a_new_thread_starts_from_the_defaults():
    seen = {}
    with node.no_grad(), node.using_config("default_dtype", np.dtype(np.float64)):
        thread = threading.Thread(target=lambda: seen.update(grad=node.Config.enable_backprop, dtype=node.Config.default_dtype))
        thread.start()
        thread.join()
    assert seen == {"grad": True, "dtype": np.dtype(np.float32)}


# ---- in-place edits ---------------------------------------------------------------------------------
def test_value_replaced_between_forward_and_backward_is_detected():
    w = node.Parameter(np.array([2.0], np.float32))
    x = node.Parameter(np.array([3.0], np.float32))
    y = (x * w).sum()
    w.value = np.array([100.0], np.float32)
    with pytest.raises(node.GraphError, match=r"Mul.backward needs input 1 \(shape \(1,\)\) as it was in the forward pass, but its .value was replaced"):
        y.backward()


def test_value_written_in_place_and_declared_is_detected():
    w = node.Parameter(np.array([2.0], np.float32), name="w")
    x = node.Parameter(np.array([3.0], np.float32))
    y = (x * w).sum()
    w.value[...] = 100
    w.modified_in_place()
    with pytest.raises(node.GraphError, match=r"Mul.backward needs input 1 \(shape \(1,\), name 'w'\) .* version 0 when the forward pass ran, 1 now"):
        y.backward()


@pytest.mark.parametrize("make", [lambda ps: node.SGD(ps, 0.1), lambda ps: node.Adam(ps, 0.1)])
def test_optimizer_step_before_a_second_backward_is_detected(make):
    model = node.Linear(3, 1, rng=0)
    optimizer = make(model.parameters())
    loss = (model(node.Node(np.ones((2, 3), np.float32))) ** 2).sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(node.GraphError, match=r"Affine.backward needs input 1 .* version 0 when the forward pass ran, 1 now"):
        loss.backward()


def test_load_state_dict_before_backward_is_detected():
    model = node.Linear(3, 1, rng=0)
    loss = model(node.Node(np.ones((2, 3), np.float32))).sum()
    model.load_state_dict(node.Linear(3, 1, rng=1).state_dict())
    with pytest.raises(node.GraphError, match="modified in place"):
        loss.backward()


def test_center_loss_update_before_backward_keeps_the_right_gradient():
    """CenterLoss moves its centers in the forward call; the loss's gradient still uses the old centers."""
    center = node.CenterLoss(2, 2, alpha=0.5, rng=0)
    old = center.centers.copy()
    x = node.Parameter(np.array([[1.0, 2.0], [3.0, -1.0]], np.float32))
    loss = center(x, np.array([0, 1]))
    assert not np.array_equal(center.centers, old)
    loss.backward()
    np.testing.assert_allclose(x.grad, (x.value - old[[0, 1]]) / 2, rtol=1e-6)


# ---- anomaly mode -------------------------------------------------------------------------------------
def test_anomaly_mode_names_the_forward_op_that_made_nan():
    x = node.Parameter(np.array([1.0, -1.0]))
    with node.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(node.AnomalyError, match=r"Log produced NaN in output 0 during the forward pass\. The Log was created at .*test_engine.py:\d+ in test_anomaly_mode_names_the_forward_op_that_made_nan: y = x.log\(\)"):
            y = x.log()  # noqa: F841
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().value[1])  # off again: no check


def test_anomaly_mode_names_the_backward_op_that_made_nan():
    x = node.Parameter(np.array([0.0, 4.0]))
    with node.detect_anomaly(), np.errstate(divide="ignore"):
        loss = x.sqrt().sum()
        with pytest.raises(node.AnomalyError, match=r"Sqrt produced infinity in the gradient of input 0 during the backward pass\. The Sqrt was created at .*loss = x.sqrt\(\).sum\(\)"):
            loss.backward()
    without = x.sqrt().sum()
    with np.errstate(divide="ignore"):
        without.backward()  # off: no error, the infinity goes through
    assert np.isinf(x.grad[0])


def test_anomaly_mode_says_when_the_input_already_held_nan():
    with node.detect_anomaly(), np.errstate(invalid="ignore"), pytest.raises(node.AnomalyError, match=r"Mul produced NaN .*what it received already held NaN"):
        node.Node(np.array([np.nan])) * 2


# ---- hooks ----------------------------------------------------------------------------------------------
def test_hooks_see_modify_and_can_be_removed():
    x = node.Parameter(np.array([1.0, 2.0]))
    h = x * 3
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.copy()))
    clip = x.register_hook(lambda g: np.clip(g, -1, 1))
    (h * h).sum().backward()
    np.testing.assert_allclose(seen[0], [6.0, 12.0])  # d/dh of Σh² = 2h
    np.testing.assert_allclose(x.grad, [1.0, 1.0])  # 18 and 36, clipped by the leaf's hook
    handle.remove()
    clip.remove()
    x.zero_grad()
    h = x * 3
    (h * h).sum().backward()
    assert len(seen) == 1 and x.grad.tolist() == [18.0, 36.0]


def test_leaf_hook_runs_once_on_the_summed_gradient():
    x = node.Parameter(np.array([1.0]))
    calls = []
    x.register_hook(lambda g: calls.append(float(g[0])))
    (x * 2 + x * 3).sum().backward()
    assert calls == [5.0] and x.grad.tolist() == [5.0]


def test_forward_hook_sees_activations():
    model = node.Sequential(node.Linear(3, 4, rng=0), node.ReLU())
    seen = []
    handle = model.layers[0].register_forward_hook(lambda layer, inputs, output: seen.append((type(layer).__name__, output.shape)))
    model(node.Node(np.ones((2, 3), np.float32)))
    handle.remove()
    model(node.Node(np.ones((2, 3), np.float32)))
    assert seen == [("Linear", (2, 4))]


# ---- leaf gradients are their own arrays ---------------------------------------------------------------
def test_leaf_gradients_do_not_alias():
    a, b = node.Parameter(np.ones(3)), node.Parameter(np.ones(3))
    (a + b).sum().backward()
    assert a.grad is not b.grad
    for p in (a, b):
        p.grad *= 0.5  # clipping in place, parameter by parameter
    assert a.grad.tolist() == [0.5] * 3 and b.grad.tolist() == [0.5] * 3
    c, d = node.Parameter(np.ones((2, 3))), node.Parameter(np.ones(6))
    (c + d.reshape(2, 3)).sum().backward()  # d's gradient is a reshaped view of the same memory
    c.grad *= 5
    assert d.grad.tolist() == [1.0] * 6


def test_integer_nodes_cannot_require_grad():
    with pytest.raises(TypeError, match=r"only floating-point and complex Nodes can require gradients, got dtype int64: pass requires_grad=False"):
        node.Node(np.arange(3), requires_grad=True)
    assert not node.Node(np.arange(3)).requires_grad and node.Node(np.ones(3)).requires_grad

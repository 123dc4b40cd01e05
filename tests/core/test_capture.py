"""node.compile: a replayed step gives the eager step's results bit for bit, and its contract is enforced.

Each model is built twice from the same seed: one copy trained eagerly, one
through ``node.compile``, on the same batches; after every step the losses,
parameters, optimizer state, centers and running statistics must be
identical (the replay runs the same forwards, kernels and backwards in the
same order, so nothing is reordered).
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import node
from node import functions as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from center_loss_convnet import LeNetsPlusPlus
from center_loss_mnist import Classifier


def batches(xp, count, size, shape, classes=10, seed=0, one_hot=True):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x = xp.asarray((rng.random((size, *shape)) * 255).astype(np.float32))
        labels = rng.integers(0, classes, size)
        t = xp.asarray(np.eye(classes, dtype=np.float32)[labels] if one_hot else labels)
        out.append((node.Node(x, requires_grad=False), t))
    return out


def same(a, b):
    a, b = node.asnumpy(getattr(a, "value", a)), node.asnumpy(getattr(b, "value", b))
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def mlp_setup(seed=0, learnable=False):
    """The seed notebook's step: MLP 784-256-2-10, softmax cross entropy + Center Loss, Adam."""
    model = Classifier(node.layers.as_generator(seed))
    optimizer = node.Adam(model.parameters(), 1e-3)
    if learnable:
        center = node.LearnableCenterLoss(10, 2, lambda_=0.1, rng=seed)
        center_optimizer = node.SGD(center.parameters(), lr=0.5)
    else:
        center, center_optimizer = node.CenterLoss(10, 2, alpha=0.01, rng=seed), None

    def step(x, t):
        optimizer.zero_grad()
        if center_optimizer is not None:
            center_optimizer.zero_grad()
        h, scores = model(x)
        loss = scores.softmax_with_cross_entropy(t) + center(h, t)
        loss.backward()
        optimizer.step()
        if center_optimizer is not None:
            center_optimizer.step()
        return loss

    state = [*model.parameters(), *center.parameters()] if learnable else [*model.parameters(), center.centers]
    return step, state, optimizer


def lenets_setup(seed=0):
    """LeNets++ (Conv-BN-PReLU blocks, max pooling), NLL loss + Center Loss, SGD with momentum and weight decay."""
    model = LeNetsPlusPlus(node.layers.as_generator(seed))
    optimizer = node.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    center = node.CenterLoss(10, 2, alpha=0.5, rng=seed + 1)

    def step(x, t):
        optimizer.zero_grad()
        features, log_probs = model(x)
        loss = F.nll_loss(log_probs, t) + center(features, t)
        loss.backward()
        optimizer.step()
        return loss, features

    buffers = [array for _, array in model.named_buffers()]
    assert len(buffers) == 12  # the running mean and variance of six batch norms
    return step, [*model.parameters(), center.centers, *buffers], optimizer


def check_against_eager(setup, data, **kwargs):
    eager_step, eager_state, eager_opt = setup(**kwargs)
    step, state, opt = setup(**kwargs)
    compiled = node.compile(step)
    for x, t in data:
        replays = compiled.replays
        expected, got = eager_step(x, t), compiled(x, t)
        expected, got = (expected, got) if isinstance(expected, tuple) else ((expected,), (got,))
        for e, g in zip(expected, got):
            assert same(e, g), "a replayed step's result differs from the eager step's"
            if compiled.replays > replays:  # a replay's results are new Nodes without a graph
                assert g.creator is None and g.requires_grad is False
        for a, b in zip(eager_state, state):
            assert same(a, b), "a parameter, center or running statistic differs after a replayed step"
    for p, q in zip(eager_opt.parameters(), opt.parameters()):
        for key, value in eager_opt.state[p].items():
            assert same(value, opt.state[q][key]) if hasattr(value, "shape") else value == opt.state[q][key]
    return compiled


def test_the_seed_mlp_step_replays_bit_for_bit(xp):
    compiled = check_against_eager(mlp_setup, batches(xp, 6, 16, (784,)))
    assert compiled.replays == 4 and compiled.signatures == 1


def test_the_learnable_center_loss_step_replays_bit_for_bit(xp):
    compiled = check_against_eager(mlp_setup, batches(xp, 5, 16, (784,), one_hot=False), learnable=True)
    assert compiled.replays == 3


def test_lenets_plus_plus_replays_bit_for_bit(xp):
    compiled = check_against_eager(lenets_setup, batches(xp, 4, 3, (1, 28, 28), one_hot=False))
    assert compiled.replays == 2


def test_replays_leave_the_nodes_of_earlier_calls_alone():
    step, _, _ = mlp_setup()
    compiled = node.compile(step)
    data = batches(np, 5, 4, (784,))
    losses = [compiled(x, t) for x, t in data]
    kept = [loss.value.copy() for loss in losses]
    for x, t in data:
        compiled(x, t)
    assert all(same(loss, value) for loss, value in zip(losses, kept))
    assert losses[1].creator is not None  # the recording calls' results are eager ones, graph and all


def test_a_new_shape_is_recorded_again(xp):
    data = batches(xp, 4, 16, (784,)) + batches(xp, 3, 5, (784,), seed=1) + batches(xp, 1, 16, (784,), seed=2)
    compiled = check_against_eager(mlp_setup, data)
    assert compiled.signatures == 2
    assert compiled.replays == 2 + 1 + 1


def test_the_replay_draws_fresh_dropout_masks_from_the_same_stream():
    def setup():
        layer, drop = node.Linear(6, 4, rng=0), node.Dropout(0.5, rng=3)
        optimizer = node.SGD(layer.parameters(), lr=0.1)

        def step(x):
            optimizer.zero_grad()
            loss = (drop(layer(x)) ** 2).sum()
            loss.backward()
            optimizer.step()
            return loss

        return step, layer.parameters(), optimizer

    data = [(node.Node(np.full((5, 6), i, np.float32), requires_grad=False),) for i in range(1, 6)]
    eager_step, eager_state, _ = setup()
    step, state, _ = setup()
    compiled = node.compile(step)
    for (x,) in data:
        assert same(eager_step(x), compiled(x))
    for a, b in zip(eager_state, state):
        assert same(a, b)


def test_gradients_reach_an_argument_that_requires_them():
    w = node.Node(np.arange(3.0), name="w")

    @node.compile
    def step(x):
        loss = (x * w).sum()
        loss.backward()
        return loss

    for i in range(4):
        x = node.Node(np.full(3, float(i + 1)))
        w.grad = None
        loss = step(x)
        assert float(loss) == pytest.approx((i + 1) * 3.0)
        np.testing.assert_array_equal(x.grad, np.arange(3.0))
        np.testing.assert_array_equal(w.grad, np.full(3, float(i + 1)))
    assert step.replays == 2


def test_returned_structures_keep_their_shape():
    w = node.Node(np.ones(2))

    @node.compile(max_signatures=2)
    def step(x, scale):
        y = x * w * scale
        return {"y": y, "pair": (y.sum(), 7), "raw": x}

    for _ in range(3):
        x = np.arange(2.0)
        out = step(x, 2.0)
        assert set(out) == {"y", "pair", "raw"} and out["pair"][1] == 7
        np.testing.assert_array_equal(out["y"].value, [0.0, 2.0])
        assert float(out["pair"][0]) == 2.0 and out["raw"] is x
    assert step.replays == 1


# ---- the contract ---------------------------------------------------------------------------
def test_control_flow_that_depends_on_the_data_is_refused():
    w = node.Node(np.ones(3))
    calls = []

    @node.compile
    def step(x):
        calls.append(1)
        y = x * w
        if len(calls) % 2 == 0:  # a counter, not the shapes, decides
            y = y.exp()
        return y.sum()

    step(np.ones(3))
    with pytest.raises(node.CaptureError, match="different work|differ"):
        step(np.ones(3))


def test_an_input_computed_with_numpy_from_the_data_is_refused():
    w = node.Node(np.ones(3))

    @node.compile
    def step(x):
        scaled = node.Node(np.asarray(x) / 2)  # NumPy on the argument: node never sees it
        return (scaled * w).sum()

    step(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(node.CaptureError, match="computed outside node from the step's data"):
        step(np.array([4.0, 5.0, 6.0]))


def test_a_constant_made_inside_the_step_is_fine():
    w = node.Node(np.ones(3))

    @node.compile
    def step(x):
        return (x * w + node.Node(np.array([1.0, 2.0, 3.0]))).sum()

    results = [float(step(np.full(3, float(i)))) for i in range(4)]
    assert results == [6.0, 9.0, 12.0, 15.0] and step.replays == 2


@pytest.mark.parametrize("read", [lambda y: float(y), lambda y: y.item(), lambda y: bool(y > 0), lambda y: y.numpy()])
def test_reading_a_value_while_recording_is_refused(read):
    w = node.Node(np.ones(3))

    @node.compile
    def step(x):
        y = (x * w).sum()
        read(y)
        return y

    with pytest.raises(node.CaptureError, match="reads a Node's value into Python"):
        step(np.ones(3))
    assert node.Config.tracer is None


def test_hooks_higher_order_and_node_grad_are_refused():
    w = node.Node(np.ones(3))

    @node.compile
    def with_hook(x):
        y = x * w
        y.register_hook(lambda g: g * 2)
        y.sum().backward()

    @node.compile
    def second_order(x):
        (g,) = node.grad((x * w * w).sum(), [w], create_graph=True)
        return g

    for step, what in ((with_hook, "hook"), (second_order, "create_graph")):
        with pytest.raises(node.CaptureError, match=what):
            step(np.ones(3))


def test_too_many_signatures_run_eagerly_with_one_warning():
    w = node.Node(np.ones(1))
    step = node.compile(lambda x: (x * w).sum(), max_signatures=1)
    step(np.ones(2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in (3, 4, 5):
            assert float(step(np.ones(n))) == n
    assert len(caught) == 1 and "max_signatures" in str(caught[0].message)


def test_arguments_are_checked():
    with pytest.raises(TypeError, match="step must be a callable"):
        node.compile(3)
    with pytest.raises(ValueError, match="max_signatures must be an integer >= 1, got 0"):
        node.compile(lambda x: x, max_signatures=0)
    step = node.compile(lambda x, options: x)
    with pytest.raises(TypeError, match="argument 1 is a dict"):
        step(np.ones(2), {"a": 1})


def test_recording_is_per_thread():
    import threading

    w = node.Node(np.ones(2))
    seen = []

    @node.compile
    def step(x):
        seen.append(node.Config.tracer is not None)
        other = threading.Thread(target=lambda: seen.append(node.Config.tracer is not None))
        other.start()
        other.join()
        return (x * w).sum()

    step(np.ones(2))
    assert seen == [True, False]


def test_a_branch_on_the_data_inside_node_is_checked_again_on_every_replay():
    scores = node.Node(np.zeros((2, 3), np.float32))
    step = node.compile(lambda t: F.cross_entropy(scores, t))
    for _ in range(3):
        step(np.array([0, 1]))
    assert step.replays == 1
    with pytest.raises(node.CaptureError, match="depends on the data"):
        step(np.array([0, -100]))  # ignore_index: eager node takes its general path here


def test_a_bad_label_is_still_refused_on_a_replay():
    scores = node.Node(np.zeros((2, 3), np.float32))
    step = node.compile(lambda t: scores.softmax_with_cross_entropy(t))
    for _ in range(3):
        step(np.array([0, 1]))
    with pytest.raises(ValueError, match="label -3"):
        step(np.array([0, -3]))


def test_describe_lists_the_recorded_program():
    step, _, _ = mlp_setup()
    compiled = node.compile(step)
    for x, t in batches(np, 3, 4, (784,)):
        compiled(x, t)
    text = compiled.describe()
    print(text)
    assert text.startswith("signature 0: Node (4, 784)") and "replayed" in text
    assert "forward  Div(argument 0, constant ())" in text and "live (784, 256), live (256,)) -> #" in text
    assert "backward Affine(" in text and "effect   Optimizer.step" in text and "effect   CenterLoss.update_centers" in text


@pytest.mark.gpu
def test_a_replayed_step_never_waits_for_the_gpu():
    from helpers import skip_without_cupy

    skip_without_cupy()
    import cupyx

    node.set_backend("cupy")
    import cupy

    step, _, _ = mlp_setup()
    compiled = node.compile(step)
    data = batches(cupy, 5, 8, (784,))
    for x, t in data[:2]:
        compiled(x, t)  # recording may wait (it compares the two recordings)
    with cupyx.allow_synchronize(False):
        for x, t in data[2:]:
            loss = compiled(x, t)
    print("3 replayed steps, no device wait; last loss", float(loss.value))
    assert compiled.replays == 3


def test_gradient_clipping_and_a_per_step_schedule_are_replayed():
    def setup():
        model = Classifier(node.layers.as_generator(0))
        optimizer = node.SGD(model.parameters(), lr=0.5, momentum=0.9)
        schedule = node.optim.OneCycleLR(optimizer, max_lr=0.5, total_steps=20)

        def step(x, t):
            optimizer.zero_grad()
            _, scores = model(x)
            loss = scores.softmax_with_cross_entropy(t)
            loss.backward()
            norm = node.clip_grad_norm_(model.parameters(), max_norm=0.5)
            optimizer.step()
            schedule.step()
            return loss, norm

        return step, model.parameters(), optimizer

    eager_step, eager_state, eager_opt = setup()
    step, state, opt = setup()
    compiled = node.compile(step)
    for x, t in batches(np, 6, 8, (784,)):
        (loss_e, norm_e), (loss_c, norm_c) = eager_step(x, t), compiled(x, t)
        assert same(loss_e, loss_c) and same(norm_e, norm_c)
        assert opt.param_groups[0]["lr"] == eager_opt.param_groups[0]["lr"]
    print("6 steps: losses, clipped norms and the learning rate as eager; lr now", opt.param_groups[0]["lr"])
    assert compiled.replays == 4 and all(same(a, b) for a, b in zip(eager_state, state))


LOSSES = {
    "ContrastiveLoss": lambda: node.ContrastiveLoss(margin=1.0),
    "NormFace": lambda: node.NormFace(8, 4, rng=0),
    "CosFace": lambda: node.CosFace(8, 4, rng=0),
    "ArcFace": lambda: node.ArcFace(8, 4, rng=0),
    "PCLoss": lambda: node.PCLoss(4, 8, rng=0),
    "LearnableCenterLoss": lambda: node.LearnableCenterLoss(4, 8, rng=0),
    "TripletLoss batch_hard": lambda: node.TripletLoss(margin=0.2),
    "TripletLoss all": lambda: node.TripletLoss(margin=0.2, mining="all"),
    "SphereFace": lambda: node.SphereFace(8, 4, rng=0),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_metric_learning_loss_replays_bit_for_bit(name):
    """Labels change from step to step, so a mask made from them and frozen at recording would show."""

    def run(compiled, steps=6):
        layer, loss_fn = node.Linear(8, 8, rng=0), LOSSES[name]()
        optimizer = node.SGD(layer.parameters() + loss_fn.parameters(), lr=0.1)

        def step(x, t):
            optimizer.zero_grad()
            loss = loss_fn(layer(x), t)
            loss.backward()
            optimizer.step()
            return loss

        step = node.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        losses = [
            step(node.Node(rng.standard_normal((6, 8)).astype(np.float32), requires_grad=False), rng.permutation([0, 1, 2, 3, 0, 1]))
            for _ in range(steps)
        ]
        assert not compiled or step.replays == steps - 2
        return losses, layer.parameters() + loss_fn.parameters(), loss_fn

    eager, eager_parameters, eager_fn = run(False)
    replayed, parameters, replayed_fn = run(True)
    print(name, "losses", [round(float(loss), 5) for loss in replayed])
    assert all(same(a, b) for a, b in zip(eager, replayed))
    assert all(same(a, b) for a, b in zip(eager_parameters, parameters))
    if name == "SphereFace":  # the step count t advances on every replayed step as in eager, and λ with it
        print("SphereFace after 6 steps: t =", int(replayed_fn.iteration), "λ =", replayed_fn.lambda_)
        assert int(replayed_fn.iteration) == int(eager_fn.iteration) == 6 and replayed_fn.lambda_ == eager_fn.lambda_


def test_a_compiled_method_records_each_instance_apart():
    class Trainer:
        def __init__(self, scale):
            self.w = node.Node(np.full(2, scale))

        @node.compile
        def step(self, x):
            return (x * self.w).sum()

    first, second = Trainer(1.0), Trainer(10.0)
    for _ in range(3):
        a, b = first.step(np.ones(2)), second.step(np.ones(2))
    print("two instances, one compiled method:", float(a), float(b))
    assert (float(a), float(b)) == (2.0, 20.0) and Trainer.step.signatures == 2 and Trainer.step.replays == 2


def test_comparisons_and_index_answers_are_computed_again_on_each_replay():
    """A mask or an index made from a Node's values (x > 0, isnan, argmax, any) follows the new data.

    The first two calls see the same data, so a mask kept from the recording
    would look constant; the later calls change it.
    """
    w = node.Node(np.array([1.0, -2.0, 3.0]))

    def step(x):
        y = x * w
        picked = F.where(y > 0, y, 0.0).sum() + F.where(F.isnan(y), 1.0, 0.0).sum()
        best = F.argmax(y)
        return picked + best + F.any(y < -5)

    compiled = node.compile(step)
    data = [np.ones(3), np.ones(3), -np.ones(3), np.array([2.0, 3.0, -1.0]), np.array([0.5, -4.0, 0.0])]
    eager = [float(step(x)) for x in data]
    replayed = [float(compiled(x)) for x in data]
    print("eager", eager, "replayed", replayed)
    assert replayed == eager and compiled.replays == 3


def _conversion_cases(xp):
    """(name, step(x, d), data d for five calls): each step converts or masks its data d outside a Function."""
    rng = np.random.default_rng(3)
    w = node.Node(xp.asarray(rng.standard_normal((4, 3)).astype(np.float32)))
    labels = [np.array([0, 1, 2, 1]), np.array([0, 1, 2, 1]), np.array([2, 0, 1, 1]), np.array([1, 1, 0, 2]), np.array([2, 2, 2, 0])]
    ints = [xp.asarray(rng.integers(-3, 4, (4, 3))) for _ in range(4)]
    ints.insert(1, ints[0])  # the two recording calls see the same data
    masks = [xp.asarray(rng.random((4, 4)) > 0.3) for _ in range(4)]
    masks.insert(1, masks[0])
    one_hot = [xp.asarray(np.eye(3, dtype=np.float32)[t]) for t in labels]
    probabilities = [xp.asarray(rng.random((4, 3)).astype(np.float32) * (rng.random((4, 3)) > 0.5)) for _ in range(4)]
    probabilities.insert(1, probabilities[0])
    return [
        ("host labels, cross_entropy", lambda x, d: F.cross_entropy(x * w, d), labels),
        ("one-hot rows, nll_loss", lambda x, d: F.nll_loss(F.log_softmax(x * w, axis=1), d), one_hot),
        ("integer targets, mse_loss", lambda x, d: F.mse_loss(x * w, d), ints),
        ("integer / number", lambda x, d: ((x * w) * (node.Node(d) / 2)).sum(), ints),
        ("exp of integers", lambda x, d: ((x * w) * F.exp(node.Node(d))).sum(), ints),
        ("astype to integers", lambda x, d: ((x * w) * F.astype(node.Node(d) * 2, "int64")).sum(), ints),
        ("boolean attention mask", lambda x, d: F.scaled_dot_product_attention(x * w, x * w, x * w, attn_mask=d).sum(), masks),
        ("kl_div's mask of positive targets", lambda x, d: F.kl_div(F.log_softmax(x * w, axis=1), d, reduction="sum"), probabilities),
    ]


@pytest.mark.parametrize("case", range(8))
def test_data_converted_or_masked_outside_functions_follows_each_call(xp, case):
    """Labels moved to the device, one-hot rows to labels, integers to floats, masks to -inf: made again on each replay."""
    name, step, data = _conversion_cases(xp)[case]
    x = node.Node(xp.asarray(np.random.default_rng(4).standard_normal((4, 3)).astype(np.float32)), requires_grad=False)
    compiled = node.compile(step)
    for d in data:
        assert same(compiled(x, d), step(x, d)), name
    assert compiled.replays == 3, name


def test_a_named_tuple_comes_back_as_one():
    from collections import namedtuple

    Out = namedtuple("Out", "loss scaled")
    w = node.Node(np.ones(3))

    @node.compile
    def step(x):
        y = x * w
        return Out(y.sum(), [y * 2, (y, 7)])

    for i in range(4):
        out = step(np.full(3, float(i)))
        assert isinstance(out, Out) and float(out.loss) == 3.0 * i
        assert isinstance(out.scaled, list) and isinstance(out.scaled[1], tuple) and out.scaled[1][1] == 7
        np.testing.assert_array_equal(out.scaled[0].value, np.full(3, 2.0 * i))
    assert step.replays == 2


def test_a_replay_follows_the_convolution_algorithm_of_each_call():
    """use_algorithm is a per-thread setting like Config.kernels: a replay chooses again under another algorithm."""
    from node.kernels.conv import use_algorithm

    rng = np.random.default_rng(5)
    w = node.Node(rng.standard_normal((8, 8, 5, 5)).astype(np.float32))

    def step(x):
        return (F.conv2d(x, w, None, 1, 2) ** 2).sum()

    compiled = node.compile(step)
    for i, algorithm in enumerate(["im2col"] * 3 + ["winograd", "spectral", "im2col"]):
        x = node.Node(rng.standard_normal((2, 8, 14, 14)).astype(np.float32), requires_grad=False)
        with use_algorithm(algorithm):
            assert same(compiled(x), step(x)), f"call {i} under {algorithm}"
    assert compiled.replays == 4


def test_a_mask_made_from_a_parameter_reads_its_current_array():
    """A comparison of a parameter is recorded with the Node, so a replay reads the array the parameter holds now."""
    w = node.Node(np.array([1.0, -2.0, 3.0]))

    def step(x):
        return (x * F.where(w > 0, 1.0, 0.0)).sum() + F.argmax(w)

    compiled = node.compile(step)
    for i in range(5):
        if i == 3:
            w.value = np.array([-1.0, 5.0, 2.0])  # a new array (load_state_dict, an assignment), not an update in place
        assert float(compiled(np.ones(3))) == float(step(np.ones(3)))
    assert compiled.replays == 3

"""Grading of step 8: layers, an MLP and an optimizer."""
import itertools
import sys

import numpy as np

from course.grading import Wrong, expect, expect_close, expect_equal, expect_gradients


def exercise_1(step, rng):
    # Inputs kept away from 0, where ReLU has no derivative and central differences would straddle the kink.
    x = rng.standard_normal((4, 5))
    x = np.where(np.abs(x) < 0.05, 0.3, x)
    upstream = rng.standard_normal(x.shape)
    y = step.relu(step.Node(x.copy()))
    expect_close("relu(x) (x of shape (4, 5))", np.maximum(x, 0), y)
    gx = y.creator.backward(step.Node(upstream))
    if isinstance(gx, tuple):
        gx = gx[0]
    expect(isinstance(gx, step.Node), f"ReLU.backward must return a Node (gy * mask, with the engine's *), got {type(gx).__name__}")
    expect(gx.creator is not None, "ReLU.backward returned a Node that no Function made: multiply the Node gy by a constant "
                                   "Node mask with the engine's * (not on .data), so that the backward pass is a graph too")
    expect_gradients("ReLU.backward(gy)", lambda v: np.maximum(v, 0), [x], upstream, [gx], names=["x"])
    # Through the walk, with relu's output used twice.
    node = step.Node(x.copy())
    h = step.relu(node)
    (h * step.Node(upstream) + h * h).sum().backward()
    expect_gradients("the gradient of sum(u * relu(x) + relu(x)**2) by backward()",
                     lambda v: np.sum(np.maximum(v, 0) * upstream + np.maximum(v, 0) ** 2), [x], np.ones(()), [node.grad], names=["x"])


def _nested(step, rng):
    """Layers nested in attributes, lists, tuples and dicts, with a shared Parameter and a back-reference; and the Parameters expected."""

    def param(*shape):
        return step.Parameter(rng.standard_normal(shape))

    class Leaf(step.Layer):
        def __init__(self):
            self.W = param(3, 2)
            self.b = param(2)
            self.scale = 0.5            # a number: not a Parameter
            self.table = np.ones(3)     # an array: not a Parameter
            self.seen = step.Node(1.0)  # a Node that is not a Parameter: not returned

    class Block(step.Layer):
        def __init__(self, shared):
            self.first = Leaf()
            self.rest = [Leaf(), (Leaf(), param(4))]
            self.by_name = {"gate": param(1), "leaf": Leaf()}
            self.shared = shared
            self.same_again = shared
            self.activation = np.tanh

    shared = param(2, 2)
    outer = Block(shared)
    outer.inner = Block(shared)
    outer.inner.parent = outer  # a reference back up: the walk must not loop forever
    expected = []
    for block in (outer, outer.inner):
        leaves = [block.first, block.rest[0], block.rest[1][0], block.by_name["leaf"]]
        expected += [p for leaf in leaves for p in (leaf.W, leaf.b)] + [block.rest[1][1], block.by_name["gate"]]
    expected.append(shared)
    return outer, expected


def exercise_2(step, rng):
    outer, expected = _nested(step, rng)
    # At most 1000 of them: a walk that does not remember what it has seen goes round the back-reference for ever.
    got = list(itertools.islice(outer.params(), 1000))
    expect(len(got) < 1000, "params() did not stop (a layer here refers back to its parent): keep a set of the ids of "
                            "the Layers and Parameters seen, and skip those seen before")
    not_params = [p for p in got if not isinstance(p, step.Parameter)]
    expect(not not_params, f"params() yielded something that is not a Parameter: {type(not_params[0]).__name__ if not_params else ''}")
    ids = [id(p) for p in got]
    twice = len(ids) - len(set(ids))
    expect(twice == 0, f"params() yielded {twice} Parameter(s) more than once (a Parameter shared by two layers, or held twice, "
                       "must come once: keep a set of the ids seen)")
    missing = [p for p in expected if id(p) not in set(ids)]
    expect(not missing, f"params() missed {len(missing)} of the {len(expected)} Parameters (e.g. one of shape {missing[0].shape if missing else ''}): "
                        "look inside sub-layers, lists, tuples and dicts")
    expect_equal("the number of Parameters params() yields for the nested layers", len(expected), len(got))
    # A layer with no Parameters, and a chain of layers deeper than Python's recursion limit.
    expect_equal("list(params()) of a layer with no Parameters", [], list(step.Layer().params()))
    depth = sys.getrecursionlimit() + 500
    top = layer = step.Layer()
    for _ in range(depth):
        layer.child = step.Layer()
        layer = layer.child
    layer.w = step.Parameter(np.zeros(1))
    try:
        deep = list(top.params())
    except RecursionError:
        raise Wrong(f"params() on a chain of {depth} nested layers raised RecursionError: walk with an explicit stack, not recursion") from None
    expect(len(deep) == 1 and deep[0] is layer.w, f"params() on a chain of {depth} nested layers: expected the one Parameter at the bottom, got {len(deep)}")


def _adam_reference(params, grads, lr, betas, eps):
    """Adam as in Kingma & Ba (2015), for a list of arrays and a list (over steps) of lists of gradients; the arrays after each step."""
    beta1, beta2 = betas
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = []
    for t, step_grads in enumerate(grads, 1):
        for i, g in enumerate(step_grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g**2
            params[i] = params[i] - lr * (m[i] / (1 - beta1**t)) / (np.sqrt(v[i] / (1 - beta2**t)) + eps)
        history.append([p.copy() for p in params])
    return history


def exercise_3(step, rng):
    hint = "(m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), p ← p − lr·m̂/(√v̂ + ε), t = 1 on the first step)"
    for lr, betas, eps in [(0.01, (0.9, 0.999), 1e-8), (0.05, (0.7, 0.95), 0.1)]:
        start = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
        grads = [[rng.standard_normal(a.shape) * (1 + k) for a in start] for k in range(6)]
        params = [step.Parameter(a.copy()) for a in start]
        optimizer = step.Adam(params, lr=lr, betas=betas, eps=eps)
        for t, (step_grads, expected) in enumerate(zip(grads, _adam_reference(start, grads, lr, betas, eps)), 1):
            for p, g in zip(params, step_grads):
                p.grad = step.Node(g.copy())
            optimizer.step()
            for i, (p, e) in enumerate(zip(params, expected)):
                try:
                    expect_close(f"Adam(lr={lr}, betas={betas}, eps={eps}) after step {t}: parameter {i} (shape {e.shape})", e, p, rtol=1e-7, atol=1e-10)
                except Wrong as wrong:
                    raise Wrong(f"{wrong} {hint}") from None
                expect_close(f"Adam step {t}: parameter {i}'s grad (step() must not change it)", step_grads[i], p.grad)
    # A Parameter without a gradient is left as it is.
    a, b = step.Parameter(np.ones(3)), step.Parameter(np.ones(2))
    optimizer = step.Adam([a, b], lr=0.1)
    b.grad = step.Node(np.ones(2))
    optimizer.step()
    expect_close("Adam.step: a Parameter whose grad is None must not change", np.ones(3), a)
    expect_close("Adam.step: the first step of a Parameter with gradient ones moves it by lr", np.full(2, 0.9), b, rtol=1e-6)


def _spiral(n_per_class, rng):
    """Three interleaved spiral arms in the plane."""
    radius = np.tile(np.linspace(0.05, 1.0, n_per_class), 3)
    t = np.repeat(np.arange(3), n_per_class)
    angle = t * (2 * np.pi / 3) + radius * 3.5 + rng.standard_normal(len(t)) * 0.1
    return np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1), t


def _numpy_loss(model, x, t):
    """The mean softmax cross-entropy of the check's own NumPy forward pass through the model's Linear layers with ReLU."""
    h = x
    for k, layer in enumerate(model.layers):
        h = h @ layer.W.data + layer.b.data
        if k < len(model.layers) - 1:
            h = np.maximum(h, 0)
    h = h - h.max(axis=1, keepdims=True)
    log_p = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(t)), t].mean())


def _check_relu(step):
    """ReLU written by the check, so that exercise 4 is graded apart from exercise 1."""

    class CheckReLU(step.Function):
        def forward(self, x):
            return np.maximum(x, 0)

        def backward(self, gy):
            return gy * step.Node((self.inputs[0].data > 0).astype(np.float64))

    return lambda h: CheckReLU()(h)


class CheckAdam:
    """Adam written by the check (exercise 4 is graded apart from exercise 3), which also catches gradients not cleared."""

    def __init__(self, step, params, lr):
        self.node_type, self.params, self.lr, self.t, self.steps = step.Node, list(params), lr, 0, 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.steps += 1
        self.t += 1
        for i, p in enumerate(self.params):
            if p.grad is None:
                raise Wrong(f"optimizer.step() (training step {self.steps}): a parameter has no gradient: call loss.backward() before optimizer.step()")
            g = p.grad.data
            if np.isnan(g).any():
                raise Wrong(f"optimizer.step() (training step {self.steps}): the gradients of the previous batch were still there, "
                            "added to this one's: call optimizer.zero_grad() before each backward")
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            p.data = p.data - self.lr * (self.m[i] / (1 - 0.9**self.t)) / (np.sqrt(self.v[i] / (1 - 0.999**self.t)) + 1e-8)
            p.grad = self.node_type(np.full(g.shape, np.nan))  # a marker: a gradient not cleared before the next backward shows up as NaN


def exercise_4(step, rng):
    x, t = _spiral(60, rng)
    mlp = step.MLP([2, 32, 32, 3], rng, activation=_check_relu(step))
    row_of = {row.tobytes(): i for i, row in enumerate(x)}
    batch_losses = []

    class Recorded(step.Layer):
        """The MLP, with the loss of every batch it sees computed by the check (with NumPy) before the step changes it."""

        def forward(self, xb):
            rows = [row_of.get(row.tobytes()) for row in np.asarray(xb.data)]
            if None in rows or len(rows) != len(set(rows)):
                raise Wrong("train passed the model something other than a batch of distinct rows of x (use batches(x, t, batch_size, rng))")
            batch_losses.append((_numpy_loss(mlp, x[rows], t[rows]), len(rows)))
            return mlp(xb)

    optimizer = CheckAdam(step, [p for layer in mlp.layers for p in (layer.W, layer.b)], lr=0.02)
    epochs, batch_size = 60, 30
    before = _numpy_loss(mlp, x, t)
    losses = step.train(Recorded(), x, t, optimizer, epochs, batch_size, rng)
    expect(isinstance(losses, (list, tuple, np.ndarray)), f"train must return a list of the epochs' mean losses, got {type(losses).__name__}")
    expect_equal("len(train(...)) for 60 epochs (one mean loss per epoch)", epochs, len(losses))
    per_epoch = len(x) // batch_size
    expect_equal(f"the number of batches the model saw in {epochs} epochs of {len(x)} rows in batches of {batch_size}", epochs * per_epoch, len(batch_losses))
    expect_equal(f"the number of optimizer.step() calls in {epochs} epochs of {len(x)} rows in batches of {batch_size}", epochs * per_epoch, optimizer.steps)
    losses = [float(np.asarray(getattr(value, "data", value))) for value in losses]
    for epoch in range(epochs):
        seen = batch_losses[epoch * per_epoch : (epoch + 1) * per_epoch]
        expected = sum(loss * n for loss, n in seen) / sum(n for _, n in seen)
        expect_close(f"train(...)[{epoch}], the mean loss of epoch {epoch + 1} over its {per_epoch} batches", expected, losses[epoch], rtol=1e-6)
    after = _numpy_loss(mlp, x, t)
    expect(after < 0.1, f"after {epochs} epochs with Adam (lr 0.02) on a 3-class spiral of {len(x)} points, the loss of the trained model "
                        f"should be below 0.1, it is {after:.4f} (loss before training {before:.4f})")
    expect(losses[-1] < 0.1, f"the mean loss of the last of {epochs} epochs should be below 0.1, it is {losses[-1]:.4f}")

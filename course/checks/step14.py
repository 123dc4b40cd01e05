"""Grading of step 14: from your engine to node.

The exercises are written against ``node``; so are parts of the checks
(``node.gradcheck``, ``node.gradgradcheck``, ``node.grad``), but every
check also compares with something computed here in NumPy: central
differences of the analytic derivatives, a layer norm written out, the joint
loss of the first step recomputed from the parameters.
"""
import numpy as np

import node
from course.grading import Wrong, expect, expect_close, expect_gradients


def sigmoid(v):
    return 0.5 + 0.5 * np.tanh(0.5 * v)


def swish_numpy(v):
    return v * sigmoid(v)


def swish_derivative(v):
    s = sigmoid(v)
    return s + v * s * (1 - s)


def node_check(what, check, *args):
    """Run node.gradcheck or node.gradgradcheck, turning its AssertionError or GraphError into a Wrong with its message."""
    try:
        check(*args)
    except (AssertionError, node.GraphError) as error:
        raise Wrong(f"{what}: {str(error).splitlines()[0]}") from None


def exercise_1(step, rng):
    a = rng.uniform(-4, 4, (3, 5))
    upstream = rng.standard_normal((3, 5))
    expect(getattr(step.Swish, "differentiable_backward", False) is True,
           "Swish.differentiable_backward must be True: it tells node that its backward can be recorded and differentiated again")
    x = node.Node(a.copy())
    expect_close("swish(x) forward", swish_numpy(a), step.swish(x).value)
    (g,) = node.grad(step.swish(x), x, grad_outputs=[upstream])
    expect(isinstance(g, np.ndarray), f"in a plain backward Swish.backward must give an array, got {type(g).__name__}: "
                                      "compute with saved_inputs() and Functions such as F.sigmoid, which give arrays there")
    expect_gradients("Swish.backward (plain), vs central differences of x·σ(x)", swish_numpy, [a], upstream, [g])
    node_check("node.gradcheck(swish, x)", node.gradcheck, step.swish, a)
    node_check("node.gradgradcheck(swish, x)", node.gradgradcheck, step.swish, a)
    # the second derivative, against central differences of the analytic first derivative
    x = node.Node(a.copy())
    (first,) = node.grad(step.swish(x), x, grad_outputs=[upstream], create_graph=True)
    expect(isinstance(first, node.Node), "node.grad(..., create_graph=True) of swish gave an array: read x with self.saved_inputs(), "
                                         "which gives a Node under create_graph")
    (second,) = node.grad(first.sum(), x)
    h = 1e-6
    expected = upstream * (swish_derivative(a + h) - swish_derivative(a - h)) / (2 * h)
    expect_close("second derivative of swish (vs central differences of σ(x) + x·σ(x)(1 - σ(x)))", expected, second, rtol=1e-5, atol=1e-7)


def layer_norm_numpy(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def exercise_2(step, rng):
    layer = step.LayerNorm(5, eps=1e-5, dtype=np.float64)
    named = dict(layer.named_parameters())
    expect(set(named) == {"gamma", "beta"}, f"node finds the parameters {sorted(named)} in LayerNorm, expected gamma and beta")
    gamma, beta = rng.uniform(0.5, 1.5, 5), rng.standard_normal(5)
    layer.gamma.value[...] = gamma
    layer.beta.value[...] = beta
    a = rng.standard_normal((4, 5)) * 3 + 1
    upstream = rng.standard_normal((4, 5))
    x = node.Node(a.copy())
    y = layer(x)
    expect(isinstance(y, node.Node), f"LayerNorm returned {type(y).__name__}, expected a Node (use node's operations on x)")
    expect_close("LayerNorm(5)(x) for x (4, 5), γ and β random (vs NumPy: (x - μ)/√(σ² + ε)·γ + β per row)",
                 layer_norm_numpy(a, gamma, beta, 1e-5), y.value)
    got = node.grad(y, [x, layer.gamma, layer.beta], grad_outputs=[upstream], allow_unused=True)
    for name, g in zip(["x", "gamma", "beta"], got):
        expect(g is not None, f"LayerNorm's output does not depend on {name}: write the forward with node's operations on x, self.gamma and self.beta")
    expect_gradients("LayerNorm gradients", lambda v, gm, bt: layer_norm_numpy(v, gm, bt, 1e-5), [a, gamma, beta], upstream,
                     list(got), names=["x", "gamma", "beta"])
    one = layer(node.Node(a[:1].copy()))
    expect_close("LayerNorm on a batch of one row (statistics per row, not per batch)", layer_norm_numpy(a[:1], gamma, beta, 1e-5), one.value)


def exercise_3(step, rng):
    # the data, made here (not with the step's blobs) so that the check does not depend on the learner's file
    centers = rng.standard_normal((3, 4)) * 2.5
    t = np.repeat(np.arange(3), 60)
    x = centers[t] + 0.6 * rng.standard_normal((180, 4))
    order = rng.permutation(180)
    x, t = x[order], t[order]
    net = step.FeatureNet(4, 16, 3, rng=0, dtype=np.float64)
    center_loss = node.CenterLoss(3, 2, alpha=0.5, lambda_=0.1, rng=0, dtype=np.float64)
    optimizer = node.Adam(net.parameters(), 0.01)
    # the joint loss of the first step, from the parameters and centers before it
    W1, b1, W2, b2, W3, b3 = [p.value.copy() for p in net.parameters()]
    c0 = center_loss.centers.copy()
    features = np.maximum(x @ W1 + b1, 0) @ W2 + b2
    logits = features @ W3 + b3
    m = logits.max(axis=1, keepdims=True)
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(180), t].mean() + 0.1 / (2 * 180) * np.sum((features - c0[t]) ** 2)
    batch = node.Node(x, requires_grad=False)
    loss = step.train_step(net, center_loss, optimizer, batch, t)
    expect(isinstance(loss, node.Node), f"train_step returned {type(loss).__name__}: return the loss Node (no float(loss) per step)")
    expect_close("the joint loss of the first train_step (cross entropy + λ/2·mean ‖f - c_y‖², λ = 0.1, from the parameters before the step)",
                 expected, loss.value, rtol=1e-8)
    expect(not np.allclose(net.parameters()[0].value, W1), "train_step did not change the network's weights: optimizer.step() after loss.backward()")
    expect(not np.allclose(center_loss.centers, c0), "train_step did not move the centers: call the CenterLoss layer (in training mode) inside the step")
    losses = [float(loss.value)]
    for _ in range(199):
        losses.append(float(step.train_step(net, center_loss, optimizer, batch, t).value))
    last = np.mean(losses[-20:])
    expect(np.isfinite(last) and last < 0.1, f"after 200 train_steps (Adam, lr 0.01) on 3 separable blobs the mean joint loss of the last 20 "
                                             f"steps should be below 0.1, got {last:.4f} (first step {losses[0]:.4f}); is the gradient zeroed each step?")
    with node.no_grad():
        _, logits = net(batch)
    accuracy = float((logits.value.argmax(axis=1) == t).mean())
    expect(accuracy >= 0.95, f"training accuracy after 200 steps: {accuracy:.3f}, expected at least 0.95")
    # the centers follow their class means of the features (the paper's update, applied by CenterLoss)
    with node.no_grad():
        feats, _ = net(batch)
    means = np.stack([feats.value[t == k].mean(axis=0) for k in range(3)])
    gap = np.abs(center_loss.centers - means).max()
    spread = np.abs(means).max()
    expect(gap < 0.25 * spread + 0.1, f"after 200 steps the centers are {gap:.3f} away from their class means of the features "
                                      f"(feature scale {spread:.3f}): call the CenterLoss layer once per step, in training mode")

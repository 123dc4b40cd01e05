"""Step 14: from your engine to node.

The engine of steps 1 to 13 is, piece by piece, the design of ``node``. This
step writes three things against ``node`` itself, as a user of it:

* ``Swish``, a ``node.Function`` whose one ``backward`` is differentiable
  (``differentiable_backward = True``, inputs read with ``saved_inputs()``);
* ``LayerNorm``, a ``node.Layer`` with two Parameters that node finds by
  itself, and a forward written with node's operations;
* ``train_step``, step 11's joint loss (softmax cross entropy plus Center
  Loss) with ``node.CenterLoss`` and ``node.Adam``, trained on synthetic data.

Run it: ``python -m course.exercises.step14_node``.
"""
import numpy as np

import node
import node.functions as F


class Swish(node.Function):
    """swish(x) = x·σ(x) (also called SiLU), with σ(x) = 1 / (1 + e⁻ˣ) the logistic sigmoid."""

    differentiable_backward = True

    def forward(self, x):
        xp = node.get_array_module(x)
        return x * (0.5 + 0.5 * xp.tanh(0.5 * x))  # σ(x) = (1 + tanh(x/2)) / 2: no overflow for any x

    def backward(self, gy):
        """d swish/dx = σ(x) + x·σ(x)(1 - σ(x)); return ``gy`` times it.

        Read ``(x,) = self.saved_inputs()`` (an array in a plain backward, a
        Node under ``create_graph=True``) and compute σ with ``F.sigmoid(x)``,
        a Function (``import node.functions as F``), never with ``xp.exp``:
        then the same lines run on arrays in a training step, and are recorded
        (so they differentiate again) under ``create_graph``.
        """
        (x,) = self.saved_inputs()
        # --- exercise 1: Swish.backward, differentiable again ---
        s = F.sigmoid(x)
        return gy * (s + x * s * (1 - s))
        # --- end of exercise 1 ---


def swish(x):
    return Swish()(x)


class LayerNorm(node.Layer):
    """Layer normalization (Ba et al., 2016): each row normalised over its last axis, then scaled and shifted.

    Unlike batch norm (step 10) the statistics are per sample, so training
    and evaluation compute the same thing and a batch of one works.
    """

    def __init__(self, size, eps=1e-5, dtype=None):
        dtype = dtype or node.get_default_dtype()
        self.size, self.eps = size, eps
        self.gamma = node.Parameter(np.ones(size, dtype=dtype), name="gamma")  # Parameters as attributes: node finds them
        self.beta = node.Parameter(np.zeros(size, dtype=dtype), name="beta")

    def forward(self, x):
        """y = γ ⊙ (x - μ) / √(σ² + ε) + β, with μ and σ² the mean and the (biased) variance of each row over the last axis.

        Use node's operations on the Node ``x``: ``x.mean(axis=-1,
        keepdims=True)``, arithmetic, ``.sqrt()``; ``self.gamma`` and
        ``self.beta`` (shape ``(size,)``) broadcast over the rows.
        """
        x = node.as_node(x)
        # --- exercise 2: LayerNorm.forward with node's operations ---
        mu = x.mean(axis=-1, keepdims=True)
        centered = x - mu
        var = (centered * centered).mean(axis=-1, keepdims=True)
        return centered / (var + self.eps).sqrt() * self.gamma + self.beta
        # --- end of exercise 2 ---

    def extra_repr(self):
        return f"{self.size}, eps={self.eps}"


class FeatureNet(node.Layer):
    """Step 11's network: an MLP to 2-D features, and a linear classifier on them. Returns (features, logits)."""

    def __init__(self, in_size, hidden, classes, rng=0, dtype=None):
        rng = np.random.default_rng(rng)
        self.body = node.Sequential(node.Linear(in_size, hidden, rng=rng, dtype=dtype), node.ReLU(),
                                    node.Linear(hidden, 2, rng=rng, dtype=dtype))
        self.head = node.Linear(2, classes, rng=rng, dtype=dtype)

    def forward(self, x):
        features = self.body(x)
        return features, self.head(features)


def train_step(net, center_loss, optimizer, x, t):
    """One training step of the joint loss L = softmax cross entropy(logits, t) + center_loss(features, t); return L (a Node).

    ``features, logits = net(x)``; the cross entropy is
    ``logits.softmax_with_cross_entropy(t)`` (mean over the batch); the
    ``node.CenterLoss`` layer holds λ and, called in training mode, also moves
    its centers by the paper's rule after computing the loss. Then the usual
    three: ``optimizer.zero_grad()`` (before the backward), ``loss.backward()``,
    ``optimizer.step()``. Return the loss Node itself, not ``float(loss)``: on
    a GPU that would make every step wait (step 13).
    """
    # --- exercise 3: a training step of the joint loss with node ---
    optimizer.zero_grad()
    features, logits = net(x)
    loss = logits.softmax_with_cross_entropy(t) + center_loss(features, t)
    loss.backward()
    optimizer.step()
    return loss
    # --- end of exercise 3 ---


def blobs(rng, n_per_class=60, classes=3, size=4, spread=0.6):
    """Synthetic data: ``classes`` Gaussian blobs in ``size`` dimensions, float64, shuffled."""
    centers = rng.standard_normal((classes, size)) * 2.5
    labels = np.repeat(np.arange(classes), n_per_class)
    x = centers[labels] + spread * rng.standard_normal((len(labels), size))
    order = rng.permutation(len(labels))
    return x[order], labels[order]


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    node.gradcheck(swish, a)
    node.gradgradcheck(swish, a)
    print("Swish passes node.gradcheck and node.gradgradcheck")
    layer = LayerNorm(4, dtype=np.float64)
    print("LayerNorm's parameters:", [name for name, _ in layer.named_parameters()])
    print("its rows have mean 0 and variance 1:", np.round(layer(node.Node(a)).value.mean(axis=-1), 12),
          np.round(layer(node.Node(a)).value.var(axis=-1), 4))
    x, t = blobs(rng)
    net = FeatureNet(4, 16, 3, rng=0, dtype=np.float64)
    center_loss = node.CenterLoss(3, 2, alpha=0.5, lambda_=0.1, rng=0, dtype=np.float64)
    optimizer = node.Adam(net.parameters(), 0.01)
    running = node.metrics.RunningMean()
    for step in range(1, 301):
        running.add(train_step(net, center_loss, optimizer, node.Node(x, requires_grad=False), t))
        if step % 100 == 0:
            print(f"steps {step - 99}-{step}: mean joint loss {running.value():.4f}")
            running = node.metrics.RunningMean()
    with node.no_grad():
        _, logits = net(node.Node(x))
    print("training accuracy:", (logits.value.argmax(axis=1) == t).mean())

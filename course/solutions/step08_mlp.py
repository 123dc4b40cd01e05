"""Step 8: layers, an MLP and an optimizer: training on MNIST.

Steps 5 to 7 gave every piece of a classifier's loss; this step trains one.
It adds:

* ``relu``, the activation between layers;
* ``Parameter``, a Node that an optimizer changes, and ``Layer``, a container
  that finds the Parameters in its attributes and sub-layers (``params()``);
* ``Linear`` (an affine map with its own weights) and ``MLP`` (Linear layers
  with an activation between them);
* two optimizers, ``SGD`` and ``Adam``, each with ``step()`` and ``zero_grad()``;
* ``batches`` and ``train``: the training loop.

Run it: ``python -m course.exercises.step08_mlp`` (trains a small MLP on a
synthetic spiral and prints the loss).
"""
import math

import numpy as np

from .step05_arrays import Function, Node
from .step06_matmul import affine
from .step07_softmax import accuracy, softmax_cross_entropy


class ReLU(Function):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return np.maximum(x, 0.0)

    def backward(self, gy):
        """gy where x > 0, and 0 where x <= 0.

        The derivative of max(x, 0) is the mask (x > 0): 1 where the input was
        positive, 0 elsewhere. Make it a constant Node of x's dtype
        (``Node((x.data > 0).astype(x.data.dtype))``: nothing flows back into
        the mask) and multiply ``gy`` by it with the engine's ``*``, so that
        the backward pass is itself made of Functions.
        """
        (x,) = self.inputs
        # --- exercise 1: ReLU.backward, the upstream gradient times the mask x > 0 ---
        mask = Node((x.data > 0).astype(x.data.dtype))
        return gy * mask
        # --- end of exercise 1 ---


def relu(x):
    return ReLU()(x)


class Parameter(Node):
    """A Node that an optimizer updates: a layer's weights and biases.

    It is a Node like any other (Functions take it as an input); the class
    only marks it, so that ``Layer.params`` can tell it from the Nodes that
    flow through the layer.
    """


class Layer:
    """Something with Parameters that is called like a function; subclasses write ``forward``.

    A subclass assigns its Parameters and sub-layers as attributes (also
    inside lists, tuples or dicts), and ``params()`` finds them.
    """

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def params(self):
        """Yield every Parameter of this layer and of the layers below it, each once.

        Walk the attribute values (``vars(self).values()``) with an explicit
        stack, no recursion. For each value taken off the stack:

        * a ``Parameter``: yield it;
        * a ``Layer``: push its attribute values (``vars(layer).values()``);
        * a list or tuple: push its items; a dict: push its values;
        * anything else (numbers, arrays, functions): skip it.

        Keep the ``id``s of the Parameters and Layers already seen in a set
        (starting with this layer's own), so that a Parameter shared by two
        layers is yielded once and a layer that refers back to its parent does
        not loop forever. Pushing the values in reverse keeps the attribute
        order (W before b, first layer first), which is nice but not required.
        """
        # --- exercise 2: Layer.params, every Parameter below this layer, each once ---
        seen = {id(self)}
        stack = list(reversed(list(vars(self).values())))
        while stack:
            value = stack.pop()
            if isinstance(value, (Parameter, Layer)):
                if id(value) in seen:
                    continue
                seen.add(id(value))
            if isinstance(value, Parameter):
                yield value
            elif isinstance(value, Layer):
                stack.extend(reversed(list(vars(value).values())))
            elif isinstance(value, (list, tuple)):
                stack.extend(reversed(value))
            elif isinstance(value, dict):
                stack.extend(reversed(list(value.values())))
        # --- end of exercise 2 ---

    def cleargrads(self):
        """Forget the gradients of every Parameter (before the next backward)."""
        for p in self.params():
            p.cleargrad()


class Linear(Layer):
    """y = x @ W + b, with W of shape (in_size, out_size) and b of shape (out_size,).

    W starts as normal noise with standard deviation √(2 / in_size) (He et
    al., 2015): with ReLU between layers, the activations then keep about the
    same size from layer to layer. b starts at zero.
    """

    def __init__(self, in_size, out_size, rng):
        self.W = Parameter(rng.standard_normal((in_size, out_size)) * math.sqrt(2.0 / in_size), name="W")
        self.b = Parameter(np.zeros(out_size), name="b")

    def forward(self, x):
        return affine(x, self.W, self.b)


class MLP(Layer):
    """Linear layers of ``sizes`` (e.g. [784, 256, 10]) with ``activation`` between them, not after the last."""

    def __init__(self, sizes, rng, activation=relu):
        self.layers = [Linear(a, b, rng) for a, b in zip(sizes[:-1], sizes[1:])]
        self.activation = activation

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


class Optimizer:
    """What SGD and Adam share: the list of Parameters, and ``zero_grad``."""

    def __init__(self, params):
        self.params = list(params)  # a list, not a generator: every step walks it again

    def zero_grad(self):
        """Forget every Parameter's gradient, so that the next backward starts from zero (gradients add up)."""
        for p in self.params:
            p.cleargrad()

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} must define step()")


class SGD(Optimizer):
    """Stochastic gradient descent: p ← p − lr · ∂L/∂p, for every Parameter that has a gradient."""

    def __init__(self, params, lr=0.01):
        super().__init__(params)
        self.lr = lr

    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.data = p.data - self.lr * p.grad.data


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): a step per parameter element, scaled by running moments of its gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0  # the number of steps taken so far
        self.m = [np.zeros_like(p.data) for p in self.params]  # running mean of the gradient
        self.v = [np.zeros_like(p.data) for p in self.params]  # running mean of its square

    def step(self):
        """One Adam step for every Parameter that has a gradient g (``p.grad.data``).

        Count the step first (``self.t += 1``, so t is 1 on the first step),
        then for the i-th Parameter, with (β₁, β₂) = ``self.betas``:

            m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
            m̂ = m / (1 − β₁ᵗ)              v̂ = v / (1 − β₂ᵗ)
            p ← p − lr · m̂ / (√v̂ + ε)

        ``self.m[i]`` and ``self.v[i]`` hold m and v between steps (store the
        new ones back); change ``p.data``, never ``p.grad``. Skip a Parameter
        whose grad is None.
        """
        # --- exercise 3: Adam.step, moments with bias correction ---
        self.t += 1
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
            m_hat = self.m[i] / (1 - beta1**self.t)
            v_hat = self.v[i] / (1 - beta2**self.t)
            p.data = p.data - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        # --- end of exercise 3 ---


def batches(x, t, batch_size, rng):
    """Yield (x[batch], t[batch]) for the rows of x and t in a random order, ``batch_size`` at a time (the last may be smaller)."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        yield x[index], t[index]


def train(model, x, t, optimizer, epochs, batch_size, rng):
    """Train ``model`` on inputs x (N, ...) and integer labels t (N,); return the mean loss of each epoch.

    For each of ``epochs`` epochs, for each (xb, tb) of ``batches(x, t,
    batch_size, rng)``:

    1. ``optimizer.zero_grad()`` (gradients add up over backward calls);
    2. the forward pass: logits = ``model(Node(xb))``;
    3. the loss: ``softmax_cross_entropy(logits, tb)``;
    4. ``loss.backward()``;
    5. ``optimizer.step()``.

    An epoch's loss is the mean of its batches' losses, each weighted by its
    number of rows (``float(loss.data) * len(tb)``, summed, over N): the
    result is a list of ``epochs`` floats.
    """
    # --- exercise 4: the training loop ---
    losses = []
    for _ in range(epochs):
        total = 0.0
        for xb, tb in batches(x, t, batch_size, rng):
            optimizer.zero_grad()
            loss = softmax_cross_entropy(model(Node(xb)), tb)
            loss.backward()
            optimizer.step()
            total += float(loss.data) * len(tb)
        losses.append(total / len(x))
    return losses
    # --- end of exercise 4 ---


def spiral(n_per_class, n_classes, rng, noise=0.2):
    """Points on ``n_classes`` interleaved spiral arms in the plane: x (N, 2) float64, t (N,) int labels."""
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    t = np.repeat(np.arange(n_classes), n_per_class)
    angle = t * (2 * np.pi / n_classes) + radius * 4.0 + rng.standard_normal(len(t)) * noise
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x, t


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x, t = spiral(100, 3, rng)
    model = MLP([2, 32, 32, 3], rng)
    print("parameters:", [p.shape for p in model.params()])
    losses = train(model, x, t, Adam(model.params(), lr=0.01), epochs=200, batch_size=32, rng=rng)
    for epoch in (0, 49, 99, 199):
        print(f"epoch {epoch + 1:3d}: mean loss {losses[epoch]:.4f}")
    print("training accuracy:", accuracy(model(Node(x)), t))

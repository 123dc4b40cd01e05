"""Step 10: batch normalization.

A layer that standardises each feature (each channel of an image) over the
batch, then lets the network rescale it: y = γ·(x − μ)/√(σ² + ε) + β. It adds:

* ``BatchNormalization``, a Function: its forward on arrays (the batch's mean
  and biased variance), its backward the compact formula of the chapter,
  written with engine operations so that it can be differentiated again;
* ``batch_norm(x, gamma, beta, eps)``, for (N, D) inputs (statistics over
  axis 0) and (N, C, H, W) inputs (statistics over axes 0, 2 and 3);
* ``BatchNorm(size)``, the layer: γ and β as Parameters, running statistics
  for inference, and a ``training`` flag.

Run it: ``python -m course.exercises.step10_batchnorm``.
"""
import numpy as np

from .step05_arrays import Function, Node
from .step08_mlp import Layer, Parameter


def channel_axes(ndim):
    """The axes a statistic is taken over: (0,) for (N, D), (0, 2, 3) for (N, C, H, W) (all but the channel axis)."""
    return (0,) if ndim == 2 else (0,) + tuple(range(2, ndim))


def channel_shape(ndim):
    """The shape a per-channel vector (C,) takes to broadcast against the input: (1, C) or (1, C, 1, 1)."""
    return (1, -1) + (1,) * (ndim - 2)


class BatchNormalization(Function):
    """y = γ·x̂ + β with x̂ = (x − μ)/√(σ² + ε), μ and σ² the batch's, per channel (training mode)."""

    def __init__(self, eps=1e-5):
        self.eps = eps

    def forward(self, x, gamma, beta):
        """Normalise the array x (N, D) or (N, C, H, W) per channel, then scale by γ (C,) and shift by β (C,).

        With the axes of ``channel_axes(x.ndim)`` (keepdims=True, so that the
        statistics broadcast back against x):

            μ = mean of x,   σ² = mean of (x − μ)²   (the biased variance: divide by m, not m − 1)
            x̂ = (x − μ) / √(σ² + ε),   y = γ·x̂ + β

        with γ and β reshaped to ``channel_shape(x.ndim)``. Return y (NumPy).
        """
        # --- exercise 1: batch_norm's forward: mean, biased variance, normalise, scale and shift ---
        axes, shape = channel_axes(x.ndim), channel_shape(x.ndim)
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        xhat = (x - mean) / np.sqrt(var + self.eps)
        return gamma.reshape(shape) * xhat + beta.reshape(shape)
        # --- end of exercise 1 ---

    def normalize(self, x):
        """(x̂, 1/σ) for the input Node x, recomputed with engine operations (so both depend on x in the graph).

        σ here is √(σ² + ε); both results keep the reduced axes (shape (1, C) or (1, C, 1, 1)
        for 1/σ), so they broadcast against x.
        """
        axes, m = channel_axes(x.ndim), x.size // x.shape[1]
        centered = x - x.sum(axis=axes, keepdims=True) / m
        inv_std = ((centered**2).sum(axis=axes, keepdims=True) / m + self.eps) ** -0.5
        return centered * inv_std, inv_std

    def backward(self, gy):
        """(gx, gγ, gβ) from the upstream gradient gy (a Node of x's shape), with engine operations only.

        With m values per channel (m = N, or N·H·W for images), sums Σ over the
        channel axes (keepdims=True), and (x̂, 1/σ) from ``self.normalize(x)``:

            gβ = Σ gy,     gγ = Σ gy·x̂,
            gx = γ/(m·σ) · (m·gy − Σ gy − x̂·Σ(gy·x̂))

        γ reshaped to ``channel_shape(x.ndim)``; return gγ and gβ with shape (C,)
        (``.reshape((C,))``). Write every line on Nodes (``gy * xhat``,
        ``.sum(axis=..., keepdims=True)``), never on ``.data``: x̂ and σ come from
        x through ``normalize``, so this gradient can itself be differentiated.
        """
        x, gamma, _ = self.inputs
        xhat, inv_std = self.normalize(x)
        axes, shape, m = channel_axes(x.ndim), channel_shape(x.ndim), x.size // x.shape[1]
        # --- exercise 2: BatchNormalization.backward, the compact formula with engine ops ---
        gbeta = gy.sum(axis=axes, keepdims=True)
        ggamma = (gy * xhat).sum(axis=axes, keepdims=True)
        gx = gamma.reshape(shape) * inv_std / m * (m * gy - gbeta - xhat * ggamma)
        channels = (x.shape[1],)
        return gx, ggamma.reshape(channels), gbeta.reshape(channels)
        # --- end of exercise 2 ---


def batch_norm(x, gamma, beta, eps=1e-5):
    """Batch normalization in training mode: x (N, D) or (N, C, H, W); gamma and beta of shape (D,) or (C,)."""
    return BatchNormalization(eps)(x, gamma, beta)


class BatchNorm(Layer):
    """Batch normalization as a layer, for inputs (N, size) or (N, size, H, W).

    ``gamma`` (ones) and ``beta`` (zeros) are Parameters. ``running_mean``
    (zeros) and ``running_var`` (ones) are arrays of shape (size,) that the
    layer keeps for inference: no optimizer touches them. Set ``training``
    to False to use them (evaluation); it is True at first.
    """

    def __init__(self, size, momentum=0.1, eps=1e-5):
        self.gamma = Parameter(np.ones(size), name="gamma")
        self.beta = Parameter(np.zeros(size), name="beta")
        self.running_mean = np.zeros(size)
        self.running_var = np.ones(size)
        self.momentum, self.eps = momentum, eps
        self.training = True

    def forward(self, x):
        """Training: update the running statistics from this batch, then ``batch_norm``. Evaluation: normalise with them.

        In training, with the batch's per-channel mean μ_B and *unbiased*
        variance s²_B = σ²_B·m/(m − 1) (m values per channel; NumPy's
        ``x.var(axis=axes, ddof=1)``), computed on ``x.data``:

            running_mean ← (1 − momentum)·running_mean + momentum·μ_B
            running_var  ← (1 − momentum)·running_var  + momentum·s²_B

        then return ``batch_norm(x, self.gamma, self.beta, self.eps)``. In
        evaluation, return γ·(x − running_mean)/√(running_var + ε) + β, built
        with engine operations on x (so that gradients still reach x, γ and β),
        the statistics reshaped to ``channel_shape(x.ndim)``, and leave the
        running statistics alone.
        """
        x = x if isinstance(x, Node) else Node(x)
        axes, shape = channel_axes(x.ndim), channel_shape(x.ndim)
        # --- exercise 3: the layer: running statistics in training, inference with them ---
        if self.training:
            mean, var = x.data.mean(axis=axes), x.data.var(axis=axes, ddof=1)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
            return batch_norm(x, self.gamma, self.beta, self.eps)
        inv_std = Node((1.0 / np.sqrt(self.running_var + self.eps)).reshape(shape))
        centered = x - Node(self.running_mean.reshape(shape))
        return self.gamma.reshape(shape) * inv_std * centered + self.beta.reshape(shape)
        # --- end of exercise 3 ---


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = Node(rng.normal(5.0, 3.0, size=(8, 3)))
    gamma, beta = Node(np.array([1.0, 2.0, 0.5])), Node(np.zeros(3))
    y = batch_norm(x, gamma, beta)
    print("per-feature mean of y (β = 0):", y.data.mean(axis=0).round(12))
    print("per-feature std of y (γ = 1, 2, 0.5):", y.data.std(axis=0).round(4))
    (y * Node(rng.standard_normal(y.shape))).sum().backward()
    print("Σ over the batch of gx (zero: a shift of x changes nothing):", x.grad.data.sum(axis=0).round(12))
    layer = BatchNorm(3, momentum=0.1)
    for _ in range(50):
        layer(Node(rng.normal(5.0, 3.0, size=(32, 3))))
    print("running mean after 50 batches (the data's is 5):", layer.running_mean.round(3))
    print("running var (the data's is 9):", layer.running_var.round(3))
    layer.training = False
    print("inference on one sample uses them:", layer(Node(np.array([[5.0, 8.0, 2.0]]))).data.round(3))

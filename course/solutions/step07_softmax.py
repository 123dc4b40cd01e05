"""Step 7: softmax with cross entropy.

A classifier's last layer gives one score (logit) per class; softmax turns
each row of scores into probabilities, and cross entropy scores them against
the true labels. This step adds a numerically stable ``softmax`` (over the
last axis), ``log_softmax`` by log-sum-exp, and the loss
``softmax_cross_entropy`` as one Function whose backward is the short
(softmax(x) − onehot(t)) / N, plus ``accuracy``.

Run it: ``python -m course.exercises.step07_softmax``.
"""
import numpy as np

from .step05_arrays import Function, Node, exp, log


class Softmax(Function):
    """p = softmax(x) over the last axis: p_i = exp(x_i) / Σ_j exp(x_j), for each row."""

    def forward(self, x):
        """Softmax of the array ``x`` along its last axis, without overflow.

        exp(1000) is inf in float64, and inf / inf is NaN. Softmax does not
        change when the same number is subtracted from every logit of a row
        (it cancels between the numerator and the denominator), so subtract
        each row's maximum first (``x.max(axis=-1, keepdims=True)``): the
        largest exponent is then exp(0) = 1 and the sum is at least 1.
        """
        # --- exercise 1: a numerically stable softmax (subtract each row's maximum) ---
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
        # --- end of exercise 1 ---

    def backward(self, gy):
        # ∂p_i/∂x_j = p_i (δ_ij − p_j), so gx_j = Σ_i gy_i p_i (δ_ij − p_j) = p_j (gy_j − Σ_i gy_i p_i).
        p = self.outputs[0]()
        return p * (gy - (gy * p).sum(axis=-1, keepdims=True))


def softmax(x):
    """Softmax over the last axis of the Node (or array) ``x``."""
    return Softmax()(x)


def log_softmax(x):
    """log(softmax(x)) over the last axis, as x − logsumexp(x), written with engine operations.

    log Σ_j exp(x_j) overflows for large logits, so shift by the row maximum
    m: logsumexp(x) = m + log Σ_j exp(x_j − m). Take m from the data
    (``x.data.max(axis=-1, keepdims=True)``, a constant, not a Node): the
    result does not depend on m, so neither does its gradient, and m needs
    none. Then build the rest with Nodes, ``exp``, ``log`` and
    ``.sum(axis=-1, keepdims=True)``, so that the engine finds the gradient.
    """
    if not isinstance(x, Node):
        x = Node(x)
    # --- exercise 2: log_softmax by a stable log-sum-exp ---
    m = x.data.max(axis=-1, keepdims=True)
    return x - (log(exp(x - m).sum(axis=-1, keepdims=True)) + m)
    # --- end of exercise 2 ---


def onehot(t, classes):
    """The (N, classes) array with a 1 at (n, t[n]) and zeros elsewhere."""
    y = np.zeros((len(t), classes))
    y[np.arange(len(t)), t] = 1.0
    return y


class SoftmaxCrossEntropy(Function):
    """L = −(1/N) Σ_n log softmax(x)_{n, t_n}: x (N, C) logits, labels t (N,) given to the constructor."""

    def __init__(self, t):
        self.t = np.asarray(t)

    def forward(self, x):
        if x.ndim != 2 or self.t.shape != (x.shape[0],):
            raise ValueError(f"softmax_cross_entropy: x must be (N, C) and t (N,), got {x.shape} and {self.t.shape}")
        log_p = log_softmax(Node(x)).data  # the stable log-softmax of exercise 2, on plain data
        return -log_p[np.arange(len(x)), self.t].mean()

    def backward(self, gy):
        """gx = (softmax(x) − onehot(t)) · gy / N, a Node of x's shape (N, C).

        Take x from ``self.inputs``; compute ``softmax(x)`` with the engine
        (a Node), subtract the constant ``onehot(self.t, C)`` and multiply by
        ``gy / N`` (gy is the 0-d upstream gradient of the loss).
        """
        (x,) = self.inputs
        # --- exercise 3: SoftmaxCrossEntropy.backward, (softmax(x) − onehot(t)) · gy / N ---
        N, C = x.shape
        return (softmax(x) - onehot(self.t, C)) * (gy / N)
        # --- end of exercise 3 ---


def softmax_cross_entropy(x, t):
    """The mean cross entropy of softmax(x) (x: (N, C) logits) against the integer labels t (N,)."""
    return SoftmaxCrossEntropy(t)(x)


def accuracy(x, t):
    """The fraction of rows of the logits ``x`` (Node or array, (N, C)) whose largest entry is at the label t."""
    x = getattr(x, "data", x)
    return float((np.argmax(x, axis=1) == np.asarray(t)).mean())


if __name__ == "__main__":
    x = Node(np.array([[2.0, 1.0, 0.1], [1000.0, 0.0, -1000.0]]), name="logits")
    t = np.array([0, 2])
    print("softmax:\n", softmax(x).data)
    print("log_softmax (finite even for ±1000):\n", log_softmax(x).data)
    loss = softmax_cross_entropy(x, t)
    loss.backward()
    print("loss:", loss.data, " accuracy:", accuracy(x, t))
    print("gradient (softmax − onehot) / N:\n", x.grad.data)

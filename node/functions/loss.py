"""Losses: mean squared error, softmax cross entropy, negative log-likelihood and
sigmoid cross entropy with soft targets. Each returns a 0-d Node (mean over the batch).

Targets are checked here, at the boundary, so a wrong label gives an error that
names it instead of an IndexError from inside NumPy.
"""
from ..backend import get_array_module, on_host, to_backend
from ..config import Config
from ..core import Function, Node, as_node
from .activation import Logistic, LogNormalizedExponential, log_softmax_array
from .math import Exp


class MeanSquaredError(Function):
    """mean((x - t)²) over all elements. Backward: gx = 2(x - t)/size · gy, gt = -gx."""

    differentiable_backward = True
    real_only = True

    def forward(self, x, t):
        diff = x - t
        return (diff * diff).mean()

    def backward(self, gy):
        x, t = self.saved_inputs()
        g = (x - t) * (gy * (2.0 / x.size))
        x_node, t_node = self.inputs
        return (g if x_node.requires_grad else None), (-g if t_node.requires_grad else None)


class SoftmaxCrossEntropy(Function):
    """Softmax and cross entropy in one op, mean over the batch.

    With log-probabilities p = log_softmax(x) and a target distribution t per row
    (one-hot, or integer labels standing for one-hot rows):

        loss = -(1/N) Σₙ Σ_c t_nc · p_nc
        ∂loss/∂x = (softmax(x) · Σ_c t_nc - t) / N          (= (softmax(x) - t)/N for one-hot t)
        ∂loss/∂t = -p / N

    One op instead of two avoids exp/log round trips: log_softmax subtracts the
    row maximum, so logits of ±1e4 give finite losses and gradients.
    """

    differentiable_backward = True
    real_only = True

    def forward(self, x, t):
        xp = get_array_module(x)
        self.log_p = log_softmax_array(x, axis=1)
        n = x.shape[0]
        if t.dtype.kind in "iu":
            picked = self.log_p[xp.arange(n), t]
            return -picked.sum() / n
        return (t.reshape(-1) @ self.log_p.reshape(-1)) * (-1.0 / n)  # Σ t·log p as one dot product

    def log_probabilities(self, x):
        """log_softmax(x): the array the forward computed, or, for a Node x, recomputed so that it is recorded."""
        return LogNormalizedExponential(axis=1)(x) if isinstance(x, Node) else self.log_p

    def backward(self, gy):
        x, t = self.saved_inputs()
        x_node, t_node = self.inputs
        log_p = self.log_probabilities(x)
        n = x.shape[0]
        gx = gt = None
        if x_node.requires_grad:
            if t_node.dtype.kind in "iu":
                gx = (Exp()(log_p) - _one_hot(t_node.value, x_node.value)) * (gy / n)
            else:
                gx = SoftmaxCrossEntropyGrad(n)(log_p, t.sum(axis=1, keepdims=True), t, gy)
        if t_node.requires_grad:
            gt = -log_p * (gy / n)
        return gx, gt


class SoftmaxCrossEntropyGrad(Function):
    """gx = (softmax(x)·s - t)·gy/N of ``SoftmaxCrossEntropy``, as a Function of (log p, s, t, gy), s = Σ_c t per row.

    Its own Function so that a GPU computes it as one kernel
    (``node.kernels.loss``). With p = e^(log p), c = gy/N and an upstream
    gradient A of gx, its derivatives are

        ∂/∂log p = A·p·s·c,   ∂/∂s = Σ_c A·p·c,   ∂/∂t = -A·c,   ∂/∂gy = Σ A·(p·s - t) / N,

    written with operations that Nodes record, so it is differentiated again
    under ``create_graph`` (log p then being ``LogNormalizedExponential`` (log softmax) of x).
    """

    differentiable_backward = True

    def __init__(self, count):
        self.count = count

    def forward(self, log_p, row_sums, t, gy):
        return (get_array_module(log_p).exp(log_p) * row_sums - t) * (gy / self.count)

    def backward(self, ggx):
        log_p, row_sums, t, gy = self.saved_inputs()
        wanted = self.needs_input_grad
        p = Exp()(log_p)
        weighted = ggx * p * (gy / self.count)
        g_log_p = weighted * row_sums if wanted[0] else None
        g_rows = weighted.sum(axis=1, keepdims=True) if wanted[1] else None
        g_t = -ggx * (gy / self.count) if wanted[2] else None
        g_gy = (ggx * (p * row_sums - t)).sum() / self.count if wanted[3] else None
        return g_log_p, g_rows, g_t, g_gy


class NLLLoss(Function):
    """Negative log-likelihood of integer labels under log-probabilities, mean over the batch.

    loss = -(1/N) Σₙ logp[n, yₙ];  ∂loss/∂logp = -onehot(y)/N, a constant: the loss is linear in logp.
    """

    differentiable_backward = True
    real_only = True

    def forward(self, log_p, t):
        xp = get_array_module(log_p)
        n = log_p.shape[0]
        return -log_p[xp.arange(n), t].sum() / n

    def backward(self, gy):
        log_p, t = self.inputs
        return gy * (_one_hot(t.value, log_p.value) * (-1.0 / log_p.shape[0])), None


class SigmoidCrossEntropy(Function):
    """Binary cross entropy of logits x against soft targets t ∈ [0, 1], summed, divided by N = len(x).

    loss = (1/N) Σ [log(1 + eˣ) - t·x], with log(1 + eˣ) = max(x, 0) + log1p(e^-|x|)
    so that it never overflows. The derivatives:

        ∂loss/∂x = (σ(x) - t) / N,     ∂loss/∂t = -x / N
    """

    differentiable_backward = True
    real_only = True

    def forward(self, x, t):
        xp = get_array_module(x)
        self.count = len(x)
        softplus = xp.maximum(x, 0) + xp.log1p(xp.exp(-abs(x)))
        return (softplus - t * x).sum() / self.count

    def backward(self, gy):
        x, t = self.saved_inputs()
        x_node, t_node = self.inputs
        scale = gy / self.count
        gx = (Logistic()(x) - t) * scale if x_node.requires_grad else None
        gt = -x * scale if t_node.requires_grad else None
        return gx, gt


def _one_hot(labels, like):
    """Rows of ``like``'s shape and dtype with a 1 at each integer label (a constant of the backward)."""
    xp = get_array_module(labels)
    rows = xp.zeros(like.shape, like.dtype)
    rows[xp.arange(len(labels)), labels] = 1
    return rows


def check_label_range(labels, num_classes, name):
    """Raise ValueError naming the first label outside 0..num_classes-1.

    Labels on the host are always checked. Labels already on the GPU are
    checked only with ``Config.check_device_labels``: reading them back would
    make every training step wait for the device. Data that reaches the GPU
    through node's datasets and DataLoader was checked on the host on its way.
    """
    if not len(labels) or (not on_host(labels) and not Config.check_device_labels):
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f"{name}: label {bad} is out of range for {num_classes} classes (labels must be in 0..{num_classes - 1})")


def _same_backend(t, x):
    """Targets often arrive as NumPy arrays; put them where the scores live."""
    xp = get_array_module(x.value)
    if get_array_module(t.value) is xp:
        return t
    return Node(to_backend(t.value, xp.__name__), requires_grad=t.requires_grad)


def _targets(x, t, name):
    """Check logits (N, C) against integer labels (N,) or one-hot rows (N, C)."""
    x = as_node(x)
    t = as_node(t)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected scores of shape (batch, classes), got {x.shape}")
    n, c = x.shape
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(f"{name}: integer labels must have shape ({n},) to match scores {x.shape}, got {t.shape}")
        check_label_range(t.value, c, name)  # before any upload, where the check costs nothing
    elif t.dtype.kind == "f":
        if t.shape != (n, c):
            hint = " (integer labels need an integer dtype)" if t.shape == (n,) else ""
            raise ValueError(f"{name}: one-hot target of shape {t.shape} does not match scores of shape {x.shape}{hint}")
    else:
        raise TypeError(f"{name}: target must hold integer labels or float one-hot rows, got dtype {t.dtype}")
    return x, _same_backend(t, x)


def mean_squared_error(x, t):
    """mean((x - t)²) over all elements; x and t must have the same shape."""
    x = as_node(x)
    t = as_node(t, like=x)
    if x.shape != t.shape:
        raise ValueError(f"mean_squared_error: input shape {x.shape} and target shape {t.shape} differ")
    return MeanSquaredError()(x, t)


def softmax_with_cross_entropy(x, t):
    """Cross entropy of softmax(x) (x: (N, C) scores) against one-hot rows (N, C) or labels (N,)."""
    return SoftmaxCrossEntropy()(*_targets(x, t, "softmax_with_cross_entropy"))


def softmax_cross_entropy(x, t):
    """Alias of :func:`softmax_with_cross_entropy`."""
    return softmax_with_cross_entropy(x, t)


def nll_loss(log_p, t):
    """Negative log-likelihood: -mean(log_p[n, t[n]]) for log-probabilities (N, C) and labels (N,)."""
    log_p, t = _targets(log_p, t, "nll_loss")
    if t.dtype.kind not in "iu":
        t = Node(t.value.argmax(axis=1), requires_grad=False)
    return NLLLoss()(log_p, t)


def sigmoid_cross_entropy(x, t):
    """Sigmoid cross entropy with soft targets t ∈ [0, 1] (same shape as x), summed and divided by len(x)."""
    x = as_node(x)
    t = as_node(t, like=x)
    if x.shape != t.shape:
        raise ValueError(f"sigmoid_cross_entropy: logits {x.shape} and targets {t.shape} must have the same shape")
    if x.ndim == 0:
        raise ValueError("sigmoid_cross_entropy: logits need a batch axis")
    check_probabilities(t.value, "sigmoid_cross_entropy")
    return SigmoidCrossEntropy()(x, t)


def check_probabilities(t, name):
    """Raise ValueError naming the first target outside [0, 1] (NaN included); checked as labels are (``check_label_range``)."""
    if not t.size or (not on_host(t) and not Config.check_device_labels):
        return
    xp = get_array_module(t)
    outside = ~((t >= 0) & (t <= 1))
    if bool(outside.any()):
        bad = t.reshape(-1)[int(xp.argmax(outside.reshape(-1)))].item()
        raise ValueError(f"{name}: targets must be probabilities in [0, 1], got {bad}")

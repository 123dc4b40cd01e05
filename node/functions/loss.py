"""Losses: mean squared error, softmax cross entropy, negative log-likelihood and
sigmoid cross entropy with soft targets. Each returns a 0-d Node (mean over the batch).

Targets are checked here, at the boundary, so a wrong label gives an error that
names it instead of an IndexError from inside NumPy.
"""
from ..backend import get_array_module, on_host
from ..config import Config
from ..core import Function, Node, as_float, as_node, converted, replayable
from ..validation import choice, flag, integer, real
from .activation import Logistic, LogNormalizedExponential, RectifiedLinear, log_softmax_array
from .comparison import elementwise_test
from .math import Abs, Clip, Exp, Log, Sqrt
from .reduction import index_or_truth


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
    uses_blas = True
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


class NegativeLogLikelihood(Function):
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


@replayable
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
    return Node(converted(t, backend_name=xp.__name__), requires_grad=t.requires_grad)


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


def nll_loss(log_p, t, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class labels under log-probabilities, as ``torch.nn.functional.nll_loss``.

    ``log_p`` is (N, C) or (N, C, d1, ...) (or (C,) for one sample), ``t`` the
    integer labels (N,) or (N, d1, ...). Each element's loss is
    ``-weight[t]·log_p[n, t]`` (0 where ``t == ignore_index``); ``reduction``
    'mean' divides their sum by the sum of the weights of the labels not
    ignored (by their count without ``weight``; NaN when every label is
    ignored, as in PyTorch), 'sum' sums, 'none' returns them. (N, C)
    log-probabilities may also be given one-hot rows (N, C) as targets: their
    argmax is the label.
    """
    reduction = choice("nll_loss", "reduction", reduction, REDUCTIONS)
    ignore_index = integer("nll_loss", "ignore_index", ignore_index)
    log_p, t = as_float(as_node(log_p)), as_node(t)
    if t.dtype.kind == "f" and log_p.ndim == 2 and t.shape == log_p.shape:
        t = Node(index_or_truth("argmax", t, 1, False), requires_grad=False)
    if _plain_case(log_p, t, weight, ignore_index, reduction, 0.0):
        return NegativeLogLikelihood()(*_targets(log_p, t, "nll_loss"))
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class labels, got dtype {t.dtype} {t.shape}")
    return class_loss("nll_loss", log_p, t, weight, ignore_index, reduction, 0.0, log_softmax_first=False)


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


# ---- PyTorch's losses, with their options ----------------------------------------------------
#
# cross_entropy, nll_loss, binary_cross_entropy_with_logits, mse_loss, l1_loss,
# huber_loss, smooth_l1_loss, kl_div and cosine_embedding_loss take PyTorch's
# arguments and give its numbers. Most are written with node's ops (each of
# which has its derivative), so their gradients of every order come from those;
# Huber has a Function of its own (its derivative is a clip) and softplus one
# (the stable log(1 + eˣ) of binary cross entropy).

REDUCTIONS = ("mean", "sum", "none")


def _reduced(loss, reduction):
    """The elementwise ``loss`` Node reduced as ``reduction`` says: 'mean', 'sum' or 'none' (as it is)."""
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _plain_case(x, t, weight, ignore_index, reduction, label_smoothing):
    """True when PyTorch's options change nothing, so the one-op losses above give the same numbers.

    That is: (N, C) scores, no weight, mean reduction, no label smoothing, and
    no label equal to ``ignore_index`` (checked where that is free: labels on
    the host; labels on a GPU take the general path).
    """
    if weight is not None or reduction != "mean" or label_smoothing != 0 or x.ndim != 2:
        return False
    if t.dtype.kind not in "iu":
        return t.dtype.kind == "f"
    return on_host(t.value) and not holds(t.value, ignore_index)


@replayable
def holds(labels, value):
    """Whether any label equals ``value`` (a branch on the data: a replay by ``node.compile`` checks it again)."""
    return bool((labels == value).any())


def _constant(owner, name, value, like):
    """``value`` (a Node, an array, a number or a list) as an array on ``like``'s device in its dtype; None stays None.

    Weights are constants of the loss: no gradient flows into them.
    """
    if value is None:
        return None
    array = as_node(value.value if isinstance(value, Node) else value, like=like, what=f"{owner}: {name}")
    return _same_backend(array, like).value.astype(like.dtype, copy=False)


def _class_weights(owner, weight, num_classes, like):
    """The per-class ``weight`` as a (C,) array beside ``like``, or None."""
    w = _constant(owner, "weight", weight, like)
    if w is not None and w.shape != (num_classes,):
        raise ValueError(f"{owner}: weight must have one entry per class, shape ({num_classes},), got {w.shape}")
    return w


@replayable
def check_class_labels(labels, num_classes, ignore_index, name):
    """Raise ValueError naming the first label outside 0..C-1 that is not ``ignore_index`` (checked as in ``check_label_range``)."""
    if not labels.size or (not on_host(labels) and not Config.check_device_labels):
        return
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bool(bad.any()):
        value = int(labels[bad].reshape(-1)[0])
        raise ValueError(
            f"{name}: label {value} is out of range for {num_classes} classes "
            f"(labels must be in 0..{num_classes - 1}, or ignore_index={ignore_index})"
        )


def _class_inputs(owner, x, t):
    """Scores (N, C, d1, ...) and targets, a single sample (C,) made a batch of one; returns (x, t, single)."""
    if x.ndim == 0:
        raise ValueError(f"{owner}: expected scores of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d input")
    single = x.ndim == 1
    if single:
        x = x.reshape(1, -1)
        t = t.reshape(1, -1) if t.dtype.kind == "f" else t.reshape(1)
    n, c = x.shape[:2]
    if t.dtype.kind in "iu":
        if t.shape != (n,) + x.shape[2:]:
            raise ValueError(f"{owner}: class labels must have shape {(n,) + x.shape[2:]} to match scores {x.shape}, got {t.shape}")
    elif t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"{owner}: class probabilities must have the scores' shape {x.shape}, got {t.shape}")
    else:
        raise TypeError(f"{owner}: target must hold integer class labels or float class probabilities, got dtype {t.dtype}")
    return x, _same_backend(t, x), single


@replayable
def _label_coefficients(labels, num_classes, w, ignore_index, smoothing, like):
    """Coefficients A (N, C, d...) with loss = -Σ_c A·log p, and the 'mean' divisor Σ weight[t] over labels not ignored.

    A = valid · weight_c · ((1 - ε)·[c = t] + ε/C): PyTorch's label smoothing,
    each class weighted by its own weight, ignored positions all zero.
    """
    xp = get_array_module(like)
    shape = (1, num_classes) + (1,) * (like.ndim - 2)
    one_hot = (xp.expand_dims(labels, 1) == xp.arange(num_classes).reshape(shape)).astype(like.dtype)
    valid = xp.expand_dims(labels != ignore_index, 1).astype(like.dtype)
    w = xp.ones(shape, like.dtype) if w is None else w.reshape(shape)
    coefficients = ((1 - smoothing) * one_hot + smoothing / num_classes) * w * valid
    divisor = (one_hot * w * valid).sum()
    return coefficients, divisor


def class_loss(owner, x, t, weight, ignore_index, reduction, smoothing, log_softmax_first):
    """Cross entropy (``log_softmax_first``) or NLL of scores (N, C, d...) against labels or class probabilities.

    The loss of each element is -Σ_c A_c·log p_c, with log p = log_softmax(x)
    over axis 1 (or x itself for NLL) and the constant coefficients A of
    ``_label_coefficients`` for labels; for probabilities t,
    A = weight_c·((1 - ε)·t_c + ε/C), which carries t's gradient, and 'mean'
    divides by the number of elements (ignore_index does not apply), as PyTorch does.
    """
    x, t, single = _class_inputs(owner, x, t)
    num_classes = x.shape[1]
    w = _class_weights(owner, weight, num_classes, x)
    log_p = LogNormalizedExponential(axis=1)(x) if log_softmax_first else x
    if t.dtype.kind in "iu":
        check_class_labels(t.value, num_classes, ignore_index, owner)
        coefficients, divisor = _label_coefficients(t.value, num_classes, w, ignore_index, smoothing, x.value)
    else:
        coefficients, divisor = t * (1 - smoothing) + smoothing / num_classes, None
        if w is not None:
            coefficients = coefficients * w.reshape((1, num_classes) + (1,) * (x.ndim - 2))
    loss = -(log_p * coefficients).sum(axis=1)
    if single:
        loss = loss.reshape(())
    if reduction == "mean" and divisor is not None:
        return loss.sum() / divisor
    return _reduced(loss, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross entropy of softmax(input) against class labels or class probabilities, as ``torch.nn.functional.cross_entropy``.

    Args:
        input: scores (logits), (N, C), (N, C, d1, d2, ...) or (C,).
        target: integer labels (N,) / (N, d1, ...) / () or float class
            probabilities of the input's shape.
        weight: a weight per class (C,), or None.
        ignore_index: a label value that contributes nothing, to the loss nor
            to the 'mean' divisor (labels only).
        reduction: 'mean', 'sum' or 'none'. With labels 'mean' divides by the
            sum of the weights of the labels not ignored (their count without
            ``weight``); with probabilities by the number of elements.
        label_smoothing: ε in [0, 1]: the target becomes (1 - ε)·target + ε/C
            (PyTorch's formula, with weights and ignore_index as PyTorch applies them).

    With the defaults and (N, C) scores it is the one op
    :func:`softmax_cross_entropy` (and its fast kernels), with the same numbers.
    """
    owner = "cross_entropy"
    reduction = choice(owner, "reduction", reduction, REDUCTIONS)
    ignore_index = integer(owner, "ignore_index", ignore_index)
    smoothing = real(owner, "label_smoothing", label_smoothing, 0.0, 1.0)
    x, t = as_float(as_node(input)), as_node(target)
    if _plain_case(x, t, weight, ignore_index, reduction, smoothing):
        return SoftmaxCrossEntropy()(*_targets(x, t, owner))
    return class_loss(owner, x, t, weight, ignore_index, reduction, smoothing, log_softmax_first=True)


def _pair_of(owner, input, target):
    """Input and target of an elementwise loss as Nodes of one float dtype and shape."""
    x = as_float(as_node(input))
    t = as_node(target, like=x)
    if t.dtype.kind in "iub":
        t = Node(converted(t, x.dtype), requires_grad=False)
    if x.shape != t.shape:
        raise ValueError(f"{owner}: input shape {x.shape} and target shape {t.shape} differ")
    return x, _same_backend(t, x)


class LogOnePlusExp(Function):
    """softplus(x) = log(1 + eˣ), computed as max(x, 0) + log1p(e^-|x|) (no overflow). gx = gy·σ(x)."""

    differentiable_backward = True
    real_only = True

    def forward(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-abs(x)))

    def backward(self, gy):
        (x,) = self.saved_inputs()
        return gy * Logistic()(x)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross entropy of logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    For logits x, targets t in [0, 1], weight w and positive-class weight p
    (both broadcast against x; p along the last axis, one per class)::

        loss = -w·[p·t·log σ(x) + (1 - t)·log(1 - σ(x))]
             = w·[(1 - t)·x + (1 + (p - 1)·t)·softplus(-x)]

    the second form, PyTorch's, never takes the log of 0 or overflows.
    ``reduction`` is 'mean' (over all elements), 'sum' or 'none'.
    """
    owner = "binary_cross_entropy_with_logits"
    reduction = choice(owner, "reduction", reduction, REDUCTIONS)
    x, t = _pair_of(owner, input, target)
    w, p = _constant(owner, "weight", weight, x), _constant(owner, "pos_weight", pos_weight, x)
    for name, value in (("weight", w), ("pos_weight", p)):
        if value is not None and _broadcasts_to(value.shape, x.shape) is False:
            raise ValueError(f"{owner}: {name} of shape {value.shape} does not broadcast to the input's shape {x.shape}")
    softplus = LogOnePlusExp()(-x)
    loss = (1 - t) * x + (softplus if p is None else (1 + (p - 1) * t) * softplus)
    if w is not None:
        loss = loss * w
    return _reduced(loss, reduction)


def _broadcasts_to(shape, target):
    """True when an array of ``shape`` broadcasts to ``target`` without changing it."""
    if len(shape) > len(target):
        return False
    return all(a in (1, b) for a, b in zip(shape[::-1], target[::-1]))


def mse_loss(input, target, reduction="mean"):
    """Squared error (input - target)², reduced by 'mean' (:func:`mean_squared_error`), 'sum' or 'none'."""
    reduction = choice("mse_loss", "reduction", reduction, REDUCTIONS)
    x, t = _pair_of("mse_loss", input, target)
    if reduction == "mean":
        return MeanSquaredError()(x, t)
    diff = x - t
    return _reduced(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """Absolute error |input - target|, reduced by 'mean', 'sum' or 'none' (gradient sign(input - target), 0 at 0)."""
    reduction = choice("l1_loss", "reduction", reduction, REDUCTIONS)
    x, t = _pair_of("l1_loss", input, target)
    return _reduced(Abs()(x - t), reduction)


class Huber(Function):
    """Huber's loss of d = x - t, elementwise: ½d² where |d| < δ, δ(|d| - ½δ) elsewhere.

    Its derivative in x is clip(d, -δ, δ) (and minus that in t): the Clip op,
    whose own derivative (1 inside, 0 outside) is then the second derivative.
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, delta):
        self.delta = delta

    def forward(self, x, t):
        xp = get_array_module(x)
        d = abs(x - t)
        return xp.where(d < self.delta, 0.5 * d * d, self.delta * (d - 0.5 * self.delta))

    def backward(self, gy):
        x, t = self.saved_inputs()
        g = gy * Clip(-self.delta, self.delta)(x - t)
        x_node, t_node = self.inputs
        return (g if x_node.requires_grad else None), (-g if t_node.requires_grad else None)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss with threshold ``delta`` > 0, as ``torch.nn.functional.huber_loss``: quadratic near 0, linear beyond."""
    reduction = choice("huber_loss", "reduction", reduction, REDUCTIONS)
    delta = real("huber_loss", "delta", delta, 0.0, open_minimum=True)
    return _reduced(Huber(delta)(*_pair_of("huber_loss", input, target)), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``: ½d²/β where |d| < β, |d| - ½β elsewhere.

    It is the Huber loss with δ = β divided by β; β = 0 gives the L1 loss.
    """
    reduction = choice("smooth_l1_loss", "reduction", reduction, REDUCTIONS)
    beta = real("smooth_l1_loss", "beta", beta, 0.0)
    x, t = _pair_of("smooth_l1_loss", input, target)
    loss = Abs()(x - t) if beta == 0 else Huber(beta)(x, t) * (1.0 / beta)
    return _reduced(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence, as ``torch.nn.functional.kl_div``: ``input`` holds log-probabilities.

    Elementwise t·(log t - input), 0 where t = 0 (or, with ``log_target``,
    eᵗ·(t - input) for log-probabilities t). ``reduction``: 'mean' averages
    every element (PyTorch's default, which is not the divergence),
    'batchmean' sums and divides by the batch size (input.shape[0]), the
    divergence per sample; 'sum' and 'none' too.
    """
    owner = "kl_div"
    reduction = choice(owner, "reduction", reduction, REDUCTIONS + ("batchmean",))
    log_target = flag(owner, "log_target", log_target)
    x, t = _pair_of(owner, input, target)
    if log_target:
        loss = Exp()(t) * (t - x)
    else:
        positive = Node(converted(elementwise_test("greater", t, 0), x.dtype), requires_grad=False)
        # t·log t with 0·log 0 = 0: log of 1 where t is 0, so no -inf (or NaN gradient) appears.
        loss = t * Log()(t * positive + (1 - positive)) - t * x
    if reduction == "batchmean":
        return loss.sum() * (1.0 / (x.shape[0] if x.ndim else 1))
    return _reduced(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """Cosine embedding loss, as ``torch.nn.functional.cosine_embedding_loss``.

    For rows x₁, x₂ (N, D) (or one pair (D,)) with cos = x₁·x₂ / √((‖x₁‖² + ε)(‖x₂‖² + ε)),
    ε = 1e-12, and targets y = ±1::

        loss = 1 - cos              where y = 1   (pull together)
        loss = max(0, cos - margin) where y = -1  (push apart, up to the margin)

    ``margin`` in [-1, 1]; ``reduction`` 'mean', 'sum' or 'none'.
    """
    owner = "cosine_embedding_loss"
    reduction = choice(owner, "reduction", reduction, REDUCTIONS)
    margin = real(owner, "margin", margin, -1.0, 1.0)
    x1, x2 = _pair_of(owner, input1, input2)
    if x1.ndim not in (1, 2):
        raise ValueError(f"{owner}: inputs must be (N, D) rows or one (D,) vector, got {x1.shape}")
    y = as_node(target)
    if y.shape != x1.shape[:-1]:
        raise ValueError(f"{owner}: target must have shape {x1.shape[:-1]} (one ±1 per pair), got {y.shape}")
    if on_host(y.value) and y.size and not bool(((y.value == 1) | (y.value == -1)).all()):
        bad = y.value[(y.value != 1) & (y.value != -1)].reshape(-1)[0]
        raise ValueError(f"{owner}: target must hold 1 (similar) or -1 (dissimilar), got {bad}")
    y = _same_backend(y, x1).value
    eps = 1e-12
    dot = (x1 * x2).sum(axis=-1)
    cos = dot / Sqrt()(((x1 * x1).sum(axis=-1) + eps) * ((x2 * x2).sum(axis=-1) + eps))
    similar, dissimilar = (y == 1).astype(x1.dtype), (y == -1).astype(x1.dtype)
    loss = (1 - cos) * similar + RectifiedLinear()(cos - margin) * dissimilar
    return _reduced(loss, reduction)

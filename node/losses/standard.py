"""PyTorch's loss layers: ``node.CrossEntropyLoss()(scores, labels)`` as ``torch.nn.CrossEntropyLoss``.

Each holds its options, checked when it is made, and calls the function of
``node.functions.loss`` of the same name (``CrossEntropyLoss`` ->
``cross_entropy``), where the formulas are. A per-class ``weight`` (and
``pos_weight``) is kept as a buffer, so ``loss.to('gpu')`` moves it and
``state_dict()`` holds it, as PyTorch registers it.
"""
from .. import backend
from ..config import Config
from ..functions.loss import (
    REDUCTIONS,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ..layers.layer import Layer
from ..validation import choice, flag, integer, real

__all__ = [
    "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss",
    "NLLLoss", "SmoothL1Loss",
]


def _buffer(owner, name, value):
    """A weight as an array on the active backend in the default float dtype (None stays None)."""
    if value is None:
        return None
    value = getattr(value, "value", value)
    array = backend.as_array(value, dtype=Config.default_dtype, what=f"{owner}: {name}")
    if array.ndim != 1 and name == "weight" and owner in ("CrossEntropyLoss", "NLLLoss"):
        raise ValueError(f"{owner}: weight must be a vector with one entry per class, got shape {array.shape}")
    return array


class _Reduced(Layer):
    """A loss layer with a ``reduction`` ('mean', 'sum', 'none'; KLDivLoss also 'batchmean')."""

    reductions = REDUCTIONS

    def __init__(self, reduction="mean"):
        self.reduction = choice(type(self).__name__, "reduction", reduction, self.reductions)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Reduced):
    """Cross entropy of softmax(scores) against class labels or probabilities: :func:`node.functions.cross_entropy`."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.weight = _buffer("CrossEntropyLoss", "weight", weight)
        self.ignore_index = integer("CrossEntropyLoss", "ignore_index", ignore_index)
        self.label_smoothing = real("CrossEntropyLoss", "label_smoothing", label_smoothing, 0.0, 1.0)

    def forward(self, input, target):
        return cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_Reduced):
    """Negative log-likelihood of class labels under log-probabilities: :func:`node.functions.nll_loss`."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.weight = _buffer("NLLLoss", "weight", weight)
        self.ignore_index = integer("NLLLoss", "ignore_index", ignore_index)

    def forward(self, input, target):
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCEWithLogitsLoss(_Reduced):
    """Binary cross entropy of logits: :func:`node.functions.binary_cross_entropy_with_logits`."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight = _buffer("BCEWithLogitsLoss", "weight", weight)
        self.pos_weight = _buffer("BCEWithLogitsLoss", "pos_weight", pos_weight)

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class MSELoss(_Reduced):
    """Squared error: :func:`node.functions.mse_loss`."""

    def forward(self, input, target):
        return mse_loss(input, target, self.reduction)


class L1Loss(_Reduced):
    """Absolute error: :func:`node.functions.l1_loss`."""

    def forward(self, input, target):
        return l1_loss(input, target, self.reduction)


class HuberLoss(_Reduced):
    """Huber loss with threshold ``delta`` > 0: :func:`node.functions.huber_loss`."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = real("HuberLoss", "delta", delta, 0.0, open_minimum=True)

    def forward(self, input, target):
        return huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Reduced):
    """Smooth L1 loss with ``beta`` >= 0: :func:`node.functions.smooth_l1_loss`."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = real("SmoothL1Loss", "beta", beta, 0.0)

    def forward(self, input, target):
        return smooth_l1_loss(input, target, self.reduction, self.beta)


class KLDivLoss(_Reduced):
    """KL divergence, ``input`` holding log-probabilities: :func:`node.functions.kl_div` ('batchmean' is the divergence)."""

    reductions = REDUCTIONS + ("batchmean",)

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        self.log_target = flag("KLDivLoss", "log_target", log_target)

    def forward(self, input, target):
        return kl_div(input, target, self.reduction, self.log_target)


class CosineEmbeddingLoss(_Reduced):
    """Cosine embedding loss of pairs with targets ±1: :func:`node.functions.cosine_embedding_loss`."""

    def __init__(self, margin=0.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = real("CosineEmbeddingLoss", "margin", margin, -1.0, 1.0)

    def forward(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)

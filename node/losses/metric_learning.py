"""Metric-learning losses: pair and triplet losses on distances, and softmax losses with margins on angles.

Two families, both built from node ops, so every gradient comes from the ops
(``gradcheck`` checks them in float64):

* **On distances between the features of a batch** (no parameters):
  ``ContrastiveLoss`` (pairs, the Center Loss paper's model B) and
  ``TripletLoss`` (batch-hard or all triplets). Distances are Euclidean,
  d(i, j) = ‖xᵢ - xⱼ‖, computed with ``norm`` of the difference, whose gradient
  at 0 is 0 (two equal features give no direction, and no NaN).

* **Softmax on the angles to one weight vector per class**: ``NormFace``,
  ``CosFace``, ``ArcFace`` and ``SphereFace``. Each owns the class weights
  W (num_classes, in_features) as a Parameter ``weight``. With x̂ = x/‖x‖ and
  ŵ_j = w_j/‖w_j‖ (each divided by max(‖·‖, 1e-12), as
  ``torch.nn.functional.normalize``), cos θ_j = x̂·ŵ_j. The loss is the mean
  over the batch of the softmax cross entropy of the *margin logits* f, which
  differ from plain logits only at the true class y:

      NormFace    f_j = s·cos θ_j                       (no margin)
      CosFace     f_y = s·(cos θ_y - m)
      ArcFace     f_y = s·cos(θ_y + m)                  (with a fallback past π, below)
      SphereFace  f_y = ‖x‖·(λ cos θ_y + ψ(θ_y)) / (1 + λ),   other classes ‖x‖·cos θ_j

  ``margin_logits(x, labels)`` returns f (what the loss sees, needs the
  labels); ``logits(x)`` returns the logits without any margin (s·cos θ_j, or
  ‖x‖·cos θ_j for SphereFace), for predictions and accuracy, where the label is
  not known. Features for verification are x itself (compare them by cosine).

No arccos is needed: cos(θ + m) = cos θ cos m - sin θ sin m, with
sin θ = √(1 - cos² θ), and cos(mθ) is a Chebyshev polynomial in cos θ.

What is not a node op — the masks made from the labels, the choices made
from the values (which branch, which triplets count), SphereFace's step
count — is done by small functions of arrays marked ``@replayable``, so
that ``node.compile`` records each call and a replayed step computes it
again from that step's arrays instead of reusing the recorded ones.
"""
import math

import numpy as np

from .. import backend
from ..config import as_generator, is_grad_enabled
from ..core import Node, as_node, replayable
from ..functions import maximum, norm, relu, softmax_cross_entropy, sqrt, where
from ..layers.init import uniform
from ..layers.layer import Layer, Parameter
from ..validation import choice, float_dtype, integer, real
from .center_loss import class_labels

__all__ = ["ArcFace", "ContrastiveLoss", "CosFace", "NormFace", "SphereFace", "TripletLoss"]

EPS = 1e-12  # the smallest norm divided by, as torch.nn.functional.normalize


def batch_features(owner, x, size=None, minimum=1, like=None):
    """Features as a Node (M, D), checked: 2-D, D == ``size`` (when given), M >= ``minimum``, on ``like``'s device."""
    x = as_node(x)
    if like is not None:
        backend.check_same_device(owner, features=x, weight=like)
    if x.ndim != 2 or (size is not None and x.shape[1] != size):
        expected = f"(M, {size})" if size is not None else "(M, D)"
        raise ValueError(f"{owner}: features must have shape {expected}, got {x.shape}")
    if x.shape[0] < minimum:
        raise ValueError(f"{owner}: needs at least {minimum} sample{'s' if minimum > 1 else ''} in the batch, got {x.shape[0]}")
    return x


@replayable
def batch_labels(owner, target, count, xp):
    """Integer labels (M,) as an array of module ``xp``, one per feature (checked, and moved to ``xp``'s device)."""
    t = target.value if isinstance(target, Node) else target
    if not backend.is_array(t):
        t = np.asarray(t)
    if t.ndim != 1 or t.dtype.kind not in "iu":
        raise ValueError(f"{owner}: labels must be integers of shape (M,), got {t.dtype} {t.shape}")
    if len(t) != count:
        raise ValueError(f"{owner}: {count} features but {len(t)} labels")
    return backend.as_array(t, xp)


def unit_rows(v):
    """Each row of ``v`` divided by its length (at least 1e-12): v / max(‖v‖, ε), row by row."""
    return v / maximum(norm(v, axis=1, keepdims=True), EPS)


def pairwise_distances(x):
    """d(i, j) = ‖xᵢ - xⱼ‖ (M, M), from the (M, M, D) differences; the gradient at d = 0 is 0."""
    m, d = x.shape
    return norm(x.reshape(m, 1, d) - x.reshape(1, m, d), axis=2)


# ---- losses on distances -----------------------------------------------------------------------
class ContrastiveLoss(Layer):
    """The contrastive loss over every pair of a batch (Hadsell, Chopra and LeCun 2006; the Center Loss paper's model B).

    For features xᵢ (M of them) with labels yᵢ and d_ij = ‖xᵢ - xⱼ‖, over the
    P = M(M-1)/2 pairs i < j:

        L = 1/P · Σ_{i<j} [ δ(yᵢ = yⱼ)·d_ij²  +  δ(yᵢ ≠ yⱼ)·max(0, margin - d_ij)² ]

    Same-label pairs are pulled together; different-label pairs are pushed
    apart until they are ``margin`` away, and then left alone. The mean is over
    *all* pairs, same and different (a batch of 10 balanced classes has about
    9 different pairs for each same one). Hadsell et al. write ½ before each
    term: that is this loss times ½, i.e. half the weight. The Center Loss
    paper trains model B with softmax + λ·L on the batch's pairs, as
    DeepID2 does.

    Args:
        margin: how far apart different-label pairs must be, > 0.

    Call ``loss(features, labels)`` with features (M, D), M >= 2, and integer labels (M,).
    """

    def __init__(self, margin=1.0):
        self.margin = real("ContrastiveLoss", "margin", margin, minimum=0, open_minimum=True)

    def forward(self, x, target):
        x = batch_features("ContrastiveLoss", x, minimum=2)
        xp = backend.get_array_module(x.value)
        labels = batch_labels("ContrastiveLoss", target, x.shape[0], xp)
        i, j = xp.triu_indices(x.shape[0], 1)
        diff = x[i] - x[j]  # (P, D), one row per pair i < j
        squared = (diff * diff).sum(axis=1)  # d², without a square root: smooth at 0
        pushed = relu(self.margin - norm(diff, axis=1)) ** 2
        return where(same_label(labels, i, j), squared, pushed).mean()

    def extra_repr(self):
        return f"margin={self.margin}"


@replayable
def same_label(labels, i, j):
    """True for each pair (i[p], j[p]) whose two samples have the same label."""
    return labels[i] == labels[j]


@replayable
def triplet_masks(labels):
    """(positive, negative), boolean (M, M): [a, p] is positive when p ≠ a has a's label, [a, n] negative when n's label differs."""
    xp = backend.get_array_module(labels)
    same = labels[:, None] == labels[None, :]
    return same & ~xp.eye(len(labels), dtype=bool), ~same


@replayable
def anchor_weights(positive, negative, dtype):
    """(weights, count): 1 for each anchor with a positive and a negative, else 0 (M,), in ``dtype``; and their number, at least 1."""
    xp = backend.get_array_module(positive)
    anchors = (positive.any(axis=1) & negative.any(axis=1)).astype(dtype)
    return anchors, xp.asarray(xp.maximum(anchors.sum(), 1))


@replayable
def hardest_negative_fill(dist, margin):
    """A distance beyond every one in ``dist`` by more than ``margin``: stands in for "no negative", whose hinge is then 0."""
    xp = backend.get_array_module(dist)
    return xp.asarray(xp.max(dist) + (margin + 1))


@replayable
def valid_triplets(positive, negative, dtype):
    """1 at [a, p, n] where p is a positive and n a negative of anchor a, else 0 (M, M, M), in ``dtype``."""
    return (positive[:, :, None] & negative[:, None, :]).astype(dtype)


@replayable
def active_count(hinge):
    """How many triplet losses in ``hinge`` are positive (at least 1: the divisor of batch all's mean), in ``hinge``'s dtype."""
    xp = backend.get_array_module(hinge)
    return xp.asarray(xp.maximum((hinge > 0).sum().astype(hinge.dtype), 1))


class TripletLoss(Layer):
    """The triplet loss max(0, margin + d(a, p) - d(a, n)) over the triplets of a batch (Hermans, Beyer and Leibe 2017).

    A triplet is an anchor a, a positive p ≠ a with the anchor's label and a
    negative n with another label; d is the Euclidean distance (not squared).

    * ``mining="batch_hard"`` (Hermans et al.'s batch hard): for each anchor,
      its farthest positive and its nearest negative,

          L = 1/|A| · Σ_{a∈A} max(0, margin + max_p d(a, p) - min_n d(a, n)),

      A the anchors with at least one positive and one negative in the batch.
    * ``mining="all"`` (their batch all, "BA≠0"): every valid triplet, averaged
      over those whose loss is positive,

          L = Σ_{a,p,n} ℓ_apn / #{(a,p,n) : ℓ_apn > 0},   ℓ_apn = max(0, margin + d(a, p) - d(a, n)),

      so the easy triplets, already satisfied, do not dilute the mean as
      training goes on.

    Either is 0 (with zero gradient) when no anchor or triplet qualifies. The
    gradient of max (min) goes to the hardest positive (negative); at a tie it
    is shared.

    Args:
        margin: the gap wanted between negative and positive distances, >= 0.
        mining: "batch_hard" or "all".

    Call ``loss(features, labels)`` with features (M, D) and integer labels (M,).
    """

    def __init__(self, margin=0.2, mining="batch_hard"):
        self.margin = real("TripletLoss", "margin", margin, minimum=0)
        self.mining = choice("TripletLoss", "mining", mining, ("batch_hard", "all"))

    def forward(self, x, target):
        x = batch_features("TripletLoss", x)
        xp = backend.get_array_module(x.value)
        labels = batch_labels("TripletLoss", target, x.shape[0], xp)
        dist = pairwise_distances(x)
        positive, negative = triplet_masks(labels)
        if self.mining == "batch_hard":
            return self.batch_hard(dist, positive, negative)
        return self.batch_all(dist, positive, negative)

    def batch_hard(self, dist, positive, negative):
        hardest_positive = where(positive, dist, 0.0).max(axis=1)
        hardest_negative = where(negative, dist, hardest_negative_fill(dist.value, self.margin)).min(axis=1)
        anchors, count = anchor_weights(positive, negative, dist.dtype)
        hinge = relu(hardest_positive - hardest_negative + self.margin)
        return (hinge * anchors).sum() / count

    def batch_all(self, dist, positive, negative):
        m = dist.shape[0]
        valid = valid_triplets(positive, negative, dist.dtype)  # [a, p, n]
        hinge = relu(dist.reshape(m, m, 1) - dist.reshape(m, 1, m) + self.margin) * valid
        return hinge.sum() / active_count(hinge.value)

    def extra_repr(self):
        return f"margin={self.margin}, mining={self.mining!r}"


# ---- softmax losses with angular margins ---------------------------------------------------------
@replayable
def target_mask(labels, num_classes, dtype):
    """(mask, one_hot): True at (i, yᵢ) (B, num_classes), and the same as 0/1 in ``dtype``."""
    xp = backend.get_array_module(labels)
    mask = xp.arange(num_classes)[None, :] == labels[:, None]
    return mask, mask.astype(dtype)


class MarginSoftmaxLoss(Layer):
    """Base of the losses whose logits come from the angles between features and class weights.

    Holds the weights W (num_classes, in_features) as the Parameter ``weight``,
    Xavier-uniform in ±√(6/(in_features + num_classes)) as the insightface and
    CosFace implementations start them. Subclasses write ``margin_logits``.
    """

    def __init__(self, in_features, num_classes, s=None, rng=None, dtype=None):
        cls = type(self).__name__
        self.in_features = integer(cls, "in_features", in_features, minimum=1)
        self.num_classes = integer(cls, "num_classes", num_classes, minimum=2)
        self.s = None if s is None else real(cls, "s", s, minimum=0, open_minimum=True)
        dtype = float_dtype(cls, "dtype", dtype)
        bound = math.sqrt(6 / (self.in_features + self.num_classes))
        self.weight = Parameter(uniform(as_generator(rng), (self.num_classes, self.in_features), bound, dtype), name="weight")

    def features(self, x):
        """``x`` as a Node (B, in_features), checked against the weights."""
        return batch_features(type(self).__name__, x, self.in_features, like=self.weight)

    def labels(self, target, count):
        """Integer labels (B,) (or one-hot rows) as an array beside the weights, checked against num_classes."""
        labels = class_labels(target, self.num_classes, type(self).__name__, backend.get_array_module(self.weight.value))
        if len(labels) != count:
            raise ValueError(f"{type(self).__name__}: {count} features but {len(labels)} labels")
        return labels

    def cosines(self, x):
        """cos θ_j = x̂·ŵ_j for every sample and class, (B, num_classes)."""
        return unit_rows(self.features(x)) @ unit_rows(self.weight).T

    def target_mask(self, labels, dtype):
        """(mask, one_hot): True at (i, yᵢ), (B, num_classes), where the margin goes; and the same as 0/1 in ``dtype``."""
        return target_mask(labels, self.num_classes, dtype)

    def logits(self, x):
        """The logits without a margin, s·cos θ_j (B, num_classes): for predictions and accuracy."""
        return self.cosines(x) * self.s

    def margin_logits(self, x, target):
        raise NotImplementedError

    def forward(self, x, target):
        x = self.features(x)
        labels = self.labels(target, x.shape[0])
        return softmax_cross_entropy(self.margin_logits(x, labels), labels)

    def extra_repr(self):
        return f"in_features={self.in_features}, num_classes={self.num_classes}, s={self.s}"


class NormFace(MarginSoftmaxLoss):
    """NormFace (Wang et al. 2017), the normalized softmax: cross entropy of s·cos θ_j, no margin.

        L = -1/B · Σᵢ log( exp(s cos θ_yᵢ) / Σ_j exp(s cos θ_j) )

    Both features and class weights are normalized, so only angles count; the
    scale s sets how peaked the softmax can get (cosines alone lie in [-1, 1],
    too flat for a small loss).

    Args:
        in_features, num_classes: sizes of the features and of W.
        s: the scale, > 0.
        rng, dtype: the weights' initialisation and dtype.

    Call ``loss(features, labels)``; ``loss.logits(features)`` gives s·cos θ.
    """

    def __init__(self, in_features, num_classes, s=16.0, rng=None, dtype=None):
        super().__init__(in_features, num_classes, s, rng, dtype)

    def margin_logits(self, x, target):
        """s·cos θ_j for every class (NormFace has no margin; the labels are checked, not used)."""
        x = self.features(x)
        self.labels(target, x.shape[0])
        return self.logits(x)


class CosFace(MarginSoftmaxLoss):
    """CosFace / large margin cosine loss (Wang et al. 2018): the true class's cosine lowered by m.

        f_j = s·(cos θ_j - m·δ(j = y)),    L = mean over the batch of cross_entropy(f, y)

    Args:
        in_features, num_classes: sizes of the features and of W.
        s: the scale, > 0 (30 here; the paper uses 64).
        m: the cosine margin, >= 0.
        rng, dtype: the weights' initialisation and dtype.
    """

    def __init__(self, in_features, num_classes, s=30.0, m=0.35, rng=None, dtype=None):
        super().__init__(in_features, num_classes, s, rng, dtype)
        self.m = real("CosFace", "m", m, minimum=0)

    def margin_logits(self, x, target):
        """s·(cos θ_j - m·δ(j = y)) (B, num_classes)."""
        x = self.features(x)
        _, one_hot = self.target_mask(self.labels(target, x.shape[0]), self.weight.dtype)
        return (self.cosines(x) - as_node(one_hot) * self.m) * self.s  # m·δ(j = y) by a node op, recorded

    def extra_repr(self):
        return f"{super().extra_repr()}, m={self.m}"


class ArcFace(MarginSoftmaxLoss):
    """ArcFace / additive angular margin (Deng et al. 2019): the true class's angle widened by m.

    With c = cos θ_y and sin θ_y = √(1 - c²):

        f_y = s·cos(θ_y + m) = s·(c·cos m - sin θ_y·sin m)     where c > cos(π - m)
        f_y = s·(c - m·sin(π - m)) = s·(c - m·sin m)            elsewhere
        f_j = s·cos θ_j                                           for j ≠ y

    cos(θ + m) stops decreasing once θ + m passes π, which would reward a
    *larger* angle there; past cos θ_y = cos(π - m) the fallback keeps the
    logit falling with θ, a CosFace-like margin m·sin m (the insightface code's
    ``th`` and ``mm``). The loss is the batch mean of cross_entropy(f, y).

    sin θ is √(1 - c²) where 1 - c² > 0 and 0 elsewhere (c = ±1, or past them by
    rounding), through two ``where``s, so the gradient stays finite at c = ±1
    (it is 0 there) instead of √'s infinite slope at 0.

    Args:
        in_features, num_classes: sizes of the features and of W.
        s: the scale, > 0.
        m: the angular margin in radians, in [0, π/2].
        rng, dtype: the weights' initialisation and dtype.
    """

    def __init__(self, in_features, num_classes, s=64.0, m=0.5, rng=None, dtype=None):
        super().__init__(in_features, num_classes, s, rng, dtype)
        self.m = real("ArcFace", "m", m, minimum=0, maximum=math.pi / 2)

    def margin_logits(self, x, target):
        """s·cos(θ_j + m·δ(j = y)), with the fallback past π (B, num_classes)."""
        x = self.features(x)
        labels = self.labels(target, x.shape[0])
        cos = self.cosines(x)
        mask, one_hot = self.target_mask(labels, cos.dtype)
        c = (cos * one_hot).sum(axis=1, keepdims=True)  # cos θ_y, (B, 1)
        sin_squared = 1 - c * c
        inside = sin_squared > 0  # a comparison: recorded, so a replay takes the branch from its own data
        sin = where(inside, sqrt(where(inside, sin_squared, 1.0)), 0.0)
        widened = c * math.cos(self.m) - sin * math.sin(self.m)
        target_cos = where(c > math.cos(math.pi - self.m), widened, c - self.m * math.sin(self.m))
        return where(mask, target_cos, cos) * self.s

    def extra_repr(self):
        return f"{super().extra_repr()}, m={self.m}"


@replayable
def advance(count):
    """t ← t + 1, in place, for the 0-d array ``count`` (SphereFace's step count, so a replayed step counts too)."""
    count += 1


@replayable
def annealed_lambda(count, base, gamma, power, lambda_min, dtype):
    """λ = max(lambda_min, base·(1 + gamma·t)^(-power)) for t the 0-d array ``count``: a 0-d array of ``dtype`` on its device."""
    xp = backend.get_array_module(count)
    lam = base * (1 + gamma * count) ** (-power)
    return xp.asarray(xp.maximum(lam, lambda_min).astype(dtype))


@replayable
def chebyshev_interval(c, m):
    """((-1)ᵏ, 2k) for each c = cos θ, with k = #{j ∈ 1..m-1 : c < cos(jπ/m)}: θ's interval [kπ/m, (k+1)π/m] in ψ.

    k only picks the branch of ψ(θ) = (-1)ᵏ cos(mθ) - 2k, so it carries no gradient.
    """
    xp = backend.get_array_module(c)
    k = xp.zeros_like(c)
    for j in range(1, m):
        k += c < math.cos(j * math.pi / m)
    return 1 - 2 * (k % 2), 2 * k


class SphereFace(MarginSoftmaxLoss):
    """SphereFace / A-Softmax (Liu et al. 2017): the true class's angle multiplied by an integer m, annealed in.

    Weights are normalized, features are not: the logits are ‖x‖·cos θ_j. At
    the true class the angle becomes mθ, through the monotone

        ψ(θ) = (-1)ᵏ cos(mθ) - 2k,    θ ∈ [kπ/m, (k+1)π/m],  k ∈ {0, ..., m-1}

    (cos(mθ) is the Chebyshev polynomial T_m(cos θ): T₀ = 1, T₁ = c,
    T_{n+1} = 2c·T_n - T_{n-1}; k counts the j in 1..m-1 with cos θ < cos(jπ/m)
    and carries no gradient). A-Softmax alone is hard to train from scratch, so
    the SphereFace reference training blends in the plain logit with a weight λ
    that decays:

        f_y = ‖x‖·(λ cos θ_y + ψ(θ_y)) / (1 + λ),        f_j = ‖x‖·cos θ_j  (j ≠ y)

        λ = max(lambda_min, base·(1 + gamma·t)^(-power))

    where t counts training steps as the reference Caffe layer does: each
    forward in training mode with gradients enabled first adds 1 to t, then
    computes λ (so the first step uses t = 1). In eval mode or under
    ``node.no_grad()`` t stays and λ is that of the last step. The defaults are
    the reference training's (base 1000, gamma 0.12, power 1, lambda_min 5);
    ``base=0, lambda_min=0`` gives A-Softmax without annealing. t is the buffer
    ``iteration`` (a 0-d array), so ``state_dict`` saves it, ``to`` moves it,
    and λ is computed on its device without reading it back.

    Args:
        in_features, num_classes: sizes of the features and of W.
        m: the integer angular margin, >= 1 (1: the normalized-weight softmax; the paper uses 4).
        base, gamma, power, lambda_min: the annealing of λ, each >= 0.
        iteration: the step count t to start from, >= 0.
        rng, dtype: the weights' initialisation and dtype.
    """

    def __init__(self, in_features, num_classes, m=4, base=1000.0, gamma=0.12, power=1.0, lambda_min=5.0,
                 iteration=0, rng=None, dtype=None):
        super().__init__(in_features, num_classes, None, rng, dtype)
        self.m = integer("SphereFace", "m", m, minimum=1)
        self.base = real("SphereFace", "base", base, minimum=0)
        self.gamma = real("SphereFace", "gamma", gamma, minimum=0)
        self.power = real("SphereFace", "power", power, minimum=0)
        self.lambda_min = real("SphereFace", "lambda_min", lambda_min, minimum=0)
        iteration = integer("SphereFace", "iteration", iteration, minimum=0)
        self.iteration = backend.as_array(np.array(iteration, dtype=np.int64), backend.get_array_module(self.weight.value))

    def annealing(self):
        """λ = max(lambda_min, base·(1 + gamma·t)^(-power)) at the current t, a 0-d array on the weights' device."""
        return annealed_lambda(self.iteration, self.base, self.gamma, self.power, self.lambda_min, self.weight.dtype)

    @property
    def lambda_(self):
        """λ at the current step count, as a float (reads it back from the device)."""
        return float(backend.asnumpy(self.annealing()))

    def logits(self, x):
        """The logits without a margin, ‖x‖·cos θ_j = ŵ_j·x (B, num_classes)."""
        x = self.features(x)
        return x @ unit_rows(self.weight).T

    def psi(self, c):
        """ψ(θ) = (-1)ᵏ T_m(cos θ) - 2k from c = cos θ (a Node), elementwise."""
        previous, chebyshev = 1.0, c
        for _ in range(self.m - 1):
            previous, chebyshev = chebyshev, 2 * c * chebyshev - previous
        sign, offset = chebyshev_interval(c.value, self.m)
        return chebyshev * sign - offset

    def margin_logits(self, x, target):
        """‖x‖·cos θ_j, with ‖x‖·(λ cos θ_y + ψ(θ_y))/(1 + λ) at the true class (B, num_classes).

        A training-mode call with gradients enabled advances the step count t first.
        """
        x = self.features(x)
        labels = self.labels(target, x.shape[0])
        if self.training and is_grad_enabled():
            advance(self.iteration)
        lam = as_node(self.annealing())  # a constant Node, so that 1 + λ below is a node op a replay recomputes
        length = norm(x, axis=1, keepdims=True)  # ‖x‖, (B, 1)
        cos = unit_rows(x) @ unit_rows(self.weight).T
        mask, one_hot = self.target_mask(labels, cos.dtype)
        c = (cos * one_hot).sum(axis=1, keepdims=True)
        target_logit = length * (c * lam + self.psi(c)) / (1 + lam)
        return where(mask, target_logit, length * cos)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, num_classes={self.num_classes}, m={self.m}, base={self.base}, "
            f"gamma={self.gamma}, power={self.power}, lambda_min={self.lambda_min}"
        )


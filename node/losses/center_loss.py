"""Center Loss (Wen et al., ECCV 2016) in its two forms.

Both compute, for features x_i (M of them) with labels y_i and class centers c_j,

    L = λ · 1/(2M) · Σᵢ ‖xᵢ - c_yᵢ‖²,        ∂L/∂xᵢ = λ (xᵢ - c_yᵢ) / M

They differ in how the centers move:

* ``CenterLoss`` — the paper's form. Centers are *not* parameters. Each
  training step moves them in place by the paper's rule

      Δc_j = Σᵢ δ(yᵢ = j)(c_j - xᵢ) / (1 + Σᵢ δ(yᵢ = j)),     c_j ← c_j - α Δc_j

  The 1 in the denominator keeps a class absent from the batch still (and
  avoids 0/0); α is the centers' rate. λ only weights the loss: it never
  changes the center step. This rule is not the gradient of L (that would be
  λ Σᵢ (c_j - xᵢ) / M, which depends on λ and on the batch size M).

* ``LearnableCenterLoss`` — the form of LeNets++ with Center Loss (Conv-BN-PReLU,
  NLL loss, centers trained by their own SGD) and of the PyTorch CNN comparison of
  cross entropy, Center Loss and PC loss (which drops the ½: use twice the λ):
  centers are a Parameter trained by their own optimizer (SGD, lr 0.5 there) from the
  gradient ∂L/∂c_j = λ Σᵢ δ(yᵢ = j)(c_j - xᵢ)/M. The common pitfall: with a
  small λ the centers barely move. By default (``scale_centers_by_lambda=False``)
  λ is divided back out of the centers' gradient, so their step depends on
  their optimizer's learning rate alone — as in the paper's form.
"""
import numpy as np

from .. import backend
from ..config import Config, as_generator, get_default_dtype, is_grad_enabled
from ..core import Node, as_node, replayable
from ..functions import scale_grad
from ..functions.loss import check_label_range
from ..layers.layer import Layer, Parameter
from ..validation import flag, float_dtype, integer, real


@replayable
def class_labels(target, num_classes, name, xp):
    """Integer labels (M,) on module ``xp``, from integer labels or one-hot rows (M, K), checked.

    Each sample pulls one center, so each needs exactly one class: a soft
    target (label smoothing, mixup) is refused rather than reduced to its
    argmax. Labels and rows are checked where they are (see
    ``check_label_range``: always on the host; on the GPU only with
    ``Config.check_device_labels``, as reading them back makes a step wait),
    then moved to the centers' device.
    """
    t = target.value if isinstance(target, Node) else target
    if not backend.is_array(t):
        t = backend.as_array(t, np)
    if t.ndim == 2 and t.dtype.kind in "fiub":
        if t.shape[1] != num_classes:
            raise ValueError(f"{name}: one-hot target of shape {t.shape} does not have {num_classes} classes")
        t = one_hot_labels(t, name)
    elif t.ndim != 1 or t.dtype.kind not in "iu":
        raise ValueError(f"{name}: target must be integer labels (M,) or one-hot rows (M, {num_classes}), got {t.dtype} {t.shape}")
    else:
        check_label_range(t, num_classes, name)
    return backend.as_array(t, xp)


def one_hot_labels(rows, name):
    """The labels (M,) that one-hot rows (M, K) stand for, their argmax; ValueError naming the first row that is not one-hot.

    Checked on the host always, on the GPU only with ``Config.check_device_labels``.
    Each row's largest entry being 1, and the rows holding M nonzeros in all,
    means exactly one 1 and K-1 zeros in every row: two cheap passes instead
    of testing each entry.
    """
    labels = rows.argmax(axis=1)
    if not len(rows) or (not backend.on_host(rows) and not Config.check_device_labels):
        return labels
    xp = backend.get_array_module(rows)
    if int(xp.count_nonzero(rows)) == len(rows) and bool((rows[xp.arange(len(rows)), labels] == 1).all()):
        return labels
    good = ((rows == 0) | (rows == 1)).all(axis=1) & ((rows == 1).sum(axis=1) == 1)
    row = int(xp.argmin(good))
    shown = np.array2string(backend.asnumpy(rows[row]), precision=3, threshold=12)
    raise ValueError(
        f"{name}: target row {row} is {shown}, not one-hot; each sample needs exactly one class, whose center it "
        "pulls, so soft targets (label smoothing, mixup) are refused: pass integer labels or exact one-hot rows"
    )


def check_finite_features(x, name):
    """Raise ValueError naming the first sample of the host array ``x`` (M, D) with a NaN or infinite feature."""
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise ValueError(
            f"{name}: features of sample {row} are not finite ({np.array2string(x[row], precision=3, threshold=8)}); "
            "the centers were left unchanged, as one NaN would poison its class's center for good. "
            "Find the source with node.detect_anomaly(), or lower the learning rate."
        )


def check_features(x, labels, num_features, name, centers):
    """Features as a Node of shape (M, D), one per label, on the centers' device."""
    x = as_node(x)
    backend.check_same_device(name, features=x, centers=centers)
    if x.ndim != 2 or x.shape[1] != num_features:
        raise ValueError(f"{name}: features must have shape (M, {num_features}), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: got an empty batch (features of shape {x.shape}); the loss of no samples is undefined")
    if len(labels) != x.shape[0]:
        raise ValueError(f"{name}: {x.shape[0]} features but {len(labels)} labels")
    return x


def initial_centers(num_classes, num_features, rng, dtype):
    """Standard-normal centers (as the Center Loss notebook and the PyTorch comparison draw them), from a seeded generator, on the active backend."""
    draws = as_generator(rng).standard_normal((num_classes, num_features))
    return backend.as_array(draws, backend.backend_module(), dtype=dtype or get_default_dtype())


class CenterLoss(Layer):
    """Center Loss in the paper's form: centers updated in place by the paper's rule, not by an optimizer.

    Args:
        num_classes: K, the number of centers.
        num_features: D, the feature size.
        alpha: α, the centers' rate, in [0, 1] (the Center Loss notebook this package recreates uses 0.01; the paper 0.5).
        lambda_: λ >= 0, the weight of the loss (the notebook's ``gain``).
        rng: seeds the centers' initialisation.

    Call ``loss(features, target)`` with features (M, D) and integer labels
    (M,) or exact one-hot rows (M, K); soft targets are refused. In training
    mode, with gradients enabled, the call also moves the centers, after
    computing the loss from the old ones. No update happens in eval mode or
    under ``node.no_grad()``, nor from features that are not all finite: on
    the host those raise ValueError (naming the sample) before the centers
    move; on the GPU, where reading them back would make every step wait, the
    update is skipped on the device and the loss comes out NaN.
    """

    def __init__(self, num_classes, num_features, alpha=0.5, lambda_=1.0, rng=None, dtype=None):
        num_classes = integer("CenterLoss", "num_classes", num_classes, minimum=1)
        num_features = integer("CenterLoss", "num_features", num_features, minimum=1)
        # α > 1 overshoots the class mean every step (α = 3.5 diverged to 1.6e4 in 30 steps).
        alpha = real("CenterLoss", "alpha", alpha, minimum=0, maximum=1)
        lambda_ = real("CenterLoss", "lambda_", lambda_, minimum=0)  # a negative weight would push features away from their centers
        dtype = float_dtype("CenterLoss", "dtype", dtype)
        self.num_classes, self.num_features, self.alpha, self.lambda_ = num_classes, num_features, alpha, lambda_
        self.centers = initial_centers(num_classes, num_features, rng, dtype)  # a buffer: saved and moved, not trained

    def forward(self, x, target):
        xp = backend.get_array_module(self.centers)
        labels = class_labels(target, self.num_classes, "CenterLoss", xp)
        x = check_features(x, labels, self.num_features, "CenterLoss", self.centers)
        picked = rows(self.centers, labels)  # the old centers, kept for the loss
        diff = x - Node(picked, requires_grad=False)
        loss = (diff * diff).sum() * (self.lambda_ / (2 * len(labels)))
        if self.training and is_grad_enabled():
            self.update_centers(x.value, labels, picked)
        return loss

    @replayable
    def update_centers(self, x, labels, picked=None):
        """c_j ← c_j - α Σᵢ δ(yᵢ=j)(c_j - xᵢ) / (1 + Σᵢ δ(yᵢ=j)), summed with a scatter-add.

        ``picked`` is ``centers[labels]`` when the caller already has it. Features
        that are not all finite never move a center: on the host they raise
        ValueError first; on the GPU the step is masked out on the device.
        """
        xp = backend.get_array_module(self.centers)
        on_host = backend.on_host(x)
        if on_host:
            check_finite_features(x, "CenterLoss")
        picked = self.centers[labels] if picked is None else picked
        # One scatter-add sums both Σ(c_j - xᵢ) (columns :D) and the counts (column D), with
        # no bincount: CuPy's reads the labels back to the host, making the step wait.
        gaps = xp.empty((len(labels), self.num_features + 1), dtype=self.centers.dtype)
        xp.subtract(picked, x, out=gaps[:, :-1])
        gaps[:, -1] = 1
        sums = xp.zeros((self.num_classes, self.num_features + 1), dtype=self.centers.dtype)
        backend.scatter_add(sums, labels, gaps)
        if on_host:
            _move_centers(self.centers, sums[:, :-1], sums[:, -1:], self.alpha)
        else:  # a NaN or inf feature makes the sum of all gaps non-finite; the device then moves no center
            _move_centers_if_finite(self.centers, sums[:, :-1], sums[:, -1:], self.alpha, sums.sum())

    def extra_repr(self):
        return f"num_classes={self.num_classes}, num_features={self.num_features}, alpha={self.alpha}, lambda_={self.lambda_}"


@replayable
def rows(centers, labels):
    """``centers[labels]``: a copy of each sample's center (a step that ``node.compile`` replays)."""
    return centers[labels]


@backend.fused
def _move_centers(xp, centers, gap_sums, counts, alpha):
    """c_j ← c_j - α Σ(c_j - xᵢ) / (1 + n_j), in place (one kernel on CuPy)."""
    centers -= alpha * gap_sums / (1 + counts)


@backend.fused
def _move_centers_if_finite(xp, centers, gap_sums, counts, alpha, total):
    """The same step, left out (a step of 0) when ``total``, a 0-d array, is NaN or infinite; no read-back to the host."""
    centers -= xp.where(xp.isfinite(total), alpha * gap_sums / (1 + counts), 0)


class LearnableCenters(Layer):
    """Base of the losses whose centers are a Parameter trained by their own optimizer.

    Holds K centers of size D and how λ treats their gradient; subclasses write forward.
    """

    minimum_classes = 1

    def __init__(self, num_classes, num_features, lambda_=1.0, scale_centers_by_lambda=False, rng=None, dtype=None):
        cls = type(self).__name__
        num_classes = integer(cls, "num_classes", num_classes, minimum=self.minimum_classes)
        num_features = integer(cls, "num_features", num_features, minimum=1)
        lambda_ = real(cls, "lambda_", lambda_, minimum=0)
        dtype = float_dtype(cls, "dtype", dtype)
        self.num_classes, self.num_features, self.lambda_ = num_classes, num_features, lambda_
        self.scale_centers_by_lambda = flag(cls, "scale_centers_by_lambda", scale_centers_by_lambda)
        self.centers = Parameter(initial_centers(num_classes, num_features, rng, dtype), name="centers")

    def prepare(self, x, target):
        """(features as a Node, labels on the centers' backend, centers as the gradient should see them)."""
        name = type(self).__name__
        labels = class_labels(target, self.num_classes, name, backend.get_array_module(self.centers.value))
        x = check_features(x, labels, self.num_features, name, self.centers)
        return x, labels, _centers_for_gradient(self.centers, self.lambda_, self.scale_centers_by_lambda)

    def extra_repr(self):
        return (
            f"num_classes={self.num_classes}, num_features={self.num_features}, lambda_={self.lambda_}, "
            f"scale_centers_by_lambda={self.scale_centers_by_lambda}"
        )


class LearnableCenterLoss(LearnableCenters):
    """Center Loss with the centers as a Parameter, trained by their own optimizer (LeNets++ with Center Loss; the PyTorch CNN comparison).

    Args:
        num_classes, num_features: K centers of size D.
        lambda_: λ, the weight of the loss.
        scale_centers_by_lambda: whether λ scales the centers' gradient. False
            (default) divides it back out, so the centers' step is set by their
            optimizer's learning rate only; True gives the plain gradient of L.
        rng: seeds the centers' initialisation.

    Give the centers to a separate optimizer, e.g. ``node.SGD(loss.parameters(), lr=0.5)``.

    The ½ follows the paper (and LeNets++ with Center Loss). The PyTorch CNN
    comparison of cross entropy, Center Loss and PC loss writes its center loss as
    Σᵢ‖xᵢ - c_yᵢ‖²/M, without the ½: that is this loss with λ doubled, which is
    how ``examples/compare_losses.py`` reproduces it (``lambda_=2·λ_c``).
    """

    def forward(self, x, target):
        x, labels, centers = self.prepare(x, target)
        diff = x - centers[labels]
        return (diff * diff).sum() * (self.lambda_ / (2 * len(labels)))


def _centers_for_gradient(centers, lambda_, scale_by_lambda):
    """The centers, with 1/λ applied to their gradient unless λ should scale it."""
    if scale_by_lambda or lambda_ in (0, 1):
        return centers
    return scale_grad(centers, 1 / lambda_)

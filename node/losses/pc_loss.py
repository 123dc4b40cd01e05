"""PC (prototype conformity) loss, as the PyTorch CNN comparison of cross entropy, Center Loss and PC loss uses it.

For features xᵢ (B of them) with labels yᵢ and K learnable centers c_j:

    PC = 1/(B(K-1)) · Σᵢ Σ_{j≠yᵢ} ( ‖xᵢ - c_j‖² + ‖c_yᵢ - c_j‖² )

the distance of each feature from the *other* classes' centers, plus the
distance of its own class's center from them. Training *subtracts* it with a
small weight (that comparison: ``xent + λ_c·center - λ_pc·pc`` with λ_pc = 1e-4), so
features and centers are pushed apart while Center Loss pulls each feature to
its own center. The centers have their own optimizer (SGD, lr 0.01 there).

(The comparison's code builds the centers term from (mask·c - (1-mask)·c)², which
reduces to ‖c_j‖²; this module computes the ‖c_yᵢ - c_j‖² its description states.)

Unlike Center Loss, -PC has no minimum in the centers: moving them apart
lowers it without end. So by default λ stays in the centers' gradient
(``scale_centers_by_lambda=True``) and they step at lr·λ. The comparison's code
divides λ back out (``scale_centers_by_lambda=False``); centers trained that
way at lr 0.01 run away exponentially.
"""
from .. import backend
from ..core import Node, replayable
from .center_loss import LearnableCenters


@replayable
def other_classes(labels, num_classes, dtype):
    """The mask (B, K): 1 where j ≠ yᵢ, 0 at each sample's own class.

    ``@replayable``, so ``node.compile`` makes it again from each step's labels.
    """
    xp = backend.get_array_module(labels)
    others = xp.ones((len(labels), num_classes), dtype=dtype)
    others[xp.arange(len(labels)), labels] = 0
    return others


class PCLoss(LearnableCenters):
    """λ · PC, the quantity to subtract from the training loss.

    Args:
        num_classes, num_features: K centers of size D (K >= 2).
        lambda_: λ >= 0, the weight (the comparison: 1e-4).
        scale_centers_by_lambda: True (default) keeps λ in the centers' gradient; False divides it out, as the comparison's code does.
        rng: seeds the centers' initialisation.
    """

    minimum_classes = 2  # the loss averages over the K-1 other classes

    def __init__(self, num_classes, num_features, lambda_=1e-4, scale_centers_by_lambda=True, rng=None, dtype=None):
        super().__init__(num_classes, num_features, lambda_, scale_centers_by_lambda, rng, dtype)

    def forward(self, x, target):
        x, labels, c = self.prepare(x, target)
        b, k, d = x.shape[0], self.num_classes, self.num_features
        feature_to_center = ((x.reshape(b, 1, d) - c.reshape(1, k, d)) ** 2).sum(axis=2)  # (B, K)
        center_to_center = ((c.reshape(k, 1, d) - c.reshape(1, k, d)) ** 2).sum(axis=2)  # (K, K)
        own_center_to_center = center_to_center[labels]  # (B, K): ‖c_yᵢ - c_j‖²
        others = Node(other_classes(labels, k, x.dtype), requires_grad=False)  # j ≠ yᵢ
        pc = ((feature_to_center + own_center_to_center) * others).sum()
        return pc * (self.lambda_ / (b * (k - 1)))

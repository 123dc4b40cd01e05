"""Fast kernels for the losses (``node.functions.loss``).

* The gradient of softmax cross entropy against target rows,
  (softmax(x)·Σ_c t - t)·gy/N, on the GPU as one fused kernel
  (``node.backend.fused``) instead of five small ones.
"""
from ..backend import fused, on_host
from ..dispatch import Kernel, register_kernel
from ..functions.loss import SoftmaxCrossEntropyGrad


@fused
def _soft_target_gradient(xp, log_p, row_sums, t, gy, count):
    """(e^(log p)·s - t)·gy/N."""
    return (xp.exp(log_p) * row_sums - t) * (gy / count)


class FusedSoftmaxCrossEntropyGrad(Kernel):
    """``SoftmaxCrossEntropyGrad`` on the GPU: the exponential, the products and the difference as one kernel."""

    name = "fused"

    def applies(self, g, log_p, row_sums, t, gy):
        return not on_host(log_p)

    def forward(self, g, log_p, row_sums, t, gy):
        return _soft_target_gradient(log_p, row_sums, t, gy, g.count)


register_kernel(SoftmaxCrossEntropyGrad, FusedSoftmaxCrossEntropyGrad())

"""Adam (Kingma & Ba, 2015), updating in place."""
import math

from ..backend import get_array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with bias correction; with ``weight_decay`` it adds wd·p to the gradient (L2).

        m ← β₁m + (1-β₁)g,   v ← β₂v + (1-β₂)g²
        p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)

    The moments and the update are computed in place in preallocated arrays,
    so a step allocates nothing.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate (``node.Adam(params, 0.001)`` as in the seed notebook).
        betas: (β₁, β₂).
        eps: ε.
        weight_decay: L2 coefficient added to the gradient.
    """

    defaults = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        self._scratch = {}  # Parameter -> a work array (not state: never saved)

    def update(self, p, grad, group, state):
        xp = get_array_module(p.value)
        (beta1, beta2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
        if "m" not in state:
            state["step"] = 0
            state["m"] = xp.zeros_like(p.value)
            state["v"] = xp.zeros_like(p.value)
        work = self._scratch.get(p)
        if work is None or work.shape != p.shape:
            work = self._scratch[p] = xp.empty_like(p.value)
        if wd:
            grad = grad + wd * p.value
        state["step"] += 1
        t = state["step"]
        m, v = state["m"], state["v"]
        m *= beta1
        xp.multiply(grad, 1 - beta1, out=work)
        m += work
        v *= beta2
        xp.multiply(grad, grad, out=work)
        work *= 1 - beta2
        v += work
        # m/(√v/c + ε) = c · m/(√v + cε) with c = √(1-β₂ᵗ): one pass fewer than scaling √v.
        c = math.sqrt(1 - beta2**t)
        xp.sqrt(v, out=work)
        work += eps * c
        xp.divide(m, work, out=work)
        work *= -group["lr"] * c / (1 - beta1**t)
        p.value += work

"""Adam (Kingma & Ba, 2015), updating in place."""
import math

import numpy as np

from ..backend import fused, get_array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with bias correction; with ``weight_decay`` it adds wd·p to the gradient (L2).

        m ← β₁m + (1-β₁)g,   v ← β₂v + (1-β₂)g²
        p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)

    On NumPy the moments and the update are computed in place in preallocated
    arrays, so a step allocates nothing; on CuPy each parameter's whole update
    is one fused kernel (``_adam_kernel``).

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
        state["step"] += 1
        t = state["step"]
        m, v = state["m"], state["v"]
        # m/(√v/c + ε) = c · m/(√v + cε) with c = √(1-β₂ᵗ): one pass fewer than scaling √v.
        c = math.sqrt(1 - beta2**t)
        if xp is not np:
            _adam_kernel(p.value, grad, m, v, beta1, 1 - beta1, beta2, 1 - beta2, wd, group["lr"] * c / (1 - beta1**t), eps * c)
            return
        work = self._scratch.get(p)
        if work is None or work.shape != p.shape or type(work) is not type(p.value):
            work = self._scratch[p] = xp.empty_like(p.value)
        if wd:
            grad = grad + wd * p.value
        m *= beta1
        xp.multiply(grad, 1 - beta1, out=work)
        m += work
        v *= beta2
        xp.multiply(grad, grad, out=work)
        work *= 1 - beta2
        v += work
        xp.sqrt(v, out=work)
        work += eps * c
        xp.divide(m, work, out=work)
        work *= -group["lr"] * c / (1 - beta1**t)
        p.value += work


@fused
def _adam_kernel(xp, p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, step_size, eps_hat):
    """The update above as one expression per array, for ``cupy.fuse`` (same maths as the NumPy path).

    1 - β arrives computed: inside a fused kernel, arithmetic between two
    scalar arguments would be done in float16.
    """
    g = g + weight_decay * p
    m *= beta1
    m += one_minus_beta1 * g
    v *= beta2
    v += one_minus_beta2 * (g * g)
    p -= step_size * m / (xp.sqrt(v) + eps_hat)

"""Adam (Kingma & Ba, 2015)."""
import math

from ..backend import get_array_module
from ..kernels import optim as fast
from ..validation import pair, real
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with bias correction; with ``weight_decay`` it adds wd·p to the gradient (L2).

        m ← β₁m + (1-β₁)g,   v ← β₂v + (1-β₂)g²
        p ← p - lr · m̂ / (√v̂ + ε),   m̂ = m/(1-β₁ᵗ),  v̂ = v/(1-β₂ᵗ)

    With c = √(1-β₂ᵗ) the step is lr·c/(1-β₁ᵗ) · m/(√v + c·ε): the same
    number, with the corrections applied to two scalars instead of two arrays.
    ``update`` below is that formula as written. With ``node.Config.kernels``
    "auto" (the default) the same arithmetic runs in place instead
    (``node.kernels.optim.adam_step``: one fused kernel per parameter on a
    GPU), with identical results; "reference" runs the formula.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate, a finite number >= 0 (``node.Adam(params, 0.001)`` as in the original Center Loss notebook).
        betas: (β₁, β₂), each in [0, 1) (β = 1 divides by 1 - βᵗ = 0).
        eps: ε >= 0 (PyTorch's rule).
        weight_decay: L2 coefficient added to the gradient, >= 0.
    """

    defaults = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def check_hyperparameters(self, hyperparameters):
        """lr, betas, eps and weight_decay, checked."""
        h, name = super().check_hyperparameters(hyperparameters), type(self).__name__
        beta = lambda owner, name, value: real(owner, name, value, minimum=0, maximum=1, open_maximum=True)
        h["betas"] = pair(name, "betas", h["betas"], beta, "numbers in [0, 1)")
        h["eps"] = real(name, "eps", h["eps"], minimum=0)
        h["weight_decay"] = real(name, "weight_decay", h["weight_decay"], minimum=0)
        return h

    def update(self, p, grad, group, state):
        (beta1, beta2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
        xp = get_array_module(p.value)
        if "m" not in state:
            state["step"], state["m"], state["v"] = 0, xp.zeros_like(p.value), xp.zeros_like(p.value)
        state["step"] += 1
        t = state["step"]
        c = math.sqrt(1 - beta2**t)
        step_size, eps_hat = group["lr"] * c / (1 - beta1**t), eps * c
        if fast.enabled():
            fast.adam_step(p.value, grad, state["m"], state["v"], beta1, beta2, wd, step_size, eps_hat)
            return
        g = grad + wd * p.value if wd else grad
        m = state["m"] = beta1 * state["m"] + (1 - beta1) * g
        v = state["v"] = beta2 * state["v"] + (1 - beta2) * (g * g)
        p.value -= step_size * (m / (xp.sqrt(v) + eps_hat))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The decay shrinks the parameter itself instead of being added to the
    gradient, so it is not rescaled by Adam's per-element step:

        p ← p · (1 - lr · weight_decay)
        then Adam's step on p with the plain gradient (see ``Adam``)

    With ``Adam(weight_decay=λ)`` a parameter with large gradients is barely
    decayed (λp is divided by √v̂ with the gradient); with AdamW every
    parameter loses the same fraction lr·λ per step.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate, a finite number >= 0.
        betas: (β₁, β₂), each in [0, 1).
        eps: ε >= 0.
        weight_decay: the decoupled decay, >= 0 (PyTorch's default 0.01).
    """

    defaults = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def update(self, p, grad, group, state):
        if group["weight_decay"]:
            p.value *= 1 - group["lr"] * group["weight_decay"]
        super().update(p, grad, {**group, "weight_decay": 0.0}, state)

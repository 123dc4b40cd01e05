"""RMSprop (Tieleman & Hinton, 2012), in PyTorch's form."""
from ..backend import get_array_module
from ..validation import flag, real
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """Divide each step by a running root mean square of the gradient, as ``torch.optim.RMSprop``:

        g = grad + weight_decay · p
        s ← α·s + (1-α)·g²                        (s starts at 0)
        centered:  a ← α·a + (1-α)·g,  d = √(s - a²) + ε     (a starts at 0)
        otherwise: d = √s + ε
        momentum:  b ← μ·b + g/d,  p ← p - lr·b   (b starts at 0)
        otherwise: p ← p - lr·g/d

    Note that ε is added outside the square root (PyTorch's place; Adam's too).

    Args:
        params: Parameters or parameter groups.
        lr: learning rate, a finite number >= 0 (PyTorch's default 0.01).
        alpha: the running average's smoothing constant α, in [0, 1].
        eps: ε >= 0.
        weight_decay: L2 coefficient added to the gradient, >= 0.
        momentum: μ in [0, 1).
        centered: subtract the square of the running mean gradient (an
            estimate of the variance instead of the second moment).
    """

    defaults = {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)

    def check_hyperparameters(self, hyperparameters):
        """lr, alpha, eps, weight_decay, momentum and centered, checked."""
        h = super().check_hyperparameters(hyperparameters)
        h["alpha"] = real("RMSprop", "alpha", h["alpha"], minimum=0, maximum=1)
        h["eps"] = real("RMSprop", "eps", h["eps"], minimum=0)
        h["weight_decay"] = real("RMSprop", "weight_decay", h["weight_decay"], minimum=0)
        h["momentum"] = real("RMSprop", "momentum", h["momentum"], minimum=0, maximum=1, open_maximum=True)
        h["centered"] = flag("RMSprop", "centered", h["centered"])
        return h

    def update(self, p, grad, group, state):
        alpha, eps, wd, momentum = group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        xp = get_array_module(p.value)
        if "square_avg" not in state:
            state["step"], state["square_avg"] = 0, xp.zeros_like(p.value)
        state["step"] += 1
        g = grad + wd * p.value if wd else grad
        s = state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * (g * g)
        if group["centered"]:
            a = state["grad_avg"] = alpha * state.get("grad_avg", 0) + (1 - alpha) * g
            d = xp.sqrt(s - a * a) + eps
        else:
            d = xp.sqrt(s) + eps
        if momentum:
            b = state["momentum_buffer"] = momentum * state.get("momentum_buffer", 0) + g / d
            p.value -= group["lr"] * b
        else:
            p.value -= group["lr"] * (g / d)

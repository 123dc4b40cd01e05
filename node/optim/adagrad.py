"""Adagrad (Duchi, Hazan & Singer, 2011), in PyTorch's form."""
from ..backend import get_array_module
from ..validation import real
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Divide each step by the root of the sum of all squared gradients so far, as ``torch.optim.Adagrad``:

        t ← t + 1
        g = grad + weight_decay · p
        lrₜ = lr / (1 + (t-1)·lr_decay)
        S ← S + g²                               (S starts at initial_accumulator_value)
        p ← p - lrₜ · g / (√S + ε)

    Args:
        params: Parameters or parameter groups.
        lr: learning rate, a finite number >= 0 (PyTorch's default 0.01).
        lr_decay: >= 0, slows the learning rate as 1/(1 + (t-1)·lr_decay).
        weight_decay: L2 coefficient added to the gradient, >= 0.
        initial_accumulator_value: S's starting value, >= 0.
        eps: ε >= 0 (PyTorch's default 1e-10).
    """

    defaults = {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}

    def __init__(self, params, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(
            params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps
        )

    def check_hyperparameters(self, hyperparameters):
        """lr, lr_decay, weight_decay, initial_accumulator_value and eps, checked."""
        h = super().check_hyperparameters(hyperparameters)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            h[name] = real("Adagrad", name, h[name], minimum=0)
        return h

    def update(self, p, grad, group, state):
        wd = group["weight_decay"]
        if "sum" not in state:
            xp = get_array_module(p.value)
            state["step"], state["sum"] = 0, xp.full_like(p.value, group["initial_accumulator_value"])
        state["step"] += 1
        g = grad + wd * p.value if wd else grad
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        S = state["sum"] = state["sum"] + g * g
        p.value -= lr * (g / (get_array_module(S).sqrt(S) + group["eps"]))

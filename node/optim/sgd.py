"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from ..backend import get_array_module
from ..kernels import optim as fast
from ..validation import flag, real
from .optimizer import Optimizer


class SGD(Optimizer):
    """p ← p - lr · d, with (PyTorch's convention)

        g = grad + weight_decay · p
        v ← momentum · v + g                  (v starts at 0, so v = g on the first step)
        d = g + momentum · v   if nesterov, else v   (d = g without momentum)

    ``update`` below is that formula as written. With ``node.Config.kernels``
    "auto" (the default) the same arithmetic runs in place instead
    (``node.kernels.optim.sgd_step``: one fused kernel per parameter on a GPU),
    with identical results; "reference" runs the formula.

    Args:
        params: Parameters or parameter groups.
        lr: learning rate, a finite number >= 0.
        momentum: in [0, 1) (at 1 the velocity never forgets a gradient).
        nesterov: True or False; True needs momentum > 0.
        weight_decay: >= 0.
    """

    defaults = {"lr": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def check_hyperparameters(self, hyperparameters):
        """lr, momentum, nesterov and weight_decay, checked."""
        h = super().check_hyperparameters(hyperparameters)
        h["momentum"] = real("SGD", "momentum", h["momentum"], minimum=0, maximum=1, open_maximum=True)
        h["weight_decay"] = real("SGD", "weight_decay", h["weight_decay"], minimum=0)
        h["nesterov"] = flag("SGD", "nesterov", h["nesterov"])
        if h["nesterov"] and h["momentum"] == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0, got momentum=0.0")
        return h

    def update(self, p, grad, group, state):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if momentum and "velocity" not in state:
            state["velocity"] = get_array_module(p.value).zeros_like(p.value)
        if fast.enabled():
            fast.sgd_step(p.value, grad, state.get("velocity"), lr, momentum, group["nesterov"], wd)
            return
        if wd:
            grad = grad + wd * p.value
        if momentum:
            v = state["velocity"] = momentum * state["velocity"] + grad
            grad = grad + momentum * v if group["nesterov"] else v
        p.value -= lr * grad

"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
import numpy as np

from ..backend import fused, get_array_module
from .optimizer import Optimizer


class SGD(Optimizer):
    """p ← p - lr · d, with (PyTorch's convention)

        g = grad + weight_decay · p
        v ← momentum · v + g                  (v = g on the first step)
        d = g + momentum · v   if nesterov, else v   (d = g without momentum)

    Args:
        params: Parameters or parameter groups.
        lr: learning rate.
        momentum, nesterov, weight_decay: as above.
    """

    defaults = {"lr": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def update(self, p, grad, group, state):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if get_array_module(p.value) is not np:  # CuPy: the whole update as one fused kernel
            if not momentum:
                _sgd_kernel(p.value, grad, lr, wd)
                return
            if "velocity" not in state:
                state["velocity"] = get_array_module(p.value).zeros_like(p.value)  # momentum · 0 + g = g: v = g on the first step
            kernel = _nesterov_kernel if group["nesterov"] else _momentum_kernel
            kernel(p.value, grad, state["velocity"], lr, momentum, wd)
            return
        if wd:
            grad = grad + wd * p.value
        if momentum:
            velocity = state.get("velocity")
            if velocity is None:
                velocity = state["velocity"] = grad.copy()
            else:
                velocity *= momentum
                velocity += grad
            grad = grad + momentum * velocity if group["nesterov"] else velocity
        p.value -= lr * grad


@fused
def _sgd_kernel(xp, p, g, lr, weight_decay):
    p -= lr * (g + weight_decay * p)


@fused
def _momentum_kernel(xp, p, g, velocity, lr, momentum, weight_decay):
    g = g + weight_decay * p
    velocity *= momentum
    velocity += g
    p -= lr * velocity


@fused
def _nesterov_kernel(xp, p, g, velocity, lr, momentum, weight_decay):
    g = g + weight_decay * p
    velocity *= momentum
    velocity += g
    p -= lr * (g + momentum * velocity)

"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
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

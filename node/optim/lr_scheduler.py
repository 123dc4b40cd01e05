"""Learning-rate schedules."""
from ..validation import integer, real
from .optimizer import Optimizer


class StepLR:
    """Multiply every group's learning rate by ``gamma`` each ``step_size`` epochs.

    Call ``scheduler.step()`` once per epoch, after the optimizer's steps:
    lr = base_lr · gamma^(epoch // step_size).

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        step_size: epochs between two decays, an integer >= 1.
        gamma: the factor, a finite number >= 0.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"StepLR: optimizer must be a node Optimizer (SGD, Adam, ...), got {type(optimizer).__name__} {optimizer!r:.60}")
        step_size = integer("StepLR", "step_size", step_size, minimum=1)
        gamma = real("StepLR", "gamma", gamma, minimum=0)
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        factor = self.gamma ** (self.last_epoch // self.step_size)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"step_size": self.step_size, "gamma": self.gamma, "base_lrs": list(self.base_lrs), "last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        self.step_size, self.gamma = state["step_size"], state["gamma"]
        self.base_lrs, self.last_epoch = list(state["base_lrs"]), state["last_epoch"]

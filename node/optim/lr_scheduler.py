"""Learning-rate schedules."""


class StepLR:
    """Multiply every group's learning rate by ``gamma`` each ``step_size`` epochs.

    Call ``scheduler.step()`` once per epoch, after the optimizer's steps:
    lr = base_lr · gamma^(epoch // step_size).
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
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

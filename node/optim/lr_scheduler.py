"""Learning-rate schedules, as ``torch.optim.lr_scheduler``.

A schedule sets every parameter group's ``lr`` from the number of times its
``step()`` was called (``last_epoch``). Call ``step()`` once per epoch after
the optimizer's steps (``OneCycleLR``: once per batch), as in PyTorch. Making a
schedule already sets the learning rate of step 0 (a warmup starts low at once).

Each schedule here computes the rate from the step count in closed form::

    StepLR             base · γ^⌊t / step_size⌋
    MultiStepLR        base · γ^(number of milestones <= t)
    LinearLR           base · (s + (e - s) · min(t, T) / T)            s, e: start and end factor
    CosineAnnealingLR  η_min + (base - η_min) · (1 + cos(π t / T_max)) / 2
    OneCycleLR         up from max_lr/div_factor to max_lr, then down to that / final_div_factor
    SequentialLR       the first schedule until a milestone, then the next one, counted from 0

``base`` is the group's ``initial_lr``: the learning rate it had when the first
schedule was made on the optimizer (stored in the group, as PyTorch does), so
that several schedules on one optimizer share it. ``ReduceLROnPlateau`` is the
exception: it watches a metric (``step(val_loss)``) and multiplies the rate by
``factor`` when the metric stops improving.

Warmup then cosine decay, the usual schedule for transformers, is::

    warmup = node.LinearLR(optimizer, start_factor=0.01, total_iters=100)
    cosine = node.CosineAnnealingLR(optimizer, T_max=steps - 100)
    schedule = node.SequentialLR(optimizer, [warmup, cosine], milestones=[100])
"""
import bisect
import math

from ..core import replayable
from ..validation import choice, flag, integer, real
from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses write ``get_lr()``, the learning rates at step ``self.last_epoch``.

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
    """

    def __init__(self, optimizer):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: optimizer must be a node Optimizer (SGD, Adam, ...), got {type(optimizer).__name__} {optimizer!r:.60}")
        self.optimizer = optimizer
        self.base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0

    def start(self):
        """Record ``initial_lr`` in the groups and set the learning rates of step 0.

        Subclasses call it at the end of ``__init__``, once every argument is checked.
        """
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group.setdefault("initial_lr", base)
        self._apply(self.get_lr())

    def get_lr(self):
        raise NotImplementedError

    @replayable
    def step(self):
        """Advance one step (one epoch; one batch for OneCycleLR) and set the new learning rates."""
        self.last_epoch += 1
        self._apply(self.get_lr())

    def _apply(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr

    def get_last_lr(self):
        """The learning rates the last step set, one per parameter group."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer, to save with a checkpoint."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned; the next ``step()`` continues from there."""
        if not isinstance(state, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict expects the dict state_dict() returns, got {type(state).__name__}")
        missing = sorted(set(vars(self)) - {"optimizer"} - set(state))
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: the dict has no {missing}; pass what state_dict() returned")
        for key in vars(self).keys() - {"optimizer"}:
            setattr(self, key, list(state[key]) if isinstance(state[key], tuple) else state[key])


def _per_group(owner, name, value, optimizer, check):
    """``value`` (one number, or one per parameter group) as a checked list, one per group."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{owner}: {name} has {len(value)} values, but the optimizer has {groups} parameter groups")
        return [check(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]
    return [check(owner, name, value)] * groups


class StepLR(LRScheduler):
    """Multiply every group's learning rate by ``gamma`` each ``step_size`` epochs.

    Call ``scheduler.step()`` once per epoch, after the optimizer's steps:
    lr = base_lr · gamma^(epoch // step_size).

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        step_size: epochs between two decays, an integer >= 1.
        gamma: the factor, a finite number >= 0.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = integer("StepLR", "step_size", step_size, minimum=1)
        self.gamma = real("StepLR", "gamma", gamma, minimum=0)
        self.start()

    def get_lr(self):
        factor = self.gamma ** (self.last_epoch // self.step_size)
        return [base * factor for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone: lr = base · γ^(milestones passed).

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        milestones: epochs at which to decay, integers >= 1 (a milestone listed
            twice decays twice, as in PyTorch).
        gamma: the factor, a finite number >= 0.
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        super().__init__(optimizer)
        self.milestones = sorted(_milestones("MultiStepLR", milestones))
        self.gamma = real("MultiStepLR", "gamma", gamma, minimum=0)
        self.start()

    def get_lr(self):
        factor = self.gamma ** bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * factor for base in self.base_lrs]


def _milestones(owner, milestones):
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise TypeError(f"{owner}: milestones must be a list of integers >= 1, got {type(milestones).__name__} {milestones!r:.60}")
    return [integer(owner, f"milestones[{i}]", m, minimum=1) for i, m in enumerate(milestones)]


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps (a warmup).

    lr = base · (start_factor + (end_factor - start_factor) · min(t, total_iters) / total_iters),
    then it stays at base · end_factor. PyTorch's defaults.

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        start_factor: in (0, 1].
        end_factor: in [0, 1].
        total_iters: steps to go from one to the other, an integer >= 1.
    """

    def __init__(self, optimizer, start_factor=1 / 3, end_factor=1.0, total_iters=5):
        super().__init__(optimizer)
        self.start_factor = real("LinearLR", "start_factor", start_factor, minimum=0, maximum=1, open_minimum=True)
        self.end_factor = real("LinearLR", "end_factor", end_factor, minimum=0, maximum=1)
        self.total_iters = integer("LinearLR", "total_iters", total_iters, minimum=1)
        self.start()

    def get_lr(self):
        t = min(self.last_epoch, self.total_iters)
        factor = self.start_factor + (self.end_factor - self.start_factor) * t / self.total_iters
        return [base * factor for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine decay from the base learning rate to ``eta_min`` over ``T_max`` steps (SGDR without restarts).

    lr = η_min + (base - η_min) · (1 + cos(π t / T_max)) / 2; past T_max it
    rises again along the same cosine, as PyTorch's does.

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        T_max: steps of the half period, an integer >= 1.
        eta_min: the lowest learning rate, a finite number >= 0.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max = integer("CosineAnnealingLR", "T_max", T_max, minimum=1)
        self.eta_min = real("CosineAnnealingLR", "eta_min", eta_min, minimum=0)
        self.start()

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at ``milestones`` (warmup, then decay).

    Until ``milestones[0]`` the first schedule sets the rate; from there the
    second, counting its steps from 0; and so on. All of them must be made on
    ``optimizer``. Steps go through this object only.

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        schedulers: the schedules, in order (not ReduceLROnPlateau, which needs a metric).
        milestones: increasing integers >= 1, one fewer than the schedules.
    """

    def __init__(self, optimizer, schedulers, milestones):
        super().__init__(optimizer)
        schedulers = list(schedulers) if isinstance(schedulers, (list, tuple)) else None
        if not schedulers or not all(isinstance(s, LRScheduler) for s in schedulers):
            raise TypeError("SequentialLR: schedulers must be a non-empty list of node schedules (LinearLR, CosineAnnealingLR, ...)")
        for i, s in enumerate(schedulers):
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(s).__name__}) is attached to another optimizer")
        milestones = _milestones("SequentialLR", milestones)
        if len(milestones) != len(schedulers) - 1 or milestones != sorted(set(milestones)):
            raise ValueError(
                f"SequentialLR: milestones must be {len(schedulers) - 1} increasing integers (one fewer than the "
                f"{len(schedulers)} schedulers), got {milestones}"
            )
        self.schedulers, self.milestones = schedulers, milestones
        self.start()

    def get_lr(self):
        i = bisect.bisect_right(self.milestones, self.last_epoch)
        scheduler = self.schedulers[i]
        scheduler.last_epoch = self.last_epoch - (self.milestones[i - 1] if i else 0)
        return scheduler.get_lr()

    def state_dict(self):
        """The step count, and each schedule's own state."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.last_epoch, self.base_lrs = state["last_epoch"], list(state["base_lrs"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018) with PyTorch's defaults; call ``step()`` once per batch.

    The learning rate rises from max_lr/div_factor to max_lr over the first
    ``pct_start`` of the ``total_steps`` and falls to
    max_lr/(div_factor·final_div_factor) by the end (``three_phase``: back to
    the start first, then down). Each phase follows half a cosine
    (``anneal_strategy='cos'``) or a line (``'linear'``). With
    ``cycle_momentum`` the momentum (SGD's and RMSprop's ``momentum``, Adam's
    β₁) moves the other way, from ``max_momentum`` down to ``base_momentum``
    and back, as PyTorch does. Stepping past ``total_steps`` raises.

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        max_lr: the peak learning rate, a number > 0 or one per parameter group.
        total_steps: steps of the cycle, an integer >= 2; or give ``epochs`` and ``steps_per_epoch``.
        epochs, steps_per_epoch: integers >= 1, used when ``total_steps`` is None.
        pct_start: fraction of the cycle spent rising, in (0, 1).
        anneal_strategy: 'cos' or 'linear'.
        cycle_momentum: True or False; True needs an optimizer with momentum or betas.
        base_momentum, max_momentum: in [0, 1), base <= max (per group lists allowed).
        div_factor: initial lr = max_lr / div_factor, > 0.
        final_div_factor: final lr = initial lr / final_div_factor, > 0.
        three_phase: True or False.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
        super().__init__(optimizer)
        o = "OneCycleLR"
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        pct_start = real(o, "pct_start", pct_start, minimum=0, maximum=1, open_minimum=True, open_maximum=True)
        self.anneal_strategy = choice(o, "anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.cycle_momentum = flag(o, "cycle_momentum", cycle_momentum)
        div_factor = real(o, "div_factor", div_factor, minimum=0, open_minimum=True)
        final_div_factor = real(o, "final_div_factor", final_div_factor, minimum=0, open_minimum=True)
        three_phase = flag(o, "three_phase", three_phase)
        positive = lambda owner, name, value: real(owner, name, value, minimum=0, open_minimum=True)
        max_lrs = _per_group(o, "max_lr", max_lr, optimizer, positive)
        self.base_lrs = [m / div_factor for m in max_lrs]  # PyTorch's initial_lr
        self.max_lrs, self.min_lrs = max_lrs, [b / final_div_factor for b in self.base_lrs]
        steps = self.total_steps
        if three_phase:  # (last step of the phase, which rates it goes between)
            self.phases = [(pct_start * steps - 1, "base", "max"), (2 * pct_start * steps - 2, "max", "base"), (steps - 1, "base", "min")]
        else:
            self.phases = [(pct_start * steps - 1, "base", "max"), (steps - 1, "max", "min")]
        if self.cycle_momentum:
            self._setup_momentum(optimizer, base_momentum, max_momentum)
        for group, base in zip(optimizer.param_groups, self.base_lrs):
            group["initial_lr"] = base
        self.start()

    def _setup_momentum(self, optimizer, base_momentum, max_momentum):
        if "betas" not in optimizer.defaults and "momentum" not in optimizer.defaults:
            raise ValueError(f"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas, {type(optimizer).__name__} has neither; pass cycle_momentum=False")
        unit = lambda owner, name, value: real(owner, name, value, minimum=0, maximum=1, open_maximum=True)
        self.base_momenta = _per_group("OneCycleLR", "base_momentum", base_momentum, optimizer, unit)
        self.max_momenta = _per_group("OneCycleLR", "max_momentum", max_momentum, optimizer, unit)
        for i, (low, high) in enumerate(zip(self.base_momenta, self.max_momenta)):
            if low > high:
                raise ValueError(f"OneCycleLR: base_momentum ({low}) must be at most max_momentum ({high}) (group {i})")
        self.use_beta1 = "betas" in optimizer.defaults

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _position(self):
        """(phase index, fraction of it done) at step ``last_epoch``."""
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {t} times; the cycle has total_steps={self.total_steps}")
        start = 0
        for i, (end, _, _) in enumerate(self.phases):
            if t <= end or i == len(self.phases) - 1:
                return i, (t - start) / (end - start)
            start = end
        raise AssertionError("unreachable")

    def get_lr(self):
        i, pct = self._position()
        _, start, end = self.phases[i]
        rates = {"base": self.base_lrs, "max": self.max_lrs, "min": self.min_lrs}
        return [self._anneal(a, b, pct) for a, b in zip(rates[start], rates[end])]

    @replayable
    def step(self):
        super().step()
        if self.cycle_momentum:
            self._set_momentum()

    def start(self):
        super().start()
        if self.cycle_momentum:
            self._set_momentum()

    def _set_momentum(self):
        i, pct = self._position()
        _, start, end = self.phases[i]
        momenta = {"base": self.max_momenta, "max": self.base_momenta, "min": self.max_momenta}  # opposite to the rate
        for group, a, b in zip(self.optimizer.param_groups, momenta[start], momenta[end]):
            m = self._anneal(a, b, pct)
            if self.use_beta1:
                group["betas"] = (m, *group["betas"][1:])
            else:
                group["momentum"] = m


def _total_steps(total_steps, epochs, steps_per_epoch):
    if total_steps is not None:
        return integer("OneCycleLR", "total_steps", total_steps, minimum=2)
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
    epochs = integer("OneCycleLR", "epochs", epochs, minimum=1)
    steps_per_epoch = integer("OneCycleLR", "steps_per_epoch", steps_per_epoch, minimum=1)
    return integer("OneCycleLR", "epochs * steps_per_epoch", epochs * steps_per_epoch, minimum=2)


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when a metric has stopped improving, as PyTorch's.

    Call ``scheduler.step(metric)`` once per epoch with the validation loss
    (``mode='min'``) or accuracy (``mode='max'``). A value is an improvement
    when it beats the best so far by more than ``threshold`` (relative:
    best·(1 ∓ threshold); absolute: best ∓ threshold). After more than
    ``patience`` epochs without one, every group's rate becomes
    max(lr·factor, min_lr) (changes smaller than ``eps`` are skipped), and the
    next ``cooldown`` epochs do not count.

    Args:
        optimizer: the node Optimizer whose learning rates it sets.
        mode: 'min' or 'max'.
        factor: in [0, 1).
        patience: epochs without improvement tolerated, an integer >= 0.
        threshold: >= 0.
        threshold_mode: 'rel' or 'abs'.
        cooldown: an integer >= 0.
        min_lr: the lowest rate, >= 0, or one per parameter group.
        eps: >= 0.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        o = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{o}: optimizer must be a node Optimizer (SGD, Adam, ...), got {type(optimizer).__name__} {optimizer!r:.60}")
        self.optimizer = optimizer
        self.mode = choice(o, "mode", mode, ("min", "max"))
        self.factor = real(o, "factor", factor, minimum=0, maximum=1, open_maximum=True)
        self.patience = integer(o, "patience", patience, minimum=0)
        self.threshold = real(o, "threshold", threshold, minimum=0)
        self.threshold_mode = choice(o, "threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = integer(o, "cooldown", cooldown, minimum=0)
        nonnegative = lambda owner, name, value: real(owner, name, value, minimum=0)
        self.min_lrs = _per_group(o, "min_lr", min_lr, optimizer, nonnegative)
        self.eps = real(o, "eps", eps, minimum=0)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0

    def is_better(self, value):
        """Whether ``value`` improves on the best so far by more than the threshold."""
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return value < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return value > bar

    @replayable
    def step(self, metrics):
        """Record this epoch's ``metrics`` (a number, 0-d array or one-element Node) and reduce the rate if it is time."""
        value = float(getattr(metrics, "value", metrics))
        self.last_epoch += 1
        if self.is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self):
        """The current learning rates, one per parameter group."""
        return [g["lr"] for g in self.optimizer.param_groups]

    state_dict = LRScheduler.state_dict
    load_state_dict = LRScheduler.load_state_dict

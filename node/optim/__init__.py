"""Optimizers and learning-rate schedules."""
from .adam import Adam
from .lr_scheduler import StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD", "StepLR"]

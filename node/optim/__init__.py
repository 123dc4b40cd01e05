"""Optimizers, learning-rate schedules and gradient clipping."""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "LinearLR", "MultiStepLR", "OneCycleLR", "Optimizer",
    "RMSprop", "ReduceLROnPlateau", "SGD", "SequentialLR", "StepLR", "clip_grad_norm_", "clip_grad_value_",
]

"""Losses with state of their own: Center Loss (two forms) and PC loss.

Stateless losses (cross entropy, MSE, sigmoid cross entropy) are plain
functions in ``node.functions``.
"""
from .center_loss import CenterLoss, LearnableCenterLoss
from .pc_loss import PCLoss

__all__ = ["CenterLoss", "LearnableCenterLoss", "PCLoss"]

"""Loss layers: PyTorch's standard ones, and the losses with state of their own.

``standard``: CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss, MSELoss, L1Loss,
HuberLoss, SmoothL1Loss, KLDivLoss, CosineEmbeddingLoss: each holds its options
and calls the function of ``node.functions.loss`` that computes it.
``center_loss`` and ``pc_loss``: Center Loss (two forms) and PC loss, whose
centers are state of their own. ``metric_learning``: ContrastiveLoss and
TripletLoss on distances in a batch, and NormFace, CosFace, ArcFace and
SphereFace, softmax losses with angular margins that own their class weights. Stateless losses are also plain functions in
``node.functions`` (``cross_entropy``, ``softmax_cross_entropy``, ``mse_loss``, ...).
"""
from .center_loss import CenterLoss, LearnableCenterLoss
from .metric_learning import ArcFace, ContrastiveLoss, CosFace, NormFace, SphereFace, TripletLoss
from .pc_loss import PCLoss
from .standard import (
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)

__all__ = [
    "ArcFace", "ContrastiveLoss", "CosFace", "NormFace", "SphereFace", "TripletLoss",
    "BCEWithLogitsLoss", "CenterLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss", "L1Loss",
    "LearnableCenterLoss", "MSELoss", "NLLLoss", "PCLoss", "SmoothL1Loss",
]

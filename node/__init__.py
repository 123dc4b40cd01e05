"""node: a small define-by-run autograd framework on NumPy (and CuPy).

The package reads in dependency order:

    config       settings: graph recording on/off (no_grad), default dtype
    backend      NumPy or CuPy: get_array_module, asnumpy, scatter_add, fused kernels
    core         Node, Function, the backward walk and node.grad
    creation     zeros, ones, full, eye, arange, linspace, rand, randn, randint (on the active backend)
    functions    every differentiable op (arithmetic ... conv2d, losses)
    gradient_check   gradcheck and gradgradcheck against finite differences
    serialization    atomic .npz checkpoints
    layers       Layer, Network, Sequential, Linear, Conv2d, ...
    optim        SGD, Adam, StepLR
    data         IDX files, MNIST, DataLoader
    losses       CenterLoss (paper form), LearnableCenterLoss, PCLoss, metric learning (Contrastive, Triplet, NormFace, CosFace, ArcFace, SphereFace)
    metrics      accuracy, compactness, silhouette, center separation; verification, pair accuracy, retrieval
    plot         feature scatter plots and training curves (matplotlib, lazily)
    dot          the graph as Graphviz DOT text
    capture      node.compile: a training step recorded once, then replayed without building the graph
"""
from . import functions, kernels, metrics, plot
from .backend import (
    BackendError,
    DeviceError,
    asnumpy,
    cupy_available,
    get_array_module,
    get_backend,
    scatter_add,
    set_backend,
)
from .config import Config, detect_anomaly, get_default_dtype, manual_seed, no_grad, set_default_dtype, using_config, zero_grad
from .core import AnomalyError, Function, GraphError, Node, as_node, grad
from .creation import (
    arange,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from .dot import to_dot
from .data import ArrayDataset, DataLoader, Dataset, FashionMNIST, IDXError, MNIST, Subset, read_idx, write_idx
from .functions import (  # the ones PyTorch has at top level (torch.where, torch.sin, ...)
    acos, acosh, asin, asinh, atan, atan2, atanh, ceil, concat, cos, cosh, eq, erf, exp2, expm1, floor, ge, gt, isfinite, isinf, isnan,
    le, log1p, log2, log10, lt, masked_fill, maximum, minimum, ne, round, sign, sin, sinh, stack, tan, where,
)
from .functions import (  # reductions, shape and indexing that PyTorch has at top level (torch.prod, torch.einsum, ...)
    all, any, argmax, argmin, argsort, chunk, cumprod, cumsum, einsum, flatten, flip, gather, logsumexp, norm, permute, prod,
    repeat_interleave, roll, scatter, sort, split, squeeze, std, swapaxes, tile, topk, transpose, tril, triu, unsqueeze, var,
)
from .capture import CaptureError, compile
from .gradient_check import gradcheck, gradgradcheck
from .layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2d,
    GroupNorm,
    Identity,
    GRU,
    GRUCell,
    LSTM,
    LSTMCell,
    Layer,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    MultiheadAttention,
    Network,
    Parameter,
    PReLU,
    RNN,
    RNNCell,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    GELU, SiLU, ELU, SELU, Softplus, LogSigmoid,
)
from .losses import (
    ArcFace,
    BCEWithLogitsLoss,
    CenterLoss,
    ContrastiveLoss,
    CosFace,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    LearnableCenterLoss,
    MSELoss,
    NLLLoss,
    NormFace,
    PCLoss,
    SmoothL1Loss,
    SphereFace,
    TripletLoss,
)
from .optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    Optimizer,
    ReduceLROnPlateau,
    RMSprop,
    SequentialLR,
    StepLR,
    clip_grad_norm_,
    clip_grad_value_,
)
from .serialization import CheckpointError, load, save

__version__ = "0.2.0"

__all__ = [
    "CaptureError",
    "compile",
    "AdaptiveAvgPool2d", "Adam", "AnomalyError", "ArrayDataset", "AvgPool2d", "BackendError", "BatchNorm1d", "BatchNorm2d", "CenterLoss",
    "CheckpointError", "Config", "Conv2d", "ConvTranspose2d", "DataLoader", "Dataset", "DeviceError", "Dropout", "Embedding", "FashionMNIST", "Flatten", "Function",
    "GlobalAvgPool2d", "GroupNorm", "Identity", "GraphError", "IDXError", "GRU", "GRUCell", "LSTM", "LSTMCell", "Layer", "LayerNorm", "LearnableCenterLoss", "LeakyReLU", "Linear",
    "LogSoftmax", "MNIST", "MaxPool2d", "MultiheadAttention", "Network", "Node", "Optimizer", "PCLoss", "PReLU", "Parameter", "RNN", "RNNCell", "ReLU", "SGD",
    "Sequential", "Sigmoid", "Softmax", "StepLR", "Subset", "Tanh", "as_node", "asnumpy", "concat",
    "cupy_available", "detect_anomaly", "functions", "kernels", "get_array_module", "get_backend", "get_default_dtype",
    "grad", "gradcheck", "gradgradcheck", "load", "manual_seed", "metrics", "no_grad", "plot", "read_idx", "save", "scatter_add", "set_backend",
    "set_default_dtype", "stack", "to_dot", "using_config", "write_idx", "zero_grad",
    # loss layers (node/losses/standard.py)
    "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss",
    "NLLLoss", "SmoothL1Loss",
    # metric-learning losses (node/losses/metric_learning.py)
    "ArcFace", "ContrastiveLoss", "CosFace", "NormFace", "SphereFace", "TripletLoss",
    # optimizers, schedules and clipping (node/optim/)
    "Adagrad", "AdamW", "CosineAnnealingLR", "LRScheduler", "LinearLR", "MultiStepLR", "OneCycleLR", "RMSprop",
    "ReduceLROnPlateau", "SequentialLR", "clip_grad_norm_", "clip_grad_value_",
    # creation (node/creation.py)
    "arange", "eye", "full", "full_like", "linspace", "ones", "ones_like", "rand", "rand_like", "randint", "randn",
    "randn_like", "zeros", "zeros_like",
    # elementwise ops and activation layers (issue 23)
    "ELU", "GELU", "LogSigmoid", "SELU", "SiLU", "Softplus", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh",
    "ceil", "cos", "cosh", "eq", "erf", "exp2", "expm1", "floor", "ge", "gt", "isfinite", "isinf", "isnan", "le", "log10",
    "log1p", "log2", "lt", "masked_fill", "maximum", "minimum", "ne", "round", "sign", "sin", "sinh", "tan", "where",
    # reductions, shape and indexing (issue 23; node.scatter_add stays the backend's in-place array scatter-add:
    # the differentiable one is node.functions.scatter_add or x.scatter_add)
    "all", "any", "argmax", "argmin", "argsort", "chunk", "cumprod", "cumsum", "einsum", "flatten", "flip", "gather",
    "logsumexp", "norm", "permute", "prod", "repeat_interleave", "roll", "scatter", "sort", "split", "squeeze", "std",
    "swapaxes", "tile", "topk", "transpose", "tril", "triu", "unsqueeze", "var",
]

"""Every differentiable operation, as a ``Function`` subclass plus a plain function.

Modules, in dependency order: ``arithmetic`` (+ - * / ** @ and ``sum_to``),
``reduction`` (sum, mean, max), ``shape`` (reshape, indexing, concat),
``math`` (exp, log, ...), ``activation`` (relu, softmax, ...), ``loss``,
``connection`` (linear), ``conv`` (conv2d and its gradients), ``pooling``,
``normalization``, ``noise``; ``indexing`` (gather, scatter, sort, pad, ...) and
``einsum`` build on ``shape``.
"""
from .activation import elu, gelu, leaky_relu, log_softmax, logsigmoid, prelu, relu, selu, sigmoid, silu, softmax, softplus, tanh
from .arithmetic import add, div, matmul, mul, neg, pow, scale_grad, sub
from .attention import scaled_dot_product_attention
from .connection import embedding, linear
from .conv import conv2d, conv_transpose2d
from .loss import (
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mean_squared_error,
    mse_loss,
    nll_loss,
    sigmoid_cross_entropy,
    smooth_l1_loss,
    softmax_cross_entropy,
    softmax_with_cross_entropy,
)
from .comparison import eq, ge, gt, isfinite, isinf, isnan, le, lt, masked_fill, maximum, minimum, ne, where
from .math import abs, astype, ceil, clip, erf, exp, exp2, expm1, floor, log, log1p, log2, log10, round, sign, sqrt
from .noise import dropout
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d
from .reduction import (
    all,
    any,
    argmax,
    argmin,
    broadcast_to,
    cumprod,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    sum_to,
    var,
)
from .trigonometric import acos, acosh, asin, asinh, atan, atan2, atanh, cos, cosh, sin, sinh, tan
from .shape import (
    chunk,
    concat,
    expand_dims,
    flatten,
    flip,
    getitem,
    permute,
    repeat_interleave,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
    unbind,
    unsqueeze,
)
from .indexing import argsort, gather, one_hot, pad, scatter, scatter_add, sort, topk, tril, triu
from .einsum import einsum

__all__ = [
    "abs", "adaptive_avg_pool2d", "add", "astype", "avg_pool2d", "batch_norm", "broadcast_to", "clip", "concat", "conv2d", "conv_transpose2d", "div",
    "dropout", "embedding", "exp", "expand_dims", "flatten", "getitem", "global_avg_pool2d", "group_norm", "leaky_relu",
    "layer_norm", "linear", "log", "log_softmax", "matmul", "max", "max_pool2d", "mean", "mean_squared_error",
    "min", "mul", "neg", "nll_loss", "pow", "prelu", "relu", "reshape", "scale_grad", "scaled_dot_product_attention", "sigmoid",
    "sigmoid_cross_entropy", "softmax", "softmax_cross_entropy", "softmax_with_cross_entropy",
    "sqrt", "squeeze", "stack", "sub", "sum", "sum_to", "tanh", "transpose",
    # elementwise (issue 23): comparisons, selection, math, trigonometry, smooth activations
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "cos", "cosh", "elu", "eq", "erf", "exp2",
    "expm1", "floor", "ge", "gelu", "gt", "isfinite", "isinf", "isnan", "le", "log10", "log1p", "log2", "logsigmoid",
    "lt", "masked_fill", "maximum", "minimum", "ne", "round", "selu", "sign", "silu", "sin", "sinh", "softplus", "tan",
    "where",
    # losses with PyTorch's options (issue 23)
    "binary_cross_entropy_with_logits", "cosine_embedding_loss", "cross_entropy", "huber_loss", "kl_div", "l1_loss",
    "mse_loss", "smooth_l1_loss",
    # reductions, shape and indexing (issue 23)
    "all", "any", "argmax", "argmin", "argsort", "chunk", "cumprod", "cumsum", "einsum", "flip", "gather", "logsumexp",
    "norm", "one_hot", "pad", "permute", "prod", "repeat_interleave", "roll", "scatter", "scatter_add", "sort", "split",
    "std", "swapaxes", "tile", "topk", "tril", "triu", "unbind", "unsqueeze", "var",
]

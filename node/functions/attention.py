"""Scaled dot-product attention, written with node's ops (its gradients are theirs).

For queries q (..., L, E), keys k (..., S, E) and values v (..., S, Ev):

    weights = softmax(q kᵀ · scale + bias)     (..., L, S), each row sums to 1
    output  = weights v                        (..., L, Ev)

with scale = 1/√E by default. ``bias`` masks: -∞ where a query may not look at
a key (its weight becomes exactly 0), or any float added to the scores. A row
whose every key is masked has no weights to share: its output is NaN, as in
PyTorch.

The masks follow PyTorch exactly, and PyTorch's two functions disagree:

* ``scaled_dot_product_attention``'s boolean ``attn_mask``: True means the key
  **takes part** (False is masked out);
* ``MultiheadAttention``'s boolean ``attn_mask`` and ``key_padding_mask``: True
  means the key is **masked out** (ignored).

A float mask is added to the scores in both. ``is_causal`` masks out, for
query i, every key j > i (PyTorch's lower-triangular mask, aligned at the top
left when L and S differ).
"""
import math

import numpy as np

from .. import validation
from ..backend import backend_module, get_array_module, is_array
from ..core import Node, as_node, replayable
from .activation import softmax
from .noise import dropout


def causal_allowed(xp, length, source_length):
    """Boolean (L, S), True where query i may look at key j: j <= i (PyTorch's tril of ones)."""
    return xp.tril(xp.ones((length, source_length), dtype=bool))


@replayable
def mask_values(mask, allowed_when, dtype, module_name):
    """A boolean or float mask (an array or a list) as additive values of ``dtype`` on the backend ``module_name``.

    A boolean mask becomes 0 where it equals ``allowed_when`` (the key takes
    part) and -∞ elsewhere; a float one is converted. ``@replayable``, so a
    step compiled with ``node.compile`` makes it from each call's mask.
    """
    xp = backend_module(module_name)
    value = xp.asarray(mask)  # a list, or a host array for a device computation: on the scores' device
    if value.dtype.kind == "b":
        allowed = value if allowed_when else ~value
        return xp.where(allowed, 0.0, -math.inf).astype(dtype)
    return value.astype(dtype)


def mask_bias(mask, allowed_when, like):
    """An additive mask (a Node) for scores like ``like``: a boolean mask becomes 0 / -∞ (``allowed_when`` is the value that means "takes part"), a float Node stays as it is."""
    if isinstance(mask, Node) and mask.dtype.kind == "f":
        return mask
    value = mask.value if isinstance(mask, Node) else mask
    dtype = value.dtype if is_array(value) else np.asarray(value).dtype
    if dtype.kind not in "bf":
        raise TypeError(f"attention: a mask must be boolean or floating-point, got dtype {dtype}")
    return Node(mask_values(value, allowed_when, like.dtype, get_array_module(like.value).__name__), requires_grad=False)


def attention(q, k, v, bias=None, scale=None, dropout_p=0.0, rng=None):
    """(output, weights) of scaled dot-product attention with an additive ``bias`` (or None); dropout on the weights."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.swapaxes(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    weights = softmax(scores, axis=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, rng)
    return weights @ v, weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, rng=None):
    """softmax(q kᵀ/√E + mask) v, PyTorch's F.scaled_dot_product_attention (see the module docstring).

    Args:
        query, key, value: (..., L, E), (..., S, E), (..., S, Ev); the leading axes broadcast.
        attn_mask: None, a boolean mask broadcasting to (..., L, S) where **True means
            the key takes part** (PyTorch's convention for this function), or a float
            mask added to the scores.
        dropout_p: dropout probability on the attention weights (drawn from ``rng``;
            pass 0 in evaluation, as in PyTorch).
        is_causal: mask out the keys after each query (cannot be combined with attn_mask).
        scale: the scores' factor, 1/√E by default.
    """
    q, k, v = as_node(query), as_node(key), as_node(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got {q.shape}, {k.shape} and {v.shape}"
        )
    dropout_p = validation.real("scaled_dot_product_attention", "dropout_p", dropout_p, 0, 1, open_maximum=True)
    is_causal = validation.flag("scaled_dot_product_attention", "is_causal", is_causal)
    if scale is not None:
        scale = validation.real("scaled_dot_product_attention", "scale", scale)
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both (as PyTorch)")
    if is_causal:
        attn_mask = causal_allowed(get_array_module(q.value), q.shape[-2], k.shape[-2])
    bias = None if attn_mask is None else mask_bias(attn_mask, True, q)
    return attention(q, k, v, bias, scale, dropout_p, rng)[0]

"""Multi-head attention, PyTorch's nn.MultiheadAttention (its parameters, names, masks and outputs).

With E = embed_dim split into h heads of d = E/h:

    q, k, v = query W_qᵀ + b_q, key W_kᵀ + b_k, value W_vᵀ + b_v     (W_q, W_k, W_v: the rows of in_proj_weight)
    each head attends on its d columns: softmax(q kᵀ/√d + mask) v      (node.functions.attention)
    output = (the heads side by side) out_projᵀ + out_proj.bias

Masks are PyTorch's for this layer: a boolean ``attn_mask`` (L, S) or
(N·h, L, S) and a boolean ``key_padding_mask`` (N, S) are True where a key is
**masked out** (the opposite of scaled_dot_product_attention's boolean mask);
float masks are added to the scores.
"""
import math

from ..backend import get_array_module
from ..config import as_generator
from ..core import as_node
from ..functions.attention import attention, causal_allowed, mask_bias
from ..validation import flag, float_dtype, integer, real
from .init import constant, uniform
from .layer import Layer, Parameter


class Projection(Layer):
    """y = x @ weightᵀ + bias with PyTorch's layout, weight (out, in): MultiheadAttention's ``out_proj``."""

    def __init__(self, weight, bias):
        self.weight = Parameter(weight, name="weight")
        self.bias = None if bias is None else Parameter(bias, name="bias")

    def forward(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, bias={self.bias is not None}"


class MultiheadAttention(Layer):
    """Attention of queries to keys and values in ``num_heads`` heads (PyTorch's nn.MultiheadAttention).

    Args:
        embed_dim: E, the size of queries, keys, values and output; a multiple of num_heads.
        num_heads: h.
        dropout: dropout probability on the attention weights, in training.
        bias: learn in_proj_bias and out_proj.bias.
        batch_first: inputs and output (N, L, E) instead of (L, N, E).
        rng, dtype: as for Linear.

    Parameters, named as PyTorch's so that a state dict maps one to one:
    in_proj_weight (3E, E) (Xavier-uniform), in_proj_bias (3E,) (zeros),
    out_proj.weight (E, E) (uniform in ±1/√E) and out_proj.bias (E,) (zeros).

    ``mha(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    (output, weights): output (L, N, E) (or (N, L, E), or (L, E) for
    unbatched inputs), and the attention weights (N, L, S) averaged over the
    heads (or (N, h, L, S) with average_attn_weights=False), or None when
    need_weights is False. Boolean masks are True where a key is masked out.
    ``is_causal=True`` without attn_mask applies the causal mask (PyTorch
    raises there instead).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False, rng=None, dtype=None):
        embed_dim = integer("MultiheadAttention", "embed_dim", embed_dim, minimum=1)
        num_heads = integer("MultiheadAttention", "num_heads", num_heads, minimum=1)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a multiple of num_heads ({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.dropout = real("MultiheadAttention", "dropout", dropout, minimum=0, maximum=1, open_maximum=True)
        self.batch_first = flag("MultiheadAttention", "batch_first", batch_first)
        bias, dtype = flag("MultiheadAttention", "bias", bias), float_dtype("MultiheadAttention", "dtype", dtype)
        self.rng = as_generator(rng)
        self.in_proj_weight = Parameter(uniform(self.rng, (3 * embed_dim, embed_dim), math.sqrt(6 / (4 * embed_dim)), dtype), name="in_proj_weight")
        self.in_proj_bias = Parameter(constant((3 * embed_dim,), 0.0, dtype), name="in_proj_bias") if bias else None
        out_weight = uniform(self.rng, (embed_dim, embed_dim), 1 / math.sqrt(embed_dim), dtype)
        self.out_proj = Projection(out_weight, constant((embed_dim,), 0.0, dtype) if bias else None)

    def project(self, x, i):
        """x @ W_iᵀ + b_i for i = 0 (queries), 1 (keys), 2 (values), x of shape (N, T, E)."""
        e = self.embed_dim
        y = x @ self.in_proj_weight[i * e : (i + 1) * e].T
        return y if self.in_proj_bias is None else y + self.in_proj_bias[i * e : (i + 1) * e]

    def split_heads(self, x):
        """(N, T, E) -> (N, h, T, d)."""
        n, t, _ = x.shape
        return x.reshape(n, t, self.num_heads, -1).transpose(0, 2, 1, 3)

    def as_batch_first(self, x, name):
        x = as_node(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.embed_dim:
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ValueError(f"MultiheadAttention: {name} must have shape {layout} or (L, E) with E={self.embed_dim}, got {x.shape}")
        if x.ndim == 2:
            return x.reshape(1, *x.shape)
        return x if self.batch_first else x.transpose(1, 0, 2)

    def mask(self, q, n, length, source, key_padding_mask, attn_mask, is_causal):
        """The additive mask (N, h, L, S) (or one that broadcasts to it), or None."""
        total = None
        if attn_mask is None and is_causal:
            attn_mask = ~causal_allowed(get_array_module(q.value), length, source)
        if attn_mask is not None:
            m = mask_bias(attn_mask, False, q)
            if m.ndim == 3:  # (N·h, L, S)
                m = m.reshape(n, self.num_heads, length, source)
            total = m
        if key_padding_mask is not None:
            m = mask_bias(key_padding_mask, False, q)
            if tuple(m.shape) != (n, source):
                raise ValueError(f"MultiheadAttention: key_padding_mask must have shape ({n}, {source}), got {tuple(m.shape)}")
            m = m.reshape(n, 1, 1, source)
            total = m if total is None else total + m
        return total

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False):
        unbatched = as_node(query).ndim == 2
        q, k, v = (self.as_batch_first(x, name) for x, name in ((query, "query"), (key, "key"), (value, "value")))
        if k.shape != v.shape or q.shape[0] != k.shape[0]:
            raise ValueError(f"MultiheadAttention: key {k.shape} and value {v.shape} must have one shape, and the batch of query {q.shape}")
        n, length, source = q.shape[0], q.shape[1], k.shape[1]
        if key_padding_mask is not None and unbatched:
            key_padding_mask = as_node(key_padding_mask).reshape(1, -1)
        bias = self.mask(q, n, length, source, key_padding_mask, attn_mask, is_causal)
        heads = [self.split_heads(self.project(x, i)) for i, x in enumerate((q, k, v))]
        out, weights = attention(*heads, bias, None, self.dropout if self.training else 0.0, self.rng)
        out = self.out_proj(out.transpose(0, 2, 1, 3).reshape(n, length, self.embed_dim))  # heads side by side
        out = out.reshape(length, self.embed_dim) if unbatched else (out if self.batch_first else out.transpose(1, 0, 2))
        if not need_weights:
            return out, None
        weights = weights.mean(axis=1) if average_attn_weights else weights
        return out, (weights.reshape(weights.shape[1:]) if unbatched else weights)

    def extra_repr(self):
        return f"{self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, batch_first={self.batch_first}"

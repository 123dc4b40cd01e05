"""scaled_dot_product_attention and MultiheadAttention (issue 23, item 5).

Against a NumPy reference written here (softmax of the masked, scaled scores
times the values; the heads projected and joined), with PyTorch's two mask
conventions (SDPA's boolean mask: True takes part; MultiheadAttention's: True is
masked out), gradcheck in float64, argument errors, and torch with the same
weights where it is installed.
"""
import numpy as np
import pytest
from helpers import gradcheck_layer

import node
import node.functions as F


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sdpa_np(q, k, v, allowed=None, scale=None):
    """Attention by its definition; ``allowed`` (boolean, True takes part) or None."""
    scores = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    return softmax(scores) @ v


def mha_np(layer, q, k, v, masked_out=None):
    """MultiheadAttention on batch-first arrays, head by head; ``masked_out`` (N, L, S) True = ignored."""
    state = {name: node.asnumpy(a) for name, a in layer.state_dict().items()}
    w, b, e, h = state["in_proj_weight"], state["in_proj_bias"], layer.embed_dim, layer.num_heads
    d = e // h
    qp, kp, vp = (x @ w[i * e : (i + 1) * e].T + b[i * e : (i + 1) * e] for i, x in enumerate((q, k, v)))
    heads, weights = [], []
    for j in range(h):
        cols = slice(j * d, (j + 1) * d)
        scores = qp[..., cols] @ np.swapaxes(kp[..., cols], -1, -2) / np.sqrt(d)
        if masked_out is not None:
            scores = np.where(masked_out, -np.inf, scores)
        a = softmax(scores)
        weights.append(a)
        heads.append(a @ vp[..., cols])
    out = np.concatenate(heads, axis=-1) @ state["out_proj.weight"].T + state["out_proj.bias"]
    return out, np.mean(weights, axis=0)


def test_sdpa_plain_causal_and_masked(xp, rng):
    q, k, v = (xp.asarray(rng.standard_normal(s)) for s in ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)))
    a = [node.asnumpy(t) for t in (q, k, v)]
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).numpy(), sdpa_np(*a), rtol=1e-10)
    causal = np.tril(np.ones((4, 6), dtype=bool))
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy(), sdpa_np(*a, causal), rtol=1e-10)
    allowed = rng.random((4, 6)) > 0.4
    allowed[:, 0] = True
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=allowed).numpy(), sdpa_np(*a, allowed), rtol=1e-10)
    additive = np.where(allowed, 0.0, -np.inf)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=additive).numpy(), sdpa_np(*a, allowed), rtol=1e-10)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, scale=0.25).numpy(), sdpa_np(*a, None, 0.25), rtol=1e-10)
    # a causal model's first output sees the first value only
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()[..., 0, :], a[2][..., 0, :], rtol=1e-12)


def test_sdpa_gradients(xp, rng):
    q, k, v = (xp.asarray(rng.standard_normal(s)) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    allowed = np.tril(np.ones((3, 5), dtype=bool))
    assert node.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), q, k, v, seed=1)
    assert node.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v, seed=2)


def test_sdpa_dropout_draws_from_rng(rng):
    q = rng.standard_normal((2, 4, 3))
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, rng=0).numpy()
    np.testing.assert_array_equal(a, F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, rng=0).numpy())
    assert not np.allclose(a, F.scaled_dot_product_attention(q, q, q).numpy())


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_matches_numpy(xp, rng, batch_first):
    mha = node.MultiheadAttention(8, 2, batch_first=batch_first, rng=0, dtype="float64").to(xp.__name__)
    for p in (mha.in_proj_bias, mha.out_proj.bias):  # non-zero biases, so that they are checked too
        p.value[...] = xp.asarray(rng.standard_normal(p.shape))
    q, kv = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 5, 8))
    padding = np.zeros((2, 5), dtype=bool)
    padding[1, 3:] = True  # the second sequence's last two keys are padding
    causal_out = np.triu(np.ones((4, 5), dtype=bool), 1)  # True = masked out (this layer's convention)

    def given(a):
        return xp.asarray(a if batch_first else a.transpose(1, 0, 2))

    for kwargs, masked_out in [({}, None), ({"key_padding_mask": padding}, padding[:, None, :]), ({"attn_mask": causal_out}, causal_out), ({"is_causal": True}, np.triu(np.ones((4, 5), dtype=bool), 1))]:
        out, weights = mha(given(q), given(kv), given(kv), **kwargs)
        expected_out, expected_weights = mha_np(mha, q, kv, kv, masked_out)
        np.testing.assert_allclose(out.numpy(), expected_out if batch_first else expected_out.transpose(1, 0, 2), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(weights.numpy(), expected_weights, rtol=1e-10, atol=1e-12)
    out, weights = mha(given(q), given(kv), given(kv), need_weights=False)
    assert weights is None and out.shape == given(q).shape
    _, per_head = mha(given(q), given(kv), given(kv), average_attn_weights=False)
    assert per_head.shape == (2, 2, 4, 5)


def test_multihead_attention_layer(xp, rng):
    mha = node.MultiheadAttention(4, 2, batch_first=True, rng=0, dtype="float64").to(xp.__name__)
    assert [n for n, _ in mha.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert mha.in_proj_weight.shape == (12, 4) and mha.out_proj.weight.shape == (4, 4)
    assert np.abs(mha.in_proj_weight.numpy()).max() <= np.sqrt(6 / 16) and not mha.in_proj_bias.numpy().any()
    x = xp.asarray(rng.standard_normal((2, 3, 4)))

    class SelfAttention(node.Layer):
        def __init__(self):
            self.inner = mha

        def forward(self, x):
            return self.inner(x, x, x, is_causal=True)[0]

    assert gradcheck_layer(SelfAttention(), x, seed=3)
    unbatched, weights = mha(x[0], x[0], x[0])
    assert unbatched.shape == (3, 4) and weights.shape == (3, 3)
    np.testing.assert_allclose(unbatched.numpy(), mha(x, x, x)[0].numpy()[0], rtol=1e-12)
    assert [n for n, _ in node.MultiheadAttention(4, 2, bias=False).named_parameters()] == ["in_proj_weight", "out_proj.weight"]
    assert repr(mha).startswith("MultiheadAttention(") and "4, num_heads=2, dropout=0.0, batch_first=True" in repr(mha)


BAD = [
    (lambda: node.MultiheadAttention(6, 4), ValueError, r"^MultiheadAttention: embed_dim \(6\) must be a multiple of num_heads \(4\)$"),
    (lambda: node.MultiheadAttention(0, 1), ValueError, r"^MultiheadAttention: embed_dim must be an integer >= 1, got 0$"),
    (lambda: node.MultiheadAttention(4, 2, dropout=1), ValueError, r"^MultiheadAttention: dropout must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.MultiheadAttention(4, 2, batch_first="yes"), TypeError, r"^MultiheadAttention: batch_first must be True or False, got str 'yes'$"),
    (lambda: node.MultiheadAttention(4, 2)(np.ones((3, 2, 5)), np.ones((3, 2, 5)), np.ones((3, 2, 5))), ValueError, r"^MultiheadAttention: query must have shape \(L, N, E\) or \(L, E\) with E=4, got \(3, 2, 5\)$"),
    (lambda: node.MultiheadAttention(4, 2)(np.ones((3, 2, 4)), np.ones((5, 2, 4)), np.ones((5, 2, 4)), key_padding_mask=np.zeros((2, 3), bool)), ValueError, r"^MultiheadAttention: key_padding_mask must have shape \(2, 5\), got \(2, 3\)$"),
    (lambda: F.scaled_dot_product_attention(np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 4))), ValueError, r"^scaled_dot_product_attention: expected query \(\.\.\., L, E\)"),
    (lambda: F.scaled_dot_product_attention(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2), bool), is_causal=True), ValueError, r"^scaled_dot_product_attention: give attn_mask or is_causal=True, not both"),
    (lambda: F.scaled_dot_product_attention(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), dropout_p=1.5), ValueError, r"^scaled_dot_product_attention: dropout_p must be a finite number in \[0, 1\), got 1\.5$"),
    (lambda: F.scaled_dot_product_attention(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2), int)), TypeError, r"^attention: a mask must be boolean or floating-point, got dtype int"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 7))
    allowed = rng.random((4, 6)) > 0.3
    allowed[:, 0] = True
    for kwargs in ({}, {"is_causal": True}, {"attn_mask": allowed}):
        theirs = torch.nn.functional.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), **{n: torch.from_numpy(a) if isinstance(a, np.ndarray) else a for n, a in kwargs.items()})
        np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, **kwargs).numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)
    ours = node.MultiheadAttention(8, 2, rng=0, dtype="float64")
    reference = torch.nn.MultiheadAttention(8, 2).double()
    reference.load_state_dict({name: torch.from_numpy(a) for name, a in ours.state_dict().items()})  # the names map one to one
    x = rng.standard_normal((4, 2, 8))
    padding = np.zeros((2, 4), dtype=bool)
    padding[0, 2:] = True
    out, weights = ours(x, x, x, key_padding_mask=padding)
    t_out, t_weights = reference(*[torch.from_numpy(x)] * 3, key_padding_mask=torch.from_numpy(padding))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), t_weights.detach().numpy(), rtol=1e-10, atol=1e-12)

"""node.losses.standard: PyTorch's loss layers give their functions' values, check their options, hold weights as buffers."""
import numpy as np
import pytest

import node
import node.functions as F
from node.losses import (
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

rng = np.random.default_rng(0)
X, T, LABELS = rng.standard_normal((4, 3)), rng.random((4, 3)), np.array([0, 2, 1, 2])
W = np.array([0.5, 1.0, 2.0])

LAYERS = [
    (CrossEntropyLoss(weight=W, ignore_index=1, label_smoothing=0.1), (X, LABELS),
     lambda: F.cross_entropy(X, LABELS, weight=W, ignore_index=1, label_smoothing=0.1)),
    (CrossEntropyLoss(reduction="none"), (X, T), lambda: F.cross_entropy(X, T, reduction="none")),
    (NLLLoss(weight=W, reduction="sum"), (X, LABELS), lambda: F.nll_loss(X, LABELS, weight=W, reduction="sum")),
    (BCEWithLogitsLoss(pos_weight=W), (X, T), lambda: F.binary_cross_entropy_with_logits(X, T, pos_weight=W)),
    (MSELoss(reduction="sum"), (X, T), lambda: F.mse_loss(X, T, "sum")),
    (L1Loss(), (X, T), lambda: F.l1_loss(X, T)),
    (HuberLoss(delta=0.3), (X, T), lambda: F.huber_loss(X, T, delta=0.3)),
    (SmoothL1Loss(beta=0.3, reduction="none"), (X, T), lambda: F.smooth_l1_loss(X, T, "none", beta=0.3)),
    (KLDivLoss(reduction="batchmean"), (X, T), lambda: F.kl_div(X, T, "batchmean")),
    (CosineEmbeddingLoss(margin=0.2), (X, T, np.array([1, -1, 1, -1])), lambda: F.cosine_embedding_loss(X, T, [1, -1, 1, -1], 0.2)),
]


@pytest.mark.parametrize("layer, inputs, expected", LAYERS, ids=[type(c[0]).__name__ + " " + repr(c[0]) for c in LAYERS])
def test_layers_give_their_functions_values(layer, inputs, expected):
    # the weights are buffers in the default float32: compare at float32's precision
    np.testing.assert_allclose(layer(*inputs).numpy(), expected().numpy(), rtol=1e-6)


def test_weights_are_buffers_that_move_and_are_saved(xp):
    loss = CrossEntropyLoss(weight=[1, 2, 3])
    assert loss.weight.dtype == np.float32 and set(loss.state_dict()) == {"weight"}
    loss.to("numpy")
    assert isinstance(loss.weight, np.ndarray)
    x = node.Node(xp.asarray(X))
    value = loss(x, xp.asarray(LABELS))
    assert isinstance(value.value, xp.ndarray)
    assert CrossEntropyLoss().state_dict() == {}


def test_repr_shows_the_reduction():
    assert repr(KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"


ERRORS = [
    (lambda: CrossEntropyLoss(reduction="avg"), ValueError, r"CrossEntropyLoss: reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    (lambda: CrossEntropyLoss(label_smoothing=-0.1), ValueError, r"CrossEntropyLoss: label_smoothing must be a finite number in \[0.0, 1.0\]"),
    (lambda: CrossEntropyLoss(ignore_index=None), TypeError, r"CrossEntropyLoss: ignore_index must be an integer, got NoneType None"),
    (lambda: CrossEntropyLoss(weight=np.ones((2, 2))), ValueError, r"CrossEntropyLoss: weight must be a vector with one entry per class"),
    (lambda: NLLLoss(weight="abc"), TypeError, r"NLLLoss: weight must be numbers"),
    (lambda: HuberLoss(delta=-1), ValueError, r"HuberLoss: delta must be a finite number > 0.0, got -1"),
    (lambda: SmoothL1Loss(beta=float("nan")), ValueError, r"SmoothL1Loss: beta must be a finite number >= 0.0, got nan"),
    (lambda: KLDivLoss(log_target="yes"), TypeError, r"KLDivLoss: log_target must be True or False, got str 'yes'"),
    (lambda: MSELoss(reduction="batchmean"), ValueError, r"MSELoss: reduction must be one of 'mean', 'sum', 'none', got 'batchmean'"),
    (lambda: CosineEmbeddingLoss(margin=1.5), ValueError, r"CosineEmbeddingLoss: margin must be a finite number in \[-1.0, 1.0\], got 1.5"),
]


@pytest.mark.parametrize("make, error, message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_options_fail_when_the_layer_is_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_against_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    x = torch.tensor(X, requires_grad=True)
    ours, theirs = CrossEntropyLoss(weight=W, label_smoothing=0.2), nn.CrossEntropyLoss(weight=torch.tensor(W), label_smoothing=0.2)
    xn = node.Node(X.copy())
    a, b = ours(xn, LABELS), theirs(x, torch.tensor(LABELS))
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.numpy(), b.item(), rtol=1e-6)
    np.testing.assert_allclose(xn.grad, x.grad.numpy(), rtol=1e-6)

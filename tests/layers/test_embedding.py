"""Embedding (issue 23, item 5): rows picked by integer indices, the gradient a scatter-add (repeated rows add up,
the padding row gets none), second derivatives, argument errors, and torch where it is installed."""
import numpy as np
import pytest

import node
import node.functions as F

IDS = np.array([[1, 2, 1], [0, 4, 2]])


def test_rows_and_their_gradient(xp, rng):
    W = xp.asarray(rng.standard_normal((5, 3)))
    gy = rng.standard_normal((2, 3, 3))
    w = node.Node(W)
    y = F.embedding(IDS, w)
    np.testing.assert_array_equal(y.numpy(), node.asnumpy(W)[IDS])
    y.backward(xp.asarray(gy))
    expected = np.zeros((5, 3))
    np.add.at(expected, IDS, gy)  # row 1 and row 2 are picked twice: both gradients add
    np.testing.assert_allclose(node.asnumpy(w.grad.value if isinstance(w.grad, node.Node) else w.grad), expected, rtol=1e-12)
    assert node.gradgradcheck(lambda a: F.embedding(IDS, a) ** 3, W, seed=1)


def test_padding_idx_gets_no_gradient(xp, rng):
    W = node.Node(xp.asarray(rng.standard_normal((5, 3))))
    y = F.embedding(IDS, W, padding_idx=2)
    np.testing.assert_array_equal(y.numpy(), node.asnumpy(W.value)[IDS])  # the row itself is still read
    (y * y).sum().backward()
    grad = node.asnumpy(getattr(W.grad, "value", W.grad))
    assert not grad[2].any() and grad[1].any() and not grad[3].any()
    # -1 counts from the end; the second derivative's path masks the same row
    (g,) = node.grad([(F.embedding(IDS, W, padding_idx=-1) ** 2).sum()], [W], create_graph=True)
    assert not node.asnumpy(g.value)[4].any()


def test_layer(xp, rng):
    layer = node.Embedding(10, 4, padding_idx=0, rng=0, dtype="float64").to(xp.__name__)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.shape == (10, 4) and not layer.weight.numpy()[0].any() and layer.weight.numpy()[1:].std() > 0.5
    ids = xp.asarray(np.array([[3, 0, 9], [1, 1, 2]]))
    assert layer(ids).shape == (2, 3, 4) and layer(node.Node(ids)).shape == (2, 3, 4) and layer([5, 6]).shape == (2, 4)
    other = node.Embedding(10, 4, rng=1, dtype="float64").to(xp.__name__)
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other(ids).numpy(), layer(ids).numpy())
    assert repr(layer) == "Embedding(10, 4, padding_idx=0)" and repr(node.Embedding(3, 2)) == "Embedding(3, 2)"
    assert node.Embedding(5, 2, padding_idx=-1).padding_idx == 4


BAD = [
    (lambda: node.Embedding(0, 4), ValueError, r"^Embedding: num_embeddings must be an integer >= 1, got 0$"),
    (lambda: node.Embedding(4, 2.0), TypeError, r"^Embedding: embedding_dim must be an integer >= 1, got float 2\.0$"),
    (lambda: node.Embedding(4, 2, padding_idx=4), ValueError, r"^Embedding: padding_idx must be an integer in \[-4, 3\], got 4$"),
    (lambda: node.Embedding(4, 2)(np.array([0, 4])), IndexError, r"^embedding: index 4 is out of range for a table of 4 rows \(indices must be in \[0, 3\]\)$"),
    (lambda: node.Embedding(4, 2)(np.array([-1])), IndexError, r"^embedding: index -1 is out of range"),
    (lambda: node.Embedding(4, 2)(np.array([0.0, 1.0])), TypeError, r"^embedding: indices must be integers, got dtype float64$"),
    (lambda: F.embedding([0], np.ones(3)), ValueError, r"^embedding: the table W must be 2-D \(num_embeddings, embedding_dim\), got shape \(3,\)$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    layer = node.Embedding(6, 3, padding_idx=1, rng=0, dtype="float64")
    reference = torch.nn.Embedding(6, 3, padding_idx=1).double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    ids = np.array([[1, 5, 5], [0, 1, 2]])
    gy = rng.standard_normal((2, 3, 3))
    y = layer(ids)
    y.backward(gy)
    t = reference(torch.from_numpy(ids))
    t.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(y.numpy(), t.detach().numpy())
    np.testing.assert_allclose(node.asnumpy(getattr(layer.weight.grad, "value", layer.weight.grad)), reference.weight.grad.numpy(), rtol=1e-12)

"""Embedding: a learned table of vectors, one per token id."""
from ..config import as_generator
from ..functions import embedding
from ..validation import float_dtype, integer
from .init import normal
from .layer import Layer, Parameter


class Embedding(Layer):
    """A table ``weight`` (num_embeddings, embedding_dim); integer indices of any shape pick its rows.

    ``Embedding(100, 16)(ids)`` with ids of shape (N, T) gives (N, T, 16). The
    table starts N(0, 1) (PyTorch's default). ``padding_idx`` (an index,
    negative from the end, or None) names a row that starts at zero and gets
    no gradient, as for a padding token. The parameter is named ``weight``, as
    in PyTorch, so a state dict maps one to one.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, rng=None, dtype=None):
        num_embeddings = integer("Embedding", "num_embeddings", num_embeddings, minimum=1)
        embedding_dim = integer("Embedding", "embedding_dim", embedding_dim, minimum=1)
        if padding_idx is not None:
            padding_idx = integer("Embedding", "padding_idx", padding_idx, -num_embeddings, num_embeddings - 1) % num_embeddings
        dtype = float_dtype("Embedding", "dtype", dtype)
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.weight = Parameter(normal(as_generator(rng), (num_embeddings, embedding_dim), 1.0, dtype), name="weight")
        if padding_idx is not None:
            self.weight.value[padding_idx] = 0

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"

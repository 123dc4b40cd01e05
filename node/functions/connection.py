"""The affine map ``linear`` (y = x @ W + b in one Function) and ``embedding`` (rows of a table); the convolution is in ``conv``."""
import numpy as np

from .. import validation
from ..backend import as_index, get_array_module, is_array, on_host, scatter_add
from ..core import Function, Node, as_node
from .arithmetic import MatMul


class Affine(Function):
    """y = x @ W + b with W of shape (in, out), x of shape (..., in).

    Backward: gx = gy Wᵀ, gW = xᵀ gy and gb = Σ gy, with x and gy seen as
    matrices (every leading axis of x is one more row). gW is a ``MatMul``
    of its own, so that a kernel may compute it (at batch size 1 it is an
    outer product, ``node.kernels.outer``).
    """

    differentiable_backward = True
    uses_blas = True

    def forward(self, x, W, b=None):
        y = x @ W
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, W = self.saved_inputs()[:2]
        needs = self.needs_input_grad
        gx = gy @ W.T if needs[0] else None
        gW = MatMul()(x.reshape(-1, x.shape[-1]).T, gy.reshape(-1, gy.shape[-1])) if needs[1] else None
        if len(needs) == 2:
            return gx, gW
        return gx, gW, gy.reshape(-1, gy.shape[-1]).sum(axis=0) if needs[2] else None


def linear(x, W, b=None):
    """x @ W + b in one Function (one node in the graph instead of two).

    W has shape (in, out) and b, when given, shape (out,). A complex x needs
    complex weights: a layer's real weights would silently make its output complex.
    """
    x, W = as_node(x), as_node(W)
    if W.ndim != 2 or x.shape[-1:] != W.shape[:1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weights of shape {W.shape} (in_features must be {W.shape[0]})")
    check_complex_weights("linear", x, W)
    if b is None:
        return Affine()(x, W)
    b = as_node(b)
    if b.shape != W.shape[1:]:
        raise ValueError(f"linear: bias of shape {b.shape} does not fit weights of shape {W.shape}: expected shape {W.shape[1:]}")
    return Affine()(x, W, b)


def check_complex_weights(name, x, W):
    """Raise TypeError when a complex input ``x`` meets real weights ``W`` (a layer's parameters are real)."""
    if x.dtype.kind == "c" and W.dtype.kind != "c":
        raise TypeError(
            f"{name}: the input is complex ({x.dtype}) but the weights are real ({W.dtype}); complex input needs "
            "complex weights (see 'Complex numbers' in docs/autograd.md)"
        )


# ---- embedding: rows of a table picked by integer indices ------------------------------------------


class EmbedID(Function):
    """y = W[indices]: row ``indices[...]`` of the table W (num_embeddings, D), giving (*indices.shape, D).

    The indices are a constant of the Function (integers have no gradient). The
    gradient adds each gy row onto the row of W it came from (``EmbedIDGrad``).
    """

    differentiable_backward = True

    def __init__(self, indices, padding_idx=None):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, W):
        return W[self.indices]

    def backward(self, gy):
        return EmbedIDGrad(self.indices, self.inputs[0].shape, self.padding_idx)(gy)


class EmbedIDGrad(Function):
    """gW: every row of gy (*indices.shape, D) added onto row indices[...] of zeros (num_embeddings, D).

    A row picked twice gets both gradients (a scatter-add). The row
    ``padding_idx``, if any, gets none: it stays as it is in training (PyTorch's
    padding_idx). Linear in gy; its adjoint, the backward, picks the rows again
    (and zeros the positions that hold padding_idx).
    """

    differentiable_backward = True

    def __init__(self, indices, w_shape, padding_idx=None):
        self.indices, self.w_shape, self.padding_idx = indices, tuple(w_shape), padding_idx

    def forward(self, gy):
        gW = get_array_module(gy).zeros(self.w_shape, dtype=gy.dtype)
        scatter_add(gW, self.indices, gy)
        if self.padding_idx is not None:
            gW[self.padding_idx] = 0
        return gW

    def backward(self, ggW):
        rows = EmbedID(self.indices)(ggW)
        if self.padding_idx is None:
            return rows
        return rows * (self.indices != self.padding_idx)[..., None].astype(ggW.dtype)


def embedding(indices, W, padding_idx=None):
    """Rows of the table W (num_embeddings, D) picked by integer ``indices`` of any shape: (*indices.shape, D).

    PyTorch's F.embedding(input, weight, padding_idx). ``padding_idx`` (an
    index into W, negative from the end) marks the row whose gradient is always
    zero, as for a padding token. Indices out of [0, num_embeddings) are refused
    on the host (on a GPU they are not checked: that would wait for the device).
    """
    indices = indices.value if isinstance(indices, Node) else indices
    if not is_array(indices):
        indices = np.asarray(indices)  # a list or a number
    W = as_node(W)
    if W.ndim != 2:
        raise ValueError(f"embedding: the table W must be 2-D (num_embeddings, embedding_dim), got shape {W.shape}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    num = W.shape[0]
    if padding_idx is not None:
        padding_idx = validation.integer("embedding", "padding_idx", padding_idx, -num, num - 1) % num
    if indices.size and on_host(indices):
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= num:
            raise IndexError(f"embedding: index {low if low < 0 else high} is out of range for a table of {num} rows (indices must be in [0, {num - 1}])")
    return EmbedID(as_index(indices, W.value), padding_idx)(W)

"""The affine map ``linear``: y = x @ W + b in one Function (the convolution is in ``conv``)."""
from ..core import Function, as_node


class Affine(Function):
    """y = x @ W + b with W of shape (in, out), x of shape (..., in).

    Backward: gx = gy Wᵀ, gW = xᵀ gy and gb = Σ gy, with x and gy seen as
    matrices (every leading axis of x is one more row).
    """

    differentiable_backward = True

    def forward(self, x, W, b=None):
        y = x @ W
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, W = self.saved_inputs()[:2]
        needs = self.needs_input_grad
        gx = gy @ W.T if needs[0] else None
        gW = x.reshape(-1, x.shape[-1]).T @ gy.reshape(-1, gy.shape[-1]) if needs[1] else None
        if len(needs) == 2:
            return gx, gW
        return gx, gW, gy.reshape(-1, gy.shape[-1]).sum(axis=0) if needs[2] else None


def linear(x, W, b=None):
    """x @ W + b in one Function (one node in the graph instead of two)."""
    x, W = as_node(x), as_node(W)
    if x.shape[-1:] != W.shape[:1] or W.ndim != 2:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weights of shape {W.shape} (in_features must be {W.shape[0]})")
    return Affine()(x, W) if b is None else Affine()(x, W, b)

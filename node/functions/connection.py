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

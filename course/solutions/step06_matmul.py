"""Step 6: the matrix product and the affine layer.

A layer of a network maps a batch of inputs ``x`` (N, I) to ``x @ W + b``
(N, O). This step adds that product as one Function, ``MatMul``, whose
backward is two more matrix products (``gy @ W.T`` and ``x.T @ gy``), the
affine map ``Affine`` (the product plus a bias broadcast over the batch),
and ``jacobian``, which builds a full Jacobian one backward pass at a time
to show what a backward pass computes, and why it never builds one.

Run it: ``python -m course.exercises.step06_matmul``.
"""
import numpy as np

from .step03_walk import backward as walk
from .step05_arrays import Function, Node, sum_to_node


def _matrix(name, a):
    if a.ndim != 2:
        raise ValueError(f"{name} must be a matrix (2-d), got shape {a.shape}")


class MatMul(Function):
    """x @ W for matrices: x (N, I), W (I, O) -> y (N, O), y_nk = Σ_i x_ni W_ik."""

    def forward(self, x, W):
        _matrix("matmul's x", x)
        _matrix("matmul's W", W)
        if x.shape[1] != W.shape[0]:
            raise ValueError(f"matmul: x's columns ({x.shape}) must match W's rows ({W.shape})")
        return x @ W

    def backward(self, gy):
        """The gradients of x and of W, as Nodes, from gy (N, O).

        ∂L/∂x = gy Wᵀ, shape (N, O)(O, I) = (N, I), and ∂L/∂W = xᵀ gy,
        shape (I, N)(N, O) = (I, O): each gradient has its input's shape,
        and that alone tells where the transposes go. Write them with the
        engine's ``matmul`` and ``.T`` (Nodes, not arrays), so that the
        backward pass is itself a graph (step 12).
        """
        x, W = self.inputs
        # --- exercise 1: MatMul.backward, gy Wᵀ and xᵀ gy ---
        gx = matmul(gy, W.T)
        gW = matmul(x.T, gy)
        return gx, gW
        # --- end of exercise 1 ---


class Affine(Function):
    """x @ W + b: x (N, I), W (I, O), b (O,) (optional) -> y (N, O); b is added to every row."""

    def forward(self, x, W, b=None):
        _matrix("affine's x", x)
        _matrix("affine's W", W)
        if x.shape[1] != W.shape[0]:
            raise ValueError(f"affine: x's columns ({x.shape}) must match W's rows ({W.shape})")
        y = x @ W
        if b is not None:
            if b.shape != (W.shape[1],):
                raise ValueError(f"affine: b must have shape ({W.shape[1]},), one per output, got {b.shape}")
            y = y + b
        return y

    def backward(self, gy):
        """The gradients of x, W and (when there is one) b, as Nodes.

        x and W as in MatMul. The bias is broadcast from (O,) to (N, O), one
        copy per row of the batch, so its gradient is gy summed over the
        batch (axis 0), back to shape (O,): step 5's ``sum_to_node`` or
        ``gy.sum(axis=0)``. Return (gx, gW) without a bias, (gx, gW, gb) with one.
        """
        x, W = self.inputs[:2]
        # --- exercise 2: Affine.backward, the bias summed over the batch ---
        gx = matmul(gy, W.T)
        gW = matmul(x.T, gy)
        if len(self.inputs) == 2:
            return gx, gW
        gb = sum_to_node(gy, self.inputs[2].shape)
        return gx, gW, gb
        # --- end of exercise 2 ---


def matmul(x, W):
    """x @ W for a matrix x (N, I) and a matrix W (I, O)."""
    return MatMul()(x, W)


def affine(x, W, b=None):
    """x @ W + b for x (N, I), W (I, O) and b (O,) or None."""
    return Affine()(x, W) if b is None else Affine()(x, W, b)


def jacobian(f, x):
    """The full Jacobian of ``f`` at the array ``x``, one backward pass per element of the output.

    ``f`` takes a Node and returns a Node ``y``; the result ``J`` has shape
    ``y.shape + x.shape`` with ``J[i][j] = ∂y_i/∂x_j`` (i, j multi-indices).
    A backward pass with the upstream gradient g gives gᵀJ, one row of J
    when g is one-hot: so for each index ``i`` of y (``np.ndindex``), make a
    fresh ``Node(x)`` and a fresh ``y = f(node)`` (a second walk over the same
    graph would add to the gradients of the first), run the walk
    ``walk(y, Node(e))`` with ``e`` zero but a 1 at ``i``, and store the
    node's gradient (its ``.data``; zeros if it is None) in ``J[i]``.
    """
    x = np.asarray(x, dtype=np.float64)
    y_shape = f(Node(x)).shape
    J = np.zeros(y_shape + x.shape)
    # --- exercise 3: a Jacobian, one backward pass with a one-hot upstream gradient per row ---
    for i in np.ndindex(y_shape):
        node = Node(x)
        y = f(node)
        e = np.zeros(y_shape)
        e[i] = 1.0
        walk(y, Node(e))
        if node.grad is not None:
            J[i] = node.grad.data
    return J
    # --- end of exercise 3 ---


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = Node(rng.standard_normal((4, 3)), name="x")
    W = Node(rng.standard_normal((3, 2)), name="W")
    b = Node(np.zeros(2), name="b")
    y = affine(x, W, b)
    y.backward()
    print("y = x @ W + b, shape", y.shape)
    print("dL/dW for L = sum(y) (xᵀ times ones):\n", W.grad.data)
    print("dL/db (the batch size, 4, in each):", b.grad.data)
    J = jacobian(lambda v: matmul(v, W), x.data[:2])
    print("Jacobian of x @ W at a (2, 3) x: shape", J.shape, "(y's shape + x's shape)")
    print("its block for row 0 of y and row 0 of x is Wᵀ:", np.allclose(J[0, :, 0, :], W.data.T))

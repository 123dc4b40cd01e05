"""Step 5: arrays and broadcasting.

The engine of steps 2 to 4 on NumPy arrays. Two things change:

* ``backward`` now works on Nodes, written with the engine's own operations
  (``gy * x1``, not ``gy * x1.data``), so a backward pass can itself be
  recorded and differentiated again (step 12).
* Broadcasting: ``x0 + x1`` with shapes (2, 3) and (3,) copies ``x1`` along
  the first axis, so ``x1``'s gradient is the upstream gradient *summed* back
  to its shape, by ``sum_to``.

Run it: ``python -m course.exercises.step05_arrays``.
"""
import numpy as np

from . import step02_scalar as scalar
from .step03_walk import backward as walk


class Node(scalar.Node):
    """A Node holding a NumPy array (a number becomes a 0-d float64 array)."""

    __array_priority__ = 1000  # so that ``ndarray * Node`` calls Node.__rmul__ instead of NumPy's own product

    def __init__(self, data, name=None):
        if not isinstance(data, np.ndarray):
            data = np.asarray(data, dtype=np.float64)
        super().__init__(data, name)

    def __repr__(self):
        return f"Node({self.data!r})".replace("\n", "\n" + " " * 5)

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def backward(self):
        """Gradients of this Node (any shape) with respect to everything it depends on; the upstream gradient is ones."""
        walk(self, Node(np.ones_like(self.data)))

    def cleargrad(self):
        self.grad = None

    def reshape(self, *shape):
        return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    @property
    def T(self):
        return transpose(self)

    def sum(self, axis=None, keepdims=False):
        return sum(self, axis, keepdims)

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __neg__(self):
        return neg(self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __pow__(self, exponent):
        return power(self, exponent)


class Function(scalar.Function):
    """Step 2's Function, making array Nodes."""

    node_type = Node


def sum_to(x, shape):
    """Sum the array ``x`` down to ``shape``, undoing NumPy's broadcasting of an array of that shape to ``x.shape``.

    Broadcasting adds leading axes and stretches axes of length 1. So: sum
    over the leading axes ``x`` has beyond ``len(shape)``, then, keeping the
    dimensions, over every axis where ``shape`` has a 1 and ``x`` does not.
    Example: (2, 3, 4) summed to (3, 1) sums axis 0, then axis 2 (kept as 1).
    """
    # --- exercise 1: sum_to, the gradient of broadcasting ---
    raise NotImplementedError('step 05 exercise 1 (sum_to, the gradient of broadcasting) is not written yet: write it here, in place of this line')
    # --- end of exercise 1 ---


class SumTo(Function):
    """``sum_to`` as a Function: its gradient broadcasts back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return sum_to(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)


class BroadcastTo(Function):
    """np.broadcast_to as a Function: its gradient sums back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return np.broadcast_to(x, self.shape).copy()

    def backward(self, gy):
        return sum_to_node(gy, self.x_shape)


def sum_to_node(x, shape):
    """``sum_to`` on a Node (recorded), a no-op when the shape is already right."""
    return x if x.shape == tuple(shape) else SumTo(tuple(shape))(x)


def broadcast_to(x, shape):
    return x if x.shape == tuple(shape) else BroadcastTo(tuple(shape))(x)


class Add(Function):
    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return sum_to_node(gy, x0.shape), sum_to_node(gy, x1.shape)


class Mul(Function):
    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        """Step 2's product rule, with each gradient summed back to its input's shape (``sum_to_node``)."""
        x0, x1 = self.inputs
        # --- exercise 2: Mul.backward with broadcasting ---
        raise NotImplementedError('step 05 exercise 2 (Mul.backward with broadcasting) is not written yet: write it here, in place of this line')
        # --- end of exercise 2 ---


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return sum_to_node(gy, x0.shape), sum_to_node(-gy, x1.shape)


class Div(Function):
    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return sum_to_node(gy / x1, x0.shape), sum_to_node(-gy * x0 / x1**2, x1.shape)


class Power(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x**self.c

    def backward(self, gy):
        (x,) = self.inputs
        return gy * self.c * x ** (self.c - 1)


class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return gy * self.outputs[0]()


class Log(Function):
    def forward(self, x):
        return np.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.x_shape)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def backward(self, gy):
        inverse = None if self.axes is None else tuple(np.argsort(self.axes))
        return transpose(gy, inverse)


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        """Every element of x added once into the sum: its gradient is gy, broadcast back to x's shape.

        Without ``keepdims`` the summed axes are gone from gy: reshape gy to
        put them back with length 1 (a negative axis counts from the end),
        then ``broadcast_to`` x's shape.
        """
        # --- exercise 3: Sum.backward, for any axis and keepdims ---
        raise NotImplementedError('step 05 exercise 3 (Sum.backward, for any axis and keepdims) is not written yet: write it here, in place of this line')
        # --- end of exercise 3 ---


def add(x0, x1):
    return Add()(x0, x1)


def mul(x0, x1):
    return Mul()(x0, x1)


def neg(x):
    return Neg()(x)


def sub(x0, x1):
    return Sub()(x0, x1)


def div(x0, x1):
    return Div()(x0, x1)


def power(x, c):
    return Power(c)(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def reshape(x, shape):
    return x if x.shape == tuple(shape) else Reshape(tuple(shape))(x)


def transpose(x, axes=None):
    return Transpose(axes)(x)


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


if __name__ == "__main__":
    x = Node(np.arange(6.0).reshape(2, 3), name="x")
    b = Node(np.array([1.0, 2.0, 3.0]), name="b")
    y = (x * b + b).sum()
    y.backward()
    print("y =", y.data)
    print("dy/db (summed over the broadcast axis):", b.grad.data)
    print("dy/dx:\n", x.grad.data)

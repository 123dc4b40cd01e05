"""Step 2: a scalar Node and Function, and backward by hand.

A ``Node`` holds a value and, after a backward pass, its gradient. A
``Function`` turns input Nodes into output Nodes and remembers how: its
``forward`` computes on plain numbers, its ``backward`` takes the gradient of
the final result with respect to its output (the *upstream* gradient ``gy``)
and returns the gradient with respect to each input, by the chain rule.

Run it: ``python -m course.exercises.step02_scalar``.
"""
import math
import threading
import weakref


class Config(threading.local):
    """Settings, one copy per thread (a setting changed in one thread does not change another's).

    ``enable_backprop``: whether Functions record the graph (step 4 turns it off with ``no_grad``).
    """

    enable_backprop = True


config = Config()


class Node:
    """A value in the graph: ``data`` (a number), ``grad`` (set by backward), ``creator`` (the Function that made it)."""

    def __init__(self, data, name=None):
        self.data = data
        self.grad = None
        self.creator = None
        self.generation = 0  # how far from the inputs; step 3 explains why the walk needs it
        self.name = name

    def __repr__(self):
        return f"Node({self.data!r})" if self.name is None else f"Node({self.data!r}, name={self.name!r})"

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


class Function:
    """An operation in the graph. Subclasses write ``forward`` (on data) and ``backward`` (the chain rule).

    Calling a Function on Nodes (or numbers, which it wraps) runs ``forward``,
    wraps the results in new Nodes and, when recording, links them: each
    output's ``creator`` is this Function, which keeps its ``inputs`` and
    (weakly, see step 4) its ``outputs``.
    """

    node_type = Node  # the kind of Node this Function makes; step 5's array Functions make array Nodes

    def __call__(self, *inputs):
        inputs = [x if isinstance(x, Node) else self.node_type(x) for x in inputs]
        ys = self.forward(*[x.data for x in inputs])
        if not isinstance(ys, tuple):
            ys = (ys,)
        outputs = [self.node_type(y) for y in ys]
        if config.enable_backprop:
            self.generation = max(x.generation for x in inputs)
            for output in outputs:
                output.creator = self
                output.generation = self.generation + 1
            self.inputs = inputs
            self.outputs = [weakref.ref(output) for output in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__}.backward is not written")


class Add(Function):
    """x0 + x1. Both partial derivatives are 1, so each input gets the upstream gradient unchanged."""

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    """x0 * x1."""

    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        """∂(x0·x1)/∂x0 = x1 and ∂(x0·x1)/∂x1 = x0; return both, each times gy."""
        x0, x1 = self.inputs[0].data, self.inputs[1].data
        # --- exercise 1: Mul.backward, the product rule ---
        return gy * x1, gy * x0
        # --- end of exercise 1 ---


class Neg(Function):
    """-x."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    """x0 - x1."""

    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, -gy


class Div(Function):
    """x0 / x1."""

    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        """∂(x0/x1)/∂x0 = 1/x1 and ∂(x0/x1)/∂x1 = -x0/x1²; return both, each times gy."""
        x0, x1 = self.inputs[0].data, self.inputs[1].data
        # --- exercise 2: Div.backward, the quotient rule ---
        return gy / x1, -gy * x0 / x1**2
        # --- end of exercise 2 ---


class Power(Function):
    """x ** c for a constant exponent c (a number, not a Node: no gradient for it)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x**self.c

    def backward(self, gy):
        """d(x^c)/dx = c·x^(c-1)."""
        x = self.inputs[0].data
        # --- exercise 3: Power.backward, for a constant exponent ---
        return gy * self.c * x ** (self.c - 1)
        # --- end of exercise 3 ---


class Exp(Function):
    """e ** x."""

    def forward(self, x):
        return math.exp(x)

    def backward(self, gy):
        """d(e^x)/dx = e^x, which is the output: read it from ``self.outputs[0]()`` (a weak reference, see step 4)."""
        # --- exercise 4: Exp.backward, reusing the forward's output ---
        y = self.outputs[0]().data
        return gy * y
        # --- end of exercise 4 ---


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


if __name__ == "__main__":
    x = Node(0.5, name="x")
    a = x**2      # a = x²
    y = exp(a)    # y = e^a
    print("y =", y.data)
    # Backward by hand, from the output to the input: dy/dy = 1, then the chain rule one Function at a time.
    y.grad = 1.0
    a.grad = y.creator.backward(y.grad)
    x.grad = a.creator.backward(a.grad)
    print("dy/dx by hand:", x.grad, " by the formula 2x·e^(x²):", 2 * 0.5 * math.exp(0.25))

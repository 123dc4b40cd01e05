"""Step 12: higher-order derivatives.

Since step 5 every backward is written with the engine's own operations
(``gy * x1``, not ``gy * x1.data``). So when the walk runs with recording on,
the backward pass builds a graph like any forward pass, and the gradient it
leaves in ``x.grad`` is a Node that can be differentiated again: second,
third, n-th derivatives, Hessian-vector products, Newton's method.

This step adds:

* ``backward(y, create_graph=False)``: the walk of step 3, with recording on
  only when asked (a plain backward records nothing, as it should: a training
  step never differentiates its gradient);
* ``grad(y, xs, create_graph=False)``: the gradients of ``y`` with respect
  to the given Nodes, returned, with every ``.grad`` left as it was;
* ``sin``, ``cos`` and ``tanh``, whose backward is again written with
  ops, so they differentiate to any order;
* ``hvp``: a Hessian-vector product by two backward passes.

Run it: ``python -m course.exercises.step12_higher_order``.
"""
import numpy as np

from .step03_walk import backward as walk
from .step03_walk import functions_in_order
from .step04_graph import using_config
from .step05_arrays import Function, Node


def backward(y, create_graph=False):
    """Fill ``.grad`` of every Node behind ``y`` with d(sum of y)/d(node): the upstream gradient is ones.

    Two things make this the step 3 walk fit for higher derivatives:

    * Recording: run the walk inside ``using_config("enable_backprop",
      create_graph)``. A plain backward then makes gradients with no
      ``creator`` (nothing kept), and ``create_graph=True`` records the
      backward's own operations, so the gradients are Nodes with a graph.
    * Stale gradients: the walk *adds* into ``.grad``. A graph built by an
      earlier ``create_graph`` backward reaches back into the forward graph,
      whose intermediate Nodes still hold the gradients of that earlier walk.
      Before walking, set ``grad = None`` on every output of every Function
      in ``functions_in_order(y)`` (the Nodes a Function made; leaves keep
      theirs and accumulate, as before). ``function.outputs`` holds weak
      references: call one (``ref()``) to get the Node, and skip it when that
      gives None (the Node was already freed, so no gradient is stored there).

    The walk starts from ``Node(np.ones_like(y.data))``.
    """
    # --- exercise 1: the backward walk with create_graph, and no stale gradients ---
    for function in functions_in_order(y):
        for ref in function.outputs:
            output = ref()
            if output is not None:
                output.grad = None
    with using_config("enable_backprop", create_graph):
        walk(y, Node(np.ones_like(y.data)))
    # --- end of exercise 1 ---


class Sin(Function):
    """sin(x); its derivative cos(x) is computed by ``cos``, a Function, so it is recorded too."""

    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * cos(x)


class Cos(Function):
    """cos(x); its derivative is -sin(x)."""

    def forward(self, x):
        return np.cos(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * -sin(x)


class Tanh(Function):
    """tanh(x)."""

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        """d tanh(x)/dx = 1 - tanh²(x) = 1 - y², with y the output: ``y = self.outputs[0]()`` (a Node).

        Write it with Nodes and operators (``gy * (1 - y * y)``), never on
        ``y.data``: then, under ``create_graph``, the gradient stays connected
        to ``y`` and through it to ``x``, and differentiates again.
        """
        # --- exercise 2: Tanh.backward with engine ops, so that it differentiates again ---
        y = self.outputs[0]()
        return gy * (1 - y * y)
        # --- end of exercise 2 ---


def sin(x):
    return Sin()(x)


def cos(x):
    return Cos()(x)


def tanh(x):
    return Tanh()(x)


def grad(y, xs, create_graph=False):
    """The gradients of ``sum(y)`` with respect to the Nodes ``xs`` (a list), returned as a list; ``.grad`` is left as it was.

    One way: take every Node of the graph (``y``, and the inputs of every
    Function in ``functions_in_order(y)``), save each one's ``.grad`` (a
    dict by ``id``, or a list of pairs) and set it to None; run
    ``backward(y, create_graph)``; read each x's ``.grad`` (None for an x that
    ``y`` does not depend on); put every saved ``.grad`` back. A single Node
    for ``xs`` gives a single gradient rather than a list.
    """
    single = isinstance(xs, Node)
    xs = [xs] if single else list(xs)
    # --- exercise 3: grad, the gradients returned and every .grad restored ---
    nodes = {id(y): y}
    for function in functions_in_order(y):
        for x in function.inputs:
            nodes[id(x)] = x
    for x in xs:
        nodes[id(x)] = x
    saved = [(node, node.grad) for node in nodes.values()]
    for node, _ in saved:
        node.grad = None
    try:
        backward(y, create_graph)
        gradients = [x.grad for x in xs]
    finally:
        for node, old in saved:
            node.grad = old
    return gradients[0] if single else gradients
    # --- end of exercise 3 ---


def hvp(f, xs, vs):
    """The Hessian of the scalar ``f(*xs)`` times the vector ``vs``: one array Node per x, ``H·v`` without forming H.

    Pearlmutter's trick: H·v is the gradient of the scalar ⟨∇f, v⟩ =
    Σᵢ sum(gᵢ · vᵢ). So: the gradients gᵢ of ``f(*xs)`` with
    ``create_graph=True`` (they must be differentiable), the scalar
    ``Σ (g * v).sum()`` with ``vs`` as constant arrays, and its gradient with
    respect to ``xs`` (plain, no graph needed). ``xs`` are Nodes, ``vs``
    arrays of the same shapes. Return a list.
    """
    # --- exercise 4: a Hessian-vector product by two backward passes ---
    gs = grad(f(*xs), xs, create_graph=True)
    inner = (gs[0] * vs[0]).sum()
    for g, v in zip(gs[1:], vs[1:]):
        inner = inner + (g * v).sum()
    return grad(inner, xs)
    # --- end of exercise 4 ---


if __name__ == "__main__":
    x = Node(np.array(0.5), name="x")
    derivatives = [tanh(x)]
    for _ in range(4):
        derivatives.append(grad(derivatives[-1], x, create_graph=True))
    t = np.tanh(0.5)
    closed = [t, 1 - t * t, -2 * t * (1 - t * t), -2 * (1 - t * t) * (1 - 3 * t * t), 8 * t * (1 - t * t) * (2 - 3 * t * t)]
    forms = ["t", "1 - t²", "-2t(1 - t²)", "-2(1 - t²)(1 - 3t²)", "8t(1 - t²)(2 - 3t²)"]
    print("tanh and its first four derivatives at x = 0.5 (t = tanh(0.5)), each next to its closed form:")
    for n, (d, c, form) in enumerate(zip(derivatives, closed, forms)):
        print(f"  d^{n}/dx^{n} tanh(x): {float(d.data):+.6f}   {form} = {c:+.6f}")

    # Newton's method on f(x) = x⁴ - 2x² + x: x ← x - f'(x) / f''(x)
    x = Node(np.array(1.5))
    for step in range(6):
        first = grad(x**4 - 2 * x**2 + x, x, create_graph=True)
        second = grad(first, x)
        x = Node(x.data - first.data / second.data)
        print(f"Newton step {step}: x = {float(x.data):.15f}")

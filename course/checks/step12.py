"""Grading of step 12: higher-order derivatives.

Derivatives are compared with closed forms and with central differences of
the analytic first derivative, computed here in NumPy. Where a check needs
a backward walk of its own (to grade the Functions without the learner's
``backward``), it uses the reference walk of step 3 from the package the
graded file was loaded in.
"""
import importlib

import numpy as np

from course.grading import Wrong, expect, expect_close, expect_gradients


def sibling(step, name):
    """The module ``name`` (e.g. ``step05_arrays``) of the package the graded step was loaded in."""
    return importlib.import_module(step.__name__.rsplit(".", 1)[0] + "." + name)


def own_backward(step, y, create_graph):
    """The check's own create_graph walk: step 3's walk with recording switched, stale intermediate gradients cleared."""
    walk, arrays, graph = sibling(step, "step03_walk"), sibling(step, "step05_arrays"), sibling(step, "step04_graph")
    for function in walk.functions_in_order(y):
        for ref in function.outputs:
            if ref() is not None:
                ref().grad = None
    with graph.using_config("enable_backprop", create_graph):
        walk.backward(y, arrays.Node(np.ones_like(y.data)))


def own_derivative(step, y, x, create_graph=True):
    """d sum(y)/dx by the check's own walk, with x.grad cleared before and after."""
    x.grad = None
    own_backward(step, y, create_graph)
    g, x.grad = x.grad, None
    return g


def is_node(step, value):
    return isinstance(value, sibling(step, "step05_arrays").Node)


def second_difference(f, x, h=1e-4):
    """The second derivative of the elementwise f, by a central second difference."""
    return (f(x + h) - 2 * f(x) + f(x - h)) / h**2


def exercise_1(step, rng):
    Node = sibling(step, "step05_arrays").Node
    config = sibling(step, "step02_scalar").config
    a = rng.uniform(-2, 2, (3, 4))
    w = rng.standard_normal(4)
    # y = Σ sin(x)·x·w: with a plain backward, x.grad must be right and record nothing
    x, wn = Node(a.copy()), Node(w.copy())
    y = (step.sin(x) * x * wn).sum()
    step.backward(y)
    first = x.grad
    expect(first is not None, "backward(y) left x.grad as None: start the walk at y with a Node of ones")
    expect(config.enable_backprop, "after backward(y) recording is still off: restore enable_backprop (use using_config in a with block)")
    expect_close("backward(y) for y = Σ sin(x)·x·w: x.grad", (np.cos(a) * a + np.sin(a)) * w, first)
    expect(getattr(first, "creator", None) is None,
           f"backward(y) without create_graph recorded the backward pass (x.grad.creator is {type(first.creator).__name__}): "
           "run the walk under using_config('enable_backprop', create_graph)")
    # with create_graph: x.grad is a Node with a graph, and its gradient is the second derivative
    x, wn = Node(a.copy()), Node(w.copy())
    y = (step.sin(x) * x * wn).sum()
    step.backward(y, create_graph=True)
    gx = x.grad
    expect(is_node(step, gx) and gx.creator is not None,
           "backward(y, create_graph=True) left x.grad without a creator: the backward pass must be recorded "
           "(enable_backprop on during the walk)")
    expect_close("backward(y, create_graph=True): x.grad", (np.cos(a) * a + np.sin(a)) * w, gx)
    x.grad = None
    wn.grad = None
    step.backward(gx.sum())
    expect(x.grad is not None, "the second backward (of x.grad.sum()) gave x no gradient")
    expect_close("second derivative: backward(x.grad.sum()) after backward(y, create_graph=True), for y = Σ sin(x)·x·w; "
                 "if it is off by the first derivative, the walk added into the gradients the first walk left on "
                 "intermediate Nodes: clear the grad of every Function's outputs before walking",
                 (2 * np.cos(a) - a * np.sin(a)) * w, x.grad)
    expect_close("d/dw of the second walk (x.grad of the first walk depends on w too)", np.sum(np.cos(a) * a + np.sin(a), axis=0), wn.grad)
    # Leaves keep their .grad: two plain backward passes add up on a leaf, as in step 3.
    x = Node(a.copy())
    step.backward(step.sin(x).sum())
    step.backward((x * x).sum())
    expect(x.grad is not None, "two backward passes, of Σ sin(x) then of Σ x², left x.grad None")
    try:
        expect_close("x.grad after backward(Σ sin(x)) then backward(Σ x²) (the two gradients add up on the leaf x)",
                     np.cos(a) + 2 * a, x.grad)
    except Wrong as wrong:
        only_second = np.allclose(np.asarray(x.grad.data, dtype=np.float64), 2 * a)
        raise Wrong(f"{wrong}" + ("; x.grad holds only the second pass's 2x: backward cleared the leaf's .grad. Clear .grad only "
                                  "on the Nodes a Function made (its outputs); leaves keep theirs so that passes accumulate"
                                  if only_second else "")) from None


def exercise_2(step, rng):
    Node = sibling(step, "step05_arrays").Node
    a = rng.uniform(-2, 2, (2, 5))
    upstream = rng.standard_normal((2, 5))

    def d1(v):
        return 1 - np.tanh(v) ** 2

    x = Node(a.copy())
    y = step.tanh(x)
    expect_close("tanh(x) forward", np.tanh(a), y)
    g1 = own_derivative(step, y * upstream, x)
    expect(is_node(step, g1), f"Tanh.backward returned {type(g1).__name__}, not a Node: use the output Node y = self.outputs[0]() and operators")
    expect_gradients("tanh(x) first derivative", np.tanh, [a], upstream, [g1])
    expect(g1.creator is not None, "Tanh.backward's result has no creator under create_graph: write it with Nodes, not .data")
    g2 = own_derivative(step, g1, x)
    expect(g2 is not None and np.any(data_abs(g2) > 0),
           "the second derivative of tanh came out zero: Tanh.backward must use the output Node y (y * y), not y.data, "
           "so that the gradient stays connected to x")
    expected2 = upstream * (d1(a + 1e-6) - d1(a - 1e-6)) / 2e-6
    expect_close("second derivative of tanh (vs central differences of 1 - tanh²)", expected2, g2, rtol=1e-5, atol=1e-7)
    g3 = own_derivative(step, g2, x)
    expected3 = upstream * second_difference(d1, a)
    expect_close("third derivative of tanh (vs a central second difference of 1 - tanh²)", expected3, g3, rtol=1e-4, atol=1e-5)


def data_abs(node):
    return np.abs(np.asarray(node.data, dtype=np.float64))


def exercise_3(step, rng):
    Node = sibling(step, "step05_arrays").Node
    a, w = rng.uniform(-2, 2, (3, 4)), rng.standard_normal(4)
    upstream = rng.standard_normal((3, 4))

    def f(a_, w_):
        return np.tanh(a_ * w_) * np.cos(a_)

    x, wn = Node(a.copy(), name="x"), Node(w.copy(), name="w")
    old = Node(np.full(4, 7.0))
    wn.grad = old
    got = step.grad(step.tanh(x * wn) * step.cos(x) * upstream, [x, wn])
    expect(isinstance(got, (list, tuple)) and len(got) == 2, f"grad(y, [x, w]) should return a list of 2 gradients, got {got!r:.80}")
    expect_gradients("grad(y, [x, w]) for y = tanh(x·w)·cos(x) (x (3, 4), w (4,))", f, [a, w], upstream, list(got), names=["x", "w"])
    expect(x.grad is None, "grad(y, [x, w]) left x.grad set: restore every .grad it touched (x.grad was None)")
    expect(wn.grad is old, "grad(y, [x, w]) changed w.grad: it was set before the call and must be the same Node after")
    # twice in a row: the same answer (nothing accumulated from the first call)
    again = step.grad(step.tanh(x * wn) * step.cos(x) * upstream, [x, wn])
    expect_close("grad called a second time, gradient of x (it should not add to anything left by the first call)", got[0].data, again[0])
    # create_graph: the returned gradient differentiates again
    g = step.grad(step.sin(x), [x], create_graph=True)[0]
    expect(is_node(step, g) and g.creator is not None, "grad(y, [x], create_graph=True) returned a gradient with no graph (creator None)")
    h = step.grad(g * upstream, [x])[0]
    expect_close("grad(grad(sin(x), [x], create_graph=True)[0] * u, [x]): the second derivative -sin(x)·u", -np.sin(a) * upstream, h)
    expect(x.grad is None, "grad(..., create_graph=True) left x.grad set")
    plain = step.grad(step.sin(x), [x])[0]
    expect(getattr(plain, "creator", None) is None, "grad(y, [x]) without create_graph recorded a graph")
    # y depends on a leaf not in xs (w) and on intermediate Nodes: their .grad must be left as they were too.
    x, wn = Node(a.copy(), name="x"), Node(w.copy(), name="w")
    a_node = step.sin(x)
    b_node = a_node * wn
    y = (b_node * upstream).sum()
    kept = Node(np.zeros((3, 4)))
    b_node.grad = kept  # a gradient left by some earlier walk: grad must put it back
    got = step.grad(y, [x])
    expect(isinstance(got, (list, tuple)) and len(got) == 1, f"grad(y, [x]) should return a list of 1 gradient, got {got!r:.80}")
    expect_close("grad(y, [x]) for y = Σ sin(x)·w·u", np.cos(a) * w * upstream, got[0])
    expect(b_node.grad is kept, "grad(y, [x]) for y = Σ sin(x)·w·u changed the .grad of b = a·w (an intermediate Node whose "
                                "grad was set before the call): save every Node's .grad before the walk and put each back after")
    for name, node in [("x", x), ("w (a leaf y depends on, not in xs)", wn), ("a = sin(x) (an intermediate Node)", a_node), ("y", y)]:
        expect(node.grad is None, f"grad(y, [x]) for y = Σ sin(x)·w·u left the .grad of {name} set (it was None): save and "
                                  "restore the .grad of every Node of the graph (y and the inputs of every Function in "
                                  "functions_in_order(y)), not only of xs")


def exercise_4(step, rng):
    Node = sibling(step, "step05_arrays").Node
    a, w = rng.uniform(-1.5, 1.5, (3, 4)), rng.standard_normal(4)
    va, vw = rng.standard_normal((3, 4)), rng.standard_normal(4)

    def gradient(a_, w_):
        """∇ of f = Σ tanh(w·x)·cos(x), by hand."""
        t = np.tanh(w_ * a_)
        gx = w_ * (1 - t * t) * np.cos(a_) - t * np.sin(a_)
        gw = np.sum(a_ * (1 - t * t) * np.cos(a_), axis=0)
        return gx, gw

    def f(x, wn):
        return (step.tanh(wn * x) * step.cos(x)).sum()

    got = step.hvp(f, [Node(a.copy()), Node(w.copy())], [va, vw])
    expect(isinstance(got, (list, tuple)) and len(got) == 2, f"hvp(f, [x, w], [vx, vw]) should return 2 arrays, got {got!r:.80}")
    for name, g in zip(["x", "w"], got):
        expect(g is not None, f"hvp gave None for {name}: ⟨∇f, v⟩ did not depend on {name}; take the gradients of f with "
                              "create_graph=True, so that their graph leads back to the inputs")
    eps = 1e-5
    plus, minus = gradient(a + eps * va, w + eps * vw), gradient(a - eps * va, w - eps * vw)
    for name, g, p, m in zip(["x", "w"], got, plus, minus):
        expect_close(f"H·v for f = Σ tanh(w·x)·cos(x), part of {name} (vs (∇f(θ + εv) - ∇f(θ - εv)) / 2ε)", (p - m) / (2 * eps), g, rtol=1e-5, atol=1e-7)
    # the Hessian is symmetric: ⟨u, H v⟩ = ⟨v, H u⟩
    ua, uw = rng.standard_normal((3, 4)), rng.standard_normal(4)
    hu = step.hvp(f, [Node(a.copy()), Node(w.copy())], [ua, uw])
    left = np.sum(ua * got[0].data) + np.sum(uw * got[1].data)
    right = np.sum(va * hu[0].data) + np.sum(vw * hu[1].data)
    if not np.isclose(left, right, rtol=1e-8):
        raise Wrong(f"hvp: ⟨u, H·v⟩ = {left:.8g} but ⟨v, H·u⟩ = {right:.8g}; a Hessian is symmetric")

"""Check a function's backward (and its backward's backward) against central finite differences.

For an upstream gradient g (random, so that errors cannot cancel out the way
they can against a vector of ones), the analytic gradient of Σ f(x)·g with
respect to each input element must match

    (Σ f(x + ε·eᵢ)·g - Σ f(x - ε·eᵢ)·g) / 2ε

``gradgradcheck`` does the same one level up: the first derivative ∇ₓ(Σ f·g),
computed by backward, is itself a function of x and g; with a second random
vector h, the analytic gradient of Σ ∇ₓ(Σ f·g)·h (from ``create_graph=True``)
must match central differences of it. Everything runs in float64, where
ε = 1e-6 leaves an error near 1e-10 (1e-8 for second derivatives).
"""
import numpy as np

from . import backend
from .config import no_grad, using_config
from .core import Node, grad


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0):
    """Raise AssertionError unless ``fn``'s analytic gradients match finite differences.

    Both calling forms work: node's ``gradcheck(fn, x, y)`` and PyTorch's
    ``gradcheck(fn, (x, y))``, a tuple or list of inputs (one that holds at
    least one Node or array; a list of plain numbers is one input array).
    Either way ``fn`` is called as ``fn(x, y)`` and each input is checked.

    Args:
        fn: takes Nodes, returns a Node (or a tuple of Nodes) built with node ops.
        *inputs: arrays or Nodes, or one tuple/list of them. Float inputs are
            copied to float64 and checked, except Nodes made with
            ``requires_grad=False``; integer inputs (labels) are passed through unchanged.
        eps: the finite-difference step.
        atol, rtol: tolerance, as in ``numpy.allclose``.
        seed: seeds the random upstream gradient.

    Returns:
        True when every gradient matches.

    Raises:
        AssertionError: naming the input, the element index and both values.
    """
    nodes = [_float64_copy(x) for x in _unpacked(inputs)]
    checked = [i for i, x in enumerate(nodes) if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no float input requires a gradient")
    xp = backend.get_array_module(*[x.value for x in nodes])
    rng = np.random.default_rng(seed)

    with no_grad():
        outs = _as_tuple(fn(*nodes))
    upstream = [xp.asarray(rng.standard_normal(o.shape)) for o in outs]

    def objective():
        with no_grad():
            return sum(float((o.value * g).sum()) for o, g in zip(_as_tuple(fn(*nodes)), upstream))

    # Finite differences first: a function with side effects in training mode
    # (a center update) must see the same state in both passes.
    numeric = {i: _central_differences(objective, nodes[i], eps) for i in checked}

    with using_config("enable_backprop", True):
        outs = _as_tuple(fn(*nodes))
        if len(outs) == 1:
            outs[0].backward(upstream[0])
        else:
            sum((o * Node(g, requires_grad=False)).sum() for o, g in zip(outs, upstream)).backward()

    for i in checked:
        got = nodes[i].grad
        if got is None:
            got = np.zeros(nodes[i].shape)
        if got.dtype != np.float64:
            raise AssertionError(f"gradcheck: gradient of input {i} has dtype {got.dtype}, expected float64")
        _compare("gradcheck", f"input {i} (shape {nodes[i].shape})", backend.asnumpy(got), numeric[i], atol, rtol)
    return True


def gradgradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Raise AssertionError unless ``fn``'s second derivatives match finite differences of its first.

    With random upstream gradients g (for the outputs) and h (for each checked
    input's gradient), the function checked is

        s(x, g) = Σᵢ ⟨∇_{xᵢ} Σ f(x)·g, hᵢ⟩

    computed with the ordinary backward; its gradient with respect to every
    input element and every element of g comes from ``create_graph=True`` and
    a second backward. Checking the derivative in g too catches a
    ``backward`` that treats the upstream gradient as a constant (reads its
    array instead of using it as it was given).

    Args:
        fn: takes Nodes, returns a Node (or a tuple of Nodes) built with node ops.
        *inputs: arrays or Nodes, or one tuple/list of them (PyTorch's form), as for ``gradcheck``.
        eps: the finite-difference step.
        atol, rtol: tolerance, as in ``numpy.allclose``.
        seed: seeds g and h.

    Returns:
        True when every second derivative matches.

    Raises:
        AssertionError: naming the input (or upstream gradient), the element
            index and both values.
        node.GraphError: a Function in ``fn`` cannot be differentiated twice
            (the message names it).
    """
    nodes = [_float64_copy(x) for x in _unpacked(inputs)]
    checked = [nodes[i] for i, x in enumerate(nodes) if x.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no float input requires a gradient")
    xp = backend.get_array_module(*[x.value for x in nodes])
    rng = np.random.default_rng(seed)
    with no_grad():
        outs = _as_tuple(fn(*nodes))
    upstream = [Node(xp.asarray(rng.standard_normal(o.shape)), requires_grad=True) for o in outs]
    weights = [xp.asarray(rng.standard_normal(x.shape)) for x in checked]

    def first_derivatives(create_graph):
        with using_config("enable_backprop", True):
            return grad(_as_tuple(fn(*nodes)), checked, upstream, create_graph=create_graph, allow_unused=True)

    def objective():
        return sum(float((g * h).sum()) for g, h in zip(first_derivatives(False), weights) if g is not None)

    names = [f"input {i}" for i, x in enumerate(nodes) if x.requires_grad] + [f"upstream gradient {j}" for j in range(len(upstream))]
    variables = checked + upstream
    numeric = [_central_differences(objective, v, eps) for v in variables]

    with using_config("enable_backprop", True):
        terms = [(g * Node(h, requires_grad=False)).sum() for g, h in zip(first_derivatives(True), weights) if g is not None and g.requires_grad]
        analytic = grad(sum(terms[1:], terms[0]), variables, allow_unused=True) if terms else [None] * len(variables)
    for name, v, got, expected in zip(names, variables, analytic, numeric):
        got = np.zeros(v.shape) if got is None else backend.asnumpy(got)
        _compare("gradgradcheck", f"{name} (shape {v.shape})", got, expected, atol, rtol)
    return True


def _central_differences(objective, node, eps):
    """d objective / d node.value, element by element (the value is perturbed in place and restored)."""
    flat = node.value.reshape(-1)  # a view: the values are contiguous copies
    result = np.zeros(flat.size)
    for k in range(flat.size):
        orig = float(flat[k])
        flat[k] = orig + eps
        plus = objective()
        flat[k] = orig - eps
        minus = objective()
        flat[k] = orig
        result[k] = (plus - minus) / (2 * eps)
    return result.reshape(node.shape)


def _compare(checker, what, analytic, numeric, atol, rtol):
    bad = ~np.isclose(analytic, numeric, atol=atol, rtol=rtol)
    if bad.any():
        index = tuple(int(j) for j in np.argwhere(bad)[0])
        raise AssertionError(
            f"{checker}: {what}, index {index}: analytic {analytic[index]:.10g} vs numeric {numeric[index]:.10g} "
            f"({int(bad.sum())} of {bad.size} elements differ)"
        )


def _unpacked(inputs):
    """``inputs``, or the items of PyTorch's single tuple/list of inputs: ``gradcheck(fn, (x, y))``."""
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
        items = inputs[0]
        if any(isinstance(x, Node) or backend.is_array(x) for x in items):
            return list(items)
    return list(inputs)


def _float64_copy(x):
    if isinstance(x, Node):
        value, requires_grad = x.value, x.requires_grad
    else:
        value, requires_grad = backend.as_array(x, backend.get_array_module(x)), True
    if value.dtype.kind != "f":
        return Node(value, requires_grad=False)
    return Node(value.astype("float64", copy=True), requires_grad=requires_grad)


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)

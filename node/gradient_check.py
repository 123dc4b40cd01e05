"""Check a function's backward against central finite differences.

For an upstream gradient g (random, so that errors cannot cancel out the way
they can against a vector of ones), the analytic gradient of Σ f(x)·g with
respect to each input element must match

    (Σ f(x + ε·eᵢ)·g - Σ f(x - ε·eᵢ)·g) / 2ε

Everything runs in float64, where ε = 1e-6 leaves an error near 1e-10.
"""
import numpy as np

from . import backend
from .config import no_grad, using_config
from .core import Node


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0):
    """Raise AssertionError unless ``fn``'s analytic gradients match finite differences.

    Args:
        fn: takes Nodes, returns a Node (or a tuple of Nodes) built with node ops.
        *inputs: arrays or Nodes. Float inputs are copied to float64 and checked,
            except Nodes made with ``requires_grad=False``; integer inputs
            (labels) are passed through unchanged.
        eps: the finite-difference step.
        atol, rtol: tolerance, as in ``numpy.allclose``.
        seed: seeds the random upstream gradient.

    Returns:
        True when every gradient matches.

    Raises:
        AssertionError: naming the input, the element index and both values.
    """
    nodes = [_float64_copy(x) for x in inputs]
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
    numeric = {}
    for i in checked:
        flat = nodes[i].value.reshape(-1)  # a view: the copy in _float64_copy is contiguous
        grad = np.zeros(flat.size)
        for k in range(flat.size):
            orig = float(flat[k])
            flat[k] = orig + eps
            plus = objective()
            flat[k] = orig - eps
            minus = objective()
            flat[k] = orig
            grad[k] = (plus - minus) / (2 * eps)
        numeric[i] = grad.reshape(nodes[i].shape)

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
        analytic = backend.asnumpy(got)
        bad = ~np.isclose(analytic, numeric[i], atol=atol, rtol=rtol)
        if bad.any():
            index = tuple(int(j) for j in np.argwhere(bad)[0])
            raise AssertionError(
                f"gradcheck: input {i} (shape {nodes[i].shape}), index {index}: "
                f"analytic {analytic[index]:.10g} vs numeric {numeric[i][index]:.10g} "
                f"({int(bad.sum())} of {bad.size} elements differ)"
            )
    return True


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

"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, as ``torch.nn.utils``.

Both run between ``loss.backward()`` and ``optimizer.step()``. They replace
each parameter's ``.grad`` with a clipped copy rather than writing into it: a
gradient array may be shared with other Nodes (see ``Node.grad``), so node
treats it as read-only.

``clip_grad_norm_`` never asks the device for a number: the total norm, the
scale and the scaled gradients are all computed where the gradients live, so
on a GPU it queues its work and returns at once (the total norm comes back as
a 0-d Node; ``float()`` of it is the one place that waits).
"""
import math

from .. import backend
from ..core import Node, replayable
from ..validation import flag, real


def _with_gradients(owner, params):
    """The Nodes of ``params`` (a Node or an iterable of Nodes) that have a gradient."""
    params = [params] if isinstance(params, Node) else params
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{owner}: params must be a Node or an iterable of Nodes (model.parameters()), got {type(params).__name__}")
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Node):
            raise TypeError(f"{owner}: params[{i}] must be a Node (a Parameter), got {type(p).__name__} {p!r:.60}")
    return [p for p in params if p.grad is not None]


def _norm_type(value):
    if isinstance(value, str) and value.lower() == "inf" or (isinstance(value, float) and value == math.inf):
        return math.inf
    return real("clip_grad_norm_", "norm_type", value, minimum=0, open_minimum=True)


def _norm(xp, g, p):
    """The p-norm of all elements of the array ``g``, as a 0-d array on g's device."""
    a = xp.abs(g)
    if p == math.inf:
        return a.max() if a.size else xp.zeros((), a.dtype)
    if p == 2:
        return xp.sqrt((a * a).sum())
    return (a**p).sum() ** (1 / p)


@replayable
def clip_grad_norm_(params, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of ``params`` together so that their total norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the total norm is the ``norm_type``-norm
    of all gradients taken as one vector (the norm of the per-parameter norms),
    and every gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``::

        loss.backward()
        node.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()

    Parameters without a gradient are skipped. On a GPU nothing waits for the
    device (the scale is computed there).

    Args:
        params: a Node or an iterable of Nodes (``model.parameters()``).
        max_norm: the largest total norm allowed, a finite number >= 0.
        norm_type: p > 0, or ``float('inf')`` / ``'inf'`` for the largest absolute value.
        error_if_nonfinite: raise if the total norm is NaN or infinite (this
            one check reads the norm back, so it waits for the device).

    Returns:
        Node: the total norm before clipping, 0-d, without gradient (0 when no
        parameter has a gradient).

    Raises:
        RuntimeError: ``error_if_nonfinite`` and the total norm is NaN or infinite.
    """
    params = _with_gradients("clip_grad_norm_", params)
    max_norm = real("clip_grad_norm_", "max_norm", max_norm, minimum=0)
    p = _norm_type(norm_type)
    error_if_nonfinite = flag("clip_grad_norm_", "error_if_nonfinite", error_if_nonfinite)
    if not params:
        return Node(0.0, requires_grad=False)
    grads = [getattr(q.grad, "value", q.grad) for q in params]
    xp = backend.get_array_module(*grads)
    total = _norm(xp, xp.stack([_norm(xp, g, p) for g in grads]), p)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, "
            "so they cannot be clipped; pass error_if_nonfinite=False to scale them anyway"
        )
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for q, g in zip(params, grads):
        factor = scale.astype(g.dtype)
        q.grad = q.grad * Node(factor, requires_grad=False) if isinstance(q.grad, Node) else g * factor
    return Node(total, requires_grad=False)


@replayable
def clip_grad_value_(params, clip_value):
    """Clip every gradient element of ``params`` into [-clip_value, clip_value], as ``torch.nn.utils.clip_grad_value_``.

    Args:
        params: a Node or an iterable of Nodes (``model.parameters()``).
        clip_value: a finite number >= 0.
    """
    params = _with_gradients("clip_grad_value_", params)
    clip_value = real("clip_grad_value_", "clip_value", clip_value, minimum=0)
    for q in params:
        g = q.grad
        q.grad = g.clip(-clip_value, clip_value) if isinstance(g, Node) else backend.get_array_module(g).clip(g, -clip_value, clip_value)

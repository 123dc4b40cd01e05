"""Comparisons and selection: == != < <= > >=, isnan/isinf/isfinite, where, masked_fill, maximum, minimum.

A comparison gives a boolean Node that does not require grad, as in PyTorch:
a boolean is piecewise constant in its inputs, so its derivative is zero
wherever it exists, and nothing is recorded. ``Node``'s operators ``==``,
``<``, ... call these functions; a Node is still hashed by identity, so it
stays usable as a dict key and in sets (``x in some_list`` compares values,
as it does for tensors: look Nodes up by identity, ``any(x is y for y in ...)``).

The selection ops (``where``, ``masked_fill``, ``maximum``, ``minimum``) pick,
element by element, one of their inputs. The gradient goes to the input that
was picked, through a mask computed from the values: a constant, so the same
backward, recorded under ``create_graph``, differentiates again (to zero
wherever the choice does not change). At a tie ``maximum`` and ``minimum``
give each input half of the gradient, as PyTorch does.
"""
from ..backend import broadcast_shapes, check_same_device, get_array_module, is_array
from ..core import Function, Node, as_node, replayable
from .arithmetic import sum_to
from .math import astype


def _is_data(x):
    """True for a Node or an array (which carry a dtype); False for Python numbers and lists."""
    return isinstance(x, Node) or is_array(x)


def _operands(op, a, b):
    """Two Nodes for a binary op: a Python number takes the other operand's dtype; an int with a float, the float's.

    The shapes must broadcast together (ValueError naming ``op`` otherwise).
    """
    a_node = as_node(a, like=b if _is_data(b) else None)
    b_node = as_node(b, like=a_node)
    if not _is_data(a) and a_node.dtype.kind not in "fc" and b_node.dtype.kind in "fc":
        a_node = as_node(a, like=b_node)  # where(c, 0, 1.5): both float, as in PyTorch
    _broadcast(op, a_node, b_node)
    return a_node, b_node


def _broadcast(op, *nodes):
    """The shape of the result, or ValueError naming ``op`` and the shapes that do not broadcast."""
    try:
        return broadcast_shapes(*(n.shape for n in nodes))
    except ValueError:
        shapes = " and ".join(str(n.shape) for n in nodes)
        raise ValueError(f"{op}: shapes {shapes} cannot be broadcast together") from None


def _refuse_complex(op, *nodes):
    for n in nodes:
        if n.dtype.kind == "c":
            raise TypeError(f"{op}: complex numbers have no order, got dtype {n.dtype}; compare .real or abs() instead")


@replayable
def elementwise_test(name, *operands):
    """``xp.<name>`` of the operands (Nodes, arrays or numbers; a comparison, isnan, ...): an array, no gradient.

    ``@replayable``, so ``node.compile`` records the test and a replay runs it
    on the new values instead of keeping the first answer (a Node's array is
    read when it runs: a parameter's current one).
    """
    values = [getattr(v, "value", v) for v in operands]
    xp = get_array_module(*values)
    return xp.asarray(getattr(xp, name)(*values))


def _constant(op, name, *nodes):
    """``xp.<name>`` of the nodes' values as a Node without gradient (DeviceError naming ``op`` for mixed devices)."""
    values = [n.value for n in nodes]
    try:
        return as_node(elementwise_test(name, *nodes))
    except (TypeError, ValueError):
        check_same_device(op, **{f"input {i}": v for i, v in enumerate(values)})
        raise


def _comparison(op, name, a, b, ordered=True):
    a, b = _operands(op, a, b)
    if ordered:
        _refuse_complex(op, a, b)
    return _constant(op, name, a, b)


def eq(a, b):
    """``a == b`` elementwise, broadcasting: a boolean Node without gradient."""
    return _comparison("eq", "equal", a, b, ordered=False)


def ne(a, b):
    """``a != b`` elementwise, broadcasting: a boolean Node without gradient."""
    return _comparison("ne", "not_equal", a, b, ordered=False)


def lt(a, b):
    """``a < b`` elementwise, broadcasting: a boolean Node without gradient (real inputs only)."""
    return _comparison("lt", "less", a, b)


def le(a, b):
    """``a <= b`` elementwise, broadcasting: a boolean Node without gradient (real inputs only)."""
    return _comparison("le", "less_equal", a, b)


def gt(a, b):
    """``a > b`` elementwise, broadcasting: a boolean Node without gradient (real inputs only)."""
    return _comparison("gt", "greater", a, b)


def ge(a, b):
    """``a >= b`` elementwise, broadcasting: a boolean Node without gradient (real inputs only)."""
    return _comparison("ge", "greater_equal", a, b)


def isnan(x):
    """True where ``x`` is NaN: a boolean Node without gradient."""
    return _constant("isnan", "isnan", as_node(x))


def isinf(x):
    """True where ``x`` is +inf or -inf: a boolean Node without gradient."""
    return _constant("isinf", "isinf", as_node(x))


def isfinite(x):
    """True where ``x`` is neither NaN nor infinite: a boolean Node without gradient."""
    return _constant("isfinite", "isfinite", as_node(x))


class Where(Function):
    """x where ``condition`` (a constant boolean array) holds, else y; broadcasting all three.

    gx = gy where the condition holds (0 elsewhere), gy_y = gy where it does
    not, each summed back to its input's shape.
    """

    differentiable_backward = True

    def __init__(self, condition):
        self.condition = condition

    def forward(self, x, y):
        return get_array_module(x, y).where(self.condition, x, y)

    def backward(self, gy):
        x, y = self.inputs
        picked = self.condition.astype(gy.dtype)
        gx = sum_to(gy * picked, x.shape) if x.requires_grad else None
        gyy = sum_to(gy * (1 - picked), y.shape) if y.requires_grad else None
        return gx, gyy


def _condition(op, condition, name="condition"):
    """A boolean array from a boolean Node, array or list; TypeError for anything else."""
    value = as_node(condition).value
    if value.dtype.kind != "b":
        raise TypeError(
            f"{op}: {name} must be boolean (e.g. x > 0), got dtype {value.dtype}; compare it first, e.g. {name} != 0"
        )
    return value


def where(condition, x, y):
    """``x`` where ``condition`` is True, else ``y``, broadcasting all three (``torch.where``).

    ``condition`` is a boolean Node, array or list; ``x`` and ``y`` are Nodes,
    arrays or numbers (a number takes the other's dtype). The gradient goes to
    whichever of ``x`` and ``y`` was picked, element by element.
    """
    condition = _condition("where", condition)
    x, y = _operands("where", x, y)
    try:
        broadcast_shapes(condition.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"where: condition of shape {condition.shape} does not broadcast with x {x.shape} and y {y.shape}") from None
    check_same_device("where", condition=condition, x=x, y=y)
    return Where(condition)(x, y)


def masked_fill(x, mask, value):
    """``x`` with ``value`` written where ``mask`` is True (``tensor.masked_fill``); the result has x's shape.

    ``mask`` is boolean and must broadcast to x's shape. ``value`` is a number
    or a one-element Node, converted to x's dtype (a Node value requiring grad
    receives the sum of the gradient at the filled places). ``x`` gets the
    gradient where ``mask`` is False.
    """
    x = as_node(x)
    mask = _condition("masked_fill", mask, "mask")
    try:
        fits = broadcast_shapes(mask.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to x's shape {x.shape}")
    if isinstance(value, (bool, str, bytes)) or not (isinstance(value, (int, float, complex)) or _is_data(value)):
        raise TypeError(f"masked_fill: value must be a number or a one-element Node, got {type(value).__name__} {value!r:.40}")
    value = as_node(value, like=x)
    if value.size != 1:
        raise ValueError(f"masked_fill: value must have one element, got shape {value.shape}")
    if value.dtype.kind == "c" and x.dtype.kind != "c":
        raise TypeError(f"masked_fill: a complex value cannot be written into x of dtype {x.dtype}")
    value = astype(value.reshape(()), x.dtype)
    check_same_device("masked_fill", x=x, mask=mask, value=value)
    return Where(mask)(value, x)


class Maximum(Function):
    """max(a, b) (or min) elementwise. The gradient goes to the input picked; at a tie, half to each.

    With constant masks: ga = gy · (1 - [a loses] - ½[a = b]), and gb the same
    with the roles swapped (PyTorch's rule; a NaN, which neither wins nor ties,
    passes the whole gradient to both).
    """

    differentiable_backward = True
    real_only = True

    def __init__(self, use_min=False):
        self.use_min = use_min

    def forward(self, a, b):
        xp = get_array_module(a, b)
        return xp.minimum(a, b) if self.use_min else xp.maximum(a, b)

    def share(self, loses, ties, dtype):
        return (1 - loses.astype(dtype)) - ties.astype(dtype) * 0.5

    def backward(self, gy):
        a, b = self.inputs
        av, bv = a.value, b.value
        a_loses, b_loses = (av > bv, av < bv) if self.use_min else (av < bv, av > bv)
        ties = av == bv
        ga = sum_to(gy * self.share(a_loses, ties, gy.dtype), a.shape) if a.requires_grad else None
        gb = sum_to(gy * self.share(b_loses, ties, gy.dtype), b.shape) if b.requires_grad else None
        return ga, gb


def maximum(a, b):
    """The larger of ``a`` and ``b`` elementwise, broadcasting; at a tie each gets half the gradient (as in PyTorch)."""
    return Maximum()(*_operands("maximum", a, b))


def minimum(a, b):
    """The smaller of ``a`` and ``b`` elementwise, broadcasting; at a tie each gets half the gradient (as in PyTorch)."""
    return Maximum(use_min=True)(*_operands("minimum", a, b))

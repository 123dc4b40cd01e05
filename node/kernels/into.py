"""Forwards that write their result into a given array, for the buffers ``node.compile`` plans.

Eager node allocates every result afresh and frees it when the graph goes. A
replayed step (``node.capture``) runs the same operations on arrays of the same
shapes every time, so it can keep each result's array from one replay to the
next and have the operation write into it (``out=``), as XLA assigns buffers
once when it compiles a step. This module says, for the reference forwards that
are one array call, how to make that call with ``out=``:

    Add.forward(a, b)  is  a + b       into(Add)(out, a, b)  is  xp.add(a, b, out=out)

Each form computes exactly what the forward it stands for computes (the same
ufunc or BLAS call on the same inputs), so a replay with planned buffers is
bit-identical to one without. ``node.capture`` uses a form only where the
Function ran its reference forward (no fast kernel chose it) and where the
result does not leave the step (see ``Replay.plan_buffers``).
"""
from ..backend import get_array_module
from ..functions.activation import RectifiedLinear
from ..functions.arithmetic import Add, Div, MatMul, Mul, Neg, Sub
from ..functions.connection import Affine
from ..functions.math import Exp, Log, Sqrt

__all__ = ["into"]


def _ufunc(name):
    def write(f, out, *values):
        getattr(get_array_module(out), name)(*values, out=out)

    write.__name__ = f"{name}_into"
    return write


def relu_into(f, out, x):
    get_array_module(out).maximum(x, 0, out=out)


def matmul_into(f, out, a, b):
    get_array_module(out).matmul(a, b, out=out)


def affine_into(f, out, x, W, b=None):
    get_array_module(out).matmul(x, W, out=out)
    if b is not None:
        out += b


FORMS = {
    Add: _ufunc("add"),
    Sub: _ufunc("subtract"),
    Mul: _ufunc("multiply"),
    Div: _ufunc("divide"),
    Neg: _ufunc("negative"),
    Exp: _ufunc("exp"),
    Log: _ufunc("log"),
    Sqrt: _ufunc("sqrt"),
    RectifiedLinear: relu_into,
    MatMul: matmul_into,
    Affine: affine_into,
}


def into(function_class):
    """The form of ``function_class``'s reference forward that writes into ``out`` — ``form(f, out, *values)`` — or None."""
    return FORMS.get(function_class)

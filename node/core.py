"""Node and Function: recording the graph, and walking it backwards.

A ``Node`` wraps an array (``.value``) and, after ``backward()``, its gradient
(``.grad``). A ``Function`` turns input Nodes into output Nodes; while it does,
it remembers its inputs (strongly) and its outputs (weakly), and each output
remembers the function that created it. That chain is the graph:

    x ──> Mul ──> y ──> Sum ──> loss          (y.creator is Mul, Mul.inputs = [x, ...])

``loss.backward()`` visits the functions from the loss back to the leaves, in
an order where every function runs after all the functions that used its
outputs (see ``_run_backward``), and adds each input's gradient into ``.grad``.
"""
import functools
import heapq
import itertools
import linecache
import os
import sys
import weakref

import numpy as np

from . import backend
from .config import Config, using_config
from .dispatch import choose_kernel
from .threads import blas_threads


class GraphError(RuntimeError):
    """backward() cannot run: the graph was freed, an input was modified in place, or there is nothing to differentiate."""


class AnomalyError(FloatingPointError):
    """Under ``node.detect_anomaly()``: a Function produced NaN or infinity in its forward or backward pass."""


class Node:
    """An array in the graph, with its gradient and the function that made it.

    Args:
        value: an array (NumPy or CuPy), a Python number or a list of numbers.
            Python floats get the default float dtype (float32), Python ints
            int64 and bools bool (as ``torch.tensor`` does, so ``Node(1)`` can
            index); arrays keep their dtype. An ``np.matrix`` becomes a plain
            array. Anything that is not numbers (None, strings, bytes, dicts,
            generators, datetimes, object or structured arrays, masked arrays)
            raises TypeError naming its type, and a ragged list ValueError.
        requires_grad: whether ``backward()`` should compute a gradient for this
            Node. By default (None) float and complex arrays do and integer arrays
            do not; True for an integer array raises TypeError. Data batches from
            ``DataLoader`` are made with ``requires_grad=False``.
        name: an optional label, shown in ``repr`` and in ``node.to_dot``.

    Attributes:
        value: the array.
        grad: the gradient of the last ``backward()`` (same shape and dtype as
            ``value``), or None. Only leaves (Nodes no function created) keep it.
            An array, or a Node with a graph after ``backward(create_graph=True)``.
            Treat it as read-only: it may be shared with other Nodes.
        creator: the Function that produced this Node, or None for a leaf.
        version: how many times the value was changed in place through node
            (optimizer steps, ``load_state_dict``, ``modified_in_place()``).
            A Function remembers its inputs' versions, and ``backward()``
            refuses to use an input whose version has changed since.
    """

    __slots__ = ("value", "grad", "creator", "generation", "requires_grad", "name", "version", "_hooks", "__weakref__")
    # Make `ndarray + Node` call Node.__radd__ instead of a NumPy ufunc over objects.
    __array_ufunc__ = None
    __array_priority__ = 200

    def __init__(self, value, requires_grad=None, name=None):
        if isinstance(value, Node):
            value = value.value
        # Arrays stay on their device; Python data goes to the active backend. Either way it must hold numbers.
        value = backend.as_array(value, backend.get_array_module(value) if backend.is_array(value) else None, what="Node: value")
        differentiable = value.dtype.kind in "fc"
        if requires_grad and not differentiable:
            raise TypeError(
                f"only floating-point and complex Nodes can require gradients, got dtype {value.dtype}"
                f"{f' for {name!r}' if name else ''}: pass requires_grad=False, or convert it with .astype(float)"
            )
        self._set_fields(value, differentiable if requires_grad is None else bool(requires_grad), name)

    def _set_fields(self, value, requires_grad, name=None):
        """Give every field listed in ``__slots__`` its starting value (the one place that does)."""
        self.value = value
        self.grad = None
        self.creator = None
        self.generation = 0
        self.requires_grad = requires_grad
        self.name = name
        self.version = 0
        self._hooks = None

    # ---- array-like attributes -------------------------------------------------
    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def size(self):
        return self.value.size

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def T(self):
        return F.transpose(self)

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        body = repr(backend.asnumpy(self.value)).replace("\n", "\n     ")
        extra = f", grad_fn={type(self.creator).__name__}" if self.creator is not None else ""
        label = f", name={self.name!r}" if self.name else ""
        return f"Node({body}{extra}{label})"

    def item(self):
        """The value of a one-element Node as a Python number."""
        _reading(self, "item()")
        if self.value.size != 1:
            raise ValueError(f"item() needs a Node with one element, this one has shape {self.shape}")
        return self.value.item()

    def numpy(self):
        """The value as a NumPy array (copied from the GPU when needed)."""
        _reading(self, "numpy()")
        return backend.asnumpy(self.value)

    def to(self, name):
        """A new leaf Node holding this value on backend ``name`` ('numpy' or 'cupy')."""
        return Node(backend.to_backend(self.value, name), requires_grad=self.requires_grad, name=self.name)

    def detach(self):
        """A new leaf Node sharing this value, cut off from the graph."""
        return Node(self.value, requires_grad=False, name=self.name)

    def zero_grad(self):
        """Forget the gradient (``.grad`` becomes None)."""
        self.grad = None

    def modified_in_place(self):
        """Say that ``.value`` was changed in place (``x.value[...] = ...``): bumps ``version``.

        Graphs recorded before then refuse to backpropagate through this Node,
        instead of silently using the new values. Optimizers and
        ``load_state_dict`` call it for you; assigning a new array to ``.value``
        is detected without it.
        """
        self.version += 1

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this Node's gradient during ``backward()``.

        For a Node made by a Function, the hook runs once the gradient is
        complete, before it flows further back; for a leaf, before the gradient
        is added into ``.grad``. If the hook returns an array, that replaces the
        gradient (e.g. clipped); if it returns None the gradient is unchanged.

        Returns:
            A handle whose ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_hook needs a callable, got {hook!r:.60}")
        if not self.requires_grad:
            raise GraphError("register_hook on a Node that does not require grad: no gradient will reach it")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return RemovableHandle(self._hooks, hook)

    # ---- arithmetic: each operator is one Function in node.functions -------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __neg__(self):
        return F.neg(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        return F.pow(self, exponent)

    def __rpow__(self, base):
        return F.pow(base, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __abs__(self):
        return F.abs(self)

    def __getitem__(self, key):
        return F.getitem(self, key)

    # ---- comparisons: boolean Nodes without gradients, as in PyTorch -------------------
    # Defining __eq__ would make the class unhashable; a Node stays a dict key and a set
    # member, looked up by identity. (``x in a_list`` compares values, as for tensors.)
    __hash__ = object.__hash__

    def __eq__(self, other):
        return F.eq(self, other) if _comparable(other) else NotImplemented

    def __ne__(self, other):
        return F.ne(self, other) if _comparable(other) else NotImplemented

    def __lt__(self, other):
        return F.lt(self, other) if _comparable(other) else NotImplemented

    def __le__(self, other):
        return F.le(self, other) if _comparable(other) else NotImplemented

    def __gt__(self, other):
        return F.gt(self, other) if _comparable(other) else NotImplemented

    def __ge__(self, other):
        return F.ge(self, other) if _comparable(other) else NotImplemented

    # ---- one element as a Python number ------------------------------------------------
    def __float__(self):
        return float(self._one_element("float()"))

    def __int__(self):
        return int(self._one_element("int()"))

    def __bool__(self):
        _reading(self, "bool()")
        if self.value.size != 1:
            raise ValueError(
                f"the truth value of a Node with {self.value.size} elements (shape {self.shape}) is ambiguous; "
                "reduce it to one element first, e.g. bool((x > 0).value.any()) or bool((x > 0).value.all())"
            )
        return bool(self.value.item())

    def __index__(self):
        _reading(self, "use as an index")
        if self.value.dtype.kind not in "iu" or self.value.size != 1:
            raise TypeError(
                f"only integer Nodes with one element can be used as an index, got dtype {self.dtype} and shape {self.shape}"
            )
        return int(self.value.item())

    def _one_element(self, what):
        _reading(self, what)
        if self.value.size != 1:
            raise ValueError(f"{what} needs a Node with one element, this one has shape {self.shape}; reduce it first or use .numpy()")
        return self.value.item()

    def dot(self, other):
        """Matrix product, the same as ``self @ other``."""
        return F.matmul(self, other)

    # ---- reductions and shape ----------------------------------------------------
    # dtype and out are there for NumPy: np.mean(node) calls node.mean(axis=..., dtype=None, out=None).
    def sum(self, axis=None, keepdims=False, dtype=None, out=None):
        return F.sum(_numpy_reduction_arguments(self, dtype, out, "sum"), axis, keepdims)

    def mean(self, axis=None, keepdims=False, dtype=None, out=None):
        return F.mean(_numpy_reduction_arguments(self, dtype, out, "mean"), axis, keepdims)

    def max(self, axis=None, keepdims=False, out=None):
        return F.max(_numpy_reduction_arguments(self, None, out, "max"), axis, keepdims)

    def min(self, axis=None, keepdims=False, out=None):
        return F.min(_numpy_reduction_arguments(self, None, out, "min"), axis, keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return F.reshape(self, shape)

    def transpose(self, *axes):
        """``x.transpose()`` reverses the axes; ``x.transpose((2, 0, 1))`` or ``x.transpose(2, 0, 1)``
        permutes them (NumPy); two separate ints ``x.transpose(0, 1)`` swap those two axes (PyTorch),
        on a 2-D Node too. A tuple of two, ``x.transpose((0, 1))``, is a permutation."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        elif len(axes) == 2:
            return F.swapaxes(self, axes[0], axes[1])
        return F.transpose(self, axes or None)

    def flatten(self, start_dim=1, end_dim=-1):
        """Merge axes start_dim..end_dim; by default (batch, -1), keeping the first axis (see ``F.flatten``)."""
        return F.flatten(self, start_dim, end_dim)

    def argmax(self, axis=None, keepdims=False, out=None):
        """Index of the largest value along ``axis`` (flattened when None): an int64 Node without gradient."""
        return F.argmax(_numpy_reduction_arguments(self, None, out, "argmax"), axis, keepdims)

    def argmin(self, axis=None, keepdims=False, out=None):
        """Index of the smallest value along ``axis`` (flattened when None): an int64 Node without gradient."""
        return F.argmin(_numpy_reduction_arguments(self, None, out, "argmin"), axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        return F.prod(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, *, correction=1, unbiased=None):
        """Variance with PyTorch's default ``correction=1`` (see ``F.var``)."""
        return F.var(self, axis, keepdims, correction=correction, unbiased=unbiased)

    def std(self, axis=None, keepdims=False, *, correction=1, unbiased=None):
        """Standard deviation with PyTorch's default ``correction=1`` (see ``F.std``)."""
        return F.std(self, axis, keepdims, correction=correction, unbiased=unbiased)

    def logsumexp(self, axis=None, keepdims=False):
        return F.logsumexp(self, axis, keepdims)

    def norm(self, p=2, axis=None, keepdims=False):
        return F.norm(self, p, axis, keepdims)

    def any(self, axis=None, keepdims=False):
        return F.any(self, axis, keepdims)

    def all(self, axis=None, keepdims=False):
        return F.all(self, axis, keepdims)

    def cumsum(self, axis):
        return F.cumsum(self, axis)

    def cumprod(self, axis):
        return F.cumprod(self, axis)

    def sort(self, axis=-1, descending=False):
        """``(values, indices)``, as ``torch.sort``."""
        return F.sort(self, axis, descending)

    def argsort(self, axis=-1, descending=False):
        return F.argsort(self, axis, descending)

    def topk(self, k, axis=-1, largest=True, sorted=True):
        """``(values, indices)`` of the k largest, as ``torch.topk``."""
        return F.topk(self, k, axis, largest, sorted)

    def gather(self, axis, index):
        return F.gather(self, axis, index)

    def scatter(self, axis, index, src):
        return F.scatter(self, axis, index, src)

    def scatter_add(self, axis, index, src):
        return F.scatter_add(self, axis, index, src)

    def permute(self, *axes):
        return F.permute(self, *axes)

    def swapaxes(self, axis1, axis2):
        return F.swapaxes(self, axis1, axis2)

    def unsqueeze(self, axis):
        return F.unsqueeze(self, axis)

    def squeeze(self, axis=None):
        """Remove axes of length 1 (an axis given that is not 1 long is left, as in PyTorch)."""
        return F.squeeze(self, axis)

    def flip(self, *axes):
        """Reverse along the axes given (``x.flip(0)``, ``x.flip((0, 1))``; none: every axis)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return F.flip(self, axes or None)

    def roll(self, shifts, axis=None):
        return F.roll(self, shifts, axis)

    def repeat(self, *reps):
        """PyTorch's ``Tensor.repeat``: the whole Node tiled ``reps`` times (``F.tile``, NumPy's ``tile``).

        NumPy's ``repeat`` (each element repeated in place) is ``repeat_interleave``.
        """
        if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
            reps = reps[0]
        return F.tile(self, reps)

    def tile(self, *reps):
        if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
            reps = reps[0]
        return F.tile(self, reps)

    def repeat_interleave(self, repeats, axis=None):
        return F.repeat_interleave(self, repeats, axis)

    def split(self, split_size_or_sections, axis=0):
        return F.split(self, split_size_or_sections, axis)

    def chunk(self, chunks, axis=0):
        return F.chunk(self, chunks, axis)

    def tril(self, diagonal=0):
        return F.tril(self, diagonal)

    def triu(self, diagonal=0):
        return F.triu(self, diagonal)

    # ---- elementwise math and activations ------------------------------------------
    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def exp2(self):
        return F.exp2(self)

    def expm1(self):
        return F.expm1(self)

    def log2(self):
        return F.log2(self)

    def log10(self):
        return F.log10(self)

    def log1p(self):
        return F.log1p(self)

    def erf(self):
        return F.erf(self)

    def sin(self):
        return F.sin(self)

    def cos(self):
        return F.cos(self)

    def tan(self):
        return F.tan(self)

    def asin(self):
        return F.asin(self)

    def acos(self):
        return F.acos(self)

    def atan(self):
        return F.atan(self)

    def sinh(self):
        return F.sinh(self)

    def cosh(self):
        return F.cosh(self)

    def asinh(self):
        return F.asinh(self)

    def acosh(self):
        return F.acosh(self)

    def atanh(self):
        return F.atanh(self)

    def sign(self):
        return F.sign(self)

    def floor(self):
        return F.floor(self)

    def ceil(self):
        return F.ceil(self)

    def round(self, decimals=0):
        return F.round(self, decimals)

    def isnan(self):
        return F.isnan(self)

    def isinf(self):
        return F.isinf(self)

    def isfinite(self):
        return F.isfinite(self)

    def maximum(self, other):
        return F.maximum(self, other)

    def minimum(self, other):
        return F.minimum(self, other)

    def masked_fill(self, mask, value):
        return F.masked_fill(self, mask, value)

    def where(self, condition, other):
        """``self`` where ``condition`` holds, else ``other`` (``tensor.where``; ``node.where(condition, self, other)``)."""
        return F.where(condition, self, other)

    def eq(self, other):
        return F.eq(self, other)

    def ne(self, other):
        return F.ne(self, other)

    def lt(self, other):
        return F.lt(self, other)

    def le(self, other):
        return F.le(self, other)

    def gt(self, other):
        return F.gt(self, other)

    def ge(self, other):
        return F.ge(self, other)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return F.abs(self)

    def clip(self, min=None, max=None):
        return F.clip(self, min, max)

    def relu(self):
        return F.relu(self)

    def leaky_relu(self, slope=0.01):
        return F.leaky_relu(self, slope)

    def sigmoid(self):
        return F.sigmoid(self)

    def tanh(self):
        return F.tanh(self)

    def softmax(self, axis=-1):
        return F.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return F.log_softmax(self, axis)

    # ---- losses ----------------------------------------------------------------
    def mean_squared_error(self, target):
        """Mean over all elements of (self - target)²."""
        return F.mean_squared_error(self, target)

    def softmax_with_cross_entropy(self, target):
        """Cross entropy of softmax(self) against one-hot rows or integer labels, mean over the batch."""
        return F.softmax_with_cross_entropy(self, target)

    # ---- backward ----------------------------------------------------------------
    def backward(self, grad=None, retain_graph=None, create_graph=False, retain_grad=False):
        """Compute the gradient of this Node with respect to every leaf that requires one.

        Args:
            grad: the upstream gradient, same shape as this Node. May be left out
                only when the Node holds a single value (a loss). A complex
                gradient for a real Node is refused (TypeError), not cut to its real part.
            retain_graph: keep the graph so that backward can run through it again.
                By default (None) it is kept only with ``create_graph``; otherwise
                each function drops its inputs and saved arrays once the walk is
                over, which frees the graph's memory.
            create_graph: record the backward pass itself, so that the leaves'
                ``.grad`` are Nodes with a graph of their own, which can be
                differentiated again (second derivatives; see docs/higher_order.md).
                Without it ``.grad`` is a plain array.
            retain_grad: also keep ``.grad`` on intermediate Nodes (for inspection).
        """
        if retain_graph is None:
            retain_graph = create_graph
        grad = _root_gradient(self, grad, create_graph, "backward()")
        _run_backward((self,), (grad,), retain_graph, create_graph, retain_grad)


def _first_parameter(function):
    code = getattr(function, "__code__", None)
    return code.co_varnames[0] if code is not None and code.co_argcount else None


def _pytorch_style(name, problem):
    """The message for PyTorch's way of writing a Function: what was found, then node's way, for Function ``name``."""
    return (
        f"{problem}; a node Function has no ctx and is called as an instance. Write it as:\n"
        f"    class {name}(node.Function):\n"
        f"        def forward(self, x):             # arrays in, an array out (keep extras on self: self.k = ...)\n"
        f"            return x * x\n"
        f"        def backward(self, gy):           # one gradient per input\n"
        f"            (x,) = self.saved_inputs()    # the inputs forward got, instead of ctx.saved_tensors\n"
        f"            return 2 * x * gy\n"
        f"and call it as {name}()(x), not {name}.apply(x). See node.Function's docstring "
        f"and docs/autograd.md, 'Writing your own Function'."
    )


class Function:
    """An operation: ``forward`` on arrays, and one ``backward``, its derivative.

    Subclass it and write ``forward(*arrays)`` returning an array (or a tuple of
    arrays) and ``backward(*grad_outputs)`` returning one gradient per input
    (None where an input needs none). Call an instance on Nodes, arrays or
    numbers. The simplest backward works on arrays, with whatever ``forward``
    saved on ``self``::

        class Square(node.Function):
            def forward(self, x):
                self.x = x
                return x * x
            def backward(self, gy):
                return 2 * self.x * gy

        y = Square()(x)

    That gives first derivatives; asked for a second one (``create_graph=True``)
    it raises a GraphError naming the Function. Every built-in op instead writes
    its backward so that it can be differentiated again, and says so with
    ``differentiable_backward = True``::

        class Square(node.Function):
            differentiable_backward = True
            def forward(self, x):
                return x * x
            def backward(self, gy):
                (x,) = self.saved_inputs()
                return 2 * x * gy

    ``saved_inputs()`` (and ``saved_outputs()``) give arrays during a plain
    ``backward()``, so the gradient is computed at NumPy speed, and Nodes under
    ``create_graph=True``, so the same code is recorded as a graph. Such a
    backward may use arithmetic, ``@``, ``.sum``, ``.reshape``, ``.transpose``,
    indexing with constants, and Functions called on its arguments
    (``Exp()(x)``): on arrays alone a Function just computes its forward.

    Coming from PyTorch: there is no ``ctx``, no ``@staticmethod`` and no
    ``.apply``; ``forward(self, ...)`` and ``backward(self, ...)`` are plain
    methods, ``saved_inputs()`` replaces ``ctx.save_for_backward`` /
    ``ctx.saved_tensors``, and ``MyFunction()(x)`` replaces ``MyFunction.apply(x)``
    (the PyTorch forms raise a TypeError that shows this).

    ``self.inputs`` holds the input Nodes while the graph is alive, and
    ``self.needs_input_grad[i]`` says whether input ``i`` wants a gradient, so
    backward can skip work nobody asked for. ``self.kernel`` names the fast
    kernel (``node.kernels``) that ran the forward, if one did.
    """

    differentiable_backward = False
    # True for ops that compare values or give a real loss (relu, max, softmax, the losses...):
    # complex inputs are refused, naming the op (see "Complex numbers" in docs/autograd.md).
    real_only = False
    # True for ops whose forward runs matrix products (BLAS): they run with BLAS threads sized to
    # the cores free now (node.threads), so a busy machine does not make them spin-wait.
    uses_blas = False
    # Class-level defaults: a freed function (its __dict__ cleared) reads these.
    inputs = None
    outputs = None
    generation = 0
    kernel = None

    def __init_subclass__(cls, **kwargs):
        """Refuse PyTorch's form, ``@staticmethod def forward(ctx, ...)``, when the class is written, showing node's."""
        super().__init_subclass__(**kwargs)
        for method in ("forward", "backward"):
            found = cls.__dict__.get(method)
            if isinstance(found, staticmethod) and _first_parameter(found.__func__) == "ctx":
                raise TypeError(_pytorch_style(cls.__name__, f"{cls.__name__}.{method} is a @staticmethod taking ctx, as in PyTorch"))

    @classmethod
    def apply(cls, *args, **kwargs):
        """PyTorch's ``MyFunction.apply(x)``: refused, with node's form (``MyFunction()(x)``) in the message."""
        raise TypeError(_pytorch_style(cls.__name__, f"{cls.__name__}.apply(...) is PyTorch's call"))

    def save_for_backward(self, *args):
        """PyTorch's ``ctx.save_for_backward``: refused, with node's form in the message."""
        raise TypeError(_pytorch_style(type(self).__name__, "save_for_backward is PyTorch's ctx method"))

    @property
    def saved_tensors(self):
        """PyTorch's ``ctx.saved_tensors``: refused, with node's form in the message."""
        raise TypeError(_pytorch_style(type(self).__name__, "saved_tensors is PyTorch's ctx attribute"))

    def __call__(self, *inputs):
        config = Config
        if config.plain_backward and not any(isinstance(x, Node) for x in inputs):
            return self.compute(inputs)  # inside a plain backward, on arrays: compute, record nothing
        # This runs for every op, so it is written as plain loops (it is the hot path).
        nodes, values, versions = [], [], []
        record = False
        generation = 0
        for i, x in enumerate(inputs):
            if not isinstance(x, Node):
                try:
                    x = as_node(x)
                except (TypeError, ValueError):
                    as_node(x, what=_input_name(self, i, x))  # raises again, naming the op or this Function
                    raise
            elif x.requires_grad:
                record = True
                if x.generation > generation:
                    generation = x.generation
            nodes.append(x)
            values.append(x.value)
            versions.append(x.version)
        if self.real_only:
            _refuse_complex(self, nodes, values)
        if config.tracer is not None:  # node.compile is recording a step
            ys = config.tracer.forward(self, nodes, values)
        elif self.uses_blas:
            with blas_threads():
                ys = self.compute(values)
        else:
            ys = self.compute(values)
        record = record and config.enable_backprop
        if config.detect_anomaly:
            self.created_at = _user_frame()
            _check_finite(self, ys if type(ys) is tuple else (ys,), "forward", values)
        single = type(ys) is not tuple
        outputs = [_output_node(ys, record)] if single else [_output_node(y, record) for y in ys]
        if record:
            self._record(nodes, values, versions, outputs, generation)
        return outputs[0] if single else outputs

    def compute(self, values):
        """``forward(*values)``, or a registered fast kernel's equivalent (see ``node.dispatch``)."""
        try:
            kernel = choose_kernel(self, values)
            if kernel is None:
                return self.forward(*values)
            self.kernel = kernel.name
            return kernel.forward(self, *values)
        except (TypeError, ValueError):
            # CuPy refuses NumPy operands with a TypeError that names neither device: say which.
            backend.check_same_device(type(self).__name__, **{f"input {i}": v for i, v in enumerate(values)})
            raise

    def _record(self, nodes, values, versions, outputs, generation):
        """Link the outputs to this function and remember what ``backward`` will read."""
        self.generation = generation
        for y in outputs:
            y.creator = self
            y.generation = generation + 1
        self.inputs = nodes
        # The inputs as they are now: an input changed in place since (its array
        # replaced, or its version bumped) must not be used by backward.
        self.input_values, self.input_versions = values, versions
        # Outputs are held weakly: the graph hangs off the Nodes the user keeps,
        # so dropping the loss frees the whole graph by reference counting.
        self.outputs = [weakref.ref(y) for y in outputs]
        if len(outputs) > 1:
            self.output_meta = [(y.shape, y.dtype) for y in outputs]

    @property
    def needs_input_grad(self):
        return tuple(x.requires_grad for x in self.inputs)

    def saved_inputs(self):
        """The inputs: arrays in a plain backward, Nodes (so the backward is recorded) under create_graph."""
        return self.input_values if Config.plain_backward else self.inputs

    def saved_outputs(self):
        """The outputs, as ``saved_inputs`` gives the inputs. Alive while backward runs through this Function."""
        ys = [ref() for ref in self.outputs]
        if any(y is None for y in ys):
            raise GraphError(f"{type(self).__name__}: an output was freed before its backward ran")
        return [y.value for y in ys] if Config.plain_backward else ys

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not written")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__}.backward is not written")

    def release(self):
        """Drop inputs and everything forward saved, freeing the graph's memory."""
        self.__dict__.clear()


def _numpy_reduction_arguments(x, dtype, out, name):
    """``x`` (cast to ``dtype`` when given) for a reduction called the NumPy way; ``out`` is refused."""
    if out is not None:
        raise TypeError(f"{name}: out= is not supported: a Node's result is a new Node")
    return x if dtype is None else F.astype(x, dtype)


def _comparable(other):
    """True for what a Node can be compared with: Nodes, arrays, numbers and lists of numbers."""
    return isinstance(other, (Node, int, float, complex, list, tuple, np.generic)) or backend.is_array(other)


def _output_node(value, requires_grad):
    """Wrap a forward result in a Node without the coercion ``Node.__init__`` does (hot path)."""
    if not backend.is_array(value):  # e.g. a NumPy scalar from a full reduction
        value = backend.get_array_module(value).asarray(value)
    return _wrap(value, requires_grad)


def _wrap(value, requires_grad):
    """A Node holding ``value`` exactly as given."""
    y = Node.__new__(Node)
    y._set_fields(value, requires_grad)
    return y


def as_node(x, like=None, what=None):
    """Return ``x`` if it is a Node, else a constant Node (no gradient) holding it.

    Python numbers take the dtype of ``like`` (a Node or array) when given, so
    ``x * 2`` keeps ``x``'s float32; otherwise they take the dtype ``Node()``
    gives them. Anything that is not numbers is refused by ``backend.as_array``
    with an error naming ``what``; by default that is the op and the argument,
    found on the call stack (``argument_name``): ``add: argument b``.
    """
    if isinstance(x, Node):
        return x
    if like is not None and isinstance(x, (int, float)):  # a Python number next to a Node: the fast, common case
        ref = getattr(like, "value", like)
        if ref.dtype.kind in "fc":
            return _wrap(backend.scalar_operand(x, ref), False)
    xp, dtype = None, None  # Python data goes to the active backend, in the dtype Node() gives it
    if backend.is_array(x):  # an array stays where it is, as it is
        xp = backend.get_array_module(x)
    elif like is not None:  # Python data next to a Node: on its device, in its float dtype
        ref = getattr(like, "value", like)
        xp = backend.get_array_module(ref)
        dtype = ref.dtype if ref.dtype.kind in "fc" else None
    try:
        return _wrap(backend.as_array(x, xp, dtype=dtype, what=what or "operand"), False)
    except (TypeError, ValueError):
        if what is not None:
            raise
        return as_node(x, like, argument_name((x,), "as_node", "argument x"))  # fails again, naming the op and argument


def argument_name(values, op, position):
    """'exp: argument x': the public node function and its argument holding one of ``values``, for error messages.

    The innermost caller outside ``node.core`` and ``node.backend`` that is not
    a private helper (``_pair``) is the op the user called; its local variable
    holding the value is the argument. Outside the node package (a Function
    called directly) the message says ``op`` and ``position`` instead
    ("Exp: input 0"). Called only when an error is being raised.
    """
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename in _BOUNDARY_FILES or frame.f_code.co_name.startswith(("_", "<"))):
        frame = frame.f_back
    if frame is None or not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        return f"{op}: {position}"
    name = next((k for k, v in frame.f_locals.items() if k != "self" and any(v is x for x in values)), None)
    return f"{frame.f_code.co_name}: " + (f"argument {name}" if name else position)


def as_float(x):
    """``x`` as a Node of a float (or complex) dtype, for ops whose results are not integers (exp, sigmoid, ...).

    Bool and integer values become ``Config.default_dtype`` (float32), as in
    PyTorch, instead of what NumPy's ufuncs would pick (float16 for bool,
    float64 for int64). As a constant: integer Nodes have no gradient.
    """
    if not (isinstance(x, Node) or backend.is_array(x)):
        x = as_node(x)
    if x.dtype.kind in "fc":
        return x  # as it came: an array stays an array (a backward on arrays calls these ops too)
    if isinstance(x, Node):
        return _wrap(converted(x, Config.default_dtype), False)
    return x.astype(Config.default_dtype)


def _root_gradient(y, grad, create_graph, caller):
    """The gradient a backward walk starts from at ``y``: ones for a one-element Node, else ``grad`` checked."""
    if not y.requires_grad:
        raise GraphError(
            f"{caller} on a Node that does not require grad: it was made under "
            "node.no_grad()/node.zero_grad(), from data, or from inputs that need no gradient"
        )
    xp = backend.get_array_module(y.value)
    if grad is None:
        if y.value.size != 1:
            raise GraphError(
                f"{caller} without a gradient needs a Node with one element (a loss); this one "
                f"has shape {y.shape}. Pass an upstream gradient of that shape, or reduce it first (e.g. .sum())."
            )
        grad = xp.ones_like(y.value)
    elif create_graph and isinstance(grad, Node):
        if grad.dtype.kind == "c" and y.dtype.kind != "c":
            backend.as_array(grad.value, xp, dtype=y.value.dtype, what=f"{caller}: the upstream gradient")  # raises
        if grad.shape != y.shape:
            raise ValueError(f"{caller} got an upstream gradient of shape {grad.shape} for a Node of shape {y.shape}")
        return grad  # a Node with a graph: the result will be differentiable with respect to it too
    else:
        grad = backend.as_array(getattr(grad, "value", grad), xp, dtype=y.value.dtype, what=f"{caller}: the upstream gradient")
        if grad.shape != y.shape:
            raise ValueError(f"{caller} got an upstream gradient of shape {grad.shape} for a Node of shape {y.shape}")
    return _wrap(grad, False) if create_graph else grad


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned instead of stored in ``.grad``.

    The functional form of ``backward``: nothing's ``.grad`` changes, and only
    the part of the graph between the outputs and the inputs is walked. With
    ``create_graph=True`` the gradients are Nodes with a graph, which is what a
    Hessian-vector product or a gradient penalty differentiates again::

        (g,) = node.grad(loss, [x], create_graph=True)
        (g * v).sum().backward()        # x.grad is now H·v

    Args:
        outputs: a Node or a sequence of Nodes.
        inputs: a Node or a sequence of Nodes (leaves or intermediate Nodes).
        grad_outputs: the upstream gradient of each output (arrays or Nodes, None
            for ones); may be left out when every output has one element.
        retain_graph: keep the graph for another backward; defaults to ``create_graph``.
        create_graph: record the backward pass, so the results can be differentiated.
        allow_unused: return None for an input the outputs do not depend on,
            instead of raising GraphError.

    Returns:
        A tuple with one gradient per input: arrays, or Nodes with ``create_graph``.
    """
    outputs, inputs = _as_node_tuple(outputs, "outputs"), _as_node_tuple(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
        if len(grad_outputs) != len(outputs):
            raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise GraphError(f"grad: input {i} ({_describe(x)}) does not require grad, so it has no gradient")
    roots = [_root_gradient(y, g, create_graph, f"grad: output {i}") for i, (y, g) in enumerate(zip(outputs, grad_outputs))]
    targets = dict.fromkeys(inputs)
    _run_backward(outputs, roots, create_graph if retain_graph is None else retain_graph, create_graph, False, targets)
    result = []
    for i, x in enumerate(inputs):
        g = targets[x]
        if g is None and not allow_unused:
            raise GraphError(
                f"grad: input {i} ({_describe(x)}) is not used to compute the outputs, so it has no gradient; "
                "pass allow_unused=True to get None for it"
            )
        result.append(g)
    return tuple(result)


def _refuse_complex(f, nodes, values):
    """Raise TypeError if an input of the real-only Function ``f`` is complex, naming the op and the argument."""
    for i, v in enumerate(values):
        if v.dtype.kind == "c":
            raise TypeError(
                f"{argument_name((nodes[i], v), type(f).__name__, f'input {i}')} is complex ({v.dtype}), but this op is "
                "defined for real numbers only (it compares values, or gives a real loss). "
                "See 'Complex numbers' in docs/autograd.md for the ops that take complex values"
            )


def _input_name(f, index, x):
    """What an error about input ``index`` (``x``, Python data) of Function ``f`` calls it."""
    return argument_name((x,), type(f).__name__, f"input {index}")


def _as_node_tuple(xs, what):
    xs = tuple(xs) if isinstance(xs, (tuple, list)) else (xs,)
    if not xs:
        raise ValueError(f"grad: {what} is empty")
    for i, x in enumerate(xs):
        if not isinstance(x, Node):
            raise TypeError(f"grad: {what} must be Nodes, got {type(x).__name__} at position {i}")
    return xs


def _describe(x):
    return f"shape {x.shape}" + (f", name {x.name!r}" if x.name else "")


def _run_backward(roots, root_grads, retain_graph, create_graph=False, retain_grad=False, targets=None):
    """Visit the graph behind ``roots`` from the outputs back, without recursion.

    Order: every Node gets ``generation`` = 1 + the largest generation of its
    creator's inputs, so a function always has a smaller generation than every
    function that used its outputs. Popping functions from a max-heap on
    generation therefore runs each one only after all gradients of its outputs
    have been summed. Each function is pushed once.

    Without ``create_graph`` the walk runs with ``Config.plain_backward`` on:
    gradients are arrays and each ``backward`` computes on arrays. With it,
    gradients are Nodes and the backward code is recorded (even inside
    ``no_grad``). With ``targets`` (a dict of Nodes, for ``node.grad``) the
    gradients of those Nodes are stored in it, no ``.grad`` changes, and
    functions that lead to no target are skipped.
    """
    tracer = Config.tracer
    if tracer is not None and (create_graph or targets is not None):
        tracer.refuse("node.grad() or backward(create_graph=True)" if create_graph else "node.grad()")
    walk = _BackwardWalk(create_graph, retain_grad, targets)
    for root, g in zip(roots, root_grads):
        walk.receive(root, g)
    walk.limit_to_targets()
    with using_config("plain_backward", not create_graph), using_config("enable_backprop", create_graph or Config.enable_backprop), blas_threads():
        while walk.heap:
            f = walk.next_function()
            gys = walk.output_gradients(f)
            if walk.wanted is None or f in walk.wanted:
                gxs = _checked_gradients(f, _call_backward(f, gys, create_graph), create_graph)
                if tracer is not None:
                    tracer.backward(f, gys, gxs)
                walk.send(f, gxs)
        walk.store_leaf_gradients()
    if not retain_graph and tracer is None:  # a recorded step keeps its Functions: node.compile replays them
        for f in walk.visited:
            f.release()


class _BackwardWalk:
    """The state of one backward walk: gradients summed so far, and the functions still to visit."""

    def __init__(self, create_graph, retain_grad, targets):
        self.create_graph, self.retain_grad, self.targets = create_graph, retain_grad, targets
        self.grads = {}  # the gradient so far of each Node a function made
        self.leaf_grads = {}  # this walk's gradient of each leaf, added into .grad (or targets) at the end
        self.heap, self.seen, self.visited = [], set(), []
        self.tiebreak = itertools.count()  # keeps heap entries comparable when generations tie
        self.wanted = None  # with targets: the functions through which some target is reached

    def receive(self, x, gx):
        """Add ``gx`` to ``x``'s gradient, and schedule ``x``'s creator if it is new."""
        f = x.creator
        table = self.grads if f is not None else self.leaf_grads
        previous = table.get(x)
        if previous is None:
            table[x] = gx
        else:
            table[x] = total = previous + gx
            if Config.tracer is not None:
                Config.tracer.accumulate(previous, gx, total)
        if f is not None and f not in self.seen:
            if f.inputs is None:
                raise GraphError(_FREED_MESSAGE)
            self.seen.add(f)
            heapq.heappush(self.heap, (-f.generation, next(self.tiebreak), f))

    def limit_to_targets(self):
        if self.targets is not None:
            self.wanted = _functions_leading_to(self.targets, [entry[2] for entry in self.heap])

    def next_function(self):
        """The function with the highest generation, checked to still hold its inputs as they were."""
        f = heapq.heappop(self.heap)[2]
        if f.inputs is None:
            raise GraphError(_FREED_MESSAGE)
        for i, (x, value, version) in enumerate(zip(f.inputs, f.input_values, f.input_versions)):
            if x.version != version or x.value is not value:
                raise GraphError(_modified_message(f, i, x, value, version))
        self.visited.append(f)
        return f

    def output_gradients(self, f):
        """The complete gradient of each of ``f``'s outputs (zeros for an output nothing used)."""
        gys = []
        for i, ref in enumerate(f.outputs):
            y = ref()
            gy = None if y is None else self.grads.pop(y, None)
            if gy is None:
                gys.append(_zeros_like_output(f, i, self.create_graph))
            else:
                gys.append(self.complete(y, gy))
        return gys

    def complete(self, y, gy):
        """``y``'s gradient, now that every use of ``y`` has added to it: run its hooks, keep it if asked."""
        if y._hooks:
            _refuse_while_recording("a hook on a Node (register_hook)")
            gy = _run_hooks(y, gy)
        if self.retain_grad:
            y.grad = gy
        if self.targets is not None and y in self.targets:
            self.targets[y] = gy
        return gy

    def send(self, f, gxs):
        """Pass ``f``'s input gradients (checked, None where none is wanted) on to its inputs."""
        for x, gx in zip(f.inputs, gxs):
            if gx is not None:
                self.receive(x, gx)

    def store_leaf_gradients(self):
        if self.targets is None:
            _add_leaf_grads(self.leaf_grads)
            return
        owners = set()
        for x, gx in self.leaf_grads.items():
            if x in self.targets:
                self.targets[x] = _own(_run_hooks(x, gx) if x._hooks else gx, owners)


def _call_backward(f, gys, create_graph):
    """Run ``f``'s backward: on arrays, or recorded on Nodes; always one gradient per input."""
    if not create_graph or f.differentiable_backward:
        gxs = f.backward(*gys)
    else:
        gxs = _once_differentiable(f, gys)
    if type(gxs) is not tuple:
        gxs = tuple(gxs) if type(gxs) is list else (gxs,)
    if len(gxs) != len(f.inputs):
        raise GraphError(f"{type(f).__name__}.backward returned {len(gxs)} gradients for {len(f.inputs)} inputs")
    if Config.detect_anomaly:
        _check_finite(f, [getattr(g, "value", g) for g in gxs], "backward", [getattr(g, "value", g) for g in gys])
    return gxs


def _checked_gradients(f, gxs, create_graph):
    """``f.backward``'s results, each checked as its input's gradient; None where the input wants none."""
    return [
        _checked_gradient(f, x, gx, create_graph) if gx is not None and x.requires_grad else None
        for x, gx in zip(f.inputs, gxs)
    ]


def _checked_gradient(f, x, gx, create_graph):
    """``gx`` as the gradient of input ``x``: a Node under create_graph, of ``x``'s shape and dtype."""
    if create_graph and not isinstance(gx, Node):
        gx = _wrap(gx, False)  # an array among Node gradients is a constant
    value = x.value
    if gx.shape != value.shape:
        raise GraphError(
            f"{type(f).__name__}.backward returned a gradient of shape {gx.shape} for an input of shape {value.shape}"
        )
    if gx.dtype != value.dtype:
        gx = F.astype(gx, value.dtype) if create_graph else gx.astype(value.dtype)
    return gx


def _functions_leading_to(targets, start):
    """The functions, among those reachable from ``start``, through which some Node in ``targets`` is reached."""
    found, stack = set(start), list(start)
    while stack:
        for x in stack.pop().inputs or ():
            f = x.creator
            if f is not None and f not in found and f.inputs is not None:
                found.add(f)
                stack.append(f)
    wanted = set()
    for f in sorted(found, key=lambda f: f.generation):  # inputs' creators come first
        if any(x in targets or x.creator in wanted for x in f.inputs):
            wanted.add(f)
    return wanted


def _add_leaf_grads(leaf_grads):
    """Run the leaves' hooks on this pass's gradients, then add them into ``.grad``.

    Each leaf's ``.grad`` is an array of its own: a backward may hand the same
    memory to several inputs (``a + b`` passes its gradient to both, a reshape
    passes a view of it), or a broadcast view, so those are copied; everything
    else is used as it is. Gradients from ``create_graph`` are Nodes, never
    changed in place, and are used as they are.
    """
    owners = set()  # the arrays whose memory a leaf's .grad already uses
    tracer = Config.tracer
    for x, gx in leaf_grads.items():
        if x._hooks:
            _refuse_while_recording("a hook on a Node (register_hook)")
            gx = _run_hooks(x, gx)
        old = x.grad
        if old is None:
            x.grad = _own(gx, owners)
        elif isinstance(gx, Node) or not isinstance(old, Node):
            x.grad = old + gx
        else:  # an array added to a Node from an earlier create_graph pass: the sum is a plain gradient
            x.grad = old.value + gx
        if tracer is not None:
            tracer.leaf_gradient(x, gx, old)


def _own(gx, owners):
    """``gx``, copied if its memory is shared with an array in ``owners`` or is a broadcast view."""
    if isinstance(gx, Node):
        return gx
    owner = gx if gx.base is None else gx.base
    if id(owner) in owners or backend.is_shared_view(gx):
        gx = gx.copy()
        owner = gx
    owners.add(id(owner))
    return gx


def _once_differentiable(f, gys):
    """``f``'s array backward, its results wrapped so that differentiating them again raises, naming ``f``."""
    with using_config("plain_backward", True):
        gxs = f.backward(*[g.value for g in gys])
    gxs = gxs if type(gxs) in (tuple, list) else (gxs,)
    present = [g for g in gxs if g is not None]
    if not present:
        return tuple(gxs)
    nodes = iter(_NotDifferentiableTwice(type(f).__name__, present)(*gys, *f.inputs))
    return tuple(None if g is None else next(nodes) for g in gxs)


class _NotDifferentiableTwice(Function):
    """Holds the gradients of a Function whose backward works on arrays; refuses to be differentiated."""

    def __init__(self, source, gradients):
        self.source, self.gradients = source, gradients

    def forward(self, *upstream_and_inputs):
        return tuple(self.gradients)

    def backward(self, *ggs):
        raise GraphError(
            f"{self.source} cannot be differentiated twice: its backward works on arrays. Write its backward "
            "with node operations on saved_inputs() and set differentiable_backward = True (see "
            "docs/higher_order.md, 'Your own Function'), or keep it out of the part you differentiate again."
        )


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _reading(x, what):
    """Called where a Node's value leaves node for Python (``float(x)``, ``x.item()``): refused while a step is recorded."""
    if Config.tracer is not None:
        Config.tracer.read_value(x, what)


def _refuse_while_recording(what):
    if Config.tracer is not None:
        Config.tracer.refuse(what)


def replayable(method):
    """Mark a function that changes arrays outside the graph, so that ``node.compile`` replays it.

    An optimizer's ``step``, Center Loss's center update: work on arrays that no
    Function does. While ``node.compile`` records a step, a call to such a
    function is recorded as one step of the replay (its array arguments
    followed like a Function's inputs); otherwise it is a plain call.
    """

    @functools.wraps(method)
    def call(*args, **kwargs):
        tracer = Config.tracer
        if tracer is None:
            return method(*args, **kwargs)
        return tracer.effect(method, args, kwargs)

    return call


@replayable
def converted(value, dtype=None, backend_name=None):
    """``value`` (an array, or a Node's array) moved to the backend named ``backend_name`` and cast to ``dtype`` (each if given): a constant, no gradient.

    Labels arriving as NumPy arrays for a model on the GPU, integer targets
    made float, an integer Node made float for ``exp``: ``@replayable``, so a
    step compiled with ``node.compile`` converts each call's data instead of
    keeping the first call's. Given a Node, it reads the Node's array when it
    runs, so a replay reads a parameter's current array.
    """
    value = getattr(value, "value", value)
    if backend_name is not None:
        value = backend.to_backend(value, backend_name)
    return value if dtype is None else value.astype(dtype)


def _run_hooks(x, grad):
    for hook in list(x._hooks):
        result = hook(grad)
        if result is not None:
            if isinstance(grad, Node):
                result = as_node(result, like=grad)
            else:
                result = getattr(result, "value", result)
            if result.shape != grad.shape:
                raise GraphError(f"a hook on {x.name or 'a Node'} returned a gradient of shape {result.shape} for shape {grad.shape}")
            grad = result
    return grad


def _modified_message(f, index, x, value, version):
    what = f"input {index} (shape {x.shape}{f', name {x.name!r}' if x.name else ''})"
    if x.value is not value:
        change = "its .value was replaced by another array"
    else:
        change = f"it was modified in place: version {version} when the forward pass ran, {x.version} now"
    return (
        f"{type(f).__name__}.backward needs {what} as it was in the forward pass, but {change} "
        "(an optimizer step, load_state_dict or an assignment between forward and backward). "
        "Call backward() before changing the inputs, or run the forward pass again."
    )


def _user_frame():
    """'file:line in function' and the source line of the innermost caller outside the node package."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "unknown location"
    code = frame.f_code
    line = linecache.getline(code.co_filename, frame.f_lineno).strip()
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}" + (f": {line}" if line else "")


def _check_finite(f, arrays, stage, upstream):
    """Under detect_anomaly: raise AnomalyError naming ``f`` if an array in ``arrays`` holds NaN or ±inf."""
    for i, a in enumerate(arrays):
        if a is None or not backend.is_array(a) and not isinstance(a, np.generic):
            continue
        xp = backend.get_array_module(a)
        finite = xp.isfinite(a)
        if bool(finite.all()):
            continue
        kind = "NaN" if bool(xp.isnan(a).any()) else "infinity"
        source = "" if all(bool(backend.get_array_module(u).isfinite(u).all()) for u in upstream if backend.is_array(u)) else (
            " (what it received already held NaN or infinity)"
        )
        which = f"output {i}" if stage == "forward" else f"the gradient of input {i}"
        raise AnomalyError(
            f"{type(f).__name__} produced {kind} in {which} during the {stage} pass{source}. "
            f"The {type(f).__name__} was created at {getattr(f, 'created_at', 'an unknown location (created outside detect_anomaly)')}"
        )


def _zeros_like_output(f, index, as_node):
    """Zeros standing for the gradient of an output of ``f`` that nothing used."""
    shape, dtype = f.output_meta[index]
    zeros = backend.get_array_module(f.inputs[0].value).zeros(shape, dtype)
    return _wrap(zeros, False) if as_node else zeros


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_BOUNDARY_FILES = (os.path.abspath(__file__), os.path.abspath(backend.__file__))  # where values become arrays

_FREED_MESSAGE = (
    "backward() through a graph that was already freed: the first backward() released "
    "the saved arrays to save memory. Pass retain_graph=True to the first call if you "
    "need to backpropagate through the same graph twice."
)

# The functions are Function subclasses defined on top of this module, so they are
# imported last; Node's operators look them up as F.<name> when called.
from . import functions as F  # noqa: E402

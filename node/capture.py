"""``node.compile``: record a training step while it runs, then replay it without rebuilding the graph.

A tracing JIT in the manner of TinyJit, ``torch.compile`` and ``jax.jit``
(docs/compile.md walks through this file). Eager node spends much of a small
step in Python: making Nodes, linking Functions, pushing them on the backward
walk's heap, checking inputs. None of that changes from one step to the next,
so this module does it once:

1. **Record.** The first two calls with a given *signature* (the shapes and
   dtypes of the array arguments, and the values of the others) run eagerly,
   with a :class:`Recorder` set as ``node.Config.tracer``. ``Function.__call__``,
   the backward walk and the functions marked ``@node.core.replayable`` (an
   optimizer's step, Center Loss's center update) report each piece of work
   to it, with where each input array came from: an argument, the output of
   an earlier piece, or *outside* (a parameter, a constant).
2. **Check.** The two recordings must match piece for piece: the same
   Functions in the same order, fed from the same places. Whatever came from
   outside is classified by comparing the two calls: the same Node both times
   is *live* (a parameter: its current ``.value`` is read on every replay),
   the same array both times is a *buffer*, equal contents are a *constant*,
   and anything else was computed from the step's data outside node's sight
   (a NumPy line in the step), which a replay would silently freeze: that is a
   :class:`CaptureError`, as is Python control flow that took different paths
   in the two calls, reading a Node's value into Python (``float(loss)``),
   hooks, ``node.grad`` and ``create_graph``.
3. **Replay.** Later calls with the same signature run the second recording's
   list of steps on the new arguments: each Function's forward (or its fast
   kernel) on arrays, each backward in the recorded order, each gradient sum
   and each side effect. No Node, graph, heap or check is made. The result has
   the structure ``step`` returned, with Nodes holding the new values (and no
   graph). Python code in ``step`` between node calls does not run again.

The contract, as in the frameworks above: same shapes and dtypes or a new
recording (at most ``max_signatures``, then eager); control flow frozen at
recording; state changed outside node's calls (``model.eval()``, replacing a
layer's buffer array) is not seen — make a new ``node.compile`` for it.
"""
import functools
import threading
import warnings
import weakref

import numpy as np

from . import backend
from .config import Config
from .core import Node
from .dispatch import choose_kernel
from .functions.arithmetic import Add
from .kernels.into import into
from .threads import blas_threads


class CaptureError(RuntimeError):
    """A step that ``node.compile`` cannot record faithfully; the message says what and why."""


def compile(step=None, *, max_signatures=8, plan_buffers=True):
    """Record ``step`` (a training step: forward, backward, optimizer update) and replay it on later calls.

    Returns a function with ``step``'s signature. For each signature (shapes
    and dtypes of the Node and array arguments, values of the others) the
    first two calls run eagerly and record; later calls replay, returning what
    ``step`` returns (Nodes with the new values and no graph). Also a decorator:
    ``@node.compile`` or ``@node.compile(max_signatures=4)``.

    Results are the eager step's, bit for bit: a replay runs the same
    forwards, kernels and backwards on the same arrays in the same order
    (with the same BLAS thread count: see ``node.threads``).

    Args:
        step: the function to record.
        max_signatures: how many signatures to record; calls with further ones
            run eagerly (with one warning).
        plan_buffers: whether replays write the results of simple operations
            (elementwise ops, matrix products, gradient sums) into arrays kept
            from the first replay instead of allocating them again
            (``node.kernels.into``); the results are the same bits either way.
            The kept arrays stay allocated between calls.

    Raises:
        CaptureError: on the second call of a signature, when the two recorded
            calls differ (control flow that depends on the data, an input
            computed from the data outside node), or during a recording, when
            the step reads a Node's value into Python or uses hooks,
            ``node.grad`` or ``create_graph``.
    """
    if step is None:
        return functools.partial(compile, max_signatures=max_signatures, plan_buffers=plan_buffers)
    if not callable(step):
        raise TypeError(f"node.compile: step must be a callable (a function running one training step), got {type(step).__name__}")
    if isinstance(max_signatures, bool) or not isinstance(max_signatures, int) or max_signatures < 1:
        raise ValueError(f"node.compile: max_signatures must be an integer >= 1, got {max_signatures!r}")
    if not isinstance(plan_buffers, bool):
        raise TypeError(f"node.compile: plan_buffers must be True or False, got {plan_buffers!r}")
    return CompiledStep(step, max_signatures, plan_buffers)


class CompiledStep:
    """What ``node.compile(step)`` returns: call it as you would call ``step``.

    Attributes:
        step: the function recorded.
        replays: how many calls were replays (the others ran eagerly).
    """

    def __init__(self, step, max_signatures, plan_buffers=True):
        self.step, self.max_signatures, self.plan_buffers = step, max_signatures, plan_buffers
        self.replays = 0
        self._entries = {}  # signature -> _Entry
        self._lock = threading.Lock()
        self._warned = False
        functools.update_wrapper(self, step)

    def __call__(self, *args, **kwargs):
        key, arrays, nodes = signature(args, kwargs)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= self.max_signatures:
                    self._warn_eager(key)
                    return self.step(*args, **kwargs)
                entry = self._entries[key] = _Entry()
            if entry.replay is not None:
                result = entry.replay(arrays, nodes)
                self.replays += 1
                return result
            recorder = Recorder(arrays, nodes)
            result = recorder.run(self.step, args, kwargs)
            entry.recordings.append(recorder)
            if len(entry.recordings) == 2:
                first, second = entry.recordings
                entry.recordings = []
                entry.replay = Replay(first, second, self.plan_buffers)
            return result

    def __get__(self, instance, owner=None):
        """On a method (``@node.compile`` in a class body): bound to the instance, which becomes part of the signature."""
        return self if instance is None else functools.partial(self, instance)

    @property
    def signatures(self):
        """How many signatures have been seen (recorded or being recorded)."""
        return len(self._entries)

    def describe(self):
        """The recorded programs in words, one line per piece of work, for each signature replayed so far."""
        parts = []
        for key, entry in self._entries.items():
            state = "replayed" if entry.replay is not None else f"recorded {len(entry.recordings)} of 2 times"
            parts.append(f"signature {describe(key)}: {state}")
            if entry.replay is not None:
                parts += entry.replay.listing
                parts.append(entry.replay.buffer_summary())
        return "\n".join(parts)

    def reset(self):
        """Forget every recording: the next calls record again (after changing state the replay would not see)."""
        with self._lock:
            self._entries.clear()

    def _warn_eager(self, key):
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"node.compile: {self.step.__name__!r} was called with more than max_signatures={self.max_signatures} "
                f"signatures (this one: {describe(key)}); calls with new signatures now run eagerly. Pass a larger "
                "max_signatures to record more.",
                RuntimeWarning,
                stacklevel=3,
            )


class _Entry:
    def __init__(self):
        self.recordings = []
        self.replay = None


def signature(args, kwargs):
    """(a hashable key, the argument arrays in order, the Node each came from or None) for one call's arguments."""
    key, arrays, nodes = [], [], []
    for position, value in [*enumerate(args), *sorted(kwargs.items())]:
        if isinstance(value, Node):
            arrays.append(value.value)
            nodes.append(value)
            key.append((position, "Node", value.shape, value.dtype.str, layout(value.value), backend.get_array_module(value.value).__name__, value.requires_grad))
        elif backend.is_array(value):
            arrays.append(value)
            nodes.append(None)
            key.append((position, "array", value.shape, value.dtype.str, layout(value), backend.get_array_module(value).__name__))
        else:
            try:
                hash(value)
            except TypeError:
                raise TypeError(
                    f"node.compile: argument {position} is a {type(value).__name__}, which is neither a Node, an array nor "
                    "hashable; pass Nodes or arrays (their shapes and dtypes select the recording) or hashable values "
                    "(numbers, strings, tuples: each value gets its own recording)"
                ) from None
            key.append((position, "value", type(value).__name__, value))
    return tuple(key), arrays, nodes


def kernel_settings():
    """This thread's settings that choose a fast kernel: a replay keeps one choice per value of them."""
    return Config.kernels, Config.compiled_kernels, Config.conv_algorithm


def layout(array):
    """An array's memory order, part of a signature: "C", "F", or its strides.

    The same values in another memory order can give other last bits (a sum
    adds them in memory order), and a kernel's choice may depend on it.
    """
    flags = array.flags
    return "C" if flags.c_contiguous else "F" if flags.f_contiguous else array.strides


def describe(key):
    return ", ".join(f"{p}: {kind} {rest[0]}" for p, kind, *rest in key)


# ---- recording -----------------------------------------------------------------------------
class Outside:
    """An input that no recorded step made and that is not an argument: classified after two recordings."""

    def __init__(self, array, owner):
        self.array, self.owner = array, owner


class Recorder:
    """Set as ``Config.tracer`` while one eager call of the step runs; keeps the list of work it did.

    ``steps`` holds tuples, one per piece of work, whose inputs are *sources*:
    an int (the slot of an array a previous piece made, or an argument's) or an
    :class:`Outside`. Every array it sees is kept alive until the recording is
    dropped, so ``id()`` keeps naming the same array.
    """

    def __init__(self, arrays, nodes):
        self.depth = 0  # > 0 inside a recorded piece of work: what runs inside is not recorded again
        self.argument_nodes = {id(n): i for i, n in enumerate(nodes) if n is not None}
        self.kept_nodes = nodes
        self.steps = []
        self.slots = {id(a): i for i, a in enumerate(arrays)}  # id(array) -> slot; arguments first
        self.arguments = len(arrays)
        self.count = len(arrays)
        self.kept = list(arrays)
        self.result = None

    def run(self, step, args, kwargs):
        if Config.tracer is not None:
            raise CaptureError("node.compile: a compiled step was called while another one was being recorded")
        Config.tracer = self
        try:
            result = step(*args, **kwargs)
        finally:
            Config.tracer = None
        self.result = self.template(result)
        return result

    # sources and slots
    def source(self, array, owner=None):
        slot = self.slots.get(id(array))
        return slot if slot is not None else Outside(array, owner)

    def made(self, array):
        slot = self.slots[id(array)] = self.count
        self.count += 1
        self.kept.append(array)
        return slot

    def template(self, value):
        """``value`` (a result or an argument) with each array or Node replaced by a marker holding its source."""
        if isinstance(value, Node):
            return ("node", self.source(value.value, value))
        if backend.is_array(value):
            return ("array", self.source(value))
        if isinstance(value, (tuple, list)):  # its class too: a named tuple comes back as one
            return ("sequence", (type(value), [self.template(v) for v in value]))
        if isinstance(value, dict):
            return ("dict", {k: self.template(v) for k, v in value.items()})
        return ("value", value)

    # what the engine reports
    def forward(self, f, nodes, values):
        """Run ``f`` (a Function) on ``values`` as ``Function.__call__`` would, recording it."""
        if self.depth:
            return f.compute(values)
        sources = [self.source(v, n) for v, n in zip(values, nodes)]
        attributes, before = self.attributes(f), tuple(vars(f))
        self.depth += 1
        try:
            with blas_threads():  # what Function.__call__ does for ops with matrix products (and costs nothing for the others)
                ys = f.compute(values)
        finally:
            self.depth -= 1
        single = type(ys) is not tuple
        outputs = [as_array(y) for y in ((ys,) if single else ys)]
        self.steps.append(("forward", f, sources, attributes, [self.made(y) for y in outputs], single, before))
        return outputs[0] if single else tuple(outputs)

    def attributes(self, f):
        """The arrays ``f`` holds before its forward runs (an index, a target), as sources: a replay sets them again."""
        found = {}
        for name, value in vars(f).items():
            if backend.is_array(value):
                found[name] = ("array", self.source(value))
            elif isinstance(value, (tuple, list)) and any(backend.is_array(v) for v in value):
                found[name] = (type(value).__name__, [("array", self.source(v)) if backend.is_array(v) else ("value", v) for v in value])
            elif not isinstance(value, Node):
                found[name] = ("value", value)
        return found

    def backward(self, f, gys, gxs):
        if self.depth:
            return
        sources = [self.source(g) for g in gys]
        made = [None if g is None else (self.made(g), g.dtype) for g in gxs]
        self.steps.append(("backward", f, sources, made))

    def accumulate(self, previous, gx, total):
        if not self.depth:
            self.steps.append(("add", self.source(previous), self.source(gx), self.made(total)))

    def leaf_gradient(self, x, gx, old):
        if self.depth:
            return
        mode = "set" if x.grad is gx else "copy" if old is None else "add"
        self.steps.append(("leaf", x, self.source(gx), mode, self.argument_nodes))

    def effect(self, function, args, kwargs):
        """Run a ``@replayable`` function, recording it with its array arguments as sources."""
        if self.depth:
            return function(*args, **kwargs)
        arguments = [self.template(a) for a in args]
        keywords = {k: self.template(v) for k, v in kwargs.items()}
        self.depth += 1
        try:
            result = function(*args, **kwargs)
        finally:
            self.depth -= 1
        if result is None:
            made = None
        elif backend.is_array(result):
            made = ("array", self.made(result))
        elif isinstance(result, Node):
            made = ("node", self.made(result.value))
        elif isinstance(result, tuple) and all(backend.is_array(r) for r in result):
            made = ("tuple", [self.made(r) for r in result])
        else:
            made = ("value", result)
        self.steps.append(("effect", function, arguments, keywords, made))
        return result

    def read_value(self, x, what):
        raise CaptureError(
            f"node.compile: the step reads a Node's value into Python ({what}, shape {x.shape}) while it is recorded. "
            "A replay does not run the step's Python code again, so whatever that value decides would be frozen. "
            "Return the Node from the step and read it outside (float(compiled_step(x, t)))."
        )

    def refuse(self, what):
        raise CaptureError(f"node.compile: {what} cannot be recorded; run this step eagerly (without node.compile)")


def as_array(y):
    return y if backend.is_array(y) else backend.get_array_module(y).asarray(y)


# ---- checking two recordings and building the replay ---------------------------------------
class Replay:
    """The second recording, checked against the first, as a list of closures over a list of slots."""

    def __init__(self, first, second, plan_buffers=True):
        if len(first.steps) != len(second.steps) or first.arguments != second.arguments:
            raise CaptureError(
                f"node.compile: two calls of the step with the same shapes and dtypes did different work "
                f"({len(first.steps)} recorded operations, then {len(second.steps)}): its Python control flow depends "
                "on something other than shapes (the data, a counter). Such a step cannot be replayed; run it eagerly."
            )
        self.slots = [None] * second.count
        self.arguments = second.arguments
        self.program = []
        self.made = second.count  # slots [arguments, made) hold what the work makes: emptied after each replay
        self.cleanups = {}  # id(Function) -> what frees the arrays it holds, run after its backward
        self.outside = {}  # (kind, id(thing)) -> its slot, for what came from outside
        self.listing = []  # the program in words (CompiledStep.describe)
        self.fixed = set()  # the slots holding the same array on every replay (constants, buffers)
        self.buffers = [] if plan_buffers else None  # a Buffer per result that may be written with out= (plan_buffers)
        self.escaping = set()  # the slots whose arrays leave the step: returned, stored as .grad, handed to side effects
        reads = []  # the slots each piece of work reads
        for index, (a, b) in enumerate(zip(first.steps, second.steps)):
            self.reads = set()
            self.program.append(self.build(index, a, b))
            reads.append(self.reads)
        self.forward_only = list(self.cleanups.values())  # Functions with no backward in the step
        self.live, self.reads = [], set()
        self.result = self.resolve_template(first.result, second.result, "the value step returned")
        self.escaping.update(template_slots(self.result))
        self.result_live = self.live
        self.program = list(zip(self.program, self.last_uses(reads, self.reads)))

    def last_uses(self, reads, kept):
        """For each piece of work, the slots no later piece reads: emptied right after it, so their memory is reused."""
        last = {}
        for index, slots in enumerate(reads):
            for slot in slots:
                last[slot] = index
        frees = [[] for _ in reads]
        for slot, index in last.items():
            if self.arguments <= slot < self.made and slot not in kept:
                frees[index].append(slot)
        return frees

    def __call__(self, arrays, nodes):
        slots = self.slots
        slots[: self.arguments] = arrays
        self.nodes = nodes
        config = Config
        saved = config.enable_backprop, config.plain_backward
        config.enable_backprop = False
        watch = self.buffers is not None and not self.planned  # the first replay: see which arrays leave the step
        escaped = []  # the arrays that left the step, held until the buffers are planned
        if watch:
            for buffer in self.buffers:  # what an earlier first replay, stopped by an error, offered
                buffer.offered = None
        try:
            with blas_threads():
                for run, done in self.program:
                    run(slots)
                    for slot in done:
                        if watch and slot in self.escaping:
                            escaped.append(slots[slot])
                        slots[slot] = None
        finally:
            config.enable_backprop, config.plain_backward = saved
        for slot, owner in self.result_live:
            slots[slot] = owner.value
        result = self.rebuild(self.result, slots)
        if watch:
            escaped += [slots[s] for s in self.escaping]
            self.plan_buffers(escaped)
        for cleanup in self.forward_only:
            cleanup()
        slots[self.arguments : self.made] = [None] * (self.made - self.arguments)
        return result

    planned = False

    def plan_buffers(self, escaped):
        """After the first replay: keep, as buffers for later replays, the results that did not leave the step.

        Each ``Buffer`` was offered the array its operation made on the first
        replay. It is kept unless that array shares memory with one that was
        returned, stored as a ``.grad`` or handed to a side effect (the array
        itself, or a view of it): something outside may hold it after the
        step, and writing into it on the next replay would change what they
        hold. Kept buffers are written with ``out=`` from then on; none is
        shared between two results, so a replay's order of work decides
        nothing about them.
        """
        for buffer in self.buffers:
            array, buffer.offered = buffer.offered, None
            if array is not None and array.ndim and not any(shares_memory(array, e) for e in escaped):
                buffer.array = array
        self.buffers = [b for b in self.buffers if b.array is not None]
        self.planned = True

    def buffer_summary(self):
        """One line: the results written into planned buffers (or why none are)."""
        if self.buffers is None:
            return "buffers: not planned (plan_buffers=False)"
        if not self.planned:
            return "buffers: planned after the first replay"
        shapes = ", ".join(f"{b.form.__name__} {tuple(b.array.shape)}" for b in self.buffers)
        return f"buffers: {len(self.buffers)} results written with out= ({shapes or 'none'})"

    def buffer_for(self, form):
        """A ``Buffer`` for a result the form ``form`` can write (None: not planned, or no form)."""
        if self.buffers is None or form is None:
            return None
        buffer = Buffer(form)
        self.buffers.append(buffer)
        return buffer

    # sources
    def resolve(self, a, b, where):
        """The slot of source ``b`` (second recording), with ``a`` (first recording) to classify what came from outside."""
        if not isinstance(b, Outside):
            if a != b:
                raise self.differs(where, "fed from different places")
            self.reads.add(b)
            return b
        if not isinstance(a, Outside):
            raise self.differs(where, "fed from different places")
        if b.owner is not None and a.owner is b.owner:
            return self.slot_for(("live", b.owner))
        if a.array is b.array:
            return self.slot_for(("buffer", b.array))
        if same_value(a.array, b.array):
            return self.slot_for(("constant", b.array))
        shape = getattr(b.array, "shape", ())
        raise CaptureError(
            f"node.compile: {where} (shape {shape}) was computed outside node from the step's data: it is not an argument "
            "and not made by a node operation, and it differed between two calls. A replay would reuse its first value. "
            "Compute it with node operations (on Nodes), or pass it to the step as an argument."
        )

    def slot_for(self, what):
        """A slot for something from outside: a live Node's (refreshed from ``.value`` before each use), a buffer's or a constant's."""
        kind, thing = what
        key = (kind, id(thing))
        slot = self.outside.get(key)
        if slot is None:
            slot = self.outside[key] = len(self.slots)
            self.slots.append(thing.value if kind == "live" else thing)
            if kind != "live":
                self.fixed.add(slot)
        if kind == "live":
            self.live.append((slot, thing))
        return slot

    def differs(self, where, how):
        return CaptureError(
            f"node.compile: two calls of the step with the same shapes and dtypes differ at {where}: {how}. Its Python "
            "control flow depends on something other than shapes (the data, a counter); run it eagerly."
        )

    def resolve_template(self, a, b, where):
        kind_a, kind_b = a[0], b[0]
        if kind_a != kind_b:
            raise self.differs(where, f"a {kind_a}, then a {kind_b}")
        if kind_b == "node" and isinstance(b[1], Outside) and isinstance(a[1], Outside) and b[1].owner is a[1].owner:
            return ("same node", b[1].owner)  # a Node that lives across steps (a parameter): passed itself, .grad and all
        if kind_b in ("node", "array"):
            return (kind_b, self.resolve(a[1], b[1], where))
        if kind_b == "sequence":
            (cls_a, items_a), (cls_b, items_b) = a[1], b[1]
            if cls_a is not cls_b or len(items_a) != len(items_b):
                raise self.differs(where, f"a {cls_a.__name__} of {len(items_a)}, then a {cls_b.__name__} of {len(items_b)}")
            return ("sequence", (cls_b, [self.resolve_template(x, y, where) for x, y in zip(items_a, items_b)]))
        if kind_b == "dict":
            if a[1].keys() != b[1].keys():
                raise self.differs(where, "different keys")
            return ("dict", {k: self.resolve_template(a[1][k], v, where) for k, v in b[1].items()})
        if not same_value(a[1], b[1]):
            raise self.differs(where, f"the value {a[1]!r}, then {b[1]!r}")
        return b

    def rebuild(self, template, slots):
        kind, value = template
        if kind == "same node":
            return value
        if kind == "node":
            return Node(slots[value], requires_grad=False)
        if kind == "array":
            return slots[value]
        if kind == "sequence":
            cls, templates = value
            items = [self.rebuild(t, slots) for t in templates]
            if cls is list or cls is tuple:
                return cls(items)
            return cls._make(items) if hasattr(cls, "_make") else cls(items)  # a named tuple, or another subclass
        if kind == "dict":
            return {k: self.rebuild(t, slots) for k, t in value.items()}
        return value

    # the pieces of work
    def build(self, index, a, b):
        if a[0] != b[0] or (a[0] in ("forward", "backward") and type(a[1]) is not type(b[1])):
            raise self.differs(f"operation {index}", f"{name_of(a)}, then {name_of(b)}")
        self.live = []
        run = getattr(self, "build_" + b[0])(index, a, b)
        self.listing.append(f"{index:3d}  {self.line(b)}")
        return run

    def line(self, step):
        """One recorded piece of work in words: what runs, on what, into which slots."""
        kind, thing = step[0], step[1]
        if kind == "forward":
            return f"forward  {type(thing).__name__}({', '.join(map(self.name, step[2]))}) -> {', '.join(f'#{o}' for o in step[4])}"
        if kind == "backward":
            made = ", ".join("-" if m is None else f"#{m[0]}" for m in step[3])
            return f"backward {type(thing).__name__}({', '.join(map(self.name, step[2]))}) -> {made}"
        if kind == "add":
            return f"add      {self.name(step[1])} + {self.name(step[2])} -> #{step[3]}"
        if kind == "leaf":
            return f"grad     .grad of a {'Node' if thing.name is None else repr(thing.name)} of shape {thing.shape} <- {self.name(step[2])} ({step[3]})"
        return f"effect   {getattr(thing, '__qualname__', thing)}"

    def name(self, source):
        """A source in words: '#k' for a slot work made, 'argument i', or what came from outside."""
        if isinstance(source, int):
            return f"argument {source}" if source < self.arguments else f"#{source}"
        for kind, key in (("live", source.owner), ("buffer", source.array), ("constant", source.array)):
            if (kind, id(key)) in self.outside:
                return f"{kind} {getattr(source.array, 'shape', ())}"
        return "outside"

    def build_forward(self, index, a, b):
        _, f, sources, attributes, outputs, single, before = b
        where = f"input %d of operation {index} ({type(f).__name__})"
        inputs = [self.resolve(x, y, where % i) for i, (x, y) in enumerate(zip(a[2], sources))]
        reset = self.attribute_sources(index, f, a[3], attributes)
        live = self.live
        shadows, nodes = self.shadow_inputs(f, live), self.own_outputs(f)
        self.cleanups[id(f)] = self.cleanup(f, before, shadows, nodes)
        compute = self.kernel_chooser(f)
        buffer = self.buffer_for(into(type(f)) if single else None)

        def forward(slots):
            for slot, owner in live:
                slots[slot] = owner.value
            for name, kind, spec in reset:
                setattr(f, name, slots[spec] if kind == "array" else tuple(slots[s] if k == "array" else s for k, s in spec))
            values = [slots[i] for i in inputs]
            if buffer is not None and buffer.array is not None and buffer.mode == kernel_settings():
                ys = buffer.array
                buffer.form(f, ys, *values)
            else:
                ys = compute(values)
                if buffer is not None and not self.planned and compute.kernel is None:
                    buffer.offered = as_array(ys)
                    buffer.mode = kernel_settings()
                    ys = buffer.offered
            f.input_values = values
            for i, shadow in shadows:
                shadow.value = values[i]
            if single:
                slots[outputs[0]] = ys if type(ys) is np.ndarray or backend.is_array(ys) else as_array(ys)
            else:
                for slot, y in zip(outputs, ys):
                    slots[slot] = y
            for i, y in nodes:
                y.value = slots[outputs[i]]

        return forward

    def kernel_chooser(self, f):
        """``f.compute``, with the fast kernel (or the reference) chosen on the first replay and kept for later ones.

        A kernel's choice depends on the shapes, dtypes and memory order of its
        inputs, which are the same on every replay, and on the thread's kernel
        settings, which are part of the key.
        """
        chosen = {}

        def compute(values):  # Function.compute, with the dispatcher asked once per kernel setting
            mode = kernel_settings()
            kernel = chosen.get(mode, chosen)
            if kernel is chosen:
                kernel = chosen[mode] = choose_kernel(f, values)
            compute.kernel = kernel
            if kernel is None:
                return f.forward(*values)
            f.kernel = kernel.name
            return kernel.forward(f, *values)

        compute.kernel = None  # the kernel the last call ran (None: the reference forward)
        return compute

    def shadow_inputs(self, f, live):
        """Give ``f`` input Nodes of its own, which the replay keeps holding the current values.

        A backward may read its inputs' Nodes (``self.inputs[1].value``, ``needs_input_grad``): the
        Nodes of the recording would hold the recorded values, and an argument's Node is the user's.
        Parameters (live Nodes) stay as they are.
        """
        if f.inputs is None:
            return []
        kept = {id(owner) for _, owner in live}
        shadows, inputs = [], []
        for i, x in enumerate(f.inputs):
            if id(x) not in kept:
                x = Node(x.value, requires_grad=x.requires_grad)
                shadows.append((i, x))
            inputs.append(x)
        f.inputs = inputs
        return shadows

    def own_outputs(self, f):
        """Give ``f`` output Nodes of its own (``saved_outputs`` reads them), leaving the recording's Nodes, which the user may hold, as they were."""
        if not f.outputs:
            return []
        nodes = []
        for i, ref in enumerate(f.outputs):
            y = ref()  # None for an output nothing kept: its Node of its own gets a value on every replay all the same
            nodes.append((i, Node(0.0, requires_grad=False) if y is None else Node(y.value, requires_grad=y.requires_grad)))
        f.outputs = [weakref.ref(y) for _, y in nodes]
        return nodes

    def cleanup(self, f, before, shadows, nodes):
        """What drops the arrays ``f`` holds once its backward has run (as eager node frees the graph), so their memory is reused."""
        engine = {"inputs", "outputs", "input_values", "input_versions", "generation", "output_meta", "kernel"}
        saved = [name for name in vars(f) if name not in before and name not in engine]
        held = [node for _, node in shadows] + [node for _, node in nodes]
        attributes = f.__dict__

        def release():
            f.input_values = None
            for node in held:
                node.value = None
            for name in saved:
                attributes.pop(name, None)

        return release

    def attribute_sources(self, index, f, first, second):
        """The attributes of ``f`` to set before each replayed forward (arrays from arguments or earlier work)."""
        if first.keys() != second.keys():
            raise self.differs(f"operation {index} ({type(f).__name__})", "different attributes")
        reset = []
        for name, (kind, spec) in second.items():
            where = f"attribute {name!r} of operation {index} ({type(f).__name__})"
            if kind == "value":
                if not same_value(first[name][1], spec):
                    raise self.differs(where, f"the value {first[name][1]!r}, then {spec!r}")
            elif kind == "array":
                slot = self.resolve(first[name][1], spec, where)
                if slot not in self.fixed:
                    reset.append((name, "array", slot))
            else:
                if len(first[name][1]) != len(spec):
                    raise self.differs(where, "sequences of different lengths")
                items = [(k, self.resolve(fa[1], s, where) if k == "array" else s) for (k, s), fa in zip(spec, first[name][1])]
                if any(k == "array" and s not in self.fixed for k, s in items):
                    reset.append((name, kind, items))
        return reset

    def build_backward(self, index, a, b):
        _, f, sources, made = b
        where = f"the gradient of output %d of operation {index} ({type(f).__name__})"
        gys = [self.resolve(x, y, where % i) for i, (x, y) in enumerate(zip(a[2], sources))]
        if [m is None for m in a[3]] != [m is None for m in made]:
            raise self.differs(f"the backward of operation {index} ({type(f).__name__})", "different gradients")
        live = self.live
        outputs = [(i, slot, dtype) for i, m in enumerate(made) if m is not None for slot, dtype in [m]]
        backward, config = f.backward, Config
        release = self.cleanups.pop(id(f), None) or (lambda: None)

        def run_backward(slots):
            for slot, owner in live:
                slots[slot] = owner.value
            config.plain_backward = True
            try:
                gxs = backward(*[slots[i] for i in gys])
            finally:
                config.plain_backward = False
            if type(gxs) is not tuple:
                gxs = tuple(gxs) if type(gxs) is list else (gxs,)
            for i, slot, dtype in outputs:
                g = gxs[i]
                slots[slot] = g if g.dtype == dtype else g.astype(dtype)
            release()

        return run_backward

    def build_add(self, index, a, b):
        x = self.resolve(a[1], b[1], f"a gradient summed at step {index}")
        y = self.resolve(a[2], b[2], f"a gradient summed at step {index}")
        out, live = b[3], self.live
        buffer = self.buffer_for(into(Add))

        def add(slots):
            for slot, owner in live:
                slots[slot] = owner.value
            if buffer is not None and buffer.array is not None:
                buffer.form(None, buffer.array, slots[x], slots[y])
                slots[out] = buffer.array
            else:
                total = slots[out] = slots[x] + slots[y]
                if buffer is not None and not self.planned:
                    buffer.offered = total

        return add

    def build_leaf(self, index, a, b):
        _, x, source, mode, _ = b
        argument = self.argument_node(index, a, b)
        if a[1] is not x and argument is None:
            raise CaptureError(
                f"node.compile: operation {index} stores a gradient in a Node made inside the step (shape {x.shape}); only "
                "arguments and Nodes that live across steps (parameters) can receive .grad in a replayed step"
            )
        if a[3] != mode:
            raise self.differs(f"the gradient of a parameter of shape {x.shape}", f"stored by {a[3]}, then by {mode}")
        g, live = self.resolve(a[2], source, f"the gradient of a parameter of shape {x.shape}"), self.live
        self.escaping.add(g)

        def leaf(slots):
            for slot, owner in live:
                slots[slot] = owner.value
            target = x if argument is None else self.nodes[argument]
            if mode == "set":
                target.grad = slots[g]
            elif mode == "copy":
                target.grad = slots[g].copy()
            else:
                target.grad = slots[g] if target.grad is None else target.grad + slots[g]

        return leaf

    def argument_node(self, index, a, b):
        """The position among the arguments of the Node that operation ``index`` gives a gradient, or None."""
        first, second = a[4].get(id(a[1])), b[4].get(id(b[1]))
        if first != second:
            raise self.differs(f"operation {index}", "a gradient for different arguments")
        return second

    def build_effect(self, index, a, b):
        _, function, arguments, keywords, made = b
        where = f"an argument of {getattr(function, '__qualname__', function)} (step {index})"
        if a[1] != function:
            raise self.differs(f"step {index}", f"{name_of(a)}, then {name_of(b)}")
        if len(a[2]) != len(arguments) or a[3].keys() != keywords.keys():
            raise self.differs(where, "different arguments")
        args = [self.resolve_template(x, y, where) for x, y in zip(a[2], arguments)]
        kwargs = {k: self.resolve_template(a[3][k], v, where) for k, v in keywords.items()}
        self.escaping.update(template_slots(("sequence", (list, args))), template_slots(("sequence", (list, list(kwargs.values())))))
        if (a[4] is None) != (made is None) or (made is not None and a[4][0] != made[0]):
            raise self.differs(where, "a different kind of result")
        if made is not None and made[0] == "value" and not same_value(a[4][1], made[1]):
            raise self.differs(f"the result of {name_of(b)} (step {index})", f"{a[4][1]!r}, then {made[1]!r}")
        live, rebuild, store = self.live, self.rebuild, result_storer(function, name_of(b), made)

        def effect(slots):
            for slot, owner in live:
                slots[slot] = owner.value
            store(slots, function(*[rebuild(t, slots) for t in args], **{k: rebuild(t, slots) for k, t in kwargs.items()}))

        return effect


class Buffer:
    """Where a replayed operation writes its result once buffers are planned (``Replay.plan_buffers``).

    ``form``: the operation written with ``out=`` (``node.kernels.into``);
    ``offered``: the array it made on the first replay; ``array``: that array,
    once kept, written into on every later replay made with the same kernel
    settings, ``mode`` (under others a fast kernel may be chosen instead).
    """

    def __init__(self, form):
        self.form, self.offered, self.array, self.mode = form, None, None, None


def template_slots(template):
    """The slots a result or argument template (``Replay.resolve_template``) reads."""
    kind, value = template
    if kind in ("node", "array") and isinstance(value, int):
        return [value]
    if kind == "sequence":
        return [slot for t in value[1] for slot in template_slots(t)]
    if kind == "dict":
        return [slot for t in value.values() for slot in template_slots(t)]
    return []


def shares_memory(array, other):
    """Whether ``other`` (anything a step handed out) is an array that may share memory with ``array``."""
    if not backend.is_array(other) or backend.get_array_module(other) is not backend.get_array_module(array):
        return False
    return bool(backend.get_array_module(array).may_share_memory(array, other))


def result_storer(function, name, made):
    """What a replayed effect does with its result: arrays (and Nodes' arrays) into their slots; a plain value,
    a branch taken on the data, checked against the recording's."""

    def store(slots, result):
        if made is None:
            return
        kind, where = made
        if kind == "array":
            slots[where] = result
        elif kind == "node":
            slots[where] = result.value
        elif kind == "tuple":
            for slot, r in zip(where, result):
                slots[slot] = r
        elif not same_value(result, where):
            raise CaptureError(
                f"node.compile: on this call {name} ({summary(function)}) returned {result!r}, where the "
                f"recorded step got {where!r}: the step's path depends on the data here, so this call cannot "
                "be replayed. It stopped there, after the work before it (zero_grad, the forward up to that "
                "point) had run. Run such steps eagerly."
            )

    return store


def name_of(step):
    kind, thing = step[0], step[1]
    if kind in ("forward", "backward"):
        return f"the {kind} of {type(thing).__name__}"
    if kind == "effect":
        return getattr(thing, "__qualname__", repr(thing))
    return {"add": "a gradient sum", "leaf": "a stored gradient"}[kind]


def summary(function):
    """The first line of ``function``'s docstring, or its name."""
    doc = (getattr(function, "__doc__", None) or "").strip()
    return doc.splitlines()[0].rstrip(".") if doc else getattr(function, "__qualname__", repr(function))


def same_value(a, b):
    """Equality for what a step's recordings hold: arrays (shape, dtype and every element, NaN equal to NaN), sequences, numbers, objects."""
    if a is b:
        return True
    if backend.is_array(a) or backend.is_array(b):
        if not (backend.is_array(a) and backend.is_array(b)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        if backend.get_array_module(a) is not backend.get_array_module(b):
            return False
        xp = backend.get_array_module(a)
        return bool(xp.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.generic) or isinstance(b, np.generic):
        return bool(np.asarray(a == b).all()) if np.shape(a) == np.shape(b) else False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False

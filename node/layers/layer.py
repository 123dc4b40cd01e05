"""Parameter, Layer, Network and Sequential.

A Layer finds its parameters by walking its attributes (and the lists, tuples
and dicts among them), so a subclass only assigns them::

    class MLP(node.Network):
        def __init__(self):                 # no super().__init__() needed
            self.layers = [node.Linear(784, 256), node.Linear(256, 10)]

        def __call__(self, x):
            return self.layers[1](self.layers[0](x).relu())

Nothing here depends on ``Layer.__init__`` having run: state that every layer
needs (``training``) has a class-level default.

The same walk finds *buffers*: raw arrays held as attributes (batch-norm running
statistics, Center Loss centers). They are not trained, but they are moved by
``to()`` and written by ``save()``.
"""
from collections import namedtuple

from .. import backend
from ..core import Node, RemovableHandle
from ..serialization import load as _load_file
from ..serialization import save as _save_file
from ..validation import flag


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``Layer.load_state_dict`` returns, as PyTorch's: the names the layer has but the state lacked, and the reverse."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class Parameter(Node):
    """A Node that an optimizer updates: a layer's weights."""

    __slots__ = ()

    def __init__(self, value, name=None):
        super().__init__(value, requires_grad=True, name=name)


class Layer:
    """Base class of everything with parameters; call it like a function.

    Subclasses write ``forward(...)`` (or ``__call__`` directly, as the seed
    notebook does) and assign Parameters, Layers and arrays as attributes.
    """

    training = True  # class-level default, so subclasses need not call super().__init__()
    _forward_hooks = ()  # replaced by a list on the instance by register_forward_hook

    def __call__(self, *args, **kwargs):
        output = self.forward(*args, **kwargs)
        for hook in self._forward_hooks:
            hook(self, args, output)
        return output

    def register_forward_hook(self, hook):
        """Call ``hook(layer, inputs, output)`` after every call of this layer (to inspect activations).

        Layers that define ``__call__`` themselves instead of ``forward`` (as the
        original Center Loss notebook's do) bypass it. Returns a handle whose ``remove()``
        unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook needs a callable, got {hook!r:.60}")
        if "_forward_hooks" not in vars(self):
            self._forward_hooks = []
        self._forward_hooks.append(hook)
        return RemovableHandle(self._forward_hooks, hook)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward() or __call__()")

    # ---- walking the attributes ----------------------------------------------------
    def _walk(self):
        """Yield (dotted name, owner, key, value) for every Parameter, buffer and Layer below.

        ``owner[key]`` (or ``getattr(owner, key)``) is where the value lives, so a
        buffer can be replaced in place. Each object is visited once, even if shared.
        """
        seen = {id(self)}
        stack = [(name, self, name, value) for name, value in reversed(list(vars(self).items()))]
        while stack:
            name, owner, key, value = stack.pop()
            if isinstance(value, (Node, Layer)) or backend.is_array(value):
                if id(value) in seen:
                    continue
                seen.add(id(value))
            if isinstance(value, Parameter) or backend.is_array(value):
                yield name, owner, key, value
            elif isinstance(value, Layer):
                yield name, owner, key, value
                stack.extend((f"{name}.{k}", value, k, v) for k, v in reversed(list(vars(value).items())))
            elif isinstance(value, (list, tuple)):
                stack.extend((f"{name}.{i}", value, i, v) for i, v in reversed(list(enumerate(value))))
            elif isinstance(value, dict):
                stack.extend((f"{name}.{k}", value, k, v) for k, v in reversed(list(value.items())))

    def named_parameters(self):
        """(name, Parameter) pairs, e.g. ('layers.0.W', ...), each Parameter once."""
        return [(name, value) for name, _, _, value in self._walk() if isinstance(value, Parameter)]

    def parameters(self):
        """All Parameters below this layer, each once, in attribute order."""
        return [p for _, p in self.named_parameters()]

    def get_parameters(self):
        """The original Center Loss notebook's name for :meth:`parameters`."""
        return self.parameters()

    def named_buffers(self):
        """(name, array) pairs of the raw arrays held as attributes (running statistics, centers)."""
        return [(name, value) for name, _, _, value in self._walk() if backend.is_array(value)]

    def sublayers(self):
        """Every Layer below this one (not including itself)."""
        return [value for _, _, _, value in self._walk() if isinstance(value, Layer)]

    # ---- modes and devices -------------------------------------------------------
    def train(self, mode=True):
        """Training mode (batch statistics, dropout, center updates) for this layer and all below."""
        for layer in [self] + self.sublayers():
            layer.training = mode
        return self

    def eval(self):
        """Evaluation mode: running statistics, no dropout, no center updates."""
        return self.train(False)

    def to(self, name):
        """Move parameters, their gradients and buffers to backend ``name`` ('numpy' or 'cupy'), in place."""
        name = backend.canonical_name(name)
        for _, owner, key, value in list(self._walk()):
            if isinstance(value, Parameter):
                value.value = backend.to_backend(value.value, name)
                if value.grad is not None:
                    value.grad = backend.to_backend(getattr(value.grad, "value", value.grad), name)
            elif backend.is_array(value):
                _assign(owner, key, backend.to_backend(value, name))
        return self

    def zero_grad(self):
        """Clear the gradients of all parameters."""
        for p in self.parameters():
            p.grad = None

    # ---- checkpoints ---------------------------------------------------------------
    def state_dict(self):
        """{name: array} for every parameter and buffer (references, not copies)."""
        return {name: (value.value if isinstance(value, Parameter) else value) for name, _, _, value in self._walk() if not isinstance(value, Layer)}

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into the parameters and buffers, in place.

        Nothing is changed unless every entry fits. With ``strict=False`` (as in
        PyTorch) names missing from ``state`` keep their values and names this
        layer does not have are ignored; both lists are returned. Types and
        shapes are checked either way.

        Returns:
            IncompatibleKeys: ``(missing_keys, unexpected_keys)``, sorted lists
            (empty with ``strict=True``, where any would have raised).

        Raises:
            TypeError: ``state`` is not a dict, or the first name whose value is not a
                numeric array (a list, a string, None...), with the type it got, or
                that is complex for a real array of the layer.
            KeyError: ``strict=True`` and names missing from ``state`` or not in this layer, listed.
            ValueError: the first name whose shape differs, with both shapes.
        """
        cls = type(self).__name__
        if not callable(getattr(state, "keys", None)):  # a dict, or a mapping such as numpy.load's NpzFile
            raise TypeError(f"{cls}.load_state_dict expects a dict of arrays by name, got {type(state).__name__}")
        strict = flag(f"{cls}.load_state_dict", "strict", strict)
        arrays = self.state_dict()
        missing = sorted(set(arrays) - set(state))
        unexpected = sorted(set(state) - set(arrays), key=str)
        if strict and (missing or unexpected):
            raise KeyError(
                f"{cls}.load_state_dict: missing {missing}, unexpected {unexpected} "
                "(load_state_dict(state, strict=False) loads the names that match and returns the rest)"
            )
        arrays = {name: array for name, array in arrays.items() if name in state}
        for name, array in arrays.items():
            value = state[name]  # NumPy/CuPy arrays and NumPy scalars have a shape and a dtype; Nodes must pass .value
            kind = getattr(getattr(value, "dtype", None), "kind", None)
            if isinstance(value, Node) or not hasattr(value, "shape") or kind not in ("b", "i", "u", "f", "c"):
                got = type(value).__name__ if kind is None or isinstance(value, Node) else f"an array of dtype {value.dtype}"
                raise TypeError(f"{cls}.load_state_dict: '{name}' must be a numeric array, got {got}")
            if kind == "c" and array.dtype.kind != "c":
                raise TypeError(
                    f"{cls}.load_state_dict: '{name}' is complex ({value.dtype}) in the checkpoint but real "
                    f"({array.dtype}) in the model: loading it would drop the imaginary part"
                )
            if tuple(state[name].shape) != array.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: '{name}' has shape {tuple(state[name].shape)} "
                    f"in the checkpoint but {array.shape} in the model"
                )
        for name, array in arrays.items():  # in place: optimizers and views keep pointing at the same arrays
            array[...] = backend.as_array(state[name], backend.get_array_module(array), dtype=array.dtype)
        for p in self.parameters():
            p.modified_in_place()
        return IncompatibleKeys(missing, unexpected)

    def save(self, path):
        """Write parameters and buffers to ``path`` (.npz) atomically: a temp file renamed into place."""
        _save_file({name: backend.asnumpy(a) for name, a in self.state_dict().items()}, path)

    def load(self, path, strict=True):
        """Load parameters and buffers saved by :meth:`save` (names, types and shapes are checked).

        A checkpoint that does not fit this layer raises what :meth:`load_state_dict`
        raises, with the file's name in front: with several checkpoints about, the
        message has to say which one did not fit. Returns what
        :meth:`load_state_dict` returns (``strict`` as there).
        """
        state = _load_file(path)
        try:
            return self.load_state_dict(state, strict=strict)
        except (TypeError, KeyError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc.args[0]}") from None

    def named_children(self):
        """(name, Layer) for the layers directly below this one, as ``print(model)`` lists them.

        An attribute holding a Layer is named by the attribute; layers inside
        lists, tuples and dicts by their path (``layers.0``, ``heads.query``).
        """
        children, seen = [], set()
        stack = list(reversed(list(vars(self).items())))
        while stack:
            name, value = stack.pop()
            if isinstance(value, Layer):
                if id(value) not in seen and value is not self:
                    seen.add(id(value))
                    children.append((str(name), value))
            elif isinstance(value, (list, tuple)):
                stack.extend((f"{name}.{i}", v) for i, v in reversed(list(enumerate(value))))
            elif isinstance(value, dict):
                stack.extend((f"{name}.{k}", v) for k, v in reversed(list(value.items())))
        return children

    def __repr__(self):
        """The layer and, indented below it, its sub-layers, as PyTorch prints a module::

            MLP(
              (hidden): Linear(in_features=784, out_features=256, bias=True)
              (out): Linear(in_features=256, out_features=10, bias=True)
            )
        """
        extra, children = self.extra_repr(), self.named_children()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + [f"({name}): {repr(layer)}" for name, layer in children]
        return f"{type(self).__name__}(\n  " + "\n  ".join(line.replace("\n", "\n  ") for line in lines) + "\n)"

    def extra_repr(self):
        """The layer's key arguments, shown between its parentheses (subclasses write it)."""
        return ""


class Network(Layer):
    """A model made of layers: the base class the original Center Loss notebook builds its network on.

    It is a Layer with the same machinery (parameters, train/eval, to, save/load);
    the separate name states intent.
    """


class Sequential(Network):
    """Layers applied one after another: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def named_children(self):
        """The layers by position, ``0``, ``1``, ... (as PyTorch numbers a Sequential's)."""
        return [(str(i), layer) for i, layer in enumerate(self.layers)]


def _assign(owner, key, value):
    if isinstance(owner, (list, dict)):
        owner[key] = value
    elif isinstance(owner, tuple):
        raise TypeError(f"cannot move an array held inside a tuple ({key}); use a list")
    else:
        setattr(owner, key, value)

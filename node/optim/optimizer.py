"""The Optimizer base class: parameter groups, zero_grad, step, and resumable state.

Updates happen in place on ``param.value`` and never touch ``param.grad``
(gradients may be shared between Nodes; see ``Node.grad``).
"""
from .. import backend
from ..core import Node, replayable
from ..validation import real


class Optimizer:
    """Base class. Subclasses set ``defaults`` and write ``update(param, grad, group, state)``.

    Every group's hyperparameters are checked when the group is added (at
    construction too), by ``check_hyperparameters``: a bad learning rate fails
    at the line that wrote it, not as NaN weights steps later.

    Args:
        params: an iterable of Parameters, or of dicts ``{"params": [...], "lr": ...}``
            (parameter groups, each with its own hyperparameters; missing ones
            take the optimizer's).
        **hyperparameters: the defaults for every group, e.g. ``lr=0.01``.
    """

    defaults = {}

    def __init__(self, params, **hyperparameters):
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown hyperparameters {sorted(unknown)}")
        self.hyperparameters = {**self.defaults, **hyperparameters}
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self.param_groups = []
        self.state = {}  # Parameter -> its running quantities (momentum, moments, step count)
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add ``{"params": [...], <hyperparameter>: value, ...}`` to the optimized parameters."""
        group = dict(group)
        params = group.get("params")
        params = [params] if isinstance(params, Node) else list(params or [])
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Node) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__} can only optimize Nodes that require grad, got {p!r:.80}")
            if id(p) in seen:
                raise ValueError(f"a parameter appears in more than one group of {type(self).__name__}")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyperparameters {sorted(unknown)} in a parameter group")
        group = {**self.hyperparameters, **group, "params": params}
        group.update(self.check_hyperparameters({k: v for k, v in group.items() if k != "params"}))
        self.param_groups.append(group)

    def check_hyperparameters(self, hyperparameters):
        """The group's hyperparameters, checked (see ``node.validation``); subclasses check theirs and call this for ``lr``.

        Raises:
            TypeError: a value of the wrong type (``lr='0.1'``, ``lr=None``).
            ValueError: a value out of range (``lr=-1``, ``lr=nan``).
        """
        if "lr" not in hyperparameters:
            return dict(hyperparameters)
        return {**hyperparameters, "lr": real(type(self).__name__, "lr", hyperparameters["lr"], minimum=0)}

    def parameters(self):
        return [p for g in self.param_groups for p in g["params"]]

    @replayable
    def zero_grad(self):
        """Clear every parameter's gradient before the next backward()."""
        for p in self.parameters():
            p.grad = None

    @replayable
    def step(self):
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    elif state:
                        _follow_parameter(p, state)
                    # After backward(create_graph=True) .grad is a Node: the step uses its value.
                    self.update(p, getattr(p.grad, "value", p.grad), group, state)
                    p.version += 1  # changed in place: graphs that used the old value must not backpropagate

    def __call__(self):
        """One step; the original Center Loss notebook calls ``optimizer()``."""
        self.step()

    def update(self, param, grad, group, state):
        raise NotImplementedError

    # ---- resumable state ---------------------------------------------------------
    def state_dict(self):
        """Hyperparameters per group and per-parameter state (as NumPy arrays), by parameter index."""
        params = self.parameters()
        index = {id(p): i for i, p in enumerate(params)}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        state = {
            index[id(p)]: {k: backend.asnumpy(v) if backend.is_array(v) else v for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned, so training resumes exactly.

        The whole dict is checked before anything changes, so a malformed one
        (missing 'param_groups' or 'state', a parameter index out of range, a
        moment of the wrong shape) raises and leaves the optimizer as it was.

        Raises:
            TypeError: ``state_dict`` or a part of it has the wrong type (named).
            KeyError: 'param_groups' or 'state' is missing (named).
            ValueError: group sizes that differ, or a bad parameter index or shape (named).
        """
        groups, saved_state = self._checked_parts(state_dict)
        params = self.parameters()
        state = {}
        for i, saved in saved_state.items():
            if isinstance(i, bool) or not isinstance(i, (int, str)) or not str(i).isdecimal() or int(i) >= len(params):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: 'state' has an entry for parameter {i!r}, "
                    f"but this optimizer has parameters 0..{len(params) - 1}"
                )
            p = params[int(i)]
            state[p] = {k: self._restored(v, p, k, i) for k, v in saved.items()}
        restored = [  # checked as the constructor checks them, before any group changes
            self.check_hyperparameters({**{k: v for k, v in group.items() if k != "params"}, **{k: v for k, v in saved.items() if k != "params"}})
            for saved, group in zip(groups, self.param_groups)
        ]
        for hyperparameters, group in zip(restored, self.param_groups):
            group.update(hyperparameters)
        self.state = state

    def _checked_parts(self, state_dict):
        """The 'param_groups' and 'state' of ``state_dict``, checked against this optimizer."""
        cls = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{cls}.load_state_dict expects the dict state_dict() returns, got {type(state_dict).__name__}")
        missing = [key for key in ("param_groups", "state") if key not in state_dict]
        if missing:
            raise KeyError(
                f"{cls}.load_state_dict: the dict has no {' or '.join(repr(k) for k in missing)} "
                f"(it has {sorted(map(str, state_dict))}); pass what {cls}.state_dict() returned"
            )
        groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), (list, tuple)) for g in groups
        ):
            raise TypeError(f"{cls}.load_state_dict: 'param_groups' must be a list of dicts, each with a 'params' list")
        if not isinstance(saved_state, dict) or not all(isinstance(s, dict) for s in saved_state.values()):
            raise TypeError(f"{cls}.load_state_dict: 'state' must be a dict of dicts, by parameter index")
        if len(groups) != len(self.param_groups) or any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(
                f"{cls}.load_state_dict: the checkpoint has groups of sizes "
                f"{[len(g['params']) for g in groups]}, this optimizer {[len(g['params']) for g in self.param_groups]}"
            )
        return groups, saved_state

    def _restored(self, v, p, key, index):
        """Saved state ``key`` of parameter ``index`` (``p``): an array copied to ``p``'s device and dtype, or a number."""
        if backend.is_array(v) and v.shape == p.shape:
            return backend.as_array(v, backend.get_array_module(p.value), dtype=p.dtype).copy()
        if backend.is_array(v) and v.ndim == 0:
            return v.item()  # a number saved as a NumPy scalar
        if backend.is_array(v):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: state '{key}' of parameter {index} "
                f"has shape {v.shape}, the parameter {p.shape}"
            )
        return v

def _follow_parameter(param, state):
    """Move ``state``'s arrays to the device of ``param`` (after ``model.to(...)`` between steps)."""
    kind = type(param.value)
    for key, value in state.items():
        if type(value) is not kind and backend.is_array(value):
            state[key] = backend.to_backend(value, backend.get_array_module(param.value).__name__)

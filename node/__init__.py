"""node: a small define-by-run autograd framework on NumPy (and CuPy).

Read the package in dependency order: ``config`` → ``backend`` → ``core``
(Node, Function, backward) → ``functions`` (every op) → ``gradient_check``.
"""
from . import functions
from .backend import (
    BackendError,
    asnumpy,
    cupy_available,
    get_array_module,
    get_backend,
    scatter_add,
    set_backend,
)
from .config import Config, get_default_dtype, no_grad, set_default_dtype, using_config, zero_grad
from .core import Function, GraphError, Node, as_node
from .functions import concat, stack
from .gradient_check import gradcheck

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "Config",
    "Function",
    "GraphError",
    "Node",
    "as_node",
    "asnumpy",
    "concat",
    "cupy_available",
    "functions",
    "get_array_module",
    "get_backend",
    "get_default_dtype",
    "gradcheck",
    "no_grad",
    "scatter_add",
    "set_backend",
    "set_default_dtype",
    "stack",
    "using_config",
    "zero_grad",
]

"""Fast kernels: faster implementations of reference ops' forwards, beside them.

Each module registers its kernels with ``node.dispatch.register_kernel`` for
the reference Function they replace; ``Config.kernels = "reference"`` turns
them all off (see ``node.dispatch``). ``memory`` holds the machinery they
share: reused scratch arrays and memory orders. ``compiled`` holds the loops
that some kernels compile with numba where it is installed (optional, and
imported only when a kernel first needs it; ``Config.compiled_kernels = "off"``
keeps to NumPy).
"""
from .memory import Workspace, release_thread_workspace, tune_host_allocator
from . import conv  # noqa: F401  (registers the convolution's kernels)
from . import activation, normalization, pooling  # noqa: F401  (register the activations', batch norm's and pooling's kernels)
from . import loss  # noqa: F401  (registers the cross entropy gradient's kernel)
from . import outer  # noqa: F401  (registers the one-term matrix product's kernel)

__all__ = ["Workspace", "release_thread_workspace", "tune_host_allocator"]

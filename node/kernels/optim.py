"""Fast optimizer updates: the steps of ``node.optim`` computed without temporaries.

``node.optim.SGD`` and ``node.optim.Adam`` state their update as the plain
formula, one fresh array per operation. These functions do the same arithmetic,
in the same order, so the parameters come out identical to the last bit:

* on the host, with numba installed, as one compiled loop over each parameter
  (``node.kernels.compiled``): one pass over memory instead of nine for Adam,
  the same bits;
* on the host otherwise, in place in the parameter and the optimizer's state, with one
  scratch array reused by every parameter (``node.kernels.memory.temporary``),
  so a step allocates nothing of the parameters' size;
* on the GPU, each parameter's whole update as one fused kernel
  (``node.backend.fused``) instead of a dozen small ones.

How it is chosen: optimizers are not Functions, so nothing is registered with
``node.dispatch``. Each optimizer's ``update`` asks :func:`enabled` and calls
the function here when ``node.Config.kernels`` is "auto" (the default), and
runs its own formula when it is "reference"
(``with node.using_config("kernels", "reference"):``).
"""
from ..backend import fused, get_array_module, on_host
from ..config import Config
from . import compiled
from .memory import temporary


def enabled():
    """True when the optimizers should use these updates: ``node.Config.kernels`` is "auto"."""
    mode = Config.kernels
    if mode not in ("auto", "reference"):
        raise ValueError(f"node.Config.kernels must be 'auto' or 'reference', got {mode!r}")
    return mode == "auto"


def compiled_loop(name, p, *arrays):
    """The compiled loop ``name`` for ``p`` and ``arrays`` (flattened views), or None where NumPy must run.

    It runs where numba is on (``node.kernels.compiled``) and every array is a
    C-contiguous host array of p's dtype, float32 or float64.
    """
    if not compiled.enabled(p) or not p.flags.c_contiguous:
        return None
    for a in arrays:
        if a.dtype != p.dtype or a.shape != p.shape or not a.flags.c_contiguous:
            return None
    return compiled.loop(name, p.dtype)


def sgd_step(p, g, velocity, lr, momentum, nesterov, weight_decay):
    """``SGD``'s update of the array ``p`` in place; ``velocity`` (None without momentum) too."""
    if not on_host(p):
        if velocity is None:
            _sgd_kernel(p, g, lr, weight_decay)
        else:
            (_nesterov_kernel if nesterov else _momentum_kernel)(p, g, velocity, lr, momentum, weight_decay)
        return
    if velocity is None:
        loop = compiled_loop("sgd_plain", p, g)
        if loop is not None:
            loop(p.reshape(-1), g.reshape(-1), float(lr), float(weight_decay))
            return
    else:
        loop = compiled_loop("sgd", p, g, velocity)
        if loop is not None:
            loop(p.reshape(-1), g.reshape(-1), velocity.reshape(-1), float(lr), float(momentum), bool(nesterov), float(weight_decay))
            return
    if weight_decay:
        g = g + weight_decay * p
    if velocity is not None:
        velocity *= momentum
        velocity += g
        g = g + momentum * velocity if nesterov else velocity
    p -= lr * g


def adam_step(p, g, m, v, beta1, beta2, weight_decay, step_size, eps_hat):
    """``Adam``'s update of the arrays ``p``, ``m`` and ``v`` in place.

    ``step_size`` and ``eps_hat`` carry the bias corrections (see ``Adam``):
    p ← p - step_size · m / (√v + eps_hat).
    """
    if not on_host(p):
        _adam_kernel(p, g, m, v, beta1, 1 - beta1, beta2, 1 - beta2, weight_decay, step_size, eps_hat)
        return
    loop = compiled_loop("adam", p, g, m, v)
    if loop is not None:
        loop(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), float(beta1), float(beta2), float(weight_decay), float(step_size), float(eps_hat))
        return
    xp = get_array_module(p)
    work = temporary("adam step", p.shape, p.dtype)
    if weight_decay:
        g = g + weight_decay * p
    m *= beta1
    xp.multiply(g, 1 - beta1, out=work)
    m += work
    v *= beta2
    xp.multiply(g, g, out=work)
    work *= 1 - beta2
    v += work
    xp.sqrt(v, out=work)
    work += eps_hat
    xp.divide(m, work, out=work)
    work *= -step_size
    p += work


# The GPU's fused kernels. 1 - β arrives computed: inside a fused kernel,
# arithmetic between two scalar arguments would be done in float16.
@fused
def _sgd_kernel(xp, p, g, lr, weight_decay):
    p -= lr * (g + weight_decay * p)


@fused
def _momentum_kernel(xp, p, g, velocity, lr, momentum, weight_decay):
    g = g + weight_decay * p
    velocity *= momentum
    velocity += g
    p -= lr * velocity


@fused
def _nesterov_kernel(xp, p, g, velocity, lr, momentum, weight_decay):
    g = g + weight_decay * p
    velocity *= momentum
    velocity += g
    p -= lr * (g + momentum * velocity)


@fused
def _adam_kernel(xp, p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, step_size, eps_hat):
    g = g + weight_decay * p
    m *= beta1
    m += one_minus_beta1 * g
    v *= beta2
    v += one_minus_beta2 * (g * g)
    p -= step_size * (m / (xp.sqrt(v) + eps_hat))

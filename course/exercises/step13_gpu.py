"""Step 13: running on a GPU through xp.

CuPy copies NumPy's interface: ``cupy.exp``, ``cupy.sum(x, axis=1)``,
``x.reshape``, ``x @ w`` all exist, and compute on an NVIDIA GPU. So code
that never names NumPy, but asks the array for its module
(``xp = get_array_module(x)``) and then calls ``xp.exp``, runs on either.
This step writes that ``get_array_module``, and two pieces of engine code
with it that never copy anything to the host:

* ``get_array_module(x)``: the array module (numpy, cupy, ...) that owns ``x``;
* ``logsumexp(x, axis)``: log Σ exp, stable, on whatever device ``x`` is;
* ``adam_step(param, grad, m, v, t, ...)``: an optimizer update done in place
  on the device, with no copy to the host and no wait for the device.

There is no GPU here, so ``FakeDevice`` is a stand-in array module: its
arrays (``device.ndarray``, a subclass of ``numpy.ndarray``) refuse NumPy's
functions, as GPU memory would, and the device counts what would make a GPU
program slow: copies between host and device, and *syncs*, the moments the
host waits for the device (``float(x)``, ``print(x)``, ``asnumpy``).

Run it: ``python -m course.exercises.step13_gpu``.
"""
import sys

import numpy as np

from .step02_scalar import Node

# The array modules get_array_module knows besides NumPy, newest first: devices register here.
_modules = []

# ufuncs that Python's operators call (x + y, -x, x @ w, x > 0, x[...] += y): a device array allows these.
OPERATORS = {
    np.add, np.subtract, np.multiply, np.true_divide, np.floor_divide, np.remainder, np.power, np.negative,
    np.positive, np.absolute, np.matmul, np.equal, np.not_equal, np.less, np.less_equal, np.greater,
    np.greater_equal, np.invert, np.logical_not,
}


def register_array_module(xp):
    """Make ``get_array_module`` recognise the arrays of ``xp`` (a module with an ``ndarray`` type)."""
    if not any(known is xp for known in _modules):
        _modules.insert(0, xp)


def get_array_module(x):
    """The array module that owns ``x``: ``numpy``, ``cupy``, or a registered one (a ``FakeDevice``).

    The rule:

    1. a Node stands for its ``data``;
    2. if CuPy has been imported by someone (``sys.modules.get("cupy")`` is not
       None), register it: never import it here, importing CuPy starts the GPU;
    3. the first registered module ``xp`` with ``isinstance(x, xp.ndarray)``
       (registered modules come before NumPy, because a device's array type
       may subclass ``numpy.ndarray``, as ``FakeDevice``'s does);
    4. ``numpy`` for everything else: NumPy arrays, NumPy scalars, Python numbers.
    """
    # --- exercise 1: get_array_module, the module an array belongs to ---
    raise NotImplementedError('step 13 exercise 1 (get_array_module, the module an array belongs to) is not written yet: write it here, in place of this line')
    # --- end of exercise 1 ---


def to_device(x, xp):
    """A copy of the host array ``x`` in the memory of ``xp``'s device (a host-to-device transfer)."""
    return xp.asarray(x)


def to_host(x):
    """``x`` as a NumPy array: itself on the host, a copy from a device (the host waits for the device)."""
    xp = get_array_module(x)
    return x if xp is np else xp.asnumpy(x)


def logsumexp(x, axis=-1, keepdims=False):
    """log Σ exp(x) along ``axis``, computed with the module of ``x``, without overflow.

    With m the maximum along the axis (kept as a length-1 axis):
    log Σ exp(x) = m + log Σ exp(x - m); every exp(x - m) is at most 1.
    ``xp = get_array_module(x)``, then ``xp.max``, ``xp.exp``, ``xp.sum``,
    ``xp.log`` (with ``keepdims=True``), and without ``keepdims`` drop the
    axis at the end (``xp.squeeze(out, axis=axis)``). The result lives where
    ``x`` does: never convert to NumPy.
    """
    # --- exercise 2: an xp-generic, stable logsumexp ---
    raise NotImplementedError('step 13 exercise 2 (an xp-generic, stable logsumexp) is not written yet: write it here, in place of this line')
    # --- end of exercise 2 ---


def softmax(x, axis=-1):
    """exp(x - logsumexp(x)): the softmax, on the device of ``x``."""
    xp = get_array_module(x)
    return xp.exp(x - logsumexp(x, axis=axis, keepdims=True))


def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam update of the array ``param``, in place, on its device; ``m``, ``v`` are updated in place too.

        m ← β₁m + (1 - β₁)g,     v ← β₂v + (1 - β₂)g²
        param ← param - lr · m̂ / (√v̂ + ε),   m̂ = m / (1 - β₁ᵗ),   v̂ = v / (1 - β₂ᵗ)

    ``t`` is the step number (1 for the first step), a Python int: the bias
    corrections are host numbers, which costs the device nothing. Write into
    the arrays (``m *= beta1``, ``m += ...``, ``param -= ...``), never
    ``param = ...``, which would only rebind the local name; use ``xp.sqrt``
    with ``xp = get_array_module(param)``; and read nothing back to the host
    (no ``float``, no ``asnumpy``): that would make every step wait for the device.
    """
    # --- exercise 3: an Adam step in place on the device, with no copy to the host ---
    raise NotImplementedError('step 13 exercise 3 (an Adam step in place on the device, with no copy to the host) is not written yet: write it here, in place of this line')
    # --- end of exercise 3 ---


class DeviceArray(np.ndarray):
    """An array in the memory of a ``FakeDevice`` (each device makes its own subclass, ``device.ndarray``).

    Its elements are in host memory, of course: it is a stand-in. But it
    behaves as a GPU array does for a program on the host: Python's operators
    and the array's methods (``.sum()``, ``.reshape``, indexing) run "on the
    device" and give device arrays; NumPy's functions (``np.exp(x)``,
    ``np.sum(x)``) refuse it, since NumPy computes on the host; and anything
    that brings a value to the host (``float(x)``, ``x.item()``, ``print(x)``)
    is a *sync*, counted on the device.
    """

    device = None  # the FakeDevice, set on each device's subclass

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        device = self.device
        if method == "__call__" and ufunc not in OPERATORS:
            raise TypeError(f"numpy.{ufunc.__name__} got an array of {device.__name__}: NumPy computes on the host and "
                            f"cannot read device memory; use xp.{ufunc.__name__}(...) with xp = get_array_module(x)")
        arrays = [device.unwrap(a, f"numpy.{ufunc.__name__}") for a in inputs]
        if out is not None:
            kwargs["out"] = tuple(device.unwrap(a, f"numpy.{ufunc.__name__}") for a in out)
        device.launches += 1
        result = getattr(ufunc, method)(*arrays, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return device.wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} got an array of {self.device.__name__}: NumPy computes on the host and "
                        f"cannot read device memory; use xp.{func.__name__}(...) with xp = get_array_module(x)")

    def __getitem__(self, key):
        return self.device.wrap(super().__getitem__(key))  # one element is a 0-d device array, not a host number

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and not isinstance(value, DeviceArray):
            self.device.uploads += 1  # host values written into device memory: a host-to-device copy, as in CuPy
        super().__setitem__(key, value)

    def _synced(self):
        """A host view of the values, counted as a sync: the host waits for the device to finish."""
        self.device.syncs += 1
        return self.view(np.ndarray)

    def __float__(self):
        return float(self._synced())

    def __int__(self):
        return int(self._synced())

    def __bool__(self):
        return bool(self._synced())

    def item(self, *args):
        return self._synced().item(*args)

    def tolist(self):
        return self._synced().tolist()

    def __repr__(self):
        return f"{self.device.__name__}.array({np.array2string(self._synced(), separator=', ')})"

    def __str__(self):
        return str(self._synced())

    def get(self):
        """A NumPy copy, as CuPy's ``x.get()``: a device-to-host transfer."""
        return self.device.asnumpy(self)


class FakeDevice:
    """A stand-in for CuPy: an array module whose arrays refuse NumPy and count syncs and transfers.

    ``device.asarray(a)`` uploads a host array (counted in ``uploads``),
    ``device.asnumpy(x)`` downloads one (``downloads``, and a sync); every
    other NumPy function is available as ``device.<name>``, taking and
    returning device arrays (counted in ``launches``, one kernel each, as on
    a GPU). Mixing a NumPy array into a device operation raises TypeError,
    as CuPy does.
    """

    def __init__(self, name="fakedevice"):
        self.__name__ = name
        self.ndarray = type("DeviceArray", (DeviceArray,), {"device": self})
        self.syncs = self.uploads = self.downloads = self.launches = 0
        register_array_module(self)

    def __repr__(self):
        return f"<array module {self.__name__!r}: {self.launches} launches, {self.syncs} syncs, {self.uploads} uploads, {self.downloads} downloads>"

    def reset_counts(self):
        self.syncs = self.uploads = self.downloads = self.launches = 0

    def unwrap(self, a, what):
        """``a`` ready for NumPy: a host view of a device array of this device; numbers as they are; host arrays refused."""
        if isinstance(a, self.ndarray):
            return a.view(np.ndarray)
        if isinstance(a, np.ndarray):
            where = "another device" if isinstance(a, DeviceArray) else "the host (numpy.ndarray)"
            raise TypeError(f"{what}: an array of {self.__name__} cannot be combined with an array on {where}; "
                            f"move it first with {self.__name__}.asarray(...)")
        if isinstance(a, (tuple, list)):
            return type(a)(self.unwrap(b, what) for b in a)
        return a

    def wrap(self, result):
        """A NumPy result as a device array (numbers become 0-d arrays, as CuPy's reductions give)."""
        if isinstance(result, tuple):
            return tuple(self.wrap(r) for r in result)
        if isinstance(result, (np.ndarray, np.generic)):
            return np.asarray(result).view(self.ndarray)
        return result

    def asarray(self, a, dtype=None):
        """``a`` on this device: a device array as it is (or cast), anything else uploaded (one host-to-device copy)."""
        if isinstance(a, self.ndarray):
            return a if dtype is None else a.astype(dtype)
        if isinstance(a, DeviceArray):
            raise TypeError(f"{self.__name__}.asarray: the array is on another device")
        self.uploads += 1
        return np.array(a, dtype=dtype).view(self.ndarray)

    def asnumpy(self, a):
        """A NumPy copy of a device array (one device-to-host copy; the host waits for the device)."""
        if not isinstance(a, self.ndarray):
            return np.asarray(a)
        self.downloads += 1
        self.syncs += 1
        return np.array(a.view(np.ndarray))

    def __getattr__(self, name):
        thing = getattr(np, name)  # an AttributeError names what NumPy (and so this module) lacks
        if not callable(thing) or isinstance(thing, type):
            return thing  # constants (pi, newaxis) and dtypes (float32) are the same everywhere

        def launch(*args, **kwargs):
            self.launches += 1
            args = [self.unwrap(a, f"{self.__name__}.{name}") for a in args]
            kwargs = {k: self.unwrap(a, f"{self.__name__}.{name}") for k, a in kwargs.items()}
            return self.wrap(thing(*args, **kwargs))

        launch.__name__ = name
        return launch


if __name__ == "__main__":
    device = FakeDevice()
    rng = np.random.default_rng(0)
    host = rng.standard_normal((4, 5)) * 300
    x = to_device(host, device)
    print("get_array_module(host array):", get_array_module(host).__name__, "  of the device copy:", get_array_module(x).__name__)
    out = logsumexp(x)
    print("logsumexp on the device:", type(out).__name__, out.shape, " matches NumPy:",
          np.allclose(to_host(out), np.log(np.sum(np.exp(host - host.max(1, keepdims=True)), 1)) + host.max(1)))
    try:
        np.exp(x)
    except TypeError as error:
        print("np.exp(device array):", error)
    param, m, v = to_device(np.ones(3), device), device.zeros(3), device.zeros(3)
    device.reset_counts()
    for t in range(1, 101):
        adam_step(param, 2 * param, m, v, t, lr=0.05)  # minimising Σ param²: its gradient is 2·param
    print("100 Adam steps on the device:", device)
    print("param after them:", to_host(param), " then:", device)

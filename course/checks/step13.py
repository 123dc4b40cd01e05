"""Grading of step 13: running on a GPU through xp.

There is no GPU (and no CuPy) in grading: each check makes its own
``FakeDevice``, the stand-in array module of the reference solution, whose
arrays refuse NumPy's functions and which counts syncs and transfers. The
stand-in is imported from ``course/solutions/``, not from the graded file,
so that a change to the learner's copy of it cannot change the grading.
Values are compared with NumPy computed here.
"""
import importlib
import sys
import types

import numpy as np

from course.grading import expect, expect_close
from course.solutions.step13_gpu import DeviceArray, FakeDevice


def sibling(step, name):
    """The module ``name`` of the package the graded step was loaded in (the reference solutions)."""
    return importlib.import_module(step.__name__.rsplit(".", 1)[0] + "." + name)


def name_of(module):
    return getattr(module, "__name__", repr(module))


def new_device(step, name="fakedevice"):
    device = FakeDevice(name)
    step.register_array_module(device)
    return device


def host_view(x):
    """The values of a device array, read without counting a sync (the grader's privilege)."""
    return x.view(np.ndarray) if isinstance(x, np.ndarray) else x


def expect_on_device(what, device, out):
    expect(not (isinstance(out, np.ndarray) and not isinstance(out, DeviceArray)),
           f"{what} returned a numpy.ndarray for a device array input: use xp = get_array_module(x) and xp's functions, "
           "so that the result stays on the device")
    expect(isinstance(out, device.ndarray), f"{what} returned {type(out).__name__}, expected an array of the device ({name_of(device)}.ndarray)")


def expect_no_transfers(what, device):
    expect(device.syncs == 0 and device.downloads == 0 and device.uploads == 0,
           f"{what} copied between host and device ({device.uploads} uploads, {device.downloads} downloads, {device.syncs} syncs): "
           "compute with xp on the device; no float(), .item(), asnumpy, np.asarray or host arrays written into device arrays")


def exercise_1(step, rng):
    device = new_device(step)
    a = device.asarray(rng.standard_normal((2, 3)))
    got = step.get_array_module(a)
    expect(got is device, f"get_array_module(an array of the stand-in device) returned {name_of(got)}, expected the device's module "
                          f"{name_of(device)}: look through the registered modules first, numpy last (this device's array type subclasses numpy.ndarray)")
    host = rng.standard_normal(3)
    for what, value in [("a numpy.ndarray", host), ("the Python float 2.5", 2.5), ("the Python int 3", 3),
                        ("numpy.float64(1.0)", np.float64(1.0)), ("numpy.float32(2.0)", np.float32(2.0))]:
        got = step.get_array_module(value)
        expect(got is np, f"get_array_module({what}) returned {name_of(got)}, expected numpy")
    Node = sibling(step, "step05_arrays").Node
    got = step.get_array_module(Node(a))
    expect(got is device, f"get_array_module(a Node holding a device array) returned {name_of(got)}: a Node stands for its .data")
    got = step.get_array_module(Node(host))
    expect(got is np, f"get_array_module(a Node holding a NumPy array) returned {name_of(got)}, expected numpy")
    other = new_device(step, "otherdevice")
    b = other.asarray(host)
    expect(step.get_array_module(b) is other and step.get_array_module(a) is device,
           "with two devices registered, get_array_module must give each array its own device's module")
    if "cupy" in sys.modules:  # a real CuPy is loaded: its own get_array_module is the reference
        cupy = sys.modules["cupy"]
        x = cupy.asarray(host)
        expect(step.get_array_module(x) is cupy, "get_array_module(a CuPy array) is not cupy")
        return
    stand_in = FakeDevice("cupy")  # a module named cupy, found only through sys.modules
    fake_cupy = types.ModuleType("cupy")
    fake_cupy.ndarray = stand_in.ndarray
    sys.modules["cupy"] = fake_cupy
    try:
        got = step.get_array_module(stand_in.asarray(host))
    finally:
        del sys.modules["cupy"]
    expect(got is fake_cupy, f"get_array_module(a CuPy array, with CuPy imported by the program) returned {name_of(got)}: "
                             "when sys.modules.get('cupy') is a module, register it (never import it yourself)")


def reference_logsumexp(a, axis, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def exercise_2(step, rng):
    device = new_device(step)
    host = rng.standard_normal((4, 6)) * 3
    host[1] += 1000.0
    host[2] -= 1000.0
    x = device.asarray(host)
    device.reset_counts()
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        out = step.logsumexp(x)
    expect_on_device("logsumexp(x)", device, out)
    expect_no_transfers("logsumexp(x)", device)
    expect_close("logsumexp(x) over the last axis, x (4, 6) with rows near +1000 and -1000 (subtract each row's maximum "
                 "before exp, add it back after log)", reference_logsumexp(host, -1), host_view(out), rtol=1e-10, atol=1e-10)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        kept = step.logsumexp(x, axis=0, keepdims=True)
    expect_on_device("logsumexp(x, axis=0, keepdims=True)", device, kept)
    expect_close("logsumexp(x, axis=0, keepdims=True)", reference_logsumexp(host, 0, keepdims=True), host_view(kept), rtol=1e-10, atol=1e-10)
    cube = rng.standard_normal((2, 3, 5))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        on_host = step.logsumexp(cube, axis=1)
    expect(type(on_host) is np.ndarray, f"logsumexp(a NumPy array, axis=1) returned {type(on_host).__name__}, expected a numpy.ndarray")
    expect_close("logsumexp(a NumPy array (2, 3, 5), axis=1)", reference_logsumexp(cube, 1), on_host, rtol=1e-10, atol=1e-10)
    expect_no_transfers("logsumexp", device)


def exercise_3(step, rng):
    device = new_device(step)
    shape = (3, 4)
    p0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(3)]
    lr, beta1, beta2, eps = 0.1, 0.8, 0.9, 1e-6
    param, m, v = device.asarray(p0), device.zeros(shape), device.zeros(shape)
    on_device = [device.asarray(g) for g in grads]
    device.reset_counts()
    for t, g in enumerate(on_device, 1):
        step.adam_step(param, g, m, v, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    expect_no_transfers("adam_step", device)
    expect(not np.array_equal(host_view(param), p0), "adam_step did not change param: update it in place (param -= ...); "
                                                     "param = ... only rebinds the local name and the caller's array stays as it was")
    rp, rm, rv = p0.copy(), np.zeros(shape), np.zeros(shape)
    for t, g in enumerate(grads, 1):
        rm = beta1 * rm + (1 - beta1) * g
        rv = beta2 * rv + (1 - beta2) * g * g
        rp = rp - lr * (rm / (1 - beta1**t)) / (np.sqrt(rv / (1 - beta2**t)) + eps)
    expect_close("m after 3 adam_steps (β₁ = 0.8; m ← β₁m + (1 - β₁)g, in place)", rm, host_view(m))
    expect_close("v after 3 adam_steps (β₂ = 0.9; v ← β₂v + (1 - β₂)g², in place)", rv, host_view(v))
    expect_close("param after 3 adam_steps (lr 0.1, β₁ 0.8, β₂ 0.9, ε 1e-6, t = 1, 2, 3; with bias corrections)", rp, host_view(param))
    # the same code on the host
    hp, hm, hv = p0.copy(), np.zeros(shape), np.zeros(shape)
    for t, g in enumerate(grads, 1):
        step.adam_step(hp, g, hm, hv, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    expect_close("param after 3 adam_steps on NumPy arrays", rp, hp)

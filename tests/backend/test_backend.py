"""The backend module: choosing NumPy or CuPy, moving data, scatter-add, a quiet import."""
import subprocess
import sys

import numpy as np
import pytest

import node
from node import backend


def test_import_is_quiet_and_light():
    code = "import sys, node; print(sorted(m for m in ('matplotlib', 'cupy', 'tqdm') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""


def test_missing_cupy_gives_install_hint(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(node.BackendError, match=r"not installed.*pip install -e '\.\[gpu-cuda12\]' for CUDA 12"):
        node.set_backend("cupy")
    assert node.get_backend() == "numpy"
    assert not node.cupy_available()
    with pytest.raises(node.BackendError):
        node.Node(np.ones(2)).to("gpu")


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        node.set_backend("tpu")


def test_get_array_module_and_asnumpy(xp):
    a = xp.ones(3)
    assert node.get_array_module(a) is xp
    assert node.get_array_module(node.Node(a)) is xp
    assert isinstance(node.asnumpy(node.Node(a)), np.ndarray)


def test_scatter_add_accumulates_repeated_indices(xp):
    target = xp.zeros((3, 2))
    backend.scatter_add(target, xp.asarray([0, 2, 0, 0]), xp.ones((4, 2)))
    assert node.asnumpy(target).tolist() == [[3, 3], [0, 0], [1, 1]]


def test_python_data_lands_on_the_active_backend(xp):
    assert isinstance(node.Node([1.0, 2.0]).value, xp.ndarray)


def test_moving_a_node_between_backends(xp):
    x = node.Node(np.arange(3.0))
    moved = x.to(node.get_backend())
    assert isinstance(moved.value, xp.ndarray)
    back = moved.to("numpy")
    assert isinstance(back.value, np.ndarray) and back.value.tolist() == [0.0, 1.0, 2.0]


def test_sum_per_channel_matches_numpy_for_every_memory_order(xp, rng):
    for shape, memory_order in [((4, 3, 5, 6), (0, 2, 1, 3)), ((4, 3, 5, 6), (0, 1, 2, 3)), ((4, 3, 5, 6), (0, 2, 3, 1)), ((5, 3), (0, 1)), ((4, 3, 7), (0, 2, 1))]:
        memory = xp.asarray(rng.random([shape[i] for i in memory_order]))
        x = memory.transpose([memory_order.index(i) for i in range(len(shape))])
        assert x.shape == shape
        np.testing.assert_allclose(node.asnumpy(node.kernels.memory.sum_per_channel(x)), node.asnumpy(x.sum(axis=(0,) + tuple(range(2, x.ndim)))))
    cropped = xp.asarray(rng.random((4, 3, 6, 6)))[:, :, 1:5, 1:5]  # not contiguous in any order
    np.testing.assert_allclose(node.asnumpy(node.kernels.memory.sum_per_channel(cropped)), node.asnumpy(cropped.sum(axis=(0, 2, 3))))


def test_broadcast_shapes():
    assert backend.broadcast_shapes((3, 1, 4), (2, 1)) == (3, 2, 4)
    assert backend.broadcast_shapes((), (5,)) == (5,)
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\) cannot be broadcast"):
        backend.broadcast_shapes((3,), (4,))


def test_allocator_tuning_is_explicit_and_harmless():
    code = "import node, numpy as np; print(node.kernels.tune_host_allocator()); print(float((np.ones(10**7) * 2).sum()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] in ("True", "False") and out[1] == "20000000.0"

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
    with pytest.raises(node.BackendError, match=r"not installed.*pip install -e '\.\[gpu\]'"):
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

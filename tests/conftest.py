"""Shared fixtures: the array backend (NumPy always, CuPy when a GPU is present)
and hypothesis settings that keep the suite fast on two cores."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import node
from helpers import make_fake_mnist, real_data_root, skip_without_cupy

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module of the backend under test; that backend is active meanwhile."""
    if request.param == "cupy":
        skip_without_cupy()
    previous = node.get_backend()
    node.set_backend(request.param)
    try:
        yield node.backend.backend_module(request.param)
    finally:
        node.set_backend(previous)


@pytest.fixture(autouse=True)
def fresh_settings(request):
    """Every test starts from node's default settings (manual_seed, backend, grad mode) and leaves them so.

    With ``NODE_TEST_KERNELS=reference`` every test runs with the fast kernels
    off (only the reference ops), except tests marked ``kernels``, which check
    the kernels themselves.
    """
    node.Config.__init__()
    if os.environ.get("NODE_TEST_KERNELS") == "reference" and request.node.get_closest_marker("kernels") is None:
        node.Config.kernels = "reference"
    # The BLAS-thread governor follows the machine's load, and OpenBLAS's last bits follow the thread
    # count: off, so that tests comparing results bit for bit do not depend on what else the machine runs.
    governor = node.threads.set_enabled(request.node.get_closest_marker("governor") is not None)
    yield
    node.threads.set_enabled(governor)
    node.Config.__init__()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: runs on the CuPy backend (skipped without a GPU)")
    config.addinivalue_line("markers", "slow: trains on real data")
    config.addinivalue_line("markers", "kernels: checks the fast kernels themselves (kept on under NODE_TEST_KERNELS=reference)")
    config.addinivalue_line("markers", "notebook: executes a notebook in a Jupyter kernel (needs the notebook extra)")
    config.addinivalue_line("markers", "governor: keeps node.threads' BLAS-thread governor on (the suite turns it off elsewhere)")


# ---- data ------------------------------------------------------------------------------
@pytest.fixture
def real_data():
    root = real_data_root()
    if root is None:
        pytest.skip("real MNIST not found (set NODE_DATA or put the data in ../shared/data)")
    return root


@pytest.fixture
def fake_mnist(tmp_path):
    return make_fake_mnist(tmp_path / "data")

"""Shared fixtures: the array backend (NumPy always, CuPy when a GPU is present)
and hypothesis settings that keep the suite fast on two cores."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import node

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
    if request.param == "cupy" and not node.cupy_available():
        pytest.skip("CuPy with a CUDA GPU is not available")
    previous = node.get_backend()
    node.set_backend(request.param)
    try:
        yield node.backend.backend_module(request.param)
    finally:
        node.set_backend(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: runs on the CuPy backend (skipped without a GPU)")
    config.addinivalue_line("markers", "slow: trains on real data")

"""Shared fixtures: the array backend (NumPy always, CuPy when a GPU is present)
and hypothesis settings that keep the suite fast on two cores."""
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import node
from helpers import gradcheck_layer  # noqa: F401 -- defined once in helpers.py; some test modules import it from here

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


def skip_without_cupy():
    """Skip the calling test when CuPy cannot run; fail instead under NODE_REQUIRE_CUPY=1 (CI's CuPy pass)."""
    if node.cupy_available():
        return
    reason = "CuPy with a CUDA GPU is not available (or put ../shared/fake_cupy first on PYTHONPATH)"
    if os.environ.get("NODE_REQUIRE_CUPY") == "1":
        pytest.fail(f"NODE_REQUIRE_CUPY=1 but {reason}")
    pytest.skip(reason)


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
def fresh_settings():
    """Every test starts from node's default settings (manual_seed, backend, grad mode) and leaves them so."""
    node.Config.__init__()
    yield
    node.Config.__init__()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: runs on the CuPy backend (skipped without a GPU)")
    config.addinivalue_line("markers", "slow: trains on real data")
    config.addinivalue_line("markers", "notebook: executes a notebook in a Jupyter kernel (needs the notebook extra)")


# ---- data ------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def real_data_root():
    """The data root node.MNIST() reads ($NODE_DATA, else ../shared/data), when it holds the real mnist/*.gz; else None.

    The folder comes from ``node.data.data_root()``. Its last resort, the
    download cache, does not count: tests train on real data only where it was
    put on purpose, and on generated data otherwise.
    """
    root, source = node.data.data_root()
    if source == "cache" or not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        return None
    return root


@pytest.fixture
def real_data():
    root = real_data_root()
    if root is None:
        pytest.skip("real MNIST not found (set NODE_DATA or put the data in ../shared/data)")
    return root


def make_fake_mnist(root, n_train=600, n_test=200, seed=0, folder="mnist", gz=True):
    """Write small MNIST-format IDX files: ten classes, each a bright blob in its own place."""
    rng = np.random.default_rng(seed)
    out = Path(root) / folder
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            r, c = 3 + 7 * (label // 4), 3 + 6 * (label % 4)
            images[i, r : r + 6, c : c + 6] = rng.integers(180, 256, (6, 6))
        node.write_idx(out / f"{prefix}-images-idx3-ubyte{ext}", images)
        node.write_idx(out / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return Path(root)


@pytest.fixture
def fake_mnist(tmp_path):
    return make_fake_mnist(tmp_path / "data")

"""Every example runs on a small subset, writes its outputs, and resumes from its checkpoint.

Real MNIST is used when ../shared/data (or $NODE_DATA) is there, generated data otherwise.
"""
import json
import math
import sys

import numpy as np
import pytest

import node

from helpers import REPO, make_fake_mnist, real_data_root, skip_without_cupy

sys.path.insert(0, str(REPO / "examples"))


@pytest.fixture
def data(tmp_path):
    root = real_data_root()
    return str(root if root is not None else make_fake_mnist(tmp_path / "data", n_train=400, n_test=200))


@pytest.fixture(autouse=True)
def numpy_backend():
    yield
    node.set_backend("numpy")


def run(module, *argv):
    return __import__(module).main([str(a) for a in argv])


def test_center_loss_mnist_and_resume(tmp_path, data):
    out = tmp_path / "mlp"
    first = run("center_loss_mnist", "--data", data, "--limit", 400, "--epochs", 1, "--out", out, "--frames")
    assert set(first) >= {"test_accuracy", "compactness", "silhouette", "center_separation"}
    for name in ("features.png", "curves.png", "metrics.json", "checkpoint.npz", "frames/epoch=1.png"):
        assert (out / name).is_file(), name
    run("center_loss_mnist", "--data", data, "--limit", 400, "--epochs", 2, "--out", out, "--resume")
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2]  # epoch 1 came from the checkpoint


def test_center_loss_mnist_baseline(tmp_path, data):
    metrics = run("center_loss_mnist", "--data", data, "--limit", 300, "--epochs", 1, "--out", tmp_path, "--no-center")
    assert metrics["run"] == "softmax"


def test_compare_losses(tmp_path, data):
    results = run("compare_losses", "--data", data, "--limit", 200, "--epochs", 1, "--out", tmp_path)
    assert [r["run"] for r in results] == ["cross entropy", "+ center loss", "+ center + PC loss"]
    assert (tmp_path / "features.png").is_file() and (tmp_path / "table.md").is_file()
    assert all((tmp_path / d / "checkpoint.npz").is_file() for d in ("xent", "xent_center", "xent_center_pc"))


@pytest.mark.parametrize("extra", [[], ["--learnable-centers"]])
def test_center_loss_convnet(tmp_path, data, extra):
    out = tmp_path / "convnet"
    run("center_loss_convnet", "--data", data, "--limit", 200, "--epochs", 1, "--out", out, *extra)
    run("center_loss_convnet", "--data", data, "--limit", 200, "--epochs", 2, "--out", out, "--resume", *extra)
    assert (out / "frames" / "epoch=1.png").is_file() and (out / "frames" / "epoch=2.png").is_file()
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2


def test_soft_target_sigmoid(tmp_path, data):
    results = run("soft_target_sigmoid", "--data", data, "--limit", 300, "--epochs", 1, "--units", 64, "--out", tmp_path)
    custom, primitive = results
    assert custom["test_loss"] == pytest.approx(primitive["test_loss"], rel=1e-3)  # the experiment's point: they train alike
    assert (tmp_path / "curves.png").is_file()


def test_gpu_request_without_cupy_exits_with_the_reason(tmp_path, data, monkeypatch):
    monkeypatch.setattr(node.backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # as if CuPy were not installed
    with pytest.raises(SystemExit, match=r"--device gpu: .*CuPy"):
        run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 1, "--out", tmp_path, "--device", "gpu")


@pytest.mark.gpu
@pytest.mark.parametrize("example, extra", [("center_loss_mnist", []), ("center_loss_convnet", ["--learnable-centers"]), ("soft_target_sigmoid", ["--units", 32])])
def test_examples_on_the_gpu(tmp_path, data, example, extra):
    """--device gpu end to end: data moved to the GPU, training, evaluation, figures and checkpoint."""
    skip_without_cupy()
    out = tmp_path / example
    run(example, "--data", data, "--limit", 100, "--epochs", 1, "--batch-size", 50, "--out", out, "--device", "gpu", *extra)
    run(example, "--data", data, "--limit", 100, "--epochs", 2, "--batch-size", 50, "--out", out, "--device", "gpu", "--resume", *extra)
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert len(history) == 2 and all(math.isfinite(value) for record in history for key, value in record.items() if "loss" in key)


def test_non_finite_loss_stops_before_the_step_and_keeps_the_checkpoint(tmp_path, data):
    out = tmp_path / "mlp"
    run("center_loss_mnist", "--data", data, "--limit", 200, "--epochs", 1, "--out", out)
    saved = (out / "checkpoint.npz").read_bytes()
    with np.errstate(all="ignore"), pytest.raises(SystemExit, match=r"epoch 1: the loss is (nan|inf); stopped before the optimizer step"):
        run("center_loss_mnist", "--data", data, "--limit", 200, "--epochs", 1, "--out", out, "--lr", 1e30)  # diverges in step 2
    assert (out / "checkpoint.npz").read_bytes() == saved


def test_checkpoint_refuses_non_finite_weights(tmp_path):
    import common

    model = node.Linear(2, 2, rng=0)
    checkpoint = common.Checkpoint(tmp_path / "checkpoint.npz", model=model)
    checkpoint.save(0, [])
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    model.W.value[0, 0] = np.nan
    with pytest.raises(SystemExit, match=r"epoch 2: model has non-finite values in W; the last good checkpoint .* is left as it was"):
        checkpoint.save(1, [])
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved

"""examples/open_set.py (issue 24's study): the --quick run, its outputs, resume after a kill, option errors, the GPU path.

Always on generated IDX data (helpers.make_fake_mnist): the numbers are checked for range and
reproducibility, not for quality.
"""
import json
import math
import sys

import pytest

import node

from helpers import REPO, make_fake_mnist, skip_without_cupy

sys.path.insert(0, str(REPO / "examples"))

import open_set

RANGES = {"auc": (0, 1), "eer": (0, 1), "tar@1e-2": (0, 1), "tar@1e-3": (0, 1), "pair_accuracy": (0.4, 1),
          "precision_at_1": (0, 1), "r_precision": (0, 1), "map_at_r": (0, 1), "seen_accuracy": (0, 1)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(make_fake_mnist(tmp_path_factory.mktemp("data"), n_train=400, n_test=400))


@pytest.fixture(autouse=True)
def numpy_backend():
    yield
    node.set_backend("numpy")


def run(*argv):
    return open_set.main([str(a) for a in argv])


def check_report(report, models):
    assert list(report["models"]) == models
    for model, entry in report["models"].items():
        assert set(entry["mean"]) == set(open_set.METRICS) == set(entry["std"])
        for name, (low, high) in RANGES.items():
            assert low <= entry["mean"][name] <= high, (model, name, entry["mean"][name])
            assert entry["std"][name] >= 0


def test_quick_run_writes_its_outputs(tmp_path, data):
    report = run("--quick", "--data", data, "--out", tmp_path)
    check_report(report, list(open_set.QUICK_MODELS))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["models"] == json.loads(json.dumps(report["models"]))
    assert saved["args"]["epochs"] == 1 and saved["args"]["seeds"] == 1 and saved["args"]["limit"] == 300
    assert (tmp_path / "roc.png").is_file() and "| softmax |" in (tmp_path / "results.md").read_text()
    for model in open_set.QUICK_MODELS:
        result = json.loads((tmp_path / "runs" / f"{model}-seed0" / "result.json").read_text())
        assert result["epochs"] == 1 and len(result["roc_tpr"]) == len(open_set.FAR_GRID)
        assert (tmp_path / "runs" / f"{model}-seed0" / "checkpoint.npz").is_file()


def test_every_model_and_the_2d_pictures(tmp_path, data):
    report = run("--quick", "--data", data, "--out", tmp_path, "--models", ",".join(open_set.MODELS), "--feature-dim", 2,
                 "--limit", 40, "--batch-size", 20, "--pairs", 50)
    check_report(report, list(open_set.MODELS))
    for model in open_set.MODELS:
        assert (tmp_path / f"features_{model}.png").is_file(), model
        assert len(report["models"][model]["runs"]) == 1


def test_sensitivity(tmp_path, data, monkeypatch):
    monkeypatch.setattr(open_set, "LAMBDAS", (0.0, 1.0))  # the study's logic on two values of each (the full grids take 9 runs)
    monkeypatch.setattr(open_set, "ALPHAS", (0.1, 0.5))
    report = run("--quick", "--data", data, "--out", tmp_path, "--models", "center", "--sensitivity", "--limit", 40, "--batch-size", 20, "--pairs", 50)
    study = report["sensitivity"]
    assert [p["lambda"] for p in study["lambda"]] == list(open_set.LAMBDAS)
    assert [p["alpha"] for p in study["alpha"]] == list(open_set.ALPHAS)
    assert study["best_lambda"] in open_set.LAMBDAS and all(p["lambda"] == study["best_lambda"] for p in study["alpha"])
    best = max(study["lambda"], key=lambda p: p["pair_accuracy"])
    assert best["lambda"] == study["best_lambda"]
    assert (tmp_path / "sensitivity.png").is_file()
    trained = sorted(path.name for path in (tmp_path / "runs").glob("center-lambda*"))
    assert len(trained) == 3, trained  # λ 0 and 1 at α 0.5, then α 0.1 at the best λ: its α 0.5 run is not trained again


def test_resume_after_a_kill_gives_the_same_numbers(tmp_path, data, monkeypatch):
    options = ["--data", data, "--models", "contrastive,pc", "--seeds", 1, "--epochs", 2, "--limit", 40, "--batch-size", 20, "--pairs", 50]
    clean = run(*options, "--out", tmp_path / "clean")

    steps = {"count": 0}
    step = node.SGD.step

    def killed_at_some_step(self):
        steps["count"] += 1
        if steps["count"] == 12:  # in pc's second epoch: contrastive steps 1 optimizer 2 times an epoch, pc 3 optimizers
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(node.SGD, "step", killed_at_some_step)
    with pytest.raises(KeyboardInterrupt):
        run(*options, "--out", tmp_path / "killed")
    monkeypatch.setattr(node.SGD, "step", step)
    runs = tmp_path / "killed" / "runs"
    assert [p.parent.name for p in runs.glob("*/result.json")] == ["contrastive-seed0"]  # pc was killed in epoch 2
    assert node.load(runs / "pc-seed0" / "checkpoint.npz")["epoch"] == 0  # its checkpoint holds epoch 1
    resumed = run(*options, "--out", tmp_path / "killed", "--resume")
    for model in ("contrastive", "pc"):
        for a, b in zip(clean["models"][model]["runs"], resumed["models"][model]["runs"]):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), model


def test_resume_with_more_epochs_continues_finished_runs(tmp_path, data):
    options = ["--data", data, "--models", "softmax", "--seeds", 1, "--limit", 40, "--batch-size", 20, "--pairs", 50, "--out", tmp_path]
    run(*options, "--epochs", 1)
    run(*options, "--epochs", 2, "--resume")
    result = json.loads((tmp_path / "runs" / "softmax-seed0" / "result.json").read_text())
    assert [r["epoch"] for r in result["history"]] == [1, 2]


@pytest.mark.parametrize("argv, message", [
    (["--models", "softmax,triplet"], "argument --models: must be distinct names from"),
    (["--models", "softmax,softmax"], "argument --models: must be distinct names from"),
    (["--feature-dim", "1"], "argument --feature-dim: must be an integer >= 2, got 1"),
    (["--seeds", "0"], "argument --seeds: must be an integer >= 1, got 0"),
    (["--pairs", "x"], "argument --pairs: must be an integer >= 10 (pair accuracy's 10 folds), got 'x'"),
    (["--pairs", "5"], "argument --pairs: must be an integer >= 10 (pair accuracy's 10 folds), got 5"),
    (["--alpha", "1.5"], "argument --alpha: must be a finite number in [0, 1], got 1.5"),
    (["--contrastive-margin", "0"], "argument --contrastive-margin: must be a finite number"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
])
def test_option_errors(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        run("--quick", "--out", tmp_path / "never", *argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


@pytest.mark.gpu
def test_on_the_gpu(tmp_path, data):
    skip_without_cupy()
    options = ["--quick", "--data", data, "--models", ",".join(open_set.MODELS), "--limit", 40, "--batch-size", 20, "--pairs", 50, "--device", "gpu"]
    report = run(*options, "--out", tmp_path, "--epochs", 2)
    check_report(report, list(open_set.MODELS))
    assert all(math.isfinite(r["train_loss"]) for p in (tmp_path / "runs").glob("*/result.json") for r in json.loads(p.read_text())["history"])

"""benchmarks/mlp_step.py and conv_step.py run in tiny configurations and print their rows, skip lines and loss checks.

No timing is asserted. CI has neither PyTorch nor JAX: their skip lines are checked when they are absent.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

import node

from helpers import REPO, make_fake_mnist

BENCHMARKS = REPO / "benchmarks"


def installed(name):
    return importlib.util.find_spec(name) is not None


def bench(script, *argv, env=None):
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, argv)], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture
def data(tmp_path):
    make_fake_mnist(tmp_path / "data", n_train=120, n_test=10)
    return tmp_path / "data"


@pytest.fixture
def benchmarks(monkeypatch):
    """The benchmark modules imported in this process; node's backend is put back afterwards."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.syspath_prepend(str(REPO / "examples"))  # the workloads (benchmarks/harness.py adds it only when first imported)
    previous = node.get_backend()
    import conv_step
    import mlp_step

    yield mlp_step, conv_step
    node.set_backend(previous)


def check_skip_lines(out):
    if not installed("torch"):
        assert "PyTorch is not installed: its rows are skipped" in out
    if not installed("jax"):
        assert "JAX is not installed: its row is skipped" in out
    if hasattr(node, "compile"):
        assert "node captured" in out
    else:
        assert "the node captured row (node.compile(step)) is skipped" in out


def test_mlp_step_at_several_batch_sizes_prints_its_rows_and_skip_lines(data):
    out = bench("mlp_step.py", "--batch", 1, 8, "--steps", 2, "--repeats", 1, "--no-memory", "--data", data)
    check_skip_lines(out)
    for batch in (1, 8):
        assert f"batch {batch}: losses of the first 5 steps, node eager:" in out
        assert f"| {batch} | node eager | 2 |" in out
        assert f"| {batch} | hand-written NumPy | 2 |" in out
    assert "| time relative to node eager (below 1: faster than node) | batch 1 | batch 8 |" in out
    assert "OpenBLAS core type that ran:" in out
    assert "each implementation in its own process" in out


def test_mlp_step_peak_memory_and_reference_rows(data):
    out = bench("mlp_step.py", "--batch", 4, "--steps", 2, "--repeats", 1, "--reference", "--no-captured", "--data", data)
    assert "--no-captured: the node captured row is skipped." in out
    assert "| 4 | node, reference kernels | 2 |" in out
    assert "Peak RSS, a fresh process per implementation, batch 4, 2 steps:" in out
    assert "| hand-written NumPy |" in out.split("Peak RSS")[1]


def test_mlp_step_blas_env_both_runs_twice_and_says_which(data):
    env = {**os.environ, "OPENBLAS_L2_SIZE": "524288"}
    out = bench("mlp_step.py", "--batch", 2, "--steps", 1, "--repeats", 1, "--no-memory", "--no-captured", "--data", data,
                "--blas-env", "both", env=env)
    as_is, unset = out.split("=== OpenBLAS settings: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset ===")
    assert "=== OpenBLAS settings: the environment as this machine sets it ===" in as_is
    assert "OPENBLAS_L2_SIZE='524288'" in as_is
    assert "OPENBLAS_CORETYPE unset, OPENBLAS_L2_SIZE unset" in unset
    assert as_is.count("| 2 | node eager |") == unset.count("| 2 | node eager |") == 1


def test_mlp_step_captured_row_and_the_loss_check_in_one_process(benchmarks, monkeypatch, capsys, data):
    """With a stand-in node.compile: the captured row appears; a step whose loss differs stops the script."""
    mlp_step, _ = benchmarks
    monkeypatch.setattr(node, "compile", lambda step: step, raising=False)
    mlp_step.main(["--batch", 3, "--steps", 2, "--repeats", 1, "--no-memory", "--same-process", "--data", data])
    out = capsys.readouterr().out
    assert "| 3 | node captured | 2 |" in out
    assert "| time relative to node captured | batch 3 |" in out
    assert "all in this process" in out

    def wrong(step):
        return lambda x, t: step(x, t) * 1.01

    monkeypatch.setattr(node, "compile", wrong)
    with pytest.raises(SystemExit, match="LOSSES DISAGREE"):
        mlp_step.main(["--batch", 3, "--steps", 2, "--repeats", 1, "--no-memory", "--same-process", "--data", data])


def test_conv_step_at_several_batch_sizes_prints_its_rows_and_skip_lines():
    out = bench("conv_step.py", "--batch", 2, 3, "--steps", 1, "--repeats", 1, "--no-memory", "--models", "comparison CNN")
    check_skip_lines(out)
    for batch in (2, 3):
        assert f"comparison CNN, batch {batch}: losses of the first 3 steps, node eager:" in out
        assert f"| comparison CNN | {batch} | node eager | 1 |" in out


def test_conv_step_captured_row_in_one_process(benchmarks, monkeypatch, capsys):
    _, conv_step = benchmarks
    monkeypatch.setattr(node, "compile", lambda step: step, raising=False)
    conv_step.main(["--batch", 2, "--steps", 1, "--repeats", 1, "--no-memory", "--same-process", "--no-jax", "--models", "LeNets++"])
    out = capsys.readouterr().out
    assert "| LeNets++ | 2 | node captured | 1 |" in out
    assert "--no-jax: the JAX row is skipped." in out

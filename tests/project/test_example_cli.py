"""The examples' command line: --help, option checks, --data, --resume, figures, and the docs about them.

Quick: generated data (make_fake_mnist), a few dozen images, one epoch.
"""
import ast
import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import numpy as np
import pytest

import node

from helpers import REPO, make_fake_mnist

sys.path.insert(0, str(REPO / "examples"))

EXAMPLES = ["center_loss_mnist", "center_loss_convnet", "compare_losses", "soft_target_sigmoid", "seed_notebook"]


@pytest.fixture(autouse=True)
def numpy_backend():
    yield
    node.set_backend("numpy")


@pytest.fixture
def data(tmp_path):
    return make_fake_mnist(tmp_path / "data", n_train=200, n_test=100)


def run(module, *argv):
    return __import__(module).main([str(a) for a in argv])


def script(name, *argv, cwd, env=None):
    """Run examples/<name>.py as a command; returns the CompletedProcess."""
    env = {**os.environ, "COLUMNS": "100", **(env or {})}
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / f"{name}.py"), *map(str, argv)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def tree(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


# ---- 1. --resume refuses a checkpoint written with other options -------------------------
def test_resume_with_other_options_is_refused_naming_the_option(tmp_path, data):
    out = tmp_path / "mlp"
    run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 1, "--out", out)
    saved = (out / "checkpoint.npz").read_bytes()
    with pytest.raises(SystemExit) as exit:
        run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 2, "--out", out, "--resume", "--no-center")
    message = str(exit.value.code)
    assert "--no-center: False in the checkpoint, True now" in message
    assert "drop --resume" in message and "another --out" in message
    assert (out / "checkpoint.npz").read_bytes() == saved


def test_resume_of_a_baseline_with_center_loss_is_refused_not_a_key_error(tmp_path, data):
    out = tmp_path / "mlp"
    run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 1, "--out", out, "--no-center", "--lr", 0.01)
    with pytest.raises(SystemExit, match=r"(?s)--lr: 0\.01 in the checkpoint, 0\.001 now.*--no-center: True in the checkpoint, False now"):
        run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 2, "--out", out, "--resume")


def test_resume_may_change_epochs_out_data_device_and_allocator_tuning_only(tmp_path, data):
    import common

    args = common.parser("d.", epochs=1, batch_size=8, out="o").parse_args(["--limit", "50", "--data", "x"])
    config = common.run_config(args)
    assert {"batch_size", "limit", "seed"} <= set(config) and not {"epochs", "out", "resume", "data", "device", "tune_allocator"} & set(config)
    assert args.tune_allocator is False  # the process-wide allocator change is opt-in
    model = node.Linear(2, 2, rng=0)
    common.Checkpoint(tmp_path / "checkpoint.npz", config=config, model=model).save(0, [{"epoch": 1}])
    other = common.parser("d.", epochs=5, batch_size=8, out="elsewhere").parse_args(["--limit", "50", "--resume", "--device", "gpu", "--tune-allocator"])
    start, history = common.Checkpoint(tmp_path / "checkpoint.npz", config=common.run_config(other), model=model).resume(True)
    assert (start, history) == (1, [{"epoch": 1}])


# ---- 2. seed_notebook.py takes the shared options ------------------------------------------
def test_seed_notebook_help_exits_0_without_touching_data(tmp_path):
    env = {"NODE_DATA": str(tmp_path / "no-data"), "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = script("seed_notebook", "--help", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: seed_notebook.py")
    for option in ("--data", "--epochs", "--limit", "--seed", "--device", "--out", "--resume", "--tune-allocator"):
        assert option in result.stdout
    assert tree(tmp_path) == []  # no data folder, no download, no --out


def test_seed_notebook_runs_with_the_shared_options_and_saves_its_figure(tmp_path, data):
    out = tmp_path / "out"
    result = script("seed_notebook", "--data", data, "--epochs", 1, "--limit", 200, "--seed", 3, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"^epoch 0, loss \d+\.\d\d$", result.stdout, re.M) and "epoch 1," not in result.stdout
    assert (out / "features.png").stat().st_size > 10_000


def test_seed_notebook_says_resume_is_not_supported(tmp_path, data):
    result = script("seed_notebook", "--data", data, "--resume", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2 and "--resume is not supported" in result.stderr
    assert not (tmp_path / "out").exists()


# ---- 3. --data is checked before anything is created ---------------------------------------
@pytest.mark.parametrize("example", ["center_loss_mnist", "compare_losses"])
def test_missing_data_folder_is_named_and_nothing_is_created(tmp_path, example):
    typo = tmp_path / "shraed" / "data"
    with pytest.raises(SystemExit) as exit:
        run(example, "--data", typo, "--limit", 50, "--epochs", 1, "--out", tmp_path / "out")
    message = str(exit.value.code)
    assert f"--data {typo}: no such folder" in message and "root=" not in message
    assert tree(tmp_path) == []


def test_data_folder_without_mnist_tells_to_pass_data_not_root(tmp_path, monkeypatch):
    import node.data.datasets

    def offline(name, *args, **kwargs):
        raise node.data.DownloadError(f"could not download {name}.gz: offline")

    monkeypatch.setattr(node.data.datasets, "fetch", offline)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit:
        run("center_loss_mnist", "--data", tmp_path / "empty", "--limit", 50, "--epochs", 1, "--out", tmp_path / "out")
    message = str(exit.value.code)
    assert "is missing" in message and "pass --data" in message and "root=" not in message


# ---- 4. --epochs and --limit are checked; a finished run says so ---------------------------
@pytest.mark.parametrize("option, value", [("--epochs", 0), ("--epochs", -1), ("--limit", 0), ("--limit", 5), ("--batch-size", 0)])
def test_out_of_range_options_are_argparse_errors(tmp_path, data, capsys, option, value):
    argv = {"--epochs": 1, "--limit": 50, "--batch-size": 10, option: value}
    with pytest.raises(SystemExit) as exit:
        run("center_loss_mnist", "--data", data, "--out", tmp_path / "out", *[str(a) for item in argv.items() for a in item])
    assert exit.value.code == 2
    assert f"argument {option}: must be an integer >= " in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_resuming_a_finished_run_says_so_and_writes_the_report(tmp_path, data, capsys):
    out = tmp_path / "mlp"
    first = run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 1, "--out", out)
    (out / "metrics.json").unlink()
    capsys.readouterr()
    again = run("center_loss_mnist", "--data", data, "--limit", 100, "--epochs", 1, "--out", out, "--resume")
    printed = capsys.readouterr().out
    assert "already finished: the checkpoint holds 1 epoch and --epochs is 1" in printed and "epochs 2..1" not in printed
    assert again["test_accuracy"] == first["test_accuracy"] and (out / "metrics.json").is_file()


# ---- 5. help texts, the curves figure, the three panels ------------------------------------
def help_entries(text):
    """(description, {option: help text}) from argparse's --help output."""
    head, options = re.split(r"^(?:options|optional arguments):\n", text, maxsplit=1, flags=re.M)
    description = " ".join(head.split("\n\n", 1)[1].split())
    entries, current = {}, None
    for line in options.splitlines():
        if re.match(r"^  -", line):
            invocation, _, help_text = line.strip().partition("  ")
            current = re.findall(r"--[\w-]+", invocation)[-1]
            entries[current] = help_text.strip()
        elif current and line.startswith("   "):
            entries[current] = (entries[current] + " " + line.strip()).strip()
    return description, entries


@pytest.mark.parametrize("example", EXAMPLES)
def test_help_texts_are_complete(tmp_path, example):
    result = script(example, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    description, entries = help_entries(result.stdout)
    assert description.endswith(".") and len(description) > 40, f"description cut short: {description!r}"
    assert {"--data", "--epochs", "--limit", "--seed", "--device", "--out", "--resume"} <= set(entries)
    for option, help_text in entries.items():
        assert help_text, f"{example} {option} has no help text"
        assert help_text.count("default") <= 1, f"{example} {option} states its default twice: {help_text!r}"
    assert "at least 1" in entries["--epochs"] and ">= 20" in entries["--limit"]


def test_soft_target_curves_have_no_empty_panel(tmp_path, data, monkeypatch):
    figures = []
    draw = node.plot.training_curves
    monkeypatch.setattr(node.plot, "training_curves", lambda *a, **k: figures.append(draw(*a, **k)) or figures[-1])
    run("soft_target_sigmoid", "--data", data, "--limit", 100, "--epochs", 2, "--units", 16, "--out", tmp_path)
    (fig,) = figures
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.lines and all(len(line.get_xdata()) == 2 for line in ax.lines), ax.get_ylabel()
    assert {line.get_label() for line in fig.axes[1].lines} == {"custom Function test accuracy", "primitive ops test accuracy"}


def test_compare_losses_panels_do_not_overlap(tmp_path, data, monkeypatch):
    figures = []
    draw = node.plot.feature_panels
    monkeypatch.setattr(node.plot, "feature_panels", lambda *a, **k: figures.append(draw(*a, **k)) or figures[-1])
    run("compare_losses", "--data", data, "--limit", 20, "--epochs", 1, "--out", tmp_path)
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # each panel with its tick labels, axis labels and title
    assert len(boxes) == 3
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, f"panel labels overlap: {left.x1:.0f} >= {right.x0:.0f}"


# ---- 6. .gitignore ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["runs/center_loss_mnist/metrics.json", "examples/runs/center_loss_mnist/features.png"])
def test_runs_folders_are_ignored_anywhere(path):
    try:
        result = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", path], capture_output=True)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if result.returncode == 128:
        pytest.skip(f"{REPO} is not a git work tree")
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"


# ---- 7. docs/autograd.md matches the source ------------------------------------------------
def line_counts(path):
    """(all lines, lines of code): code excludes blank lines, comments and docstrings."""
    source = Path(path).read_text(encoding="utf-8")
    docstrings = set()
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    code = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            code.update(range(token.start[0], token.end[0] + 1))
    return len(source.splitlines()), len(code - docstrings)


def test_autograd_page_states_the_size_of_core_py():
    text = " ".join((REPO / "docs" / "autograd.md").read_text(encoding="utf-8").split())
    match = re.search(r"`node/core\.py` \(about (\d+) lines, some (\d+) of them code", text)
    assert match, "docs/autograd.md should say how long node/core.py is: '(about N lines, some M of them code ...'"
    total, code = line_counts(REPO / "node" / "core.py")
    assert int(match.group(1)) == pytest.approx(total, rel=0.15) and int(match.group(2)) == pytest.approx(code, rel=0.15), (total, code)


def test_autograd_page_names_the_call_path_of_mul(monkeypatch):
    """Every function between `a * b` and Mul.forward is named in the walkthrough."""
    from node.functions import arithmetic

    path = []
    forward = arithmetic.Mul.forward

    def spy(self, a, b):
        frame = sys._getframe(1)
        while frame is not None:
            if Path(frame.f_code.co_filename).resolve().is_relative_to(REPO / "node"):
                path.append(frame.f_code.co_name)
            frame = frame.f_back
        return forward(self, a, b)

    monkeypatch.setattr(arithmetic.Mul, "forward", spy)
    node.Node(np.ones(2)) * node.Node(np.ones(2))
    assert path[-1] == "__mul__" and "__call__" in path, path
    text = (REPO / "docs" / "autograd.md").read_text(encoding="utf-8")
    section = text.split("## Following one op: `mul`", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in path if not re.search(rf"`(?:[\w.]+\.)?{re.escape(name)}[`(]", section)]
    assert not missing, f"the walkthrough skips {missing} (the call path is {' <- '.join(path)})"


# ---- 8. every numeric option is checked by argparse, in one form (issue 25, area 10) ------------
BAD_OPTIONS = [
    ("soft_target_sigmoid", "--units", "0", "must be an integer >= 1, got 0"),
    ("soft_target_sigmoid", "--units", "2.5", "must be an integer >= 1, got '2.5'"),
    ("soft_target_sigmoid", "--lr", "-0.001", "must be a finite number >= 0, got -0.001"),
    ("center_loss_mnist", "--seed", "-1", "must be an integer >= 0, got -1"),
    ("center_loss_mnist", "--seed", "1e3", "must be an integer >= 0, got '1e3'"),
    ("center_loss_mnist", "--lambda", "-1", "must be a finite number >= 0, got -1"),
    ("center_loss_mnist", "--lambda", "nan", "must be a finite number >= 0, got nan"),
    ("center_loss_mnist", "--alpha", "1.5", r"must be a finite number in [0, 1], got 1.5"),
    ("center_loss_mnist", "--lr", "inf", "must be a finite number >= 0, got inf"),
    ("center_loss_mnist", "--lr", "fast", "must be a finite number >= 0, got 'fast'"),
    ("center_loss_mnist", "--batch-size", "-3", "must be an integer >= 1, got -3"),
    ("center_loss_convnet", "--alpha", "-0.5", r"must be a finite number in [0, 1], got -0.5"),
    ("center_loss_convnet", "--lambda", "-2", "must be a finite number >= 0, got -2"),
    ("center_loss_convnet", "--center-lr", "-1", "must be a finite number >= 0, got -1"),
    ("center_loss_convnet", "--lr", "-inf", "must be a finite number >= 0, got -inf"),
    ("compare_losses", "--lr", "-1", "must be a finite number >= 0, got -1"),
    ("compare_losses", "--lambda-center", "-1", "must be a finite number >= 0, got -1"),
    ("compare_losses", "--center-lr", "inf", "must be a finite number >= 0, got inf"),
    ("compare_losses", "--lambda-pc", "nan", "must be a finite number >= 0, got nan"),
    ("compare_losses", "--pc-lr", "-0.01", "must be a finite number >= 0, got -0.01"),
    ("seed_notebook", "--seed", "-1", "must be an integer >= 0, got -1"),
    ("seed_notebook", "--seed", str(2**32), f"must be an integer in [0, {2**32 - 1}] (np.random.seed's range), got {2**32}"),
    ("seed_notebook", "--epochs", "0", "must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize("example, option, value, message", BAD_OPTIONS, ids=[f"{e}{o}={v}" for e, o, v, _ in BAD_OPTIONS])
def test_bad_numeric_options_are_argparse_errors_naming_the_option(tmp_path, capsys, example, option, value, message):
    argv = (f"{option}={value}", "--out", tmp_path / "out")  # --lr=-inf: a value that starts with "-" but is no negative number
    if example == "seed_notebook":  # its cells run when the module is imported: only as a command
        result = script(example, *argv, cwd=tmp_path)
        code, err = result.returncode, result.stderr
    else:
        with pytest.raises(SystemExit) as exit:
            run(example, *argv)
        code, err = exit.value.code, capsys.readouterr().err
    assert code == 2
    assert err.startswith("usage: ") and f"error: argument {option}: {message}\n" in err, err
    assert not (tmp_path / "out").exists()


def test_a_bad_option_from_the_command_line_exits_2_without_a_traceback(tmp_path):
    result = script("soft_target_sigmoid", "--units", "0", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith("soft_target_sigmoid.py: error: argument --units: must be an integer >= 1, got 0")


EDGE_OPTIONS = [
    ("center_loss_mnist", ["--seed", "0", "--lambda", "0", "--alpha", "0", "--lr", "0"], {"seed": 0, "lambda_": 0.0, "alpha": 0.0, "lr": 0.0}),
    ("center_loss_mnist", ["--alpha", "1", "--lambda", "1e-3", "--seed", str(2**40)], {"alpha": 1.0, "lambda_": 0.001, "seed": 2**40}),
    ("center_loss_convnet", ["--lambda", "0", "--center-lr", "0", "--alpha", "0.5"], {"lambda_": 0.0, "center_lr": 0.0, "alpha": 0.5}),
    ("compare_losses", ["--lambda-pc", "0", "--pc-lr", "0", "--lambda-center", "0"], {"lambda_pc": 0.0, "pc_lr": 0.0, "lambda_center": 0.0}),
    ("soft_target_sigmoid", ["--units", "1", "--lr", "0"], {"units": 1, "lr": 0.0}),
]


@pytest.mark.parametrize("example, argv, expected", EDGE_OPTIONS, ids=[e for e, _, _ in EDGE_OPTIONS])
def test_edge_values_of_the_numeric_options_are_accepted(tmp_path, monkeypatch, example, argv, expected):
    import common

    class Parsed(Exception):
        pass

    def stop(args):
        raise Parsed(args)

    monkeypatch.setattr(common, "setup", stop)
    with pytest.raises(Parsed) as parsed:
        run(example, *argv, "--out", tmp_path / "out")
    args = vars(parsed.value.args[0])
    assert {name: args[name] for name in expected} == expected
    assert all(type(args[name]) is type(value) for name, value in expected.items())


def test_gpu_check_script_parses_and_names_what_it_runs():
    """benchmarks/gpu_check.sh is valid bash, and every script and option it runs exists (it runs only where a GPU is lent)."""
    import shutil

    script = REPO / "benchmarks" / "gpu_check.sh"
    if shutil.which("bash"):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    text = script.read_text(encoding="utf-8")
    for path, options in [
        ("examples/center_loss_mnist.py", ["--device", "--data", "--epochs", "--out"]),
        ("examples/center_loss_convnet.py", ["--device", "--data", "--epochs", "--limit", "--out"]),
        ("examples/tiny_gpt.py", ["--device", "--tiny", "--out"]),
        ("benchmarks/mlp_step.py", ["--device", "--repeats", "--limit", "--no-memory"]),
        ("benchmarks/conv_step.py", ["--device", "--repeats", "--steps", "--no-memory", "--models"]),
    ]:
        assert f"python {path}" in text, f"gpu_check.sh no longer runs {path}"
        source = (REPO / path).read_text(encoding="utf-8")
        if path == "examples/tiny_gpt.py":
            source += (REPO / "examples" / "chartext.py").read_text(encoding="utf-8") + (REPO / "examples" / "common.py").read_text(encoding="utf-8")
        elif path.startswith("examples/"):
            source += (REPO / "examples" / "common.py").read_text(encoding="utf-8")
        for option in options:
            assert f'"{option}"' in source, f"{path} has no option {option}, which gpu_check.sh passes"

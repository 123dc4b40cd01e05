"""The two text examples (char_lstm.py, tiny_gpt.py) in their --tiny configuration: they learn, write metrics.json,
print a sample, resume exactly, run on the GPU backend, and check their options before creating anything.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import node

from helpers import REPO, skip_without_cupy

sys.path.insert(0, str(REPO / "examples"))

EXAMPLES = ["char_lstm", "tiny_gpt"]
TEXT = REPO / "examples" / "data" / "shakespeare.txt"


@pytest.fixture(autouse=True)
def numpy_backend():
    yield
    node.set_backend("numpy")


def run(module, *argv):
    return __import__(module).main([str(a) for a in argv])


def losses(history, key):
    return [record[key] for record in history]


def tree(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


def test_the_text_is_shipped_public_domain_shakespeare_and_not_ignored():
    text = TEXT.read_text(encoding="utf-8")
    assert 250_000 <= len(text) <= 310_000 and text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert text.endswith("\n") and len(set(text)) == 62
    result = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", str(TEXT)], capture_output=True)
    if result.returncode == 128:
        pytest.skip(f"{REPO} is not a git work tree")
    assert result.returncode == 1, "examples/data/shakespeare.txt is ignored by .gitignore"


@pytest.mark.parametrize("example", EXAMPLES)
def test_tiny_run_learns_writes_metrics_and_prints_a_sample(tmp_path, capsys, example):
    metrics = run(example, "--tiny", "--out", tmp_path, "--sample-length", 120, "--prompt", "ROMEO:")
    printed = capsys.readouterr().out
    history = metrics["history"]
    assert [r["step"] for r in history] == [15, 30]
    chance = math.log(62)  # the loss of a uniform guess over the 62 characters
    assert history[-1]["validation_loss"] < history[0]["validation_loss"] and history[-1]["validation_loss"] < chance
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    sample = metrics["sample"]
    assert sample.startswith("ROMEO:") and len(sample) == len("ROMEO:") + 120
    assert set(sample) <= set(TEXT.read_text(encoding="utf-8"))
    assert f"--- sample (temperature 0.8) ---\n{sample}\n---" in printed
    assert "step 30: train loss " in printed and ", validation loss " in printed
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["validation_loss"] == history[-1]["validation_loss"] and saved["sample"] == sample and saved["steps"] == 30
    assert (tmp_path / "checkpoint.npz").is_file()


def run_until(monkeypatch, example, step, *argv):
    """Run ``example --tiny *argv`` until the checkpoint of ``step`` is written, then stop there as a killed run would."""
    import common

    save = common.Checkpoint.save

    class Stopped(Exception):
        pass

    def save_then_stop(self, index, history):
        save(self, index, history)
        if index + 1 == step:
            raise Stopped

    with monkeypatch.context() as patched:
        patched.setattr(common.Checkpoint, "save", save_then_stop)
        with pytest.raises(Stopped):
            run(example, "--tiny", *argv)


@pytest.mark.parametrize("example", EXAMPLES)
def test_resume_continues_exactly(tmp_path, capsys, monkeypatch, example):
    """Stopped after the checkpoint of step 15 and resumed, a run gives the losses and the sample of one in one go."""
    whole = run(example, "--tiny", "--out", tmp_path / "whole")
    run_until(monkeypatch, example, 15, "--out", tmp_path / "split")
    capsys.readouterr()
    resumed = run(example, "--tiny", "--out", tmp_path / "split", "--resume")
    assert "resumed from" in capsys.readouterr().out
    for key in ("train_loss", "validation_loss"):
        assert losses(resumed["history"], key) == losses(whole["history"], key)
    assert resumed["sample"] == whole["sample"]


def test_the_lstm_may_train_further_on_resume(tmp_path):
    run("char_lstm", "--tiny", "--out", tmp_path)
    metrics = run("char_lstm", "--tiny", "--out", tmp_path, "--resume", "--steps", 45)
    assert [r["step"] for r in metrics["history"]] == [15, 30, 45]


def test_the_transformer_keeps_its_schedule_length_on_resume(tmp_path):
    run("tiny_gpt", "--tiny", "--out", tmp_path, "--steps", 20)
    with pytest.raises(SystemExit, match=r"--steps: 20 in the checkpoint, 40 now"):
        run("tiny_gpt", "--tiny", "--out", tmp_path, "--resume", "--steps", 40)


def test_resume_with_other_model_options_is_refused(tmp_path):
    run("char_lstm", "--tiny", "--out", tmp_path, "--steps", 15)
    with pytest.raises(SystemExit, match=r"--hidden: 32 in the checkpoint, 16 now"):
        run("char_lstm", "--tiny", "--out", tmp_path, "--resume", "--hidden", 16)


def test_a_finished_run_says_so_and_writes_the_report(tmp_path, capsys):
    first = run("char_lstm", "--tiny", "--out", tmp_path)
    (tmp_path / "metrics.json").unlink()
    capsys.readouterr()
    again = run("char_lstm", "--tiny", "--out", tmp_path, "--resume")
    assert "already finished: the checkpoint holds 30 steps and --steps is 30" in capsys.readouterr().out
    assert again["validation_loss"] == first["validation_loss"] and (tmp_path / "metrics.json").is_file()


BAD = [
    ("tiny_gpt", ["--width", "30", "--heads", "4"], 2, "argument --width: must be a multiple of --heads (4), got 30"),
    ("char_lstm", ["--limit", "999"], 2, "argument --limit: must be an integer >= 1000, got 999"),
    ("char_lstm", ["--temperature", "0"], 2, "argument --temperature: must be a finite number > 0, got 0"),
    ("tiny_gpt", ["--steps", "0"], 2, "argument --steps: must be an integer >= 1, got 0"),
    ("tiny_gpt", ["--clip", "-1"], 2, "argument --clip: must be a finite number > 0, got -1"),
]


@pytest.mark.parametrize("example, argv, code, message", BAD, ids=[f"{e}{a[0]}" for e, a, _, _ in BAD])
def test_bad_options_are_argparse_errors(tmp_path, capsys, example, argv, code, message):
    with pytest.raises(SystemExit) as exit:
        run(example, "--tiny", *argv, "--out", tmp_path / "out")
    assert exit.value.code == code and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "no/such.txt"], r"--data no/such\.txt: no such file"),
        (["--limit", 1000, "--block", 200], r"the text has 1000 characters: its last 10% must hold a window of --block 200 \+ 1, so it needs at least 2010"),
        (["--prompt", "ROMEO~"], r"--prompt 'ROMEO~': characters \['~'\] are not in the text's vocabulary"),
    ],
)
def test_unusable_text_or_prompt_is_named_and_nothing_is_created(tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        run("char_lstm", "--tiny", *argv, "--out", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_another_text_file_can_be_learned(tmp_path):
    text = tmp_path / "poem.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    metrics = run("tiny_gpt", "--tiny", "--data", text, "--out", tmp_path / "out", "--prompt", "the ")
    assert metrics["validation_loss"] < math.log(len(set(text.read_text())))


@pytest.mark.parametrize("example", EXAMPLES)
def test_help_lists_every_option_with_a_text(tmp_path, example):
    env = {**os.environ, "COLUMNS": "100"}
    result = subprocess.run([sys.executable, str(REPO / "examples" / f"{example}.py"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--data", "--steps", "--limit", "--seed", "--device", "--out", "--resume", "--tiny", "--temperature", "--prompt"):
        assert option in result.stdout
    steps = __import__(example).PRESETS["full"]["steps"]
    assert f"(default: {steps}; with --tiny: 30)" in " ".join(result.stdout.split())
    assert tree(tmp_path) == []


@pytest.mark.gpu
@pytest.mark.parametrize("example", EXAMPLES)
def test_tiny_run_on_the_gpu_and_resume(tmp_path, monkeypatch, example):
    """--device gpu end to end: the text, the windows and the weights on the GPU; checkpoint, resume and sample."""
    skip_without_cupy()
    run_until(monkeypatch, example, 15, "--device", "gpu", "--out", tmp_path)
    metrics = run(example, "--tiny", "--device", "gpu", "--out", tmp_path, "--resume")
    assert [r["step"] for r in metrics["history"]] == [15, 30]
    assert all(math.isfinite(r[key]) for r in metrics["history"] for key in ("train_loss", "validation_loss"))
    assert metrics["history"][-1]["validation_loss"] < math.log(62) and len(metrics["sample"]) == 301

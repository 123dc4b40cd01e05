"""Plumbing shared by the examples: arguments, data, checkpoints, evaluation, outputs.

Every example takes the same options (--data, --epochs, --limit, --seed,
--device, --out, --resume, --tune-allocator), writes its figures and a metrics.json into --out,
saves a checkpoint there after every epoch (atomically) and, with --resume,
continues from it. The checkpoint records the options that define the run
(``run_config``), so --resume refuses to continue a run that had other ones.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm  # a widget when run inside Jupyter, text in a terminal

import node
from node import validation
from node.fileio import atomic_write

MIN_LIMIT = 20  # --limit: enough for a batch and several images of most classes (fewer make the metrics degenerate)
NOT_RUN_OPTIONS = {"data", "epochs", "out", "resume", "device", "frames", "tune_allocator"}  # where, how long and on what a run goes: free to change on --resume


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to help texts that do not state their default themselves, and not for flags or None."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


# The argparse types of the examples' numeric options. A bad value ends the run before anything is
# made, with argparse's usage line and exit status 2: "argument --seed: must be an integer >= 0, got -1"
# (argparse puts the option's name in front), in the words node.validation uses for constructors.
def at_least(minimum, rule=""):
    """An argparse type: an integer >= ``minimum``; ``rule`` says why, after the bound."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}{rule}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}{rule}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its own messages
    return parse


def number(minimum=None, maximum=None, open_minimum=False, open_maximum=False):
    """An argparse type: a finite number in the range given (ends closed unless open_*); nan and inf are refused."""
    bounds = validation.interval(minimum, maximum, open_minimum, open_maximum)

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a finite number{bounds}, got {text!r}") from None
        try:
            return validation.real("", "", value, minimum, maximum, open_minimum, open_maximum)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a finite number{bounds}, got {text}") from None

    parse.__name__ = f"number{bounds}"
    return parse


RATE = number(minimum=0)  # learning rates and loss weights: 0 is allowed (nothing learned, or the term left out)


def parser(doc, epochs, batch_size, out, limit=None, helps=None):
    """The shared options; ``doc`` is the example's docstring, whose first paragraph becomes the description.

    ``helps`` maps an option's dest to a help text of the example's own, replacing the shared one.
    """
    description = " ".join(doc.strip().split("\n\n")[0].split())
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    helps = {
        "data": "data root holding mnist/ (default: node.data.data_root()'s: $NODE_DATA, else ../shared/data if it exists, else ~/.cache/node)",
        "epochs": "epochs to train, at least 1 (with --resume: the total, counting those done)",
        "batch_size": "training batch size",
        "limit": f"use only the first N training and N test images, N >= {MIN_LIMIT}" + (" (default: all)" if limit is None else ""),
        "seed": "seed for weights, centers and shuffling",
        "device": "cpu runs on NumPy, gpu on CuPy",
        "out": "folder for figures, metrics.json and checkpoint.npz",
        "resume": "continue from the checkpoint in --out; the options that define the run (all but --epochs, --data, --device, --out and --tune-allocator) must be those it was written with",
        "tune_allocator": "opt in to node.kernels.tune_host_allocator(): glibc keeps freed large arrays for reuse, for this whole process (see docs/performance.md; node's own workspaces already reuse most memory)",
        **(helps or {}),
    }
    p.add_argument("--data", default=None, help=helps["data"])
    p.add_argument("--epochs", type=at_least(1), default=epochs, help=helps["epochs"])
    p.add_argument("--batch-size", type=at_least(1), default=batch_size, help=helps["batch_size"])
    rule = " (enough images for a batch and for the per-class metrics)"
    p.add_argument("--limit", type=at_least(MIN_LIMIT, rule), default=limit, metavar="N", help=helps["limit"])
    p.add_argument("--seed", type=at_least(0), default=0, help=helps["seed"])
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help=helps["device"])
    p.add_argument("--out", default=out, help=helps["out"])
    p.add_argument("--resume", action="store_true", help=helps["resume"])
    p.add_argument("--tune-allocator", action="store_true", help=helps["tune_allocator"])
    return p


def setup(args):
    """Check --data, select the backend and create the output folder; exit with a clear message if either is wrong.

    Nothing is created before the checks pass.
    """
    root, source = node.data.data_root(args.data or None)
    if source in ("argument", "$NODE_DATA") and not root.is_dir():  # the cache folder is created when data is downloaded
        given = f"--data {args.data}" if args.data else f"$NODE_DATA={os.environ['NODE_DATA']} (no --data given)"
        sys.exit(
            f"{given}: no such folder ({root.absolute()}). Pass --data a folder that holds mnist/ "
            "(the four MNIST IDX files), or create the folder first to have them downloaded there. Nothing was created."
        )
    try:
        node.set_backend("cupy" if args.device == "gpu" else "numpy")
    except node.BackendError as exc:
        sys.exit(f"--device gpu: {exc}")
    if args.tune_allocator and not node.kernels.tune_host_allocator():
        print("--tune-allocator: this C library has no mallopt (not glibc); the allocator is left as it is", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def datasets(args, dataset_class=node.MNIST, **options):
    """(train, test) with --limit applied (the first N images of each); without --data, where node.data.data_root() says."""
    root = args.data or None
    try:
        train = dataset_class(training=True, root=root, **options)
        test = dataset_class(training=False, root=root, **options)
    except FileNotFoundError as exc:  # the library's message speaks to Python callers (root=); this one to the command line
        sys.exit(str(exc).replace("pass root=", "pass --data"))
    if args.device == "gpu":  # images stay on the GPU as uint8; batches are gathered and converted there
        train, test = train.to("gpu"), test.to("gpu")
    if args.limit:
        train = node.Subset(train, np.arange(min(args.limit, len(train))))
        test = node.Subset(test, np.arange(min(args.limit, len(test))))
    return train, test


def batches(loader, desc):
    """The loader wrapped in a tqdm progress bar."""
    return tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)


def option(name):
    """The command-line spelling of an argparse destination: no_center -> --no-center, lambda_ -> --lambda."""
    return "--" + name.rstrip("_").replace("_", "-")


def run_config(args):
    """The options that define a run (model, loss, optimizer, data, seed), as a checkpoint records them.

    Left out: where and how long it runs (NOT_RUN_OPTIONS); those may change on --resume.
    """
    return {name: value for name, value in sorted(vars(args).items()) if name not in NOT_RUN_OPTIONS}


class Checkpoint:
    """Saves and restores everything a run needs to continue exactly.

    ``parts`` maps names to objects with ``state_dict()``/``load_state_dict()``
    (models, optimizers, schedulers, loaders, center losses). ``config`` (see
    ``run_config``) is stored with them, and a resume with other options is refused.
    ``unit`` is what a run counts, as its messages name it: "epoch", or "step"
    for the text examples (``save(i, ...)`` after the i+1-th).
    """

    def __init__(self, path, config=None, unit="epoch", **parts):
        self.path, self.config, self.unit, self.parts = Path(path), config, unit, parts

    def save(self, epoch, history):
        """Write the checkpoint atomically; refuse (and exit) if any weight is NaN or infinite."""
        state = {name: part.state_dict() for name, part in self.parts.items()}
        for name, part in state.items():
            bad = [key for key, value in part.items() if node.backend.is_array(value) and value.dtype.kind in "fc" and not np.isfinite(node.asnumpy(value)).all()]
            if bad:
                sys.exit(
                    f"{self.unit} {epoch + 1}: {name} has non-finite values in {', '.join(bad[:5])}; the last good checkpoint "
                    f"({self.path}) is left as it was. Find the source with node.detect_anomaly(), or lower the learning rate."
                )
        node.save({"parts": state, "epoch": epoch, "history": history, "config": self.config}, self.path)

    def resume(self, requested):
        """(next epoch, history): from the checkpoint when --resume and it exists, else (0, []).

        Exits with a message if the checkpoint was written by a run with other options.
        """
        if not requested:
            return 0, []
        if not self.path.is_file():
            print(f"--resume: no checkpoint at {self.path}; starting from scratch", flush=True)
            return 0, []
        state = node.load(self.path)
        fresh = "To start a new run instead, drop --resume (the checkpoint there is then overwritten) or pick another --out."
        saved = state.get("config")
        if saved is None and self.config is not None:
            print(f"--resume: {self.path} does not record its run's options (an older checkpoint); they are not checked", flush=True)
        elif saved is not None and self.config is not None and saved != self.config:
            missing = "(no such option)"
            shown = lambda value: "not given" if value is None else value
            differ = [
                f"{option(name)}: {shown(saved.get(name, missing))} in the checkpoint, {shown(self.config.get(name, missing))} now"
                for name in sorted(set(saved) | set(self.config)) if saved.get(name, missing) != self.config.get(name, missing)
            ]
            sys.exit(
                f"--resume: {self.path} was written by a run with other options, and a checkpoint continues only its own run:\n  "
                + "\n  ".join(differ) + f"\nResume with the options it was written with. {fresh}"
            )
        missing_parts = [name for name in self.parts if name not in state["parts"]]
        if missing_parts:
            sys.exit(f"--resume: {self.path} holds no {', '.join(missing_parts)}, so it was written by another kind of run. {fresh}")
        for name, part in self.parts.items():
            part.load_state_dict(state["parts"][name])
        print(f"resumed from {self.path} after {self.unit} {state['epoch'] + 1}", flush=True)
        return state["epoch"] + 1, state["history"]


def epochs_to_train(start, epochs, unit="epoch"):
    """The plan a run prints: "epochs 3..5", or, for a resumed run that is already finished, what it does instead.

    ``unit`` is what the run counts ("epoch", or "step" with the option --steps).
    """
    if start < epochs:
        return f"{unit}s {start + 1}..{epochs}"
    return (
        f"already finished: the checkpoint holds {start} {unit}{'s' if start != 1 else ''} and --{unit}s is {epochs}, so nothing is trained; "
        f"the report is written from the checkpoint (raise --{unit}s to train further)"
    )


def stop_if_not_finite(loss, where):
    """Exit before the optimizer step if the loss is NaN or infinite, so the weights stay as they were.

    On the CPU this checks every step. On the GPU reading the loss would make
    every step wait for the device, so there the checkpoint's check (once per
    epoch) stands guard instead: non-finite weights are never saved.
    """
    value = loss.value
    if node.get_array_module(value) is np and not np.isfinite(value).all():
        sys.exit(
            f"{where}: the loss is {float(value)}; stopped before the optimizer step, so the weights and the last "
            "checkpoint stay as they were. Find the source with node.detect_anomaly() (docs/autograd.md), or lower the learning rate."
        )


def predict(forward, dataset, batch_size=1000):
    """Run ``forward(input) -> (features, scores)`` over a dataset without a graph.

    Returns (features, scores, labels) as NumPy arrays, in dataset order.
    """
    features, scores, labels = [], [], []
    with node.no_grad():
        for x, t in node.DataLoader(dataset, batch_size=batch_size, shuffle=False):
            h, s = forward(x)
            features.append(h.value)
            scores.append(s.value)
            labels.append(t.value)
    xp = node.get_array_module(features[0])  # joined where they are, then copied to the host once each
    features, scores, labels = (node.asnumpy(xp.concatenate(parts)) for parts in (features, scores, labels))
    return features, scores, labels.argmax(axis=1) if labels.ndim == 2 else labels


def evaluate_epoch(model, test, history, epoch, train_loss, began, batch_size=1000, **extra):
    """Test accuracy and compactness after an epoch: appended to ``history``, printed, returned with the features."""
    features, scores, labels = predict(model, test, batch_size)
    record = {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "test_accuracy": node.metrics.accuracy(scores, labels),
        "compactness": node.metrics.compactness(features, labels),
        **extra,
        "seconds": time.perf_counter() - began,
    }
    history.append(record)
    print(
        f"epoch {record['epoch']}: loss {record['train_loss']:.4f}, test accuracy {record['test_accuracy']:.4f}, "
        f"tr(S_W)/tr(S_B) {record['compactness']:.4f} ({record['seconds']:.1f} s)",
        flush=True,
    )
    return features, labels


def final_report(model, test, out, name, history, args, batch_size=1000, title=None):
    """Feature scatter, curves, metrics.json and a table for a trained model; returns the metrics."""
    features, scores, labels = predict(model, test, batch_size)
    metrics = {"run": name, "test_accuracy": node.metrics.accuracy(scores, labels), **node.metrics.feature_report(features, labels)}
    node.plot.scatter_features(features, labels, out / "features.png", title=title or f"{name}: test features")
    curves = {"train loss": [r["train_loss"] for r in history], "test accuracy": [r["test_accuracy"] for r in history]}
    node.plot.training_curves(curves, out / "curves.png", title=name)
    write_json(out / "metrics.json", {**metrics, "history": history, "args": vars(args)})
    print(markdown_table([metrics], ["run", "test_accuracy", "compactness", "silhouette", "center_separation"]))
    return metrics


def write_json(path, obj):
    """Write JSON atomically (node.fileio.atomic_write), with the permissions the umask gives."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)


def write_text(path, text):
    """Write text atomically (node.fileio.atomic_write), with the permissions the umask gives."""
    with atomic_write(path, "w") as f:
        f.write(text)


def markdown_table(rows, columns):
    """A Markdown table of dicts, with floats to 4 places."""
    cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)

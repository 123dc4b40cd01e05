"""Plumbing shared by the two text examples (char_lstm.py, tiny_gpt.py): options, characters, windows, sampling.

Both learn to predict the next character of a text file, by default
examples/data/shakespeare.txt: the first 300,000 characters of Shakespeare's
plays (public domain) as collected in the tiny-shakespeare file of Andrej
Karpathy's char-rnn repository (data/tinyshakespeare/input.txt of
github.com/karpathy/char-rnn), cut at a speech boundary.

* The vocabulary is the sorted set of the text's characters; each character is
  its index in it (an integer "code").
* The last 10% of the text is the validation part; the model never trains on it.
* A training batch is ``batch_size`` windows of ``block + 1`` characters starting at
  random places of the training part, drawn by a seeded ``numpy.random.Generator``
  (no global random state): the inputs are a window's first ``block`` characters,
  the targets the ``block`` characters one further on.
* The validation loss is the mean cross entropy, in nats per character, over the
  whole validation part cut into windows of ``block`` characters.
* The run counts steps, not epochs: --steps is the total, --eval-every steps apart
  the validation loss is measured and a checkpoint written (atomically), and
  --resume continues from it exactly (the windows' generator is part of it).
* At the end a sample is generated: the model's next-character distribution
  sharpened by --temperature and drawn from with a generator seeded by --seed.

The options follow examples/common.py's (the same names, types and checks);
a run writes metrics.json and checkpoint.npz into --out.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import common
import node

TEXT = Path(__file__).resolve().parent / "data" / "shakespeare.txt"
MIN_LIMIT = 1000  # --limit: characters, enough for a validation part of a few windows
VALIDATION = 0.1  # the last 10% of the text
# Options that change neither the model nor the batches it is trained on: free to change on --resume.
FREE = {"steps", "eval_every", "sample_length", "temperature", "prompt"}


def parser(doc, out, presets, helps=None):
    """The text examples' options. ``presets`` holds {"full": {...}, "tiny": {...}} defaults for the options
    whose default depends on --tiny (the example adds its own model options with ``default=None``);
    :func:`parse` fills them in. ``helps`` maps a dest to the example's own help text."""
    default = lambda name: default_of(presets, name)
    description = " ".join(doc.strip().split("\n\n")[0].split())
    p = argparse.ArgumentParser(description=description, formatter_class=common.HelpFormatter)
    helps = {
        "data": "the text file to learn, read as UTF-8 (default: examples/data/shakespeare.txt, 300 KB of Shakespeare's plays)",
        "steps": "training steps, at least 1 (with --resume: the total, counting those done)",
        "batch_size": "windows per training batch",
        "block": "characters per window",
        **(helps or {}),
    }
    p.add_argument("--data", default=None, help=helps["data"])
    p.add_argument("--steps", type=common.at_least(1), default=None, help=helps["steps"] + default("steps"))
    p.add_argument("--batch-size", type=common.at_least(1), default=None, help=helps["batch_size"] + default("batch_size"))
    p.add_argument("--block", type=common.at_least(1), default=None, help=helps["block"] + default("block"))
    p.add_argument("--limit", type=common.at_least(MIN_LIMIT), default=None, metavar="N", help="use only the first N characters of the text (default: all)")
    p.add_argument("--seed", type=common.at_least(0), default=0, help="seed for the weights, the windows and the sample")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="cpu runs on NumPy, gpu on CuPy")
    p.add_argument("--out", default=out, help="folder for metrics.json and checkpoint.npz")
    p.add_argument(
        "--resume", action="store_true",
        help="continue from the checkpoint in --out; the options that define the run (all but --steps, --eval-every, --data, "
        "--device, --out and the sample's) must be those it was written with",
    )
    p.add_argument("--eval-every", type=common.at_least(1), default=None, metavar="N", help="steps between validation losses and checkpoints" + default("eval_every"))
    p.add_argument("--sample-length", type=common.at_least(1), default=300, metavar="N", help="characters to generate at the end")
    p.add_argument("--temperature", type=common.number(minimum=0, open_minimum=True), default=0.8, help="the sample's temperature, > 0 (lower: safer choices)")
    p.add_argument("--prompt", default="\n", help="the text the sample continues; its characters must be in the vocabulary (default: a newline)")
    p.add_argument("--tiny", action="store_true", help="a tiny model trained for a few steps: a smoke test of seconds (what CI runs)")
    return p


def default_of(presets, name):
    """The end of an option's help text: " (default: 256; with --tiny: 32)"."""
    return f" (default: {presets['full'][name]}; with --tiny: {presets['tiny'][name]})"


def parse(p, argv, presets):
    """Parse ``argv`` and fill the options left unset from the preset (--tiny's or the full one)."""
    args = p.parse_args(argv)
    for name, value in presets["tiny" if args.tiny else "full"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


class CharData:
    """A text as integer codes over its sorted characters, split into a training and a validation part.

    ``train`` and ``validation`` are int64 arrays on the active backend (host
    copies stay in ``host_train`` and ``host_validation``).
    """

    def __init__(self, text, validation=VALIDATION):
        self.vocabulary = "".join(sorted(set(text)))
        self.index = {c: i for i, c in enumerate(self.vocabulary)}
        codes = self.encode(text)
        split = int(round(len(codes) * (1 - validation)))
        self.host_train, self.host_validation = codes[:split], codes[split:]
        xp = node.backend.backend_module()
        self.train, self.validation = xp.asarray(self.host_train), xp.asarray(self.host_validation)

    def __len__(self):
        return len(self.vocabulary)

    def encode(self, text):
        """The codes of ``text`` (an int64 NumPy array); KeyError on a character outside the vocabulary."""
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, codes):
        """The text of ``codes``."""
        return "".join(self.vocabulary[int(i)] for i in codes)


def read_text(args):
    """The text of --data (the first --limit characters); exits with a message naming the option if it cannot be used."""
    path = Path(args.data) if args.data else TEXT
    given = f"--data {args.data}" if args.data else f"the default text {path}"
    if not path.is_file():
        sys.exit(f"{given}: no such file. Pass --data a UTF-8 text file. Nothing was created.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        sys.exit(f"{given}: not UTF-8 text ({exc.reason} at byte {exc.start}). Nothing was created.")
    return text[: args.limit] if args.limit else text


def setup(args):
    """Read the text, select the backend and create --out: (out, data). Exits with a message, creating nothing, when
    the text or the device cannot be used or the validation part is shorter than one window."""
    text = read_text(args)
    need = int(np.ceil((args.block + 1) / VALIDATION))
    if len(text) < need:
        sys.exit(
            f"the text has {len(text)} characters: its last {VALIDATION:.0%} must hold a window of --block {args.block} + 1, "
            f"so it needs at least {need} (raise --limit, use a longer --data or lower --block). Nothing was created."
        )
    if args.prompt == "" or any(c not in set(text) for c in args.prompt):
        missing = sorted(set(args.prompt) - set(text))
        sys.exit(f"--prompt {args.prompt!r}: " + (f"characters {missing} are not in the text's vocabulary" if missing else "must not be empty"))
    try:
        node.set_backend("cupy" if args.device == "gpu" else "numpy")
    except node.BackendError as exc:
        sys.exit(f"--device gpu: {exc}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out, CharData(text)


def run_config(args, data, defines=()):
    """What a checkpoint records of the run: the options that define it (not FREE ones, unless named in ``defines``)
    and the vocabulary."""
    free = FREE - set(defines)
    config = {name: value for name, value in {**common.run_config(args), **{name: getattr(args, name) for name in defines}}.items() if name not in free}
    return {**config, "vocabulary": data.vocabulary}


class Windows:
    """Batches of random windows of ``codes``: ``next()`` returns (inputs, targets), two (batch_size, block) arrays
    on the codes' device, the targets one character further on. The starts come from a seeded NumPy
    Generator, whose state ``state_dict()`` holds, so a resumed run draws the same windows."""

    def __init__(self, codes, block, batch_size, seed):
        self.codes, self.block, self.batch_size = codes, block, batch_size
        self.rng = np.random.default_rng(seed)
        self.offsets = np.arange(block + 1)

    def next(self):
        starts = self.rng.integers(0, len(self.codes) - self.block, size=self.batch_size)  # the last window ends at the last character
        xp = node.get_array_module(self.codes)
        rows = self.codes[xp.asarray(starts[:, None] + self.offsets)]  # the indices go to the device; the text is already there
        return rows[:, :-1], rows[:, 1:]

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]


def validation_loss(loss_of, codes, block, batch_size=64):
    """Mean cross entropy per character (nats) over ``codes`` cut into consecutive windows of ``block``.

    ``loss_of(inputs, targets)`` returns the mean loss of a batch of windows as a
    Node; all windows have ``block`` characters, so the mean of the batches'
    means, weighted by their sizes, is the mean per character. No graph is kept.
    """
    n = (len(codes) - 1) // block
    inputs, targets = codes[: n * block].reshape(n, block), codes[1 : n * block + 1].reshape(n, block)
    total = 0.0
    with node.no_grad():
        for i in range(0, n, batch_size):
            total += float(loss_of(inputs[i : i + batch_size], targets[i : i + batch_size]).value) * len(inputs[i : i + batch_size])
    return total / n


def generate(next_logits, data, prompt, length, temperature, seed):
    """``prompt`` followed by ``length`` characters drawn one at a time.

    ``next_logits(codes)`` is given the prompt's codes first, then each drawn
    code alone, and returns the scores (a 1-D array over the vocabulary) of the
    character after them; an example keeps whatever state it needs between calls
    (the LSTM its (h, c), the transformer its context). Each character is drawn from
    softmax(scores / temperature) by a Generator seeded with ``seed``.
    """
    rng = np.random.default_rng(seed)
    drawn = []
    with node.no_grad():
        scores = next_logits(data.encode(prompt))
        for _ in range(length):
            z = node.asnumpy(scores).astype(np.float64) / temperature
            p = np.exp(z - z.max())
            drawn.append(int(rng.choice(len(p), p=p / p.sum())))
            scores = next_logits(np.array(drawn[-1:], dtype=np.int64))
    return prompt + data.decode(drawn)


def steps_to_train(start, steps):
    """The plan a run prints: "steps 201..400", or, for a resumed run that is already finished, what it does instead."""
    return common.epochs_to_train(start, steps, unit="step")


class Clock:
    """The run's time so far, in wall-clock and CPU seconds (``time.process_time``: every thread of this process),
    counting a resumed run's earlier part (the last record of ``history``). Validation counts too."""

    def __init__(self, history):
        last = history[-1] if history else {}
        self.wall = time.perf_counter() - last.get("seconds_total", 0.0)
        self.cpu = time.process_time() - last.get("cpu_seconds_total", 0.0)

    def read(self):
        return {"seconds_total": time.perf_counter() - self.wall, "cpu_seconds_total": time.process_time() - self.cpu}


def evaluate(history, step, train_loss, validation, clock, **extra):
    """Append a record of ``step`` to ``history`` (the losses, ``extra`` and the :class:`Clock`'s times) and print it."""
    record = {"step": step, "train_loss": train_loss, "validation_loss": validation, **extra, **clock.read()}
    history.append(record)
    shown = "".join(f", {name} {value:.3g}" for name, value in extra.items())
    print(
        f"step {step}: train loss {train_loss:.4f}, validation loss {validation:.4f}{shown} "
        f"({record['seconds_total']:.0f} s, {record['cpu_seconds_total']:.0f} s of CPU)",
        flush=True,
    )
    return record


def train(args, model, optimizer, loss_of, windows, data, checkpoint, start, history, schedule=None):
    """The training loop both examples share, from step ``start + 1`` to ``args.steps``.

    A step: a batch of windows, the loss, backward, the gradient clipped to
    ``args.clip``, the optimizer's step and the ``schedule``'s (if any). Every
    ``args.eval_every`` steps and at the last one the validation loss is
    measured, a record appended to ``history`` (with the learning rate the
    step used, when a schedule changes it) and a checkpoint written.
    """
    clock = Clock(history)
    running = node.metrics.RunningMean()
    for step in range(start + 1, args.steps + 1):
        model.train()
        inputs, targets = windows.next()
        optimizer.zero_grad()
        loss = loss_of(inputs, targets)
        common.stop_if_not_finite(loss, f"step {step}")
        loss.backward()
        node.clip_grad_norm_(model.parameters(), args.clip)
        extra = {} if schedule is None else {"lr": optimizer.param_groups[0]["lr"]}
        optimizer.step()
        if schedule is not None:
            schedule.step()
        running.add(loss)
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            validation = validation_loss(loss_of, data.validation, args.block)
            evaluate(history, step, running.value(), validation, clock, **extra)
            running = node.metrics.RunningMean()
            checkpoint.save(step - 1, history)
    model.eval()


def report(out, name, history, sample, args, parameters):
    """Print the sample and write metrics.json; returns the metrics."""
    last = history[-1] if history else {}
    metrics = {
        "run": name,
        "parameters": parameters,
        "steps": last.get("step", 0),
        "train_loss": last.get("train_loss"),
        "validation_loss": last.get("validation_loss"),
        "seconds": last.get("seconds_total"),
        "cpu_seconds": last.get("cpu_seconds_total"),
        "sample": sample,
        "history": history,
        "args": vars(args),
    }
    common.write_json(out / "metrics.json", metrics)
    print(f"--- sample (temperature {args.temperature}) ---\n{sample}\n---", flush=True)
    return metrics

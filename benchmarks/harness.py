"""Shared benchmark plumbing: alternating timed runs, peak memory in a fresh process, tables.

Machines here are shared and noisy, so implementations are timed alternately
(A, B, C, A, B, C, ...) in one process and reported as medians and ratios
measured in the same run.
"""
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))  # the examples' model definitions are the workloads


def tune_allocator():
    """Recycle freed host memory for every implementation in this process (see node.kernels.tune_host_allocator)."""
    import node

    return node.kernels.tune_host_allocator()


TUNED = None  # set by tune_allocator() callers, reported by machine()


def torch_or_none(threads):
    """PyTorch if installed (with ``threads`` intra-op threads), else None with a message."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: its rows are skipped (pip install torch==2.13.0 to include them).")
        return None
    torch.set_num_threads(threads)
    return torch


def jax_or_none(device="cpu"):
    """JAX if installed (and, for ``device="gpu"``, if it has a GPU), else None with a message saying its row is skipped."""
    try:
        import jax
    except ImportError:
        print("JAX is not installed: its row is skipped (pip install jax==0.10.2 to include it).")
        return None
    if device == "gpu":
        try:
            jax.devices("gpu")
        except RuntimeError:
            print("JAX has no GPU device here: its row is skipped (install jax[cuda12] to include it).")
            return None
    return jax


def compile_or_none(node, enabled=True):
    """``node.compile`` when node has it (and ``enabled``), else None with a message saying the captured row is skipped."""
    if not enabled:
        print("--no-captured: the node captured row is skipped.")
        return None
    if not hasattr(node, "compile"):
        print("node has no compile() yet: the node captured row (node.compile(step)) is skipped.")
        return None
    return node.compile


def blas_report():
    """The two OpenBLAS variables this machine may set, and the OpenBLAS core type that actually ran.

    The core type comes from threadpoolctl's threadpool_info() ('architecture'),
    so call this after the libraries are loaded; without threadpoolctl it is unknown.
    """
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    settings = ", ".join(f"{name}={os.environ[name]!r}" if name in os.environ else f"{name} unset" for name in names)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"{settings}; OpenBLAS core type that ran: unknown (threadpoolctl is not installed)"
    found = [
        f"{Path(info.get('filepath', '?')).name}: {info.get('architecture', 'unknown')}, {info.get('num_threads', '?')} threads"
        for info in threadpool_info()
        if info.get("internal_api") == "openblas"
    ]
    return f"{settings}; OpenBLAS core type that ran: {'; '.join(found) or 'unknown (no OpenBLAS loaded)'}"


def steps_for(run_one, target_s=0.3, least=3, most=5000):
    """How many calls of ``run_one`` (one warm step, waited for) take about ``target_s`` seconds."""
    run_one()
    began = time.perf_counter()
    run_one()
    run_one()
    per_step = max((time.perf_counter() - began) / 2, 1e-6)
    return int(min(most, max(least, round(target_s / per_step))))


def relative_diff(values, reference):
    """max |v - r| / max(|r|, tiny) over paired values."""
    return max(abs(v - r) / max(abs(r), 1e-30) for v, r in zip(values, reference))


def alternate(runners, repeats, warmup=1, clock=False, settle=0.0):
    """Time each runner ``repeats`` times, round-robin; returns name -> list of seconds.

    Each round starts one runner further on, so that no implementation always
    follows the same one. With ``clock`` each runner measures itself and
    returns its seconds (a worker in another process). ``settle`` seconds of
    sleep before each sample let the previous implementation's BLAS or OpenMP
    threads, which spin for a while after their work, go idle first: in
    another process they would compete for the cores (and node's BLAS-thread
    governor, seeing them run, would lower its threads).
    """
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = {name: [] for name in runners}
    names = list(runners)
    for round_ in range(repeats):
        for k in range(len(names)):
            name = names[(round_ + k) % len(names)]
            time.sleep(settle)
            began = time.perf_counter()
            seconds = runners[name]()
            times[name].append(seconds if clock else time.perf_counter() - began)
    return times


class Worker:
    """One implementation in its own Python process, answering JSON requests (see ``serve``).

    Frameworks in one process slow each other down: a framework's idle thread
    pool (OpenBLAS's, OpenMP's, XLA's) still competes for the cores while
    another framework runs. One process per implementation, asked in turn,
    keeps the alternating rounds without that.
    """

    def __init__(self, name, argv, env=None):
        self.name = name
        self.process = subprocess.Popen([sys.executable, *map(str, argv)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **request):
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} worker stopped (exit code {self.process.wait()}) on {request}: see its error above")
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"do": "quit"}) + "\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            self.process.wait()


def serve(handle):
    """A worker's side: read JSON requests from stdin and write ``handle(request)``'s JSON reply to stdout, until "quit".

    Whatever else the process prints goes to stderr, so that stdout carries only the replies.
    """
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("do") == "quit":
            break
        replies.write(json.dumps(handle(request)) + "\n")
        replies.flush()


def timed(run):
    """{"seconds": how long run() took}, measured where it runs."""
    began = time.perf_counter()
    run()
    return {"seconds": time.perf_counter() - began}


class Runner:
    """One implementation's training step: ``step_at(i)`` runs a step on batch i and returns its loss; ``read(loss)`` waits for it and gives a float."""

    def __init__(self, step_at, read=float):
        self.step_at, self.read, self.next = step_at, read, 0

    def losses(self, n):
        """The losses of the next ``n`` steps, as floats."""
        out = []
        for _ in range(n):
            out.append(self.read(self.step_at(self.next)))
            self.next += 1
        return out

    def one(self):
        self.read(self.step_at(self.next))
        self.next += 1

    def sample(self, steps):
        """A timed sample: ``steps`` steps, then one read-back (and wait for the device)."""

        def run():
            for _ in range(steps):
                loss = self.step_at(self.next)
                self.next += 1
            self.read(loss)

        return run


def runner_handler(make):
    """Answers to a worker's requests, given ``make(request) -> Runner``:

    {"do": "setup", "check": n, ...}: a new runner (``make``'s), and the losses of its first n steps;
    {"do": "calibrate", "target": s}: steps per sample so that a sample takes about s seconds;
    {"do": "sample", "steps": n}: the seconds n steps took.
    """
    current = {}

    def handle(request):
        if request["do"] == "setup":
            current["runner"] = make(request)
            return {"losses": current["runner"].losses(request["check"])}
        if request["do"] == "calibrate":
            return {"steps": steps_for(current["runner"].one, request.get("target", 0.3), request.get("least", 3))}
        return timed(current["runner"].sample(request["steps"]))

    return handle


class LocalWorker:
    """A Worker's answers given in this process (for --same-process runs and tests)."""

    def __init__(self, name, handle):
        self.name, self.handle = name, handle

    def ask(self, **request):
        return self.handle(request)

    def close(self):
        pass


def check_losses(losses, reference, tolerance, label=""):
    """Print each implementation's largest relative difference from ``reference``'s first losses; stop the script when one exceeds ``tolerance``.

    Returns the largest difference (0 when there is nothing to compare).
    """
    differences = {name: relative_diff(found, losses[reference]) for name, found in losses.items() if name != reference}
    print(f"{label}losses of the first {len(losses[reference])} steps, {reference}: {' '.join(f'{v:.6g}' for v in losses[reference])}; "
          "max relative difference: " + (", ".join(f"{name} {d:.1e}" for name, d in differences.items()) or "nothing to compare"), flush=True)
    bad = {name: d for name, d in differences.items() if not d <= tolerance}
    if bad:
        for name in losses:
            print(f"  {name}: {losses[name]}")
        raise SystemExit(f"LOSSES DISAGREE ({label.strip(': ')}): {bad} (relative tolerance {tolerance})")
    return max(differences.values(), default=0.0)


def alternate_workers(workers, request, repeats, warmup=1):
    """``alternate`` across processes: ask each worker in turn for a timed sample; name -> list of seconds."""
    return alternate({w.name: (lambda w=w: w.ask(**request)["seconds"]) for w in workers}, repeats, warmup, clock=True, settle=0.3)


def with_kernels(run, mode):
    """``run`` with node's fast kernels set to ``mode`` ("reference": only the readable reference ops run)."""
    import node

    def wrapped(*args):
        with node.using_config("kernels", mode):
            return run(*args)

    return wrapped


def median(values):
    return statistics.median(values)


def _proc_status_mib(field):
    """A memory field of /proc/self/status ("VmRSS", "VmHWM") in MiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def current_rss_mib():
    """Resident memory of this process now, in MiB (Linux; 0 elsewhere)."""
    return _proc_status_mib("VmRSS") or 0.0


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB.

    Linux's VmHWM belongs to this process image; ru_maxrss would also carry the
    parent's peak across fork+exec. ru_maxrss is the fallback elsewhere.
    """
    peak = _proc_status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_of(script, *args):
    """Run ``script`` with ``args`` in a fresh Python process; it must print JSON {"peak_rss_mib": ...} last."""
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine():
    import node

    blas = ""
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]["name"] + " " + config["Build Dependencies"]["blas"].get("version", "")
    except (TypeError, KeyError):  # older NumPy has no mode="dicts"; the BLAS name is optional
        pass
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"NumPy {np.__version__} ({blas.strip()}), node {node.__version__}; "
        f"host allocator tuned for reuse: {TUNED}"
    )


def table(rows, columns):
    """A Markdown table; floats to 3 significant places."""
    cell = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)

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


def alternate(runners, repeats, warmup=1):
    """Time each runner ``repeats`` times, round-robin; returns name -> list of seconds."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
    return times


def with_kernels(run, mode):
    """``run`` with node's fast kernels set to ``mode`` ("reference": only the readable reference ops run)."""
    import node

    def wrapped():
        with node.using_config("kernels", mode):
            run()

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

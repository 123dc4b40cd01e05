"""Benchmark 5: one or two BLAS threads for node's conv step, against PyTorch with one or two threads.

node's matrix products run in NumPy's OpenBLAS, whose threads spin-wait for each
other at the end of every product; on cores that other processes keep busy, that
wait can last a scheduler time slice per product. This times the LeNets++ (or
comparison CNN) step four ways, alternating in one process: node with OpenBLAS limited
to 1 or 2 threads (through OpenBLAS's own ``openblas_set_num_threads``, found in
NumPy's bundled library; a measurement switch, not something node does), and
PyTorch with ``torch.set_num_threads(1)`` or 2. Run it with the machine quiet and
again while another job runs, and compare.

    python benchmarks/blas_threads.py
    python benchmarks/blas_threads.py --model "comparison CNN"
"""
import argparse
import ctypes
import glob
import os
import sys

import numpy as np

import conv_step
import harness


def openblas_set_num_threads():
    """The bundled OpenBLAS's set_num_threads function, or None when it cannot be found."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, name):
                return getattr(lib, name)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="LeNets++", choices=["LeNets++", "comparison CNN"])
    p.add_argument("--steps", type=int, default=2, help="steps per timed sample")
    p.add_argument("--repeats", type=int, default=5, help="timed samples per variant")
    args = p.parse_args()
    set_blas = openblas_set_num_threads()
    if set_blas is None:
        print("NumPy's bundled OpenBLAS was not found: nothing to measure.")
        return 1
    harness.TUNED = False  # node's defaults: no allocator change
    import node

    node.threads.set_enabled(False)  # this benchmark sets the thread count itself: node's governor must not lower it
    torch = harness.torch_or_none(2)
    node_run = conv_step.node_runner(args.model, "cpu", args.steps)

    def variant(run, blas, torch_threads):
        def timed():
            set_blas(blas)
            if torch is not None:
                torch.set_num_threads(torch_threads)
            run()

        return timed

    runners = {"node, 1 BLAS thread": variant(node_run, 1, 1), "node, 2 BLAS threads": variant(node_run, 2, 1)}
    if torch is not None:
        torch_run = conv_step.torch_runner(torch, args.model, "cpu", args.steps)
        runners["PyTorch, 1 thread"] = variant(torch_run, 1, 1)
        runners["PyTorch, 2 threads"] = variant(torch_run, 1, 2)
    times = harness.alternate(runners, args.repeats)
    set_blas(os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.model} step, batch {conv_step.BATCH}: {harness.machine()}; load average at the end {load:.2f}")
    rows = [
        {
            "variant": name,
            "ms/step (median)": harness.median(samples) / args.steps * 1000,
            "min-max ms/step": f"{min(samples) / args.steps * 1000:.0f}-{max(samples) / args.steps * 1000:.0f}",
        }
        for name, samples in times.items()
    ]
    print(harness.table(rows, list(rows[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

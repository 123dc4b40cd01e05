"""Benchmark 3: memory and fixed overheads.

* Live Nodes: the notebook's MLP (784-256-2-10, Center Loss) trained step
  after step must not accumulate graph objects; the count after step 1 and
  after step 1,000 must be the same.
* ``import node``: wall time in a fresh interpreter (median of several), which
  must stay under 0.3 s, and the modules it must not pull in (matplotlib, CuPy, tqdm).
(Peak RSS of an MLP epoch against hand-written NumPy is in mlp_step.py.)

    python benchmarks/overhead.py
"""
import argparse
import gc
import statistics
import subprocess
import sys

import numpy as np

import harness


def live_nodes():
    import node

    gc.collect()
    return sum(isinstance(obj, node.Node) for obj in gc.get_objects())


def count_live_nodes(steps):
    import node
    from mlp_step import Images, node_training

    rng = np.random.default_rng(0)
    _, train_step = node_training()
    images, labels = rng.integers(0, 256, (2048, 28, 28), dtype=np.uint8), rng.integers(0, 10, 2048)
    loader = node.DataLoader(Images(images, labels), batch_size=128, seed=0)
    counts, step = {}, 0
    while step < steps:
        for x, t in loader:
            train_step(x, t)
            step += 1
            if step in (1, 10, 100, steps):
                counts[step] = live_nodes()
            if step == steps:
                break
    return counts


def import_times(repeats):
    code = "import time; t = time.perf_counter(); import node; print(time.perf_counter() - t)"
    return [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(repeats)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    counts = count_live_nodes(args.steps)
    times = import_times(args.repeats)
    modules = subprocess.run(
        [sys.executable, "-c", "import sys, node; print(sorted(m for m in ('matplotlib', 'cupy', 'tqdm', 'torch') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    print(f"Overheads: {harness.machine()}")
    rows = [{"measure": f"live Nodes after step {s}", "value": n} for s, n in counts.items()]
    same = len(set(counts.values())) == 1
    rows.append({"measure": f"same count after step 1 and step {args.steps}", "value": "yes" if same else "NO"})
    rows.append({"measure": f"import node, median of {args.repeats} fresh interpreters (s)", "value": statistics.median(times)})
    rows.append({"measure": "import node, slowest (s)", "value": max(times)})
    rows.append({"measure": "heavy modules imported by `import node`", "value": modules})
    print(harness.table(rows, ["measure", "value"]))
    return 0 if same and statistics.median(times) < 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())

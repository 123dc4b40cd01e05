"""Benchmark 4: how cost grows with work — step time against batch size, and per-op overhead at batch 1.

* The notebook's MLP step (benchmarks/mlp_step.py's workload: 784-256-2-10, Center
  Loss, Adam) and the LeNets++ step (benchmarks/conv_step.py's) for batch 1, 8,
  32, 128 and 512, node against PyTorch, alternating in this process, medians.
* Per-op overhead: a chain of tiny elementwise ops on a (1, 16) array, forward
  and backward, divided by the number of ops: the fixed cost of one op, which
  is what batch 1 measures.

Where the ratio sits at the per-op overhead ratio, Python dispatch dominates;
where it approaches the batch-128 ratio, arithmetic does.

    python benchmarks/scaling.py                     # node's defaults
    python benchmarks/scaling.py --markdown docs.md  # also write the tables to a file
"""
import argparse
import os
import sys
import time

import numpy as np

import harness

BATCHES = (1, 8, 32, 128, 512)


def mlp_runners(torch, batch, steps):
    import mlp_step

    mlp_step.BATCH = batch  # the epoch runners read the batch size from the module
    images, labels = mlp_step.load_mnist(None, batch * steps)
    weights, centers = mlp_step.initial_weights()
    runners = {"node": mlp_step.node_epoch_runner(images, labels)[0]}
    if torch is not None:
        runners["PyTorch"] = mlp_step.torch_epoch_runner(torch, images, labels, weights, centers)
    return runners


def conv_runners(torch, batch, steps):
    import conv_step

    conv_step.BATCH = batch  # the runners read the batch size from the module
    runners = {"node": conv_step.node_runner("LeNets++", "cpu", steps)}
    if torch is not None:
        runners["PyTorch"] = conv_step.torch_runner(torch, "LeNets++", "cpu", steps)
    return runners


def op_chain_runners(torch, ops, repeats):
    """Forward and backward through ``ops`` tiny ops (mul, add, tanh in turn) on a (1, 16) array."""
    import node

    rng = np.random.default_rng(0)
    start = rng.standard_normal((1, 16)).astype(np.float32)

    def node_chain():
        for _ in range(repeats):
            x = node.Node(start)
            h = x
            for _ in range(ops // 3):
                h = (h * 1.01 + 0.1).tanh()
            h.sum().backward()

    runners = {"node": node_chain}
    if torch is not None:
        t0 = torch.from_numpy(start)

        def torch_chain():
            for _ in range(repeats):
                x = t0.clone().requires_grad_(True)
                h = x
                for _ in range(ops // 3):
                    h = torch.tanh(h * 1.01 + 0.1)
                h.sum().backward()

        runners["PyTorch"] = torch_chain
    return runners


def timed(runners, repeats):
    times = harness.alternate(runners, repeats)
    return {name: harness.median(samples) for name, samples in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    p.add_argument("--repeats", type=int, default=5, help="timed samples per framework and row")
    p.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    p.add_argument("--images", type=int, default=1024, help="about this many images per timed MLP sample (at least 4 steps)")
    p.add_argument("--conv-images", type=int, default=256, help="about this many images per timed LeNets++ sample (at least 2 steps)")
    p.add_argument("--markdown", help="also write the tables to this file")
    args = p.parse_args()
    harness.TUNED = False  # node's defaults: no allocator change
    torch = harness.torch_or_none(args.threads)
    out = [f"Machine: {harness.machine()}; PyTorch threads: {args.threads}", ""]

    for title, make, images, least in (
        ("The notebook's MLP step (784-256-2-10, Center Loss, Adam)", mlp_runners, args.images, 4),
        ("LeNets++ step (6 conv 5×5 + BN + PReLU, 3 pools)", conv_runners, args.conv_images, 2),
    ):
        rows = []
        for batch in args.batches:
            steps = max(least, images // batch)
            medians = timed(make(torch, batch, steps), args.repeats)
            row = {"batch": batch, "steps per sample": steps}
            for name, seconds in medians.items():
                row[f"{name} ms/step"] = seconds / steps * 1000
            if "PyTorch" in medians:
                row["node / PyTorch time"] = medians["node"] / medians["PyTorch"]
                row["node speed-up"] = medians["PyTorch"] / medians["node"]
            rows.append(row)
            print(f"{title}: batch {batch} done", file=sys.stderr, flush=True)
        out += [f"**{title}**, {args.repeats} alternating samples per row, medians:", "", harness.table(rows, list(rows[0])), ""]

    ops, reps = 300, 20
    medians = timed(op_chain_runners(torch, ops, reps), args.repeats)
    per_op = {name: seconds / (ops * reps) * 1e6 for name, seconds in medians.items()}
    row = {"measure": f"one op at batch 1, forward + backward (chain of {ops} mul/add/tanh on (1, 16))"}
    for name, us in per_op.items():
        row[f"{name} µs/op"] = us
    if "PyTorch" in per_op:
        row["node / PyTorch time"] = per_op["node"] / per_op["PyTorch"]
    out += ["**Per-op overhead** (medians):", "", harness.table([row], list(row)), ""]
    if hasattr(os, "getloadavg"):
        out.append(f"Load average at the end: {os.getloadavg()[0]:.2f} (other processes on the same cores move the numbers)")
    text = "\n".join(out)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"(took {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    sys.exit(code)

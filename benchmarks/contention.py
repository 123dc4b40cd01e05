"""Benchmark 6: node's LeNets++ and MLP training steps against PyTorch's while other processes keep the cores busy.

The script starts ``--busy`` processes that spin in a Python loop beside this
one, and kills them at the end (also on an error, Ctrl-C or SIGTERM; should
this process be killed outright, they stop by themselves once it is gone).
With them running, it times alternately, in this process:

* the LeNets++ step, batch 128 (one random batch; NLL loss, SGD with momentum):
  examples/center_loss_convnet.py's model in node, benchmarks/conv_step.py's
  PyTorch model;
* the seed MLP step, batch 128 (784-256-2-10, cross entropy + Center Loss,
  Adam): benchmarks/mlp_step.py's node_training, and the same step in PyTorch
  from the same initial weights,

each as node with its BLAS-thread governor (node.threads, the default), node
with the governor off (``node.threads.set_enabled(False)``: OpenBLAS keeps its
threads, as before node.threads), and PyTorch with its default threads when
PyTorch is installed (its rows are skipped otherwise). It prints medians in
ms per step and node's time over PyTorch's.

    python benchmarks/contention.py              # two busy processes
    python benchmarks/contention.py --busy 0     # the quiet case
    python benchmarks/contention.py --overhead   # the governor's own cost per block (run it on a quiet machine)
"""
import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np

import conv_step
import harness
import mlp_step

BATCH = 128
# Spins until killed, or until its parent (this script) is gone.
BUSY_LOOP = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    for _ in range(1_000_000):\n        pass\n"


def start_busy(count):
    """``count`` processes spinning on a core each (until killed)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())], stdin=subprocess.DEVNULL) for _ in range(count)]


def stop_busy(processes):
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def count_decisions():
    """Count the governor's decisions in this process (decision -> how many looks at /proc gave it)."""
    import collections

    import node.threads

    counts = collections.Counter()
    decide = node.threads.Governor.decide

    def counted(self):
        limit = decide(self)
        counts[limit] += 1
        return limit

    node.threads.Governor.decide = counted
    return counts


def governor(run, on):
    """``run`` with node's BLAS-thread governor on or off in this thread (restored after)."""
    import node.threads

    def wrapped():
        previous = node.threads.set_enabled(on)
        try:
            run()
        finally:
            node.threads.set_enabled(previous)

    return wrapped


def lenets_batch(seed=0):
    """One batch of 128 random 0-255 images (float32, (128, 1, 28, 28)) and labels, the same for both frameworks."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (BATCH, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, BATCH)


def node_lenets_runner(steps, seed=0):
    """``steps`` LeNets++ training steps in node (examples/center_loss_convnet.py's model, NLL loss, SGD with momentum)."""
    import node
    import node.functions as F
    from center_loss_convnet import LeNetsPlusPlus

    node.set_backend("numpy")
    model = LeNetsPlusPlus(node.layers.as_generator(seed))
    optimizer = node.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = lenets_batch(seed)
    x = node.Node(images, requires_grad=False)

    def run():
        for _ in range(steps):
            optimizer.zero_grad()
            _, scores = model(x)
            loss = F.nll_loss(scores, labels)
            loss.backward()
            optimizer.step()
        return float(loss.value)

    return run


def torch_lenets_runner(torch, steps, seed=0):
    """The same step in PyTorch, on benchmarks/conv_step.py's PyTorch LeNets++."""
    torch.manual_seed(seed)
    model = conv_step.torch_models(torch)["LeNets++"]()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = lenets_batch(seed)
    x, t = torch.from_numpy(images), torch.from_numpy(labels)

    def run():
        for _ in range(steps):
            optimizer.zero_grad()
            _, scores = model(x)
            loss = torch.nn.functional.nll_loss(scores, t)
            loss.backward()
            optimizer.step()
        return loss.item()

    return run


def lenets_runners(torch, steps):
    runners = {"node": governor(node_lenets_runner(steps), True), "node, governor off": governor(node_lenets_runner(steps), False)}
    if torch is not None:
        runners["PyTorch"] = torch_lenets_runner(torch, steps)
    return runners


def mlp_batches(steps):
    """``steps`` batches of 128 (uint8 rows, int64 labels): MNIST's training images when present, else random ones."""
    images, labels = mlp_step.load_mnist(None, steps * BATCH)
    order = np.random.default_rng(0).permutation(len(images)).reshape(steps, BATCH)
    flat = images.reshape(len(images), -1)
    return [(flat[idx], np.asarray(labels[idx], dtype=np.int64)) for idx in order]


def node_mlp_runner(batches):
    """benchmarks/mlp_step.py's node step (node_training) over ``batches``, as float32 rows and one-hot targets."""
    import node

    _, step = mlp_step.node_training()
    eye = np.eye(10, dtype=np.float32)
    prepared = [(node.Node(x.astype(np.float32), requires_grad=False), node.Node(eye[y], requires_grad=False)) for x, y in batches]

    def run():
        for x, t in prepared:
            loss = step(x, t)
        return float(loss.value)

    return run


def torch_mlp_runner(torch, batches):
    """The same step in PyTorch, from node's initial weights: 784-256-2-10, cross entropy + Center Loss (paper form), Adam."""
    weights, centers = mlp_step.initial_weights()
    step = mlp_step.torch_step(torch, weights, centers)
    prepared = [(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)) for x, y in batches]

    def run():
        for x, y in prepared:
            loss = step(x, y)
        return loss.item()

    return run


def mlp_runners(torch, steps):
    batches = mlp_batches(steps)
    runners = {"node": governor(node_mlp_runner(batches), True), "node, governor off": governor(node_mlp_runner(batches), False)}
    if torch is not None:
        runners["PyTorch"] = torch_mlp_runner(torch, batches)
    return runners


def alternate(runners, repeats):
    """Seconds per call of each runner, ``repeats`` rounds after one warm-up call each.

    Each round starts one runner further on, so each runner follows each other one
    equally often: PyTorch's threads spin on the cores for a while after its step,
    which would otherwise always slow the runner after it.
    """
    for run in runners.values():
        run()
    names = list(runners)
    times = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            began = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - began)
    return times


def overhead(repeats=5, number=100_000):
    """The governor's cost per ``with`` block: deciding nothing changes, lowering and restoring, one look at /proc."""
    import timeit

    import node.threads

    governor = node.threads.blas_threads()
    blas = node.threads.blas_controller()

    def block():
        with node.threads.blas_threads():
            pass

    def per_block(limit, n):
        governor.limit, governor.next_check = limit, float("inf")  # keep this decision throughout
        return min(timeit.repeat(block, number=n, repeat=repeats)) / n * 1e6

    rows = [{"block": "nothing to change (quiet machine, or nested)", "µs per enter+exit": per_block(0, number)}]
    if blas is not None and blas.get_num_threads() > 1:
        rows.append({"block": f"lowers BLAS threads {blas.get_num_threads()} -> 1 and restores", "µs per enter+exit": per_block(1, number // 10)})
    looks = []
    for _ in range(repeats * 20):
        governor.next_check = 0.0
        began = timeit.default_timer()
        block()
        looks.append((timeit.default_timer() - began) * 1e6)
    rows.append({"block": f"with a look at /proc (once per {node.threads.CHECK_INTERVAL} s at most)", "µs per enter+exit": sorted(looks)[len(looks) // 2]})
    governor.limit, governor.next_check = 0, 0.0
    return rows


def describe(decisions):
    return ", ".join(f"{count} x {'leave' if limit == 0 else f'{limit} thread(s)'}" for limit, count in sorted(decisions.items())) or "none"


def rows_for(workload, times, steps):
    ms = {name: harness.median(samples) / steps * 1000 for name, samples in times.items()}
    return [
        {
            "step": workload,
            "variant": name,
            "ms/step (median)": ms[name],
            "min-max ms/step": f"{min(samples) / steps * 1000:.1f}-{max(samples) / steps * 1000:.1f}",
            "/ PyTorch": ms[name] / ms["PyTorch"] if "PyTorch" in ms else "not measured",
        }
        for name, samples in times.items()
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--busy", type=int, default=2, help="busy processes started beside this one (0: the quiet case)")
    p.add_argument("--repeats", type=int, default=6, help="timed samples per variant (a multiple of 3 gives each order equally often)")
    p.add_argument("--conv-steps", type=int, default=1, help="LeNets++ steps per sample")
    p.add_argument("--mlp-steps", type=int, default=50, help="MLP steps per sample")
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait after starting the busy processes")
    p.add_argument("--overhead", action="store_true", help="time the governor's own cost per block instead")
    args = p.parse_args()
    import node.threads

    harness.TUNED = False  # node's defaults: no allocator change
    if args.overhead:
        print(f"node.threads' governor, cost per with-block: {harness.machine()}")
        print(harness.table(overhead(), ["block", "µs per enter+exit"]))
        return 0
    torch = harness.torch_or_none(os.cpu_count() or 1)  # PyTorch's default: one thread per core
    if node.threads.blas_controller() is None:
        print("threadpoolctl or NumPy's BLAS was not found: the governor does nothing here, so its rows match.")
    decisions = count_decisions()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the busy processes are killed below
    busy = start_busy(args.busy)
    try:
        time.sleep(args.settle if args.busy else 0)
        rows = rows_for("LeNets++", alternate(lenets_runners(torch, args.conv_steps), args.repeats), args.conv_steps)
        rows += rows_for("seed MLP", alternate(mlp_runners(torch, args.mlp_steps), args.repeats), args.mlp_steps)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        free = node.threads.cores_free()
        blas = node.threads.blas_controller()
        blas_default = blas.get_num_threads() if blas is not None else "unknown"
    finally:
        stop_busy(busy)
    print(f"Training steps beside {args.busy} busy process(es): {harness.machine()}")
    print(
        f"{args.repeats} alternating samples of {args.conv_steps} LeNets++ / {args.mlp_steps} MLP steps, batch 128; "
        f"load average (1 min) at the end {load:.2f}; cores free by /proc at the end: {free}; "
        f"governor's decisions (looks at /proc): {describe(decisions)}; library's BLAS threads: {blas_default}; "
        f"PyTorch threads: {torch.get_num_threads() if torch is not None else 'not installed'}"
    )
    print(harness.table(rows, list(rows[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

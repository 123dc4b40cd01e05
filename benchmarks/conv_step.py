"""Benchmark 2: conv net training steps, node vs PyTorch, in images per second.

Workloads (batch 128, float32, random 28×28 inputs; one step = forward, loss,
backward and an SGD-with-momentum update):

* LeNets++ (Wen et al. 2016, in examples/center_loss_convnet.py's Conv-BN-PReLU layout): 2×conv5×5-32,
  pool, 2×conv5×5-64, pool, 2×conv5×5-128, pool, 2-D feature, 10 outputs.
  About 0.49 GFLOP per image for forward and backward.
* The comparison CNN (of the PyTorch CNN comparison of cross entropy, Center
  Loss and PC loss, examples/compare_losses.py): conv5×5-32/64/128 with ReLU
  and pooling, global average pooling, 2-D feature, 10 outputs.

Both frameworks run alternately in this process; each sample is --steps steps.

    python benchmarks/conv_step.py                  # node's defaults
    python benchmarks/conv_step.py --tune           # with node.kernels.tune_host_allocator() (opt-in)
    python benchmarks/conv_step.py --device gpu

BLAS threads: on a machine where other processes keep the cores busy, OpenBLAS's
threads wait for each other at every matrix product (see docs/performance.md);
``OPENBLAS_NUM_THREADS=1 python benchmarks/conv_step.py --threads 1`` compares
one thread against one thread.
"""
import argparse
import sys

import numpy as np

import harness

BATCH = 128


def node_runner(model_name, device, steps, seed=0):
    import node
    import node.functions as F
    from center_loss_convnet import LeNetsPlusPlus
    from compare_losses import CNN

    node.set_backend("cupy" if device == "gpu" else "numpy")
    rng = np.random.default_rng(seed)
    model = (LeNetsPlusPlus if model_name == "LeNets++" else CNN)(node.layers.as_generator(seed))
    optimizer = node.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = node.Node(node.backend.to_backend(rng.integers(0, 256, (BATCH, 1, 28, 28)).astype(np.float32), node.get_backend()), requires_grad=False)
    t = node.backend.to_backend(rng.integers(0, 10, BATCH), node.get_backend())
    xp = node.get_array_module(x)

    def run():
        for _ in range(steps):
            optimizer.zero_grad()
            _, scores = model(x)
            loss = F.nll_loss(scores, t) if model_name == "LeNets++" else scores.softmax_with_cross_entropy(t)
            loss.backward()
            optimizer.step()
        if xp is not np:
            xp.cuda.Device().synchronize()

    return run


def torch_models(torch):
    nn = torch.nn

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 5, padding=2, bias=False), nn.BatchNorm2d(c_out), nn.PReLU(c_out)]

    class LeNetsPlusPlus(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                *block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
                *block(64, 128), *block(128, 128), nn.MaxPool2d(2),
            )
            self.feature, self.act, self.output = nn.Linear(128 * 9, 2), nn.PReLU(1), nn.Linear(2, 10)

        def forward(self, x):
            f = self.act(self.feature(self.body((x / 255 - 0.1309) / 0.3084).flatten(1)))
            return f, torch.log_softmax(self.output(f), dim=1)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(a, b, 5, padding=2) for a, b in ((1, 32), (32, 64), (64, 128)))
            self.fc1, self.fc2 = nn.Linear(128, 2), nn.Linear(2, 10)

        def forward(self, x):
            h = x / 255
            for conv in self.convs:
                h = torch.max_pool2d(torch.relu(conv(h)), 2)
            f = self.fc1(h.mean(dim=(2, 3)))
            return f, self.fc2(f)

    return {"LeNets++": LeNetsPlusPlus, "comparison CNN": CNN}


def torch_runner(torch, model_name, device, steps, seed=0):
    F = torch.nn.functional
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    torch.manual_seed(seed)
    model = torch_models(torch)[model_name]().to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.integers(0, 256, (BATCH, 1, 28, 28)).astype(np.float32)).to(dev)
    t = torch.from_numpy(rng.integers(0, 10, BATCH)).to(dev)

    def run():
        for _ in range(steps):
            optimizer.zero_grad()
            _, scores = model(x)
            loss = F.nll_loss(scores, t) if model_name == "LeNets++" else F.cross_entropy(scores, t)
            loss.backward()
            optimizer.step()
        if device == "gpu":
            torch.cuda.synchronize()

    return run


def memory_probe(framework, model_name, steps, tune):
    """Run in a fresh process: a few training steps of one framework; print its peak memory as JSON.

    ``peak_rss_mib`` is the process's peak resident memory (libraries included),
    ``step_rss_mib`` its growth over the resident memory after the model and the
    batch were built (what the training steps themselves added), and for node
    ``numpy_peak_mib`` the peak of NumPy's live allocations during the steps
    (tracemalloc: node's arrays, workspaces included, nothing of the allocator's own).
    """
    import json
    import tracemalloc

    if tune:
        harness.tune_allocator()
    if framework == "node":
        run = node_runner(model_name, "cpu", 1)
    else:
        torch = harness.torch_or_none(2)
        run = torch_runner(torch, model_name, "cpu", 1)
    before = harness.current_rss_mib()
    if framework == "node":
        tracemalloc.start()
    for _ in range(steps):
        run()
    result = {"peak_rss_mib": harness.peak_rss_mib(), "step_rss_mib": harness.peak_rss_mib() - before}
    if framework == "node":
        result["numpy_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="steps per timed sample")
    p.add_argument("--repeats", type=int, default=5, help="timed samples per framework")
    p.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--reference", action="store_true", help="also time node with only its reference ops (no fast kernels)")
    p.add_argument("--tune", action="store_true", help="opt in to node.kernels.tune_host_allocator() (changes glibc's allocator for the whole process)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--models", nargs="+", default=["LeNets++", "comparison CNN"])
    p.add_argument("--probe", choices=["node", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.probe:
        return memory_probe(args.probe, args.models[0], args.steps, args.tune)
    harness.TUNED = args.tune and harness.tune_allocator()
    torch = harness.torch_or_none(args.threads)
    rows = []
    for model_name in args.models:
        runners = {"node": node_runner(model_name, args.device, args.steps)}
        if args.reference:
            runners["node, reference kernels"] = harness.with_kernels(node_runner(model_name, args.device, args.steps), "reference")
        if torch is not None and (args.device == "cpu" or torch.cuda.is_available()):
            runners["PyTorch"] = torch_runner(torch, model_name, args.device, args.steps)
        times = harness.alternate(runners, args.repeats)
        speed = {name: BATCH * args.steps / harness.median(samples) for name, samples in times.items()}
        for name, samples in times.items():
            rows.append({
                "model": model_name,
                "framework": name,
                "images/s (median)": speed[name],
                "ms/step (median)": harness.median(samples) / args.steps * 1000,
                "min-max ms/step": f"{min(samples) / args.steps * 1000:.0f}-{max(samples) / args.steps * 1000:.0f}",
                "node / PyTorch throughput": speed["node"] / speed["PyTorch"] if "PyTorch" in speed else "not measured",
            })
    print(f"Conv net training step ({args.device}), batch {BATCH}: {harness.machine()}")
    print(f"{args.repeats} alternating samples of {args.steps} steps each; PyTorch threads: {args.threads}")
    print(harness.table(rows, list(rows[0])))
    if not args.no_memory and args.device == "cpu":
        memory = []
        for framework in ("node", "torch") if torch is not None else ("node",):
            extra = ["--tune"] if args.tune else []
            found = harness.peak_rss_of(__file__, "--probe", framework, "--models", "LeNets++", "--steps", "3", *extra)
            memory.append({
                "framework": "PyTorch" if framework == "torch" else "node",
                "peak RSS MiB": found["peak_rss_mib"],
                "RSS added by the steps MiB": found["step_rss_mib"],
                "NumPy arrays' peak MiB (tracemalloc)": found.get("numpy_peak_mib", "n/a"),
            })
        print("\nPeak memory of the LeNets++ step (fresh process per framework, 3 steps):")
        print(harness.table(memory, list(memory[0])))


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 2: conv net training steps, node (eager and captured) vs PyTorch and JAX, per-step medians at several batch sizes.

Workloads (float32, random 28×28 inputs, one fixed batch per batch size; one
step = forward, loss, backward and an SGD-with-momentum update, lr 0.01,
momentum 0.9):

* LeNets++ (Wen et al. 2016, in examples/center_loss_convnet.py's Conv-BN-PReLU layout): 2×conv5×5-32,
  pool, 2×conv5×5-64, pool, 2×conv5×5-128, pool, 2-D feature, 10 outputs.
  About 0.49 GFLOP per image for forward and backward.
* The comparison CNN (of the PyTorch CNN comparison of cross entropy, Center
  Loss and PC loss, examples/compare_losses.py): conv5×5-32/64/128 with ReLU
  and pooling, global average pooling, 2-D feature, 10 outputs.

Implementations: node eager; node captured (``node.compile(step)``, when node
has ``compile``); PyTorch eager (when installed); JAX, the whole step under
``jax.jit`` (when installed). All start from node's initial weights and take
the same batch; the losses of their first steps must agree within float32
tolerance (the script stops otherwise). Each runs in its own process and they
are timed alternately in rounds (``--same-process`` puts them all in this one);
each sample is ``--steps`` steps.

    python benchmarks/conv_step.py                  # node's defaults, batch 128
    python benchmarks/conv_step.py --batch 8 32 128 --no-memory
    python benchmarks/conv_step.py --tune           # with node.kernels.tune_host_allocator() (opt-in)
    python benchmarks/conv_step.py --device gpu

BLAS threads: on a machine where other processes keep the cores busy, OpenBLAS's
threads wait for each other at every matrix product (see docs/performance.md);
``OPENBLAS_NUM_THREADS=1 python benchmarks/conv_step.py --threads 1`` compares
one thread against one thread.
"""
import argparse
import os
import sys

import numpy as np

import harness

BATCH, LR, MOMENTUM = 128, 0.01, 0.9
CHECK_STEPS = 3  # steps whose losses must agree across implementations (the captured step replays from the 3rd)
CHECK_RTOL = 1e-3
MODELS = ("LeNets++", "comparison CNN")
IMPLEMENTATIONS = {"node": "node eager", "captured": "node captured", "reference": "node, reference kernels", "torch": "PyTorch eager", "jax": "JAX jit"}


def batch_of(batch, seed=0):
    """The batch every implementation takes: 0-255 pixels as float32 (batch, 1, 28, 28) and int64 labels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, batch)


def node_model(model_name, seed=0):
    import node
    from center_loss_convnet import LeNetsPlusPlus
    from compare_losses import CNN

    return (LeNetsPlusPlus if model_name == "LeNets++" else CNN)(node.layers.as_generator(seed))


def node_weights(model_name, seed=0):
    """node's initial weights of the model, by parameter name, as NumPy arrays (the other frameworks start from them)."""
    return {name: np.asarray(p.value) for name, p in node_model(model_name, seed).named_parameters()}


def node_step_runner(model_name, device, batch, seed=0, compile=None, kernels=None):
    import node
    import node.functions as F

    node.set_backend("cupy" if device == "gpu" else "numpy")
    model = node_model(model_name, seed)
    optimizer = node.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    images, labels = batch_of(batch, seed)
    x = node.Node(node.backend.to_backend(images, node.get_backend()), requires_grad=False)
    t = node.backend.to_backend(labels, node.get_backend())

    def step(x, t):
        optimizer.zero_grad()
        _, scores = model(x)
        loss = F.nll_loss(scores, t) if model_name == "LeNets++" else scores.softmax_with_cross_entropy(t)
        loss.backward()
        optimizer.step()
        return loss

    if compile is not None:
        step = compile(step)
    if kernels is not None:
        step = harness.with_kernels(step, kernels)

    return harness.Runner(lambda i: step(x, t), lambda loss: float(getattr(loss, "value", loss)))


# ---- PyTorch -------------------------------------------------------------------------------
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


def torch_name(name):
    """PyTorch's name of a node parameter of these models ("body.layers.1.gamma" -> "body.1.weight")."""
    path, leaf = name.replace("body.layers.", "body.").replace("feature_act.", "act.").rsplit(".", 1)
    return f"{path}.{'bias' if leaf in ('b', 'beta') else 'weight'}"


def torch_step_runner(torch, model_name, device, batch, seed=0):
    F = torch.nn.functional
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    model = torch_models(torch)[model_name]()
    weights = node_weights(model_name, seed)
    with torch.no_grad():
        for name, value in weights.items():
            target = model.get_parameter(torch_name(name))
            target.copy_(torch.from_numpy(np.ascontiguousarray(value.T if value.ndim == 2 else value)))
    if len(weights) != len(list(model.parameters())):
        raise RuntimeError(f"{model_name}: node has {len(weights)} parameters, the PyTorch model {len(list(model.parameters()))}")
    model = model.to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    images, labels = batch_of(batch, seed)
    x, t = torch.from_numpy(images).to(dev), torch.from_numpy(labels).to(dev)

    def step(x, t):
        optimizer.zero_grad()
        _, scores = model(x)
        loss = F.nll_loss(scores, t) if model_name == "LeNets++" else F.cross_entropy(scores, t)
        loss.backward()
        optimizer.step()
        return loss

    return harness.Runner(lambda i: step(x, t), lambda loss: loss.item())


# ---- JAX: the whole step as one pure function under jax.jit ---------------------------------
def jax_forward(jax, model_name):
    """``forward(params, x) -> (scores, batch statistics)`` of the model in JAX, on node's parameter names (NCHW, OIHW)."""
    import jax.numpy as jnp
    from jax import lax

    def conv(h, w, b=None):
        h = lax.conv_general_dilated(h, w, (1, 1), [(2, 2), (2, 2)], dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return h if b is None else h + b[None, :, None, None]

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def prelu(h, slope):
        return jnp.where(h > 0, h, (slope[None, :, None, None] if h.ndim == 4 else slope) * h)

    def batch_norm(h, gamma, beta):
        mean, var = h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))
        scale = gamma / jnp.sqrt(var + 1e-5)
        return (h - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None], (mean, var)

    def lenets(p, x):
        h, stats = (x / 255 - 0.1309) / 0.3084, []
        for i in (0, 3, 7, 10, 14, 17):
            h, found = batch_norm(conv(h, p[f"body.layers.{i}.W"]), p[f"body.layers.{i + 1}.gamma"], p[f"body.layers.{i + 1}.beta"])
            h = prelu(h, p[f"body.layers.{i + 2}.slope"])
            stats.append(found)
            if i in (3, 10, 17):
                h = pool(h)
        f = prelu(h.reshape(h.shape[0], -1) @ p["feature.W"] + p["feature.b"], p["feature_act.slope"])
        return jax.nn.log_softmax(f @ p["output.W"] + p["output.b"]), stats

    def cnn(p, x):
        h = x / 255
        for k in range(3):
            h = pool(jnp.maximum(conv(h, p[f"convs.{k}.W"], p[f"convs.{k}.b"]), 0))
        f = h.mean(axis=(2, 3)) @ p["fc1.W"] + p["fc1.b"]
        return jax.nn.log_softmax(f @ p["fc2.W"] + p["fc2.b"]), []

    return lenets if model_name == "LeNets++" else cnn


def jax_step_runner(jax, model_name, device, batch, seed=0):
    """LeNets++ or the comparison CNN in JAX: loss, gradients, SGD with momentum (and the batch norm running averages) in one jitted step."""
    import jax.numpy as jnp

    dev = jax.devices("gpu" if device == "gpu" else "cpu")[0]
    put = lambda a: jax.device_put(a, dev)
    forward = jax_forward(jax, model_name)

    def loss_of(params, x, t):
        log_p, stats = forward(params, x)
        return -jnp.mean(jnp.take_along_axis(log_p, t[:, None], axis=1)), stats

    def step(state, x, t):
        params, velocity, running = state
        (loss, stats), grads = jax.value_and_grad(loss_of, has_aux=True)(params, x, t)
        velocity = {k: MOMENTUM * velocity[k] + grads[k] for k in params}
        params = {k: params[k] - LR * velocity[k] for k in params}
        n = x.shape[0] * x.shape[2] * x.shape[3]  # the running averages as node and PyTorch keep them (unbiased variance)
        running = [(0.9 * m + 0.1 * bm, 0.9 * v + 0.1 * bv * n / (n - 1)) for (m, v), (bm, bv) in zip(running, stats)] if running else running
        return (params, velocity, running), loss

    step = jax.jit(step)
    params = {k: put(v) for k, v in node_weights(model_name, seed).items()}
    widths = [v.shape[0] for k, v in params.items() if k.endswith(".gamma")]
    state = [(params, {k: jnp.zeros_like(v) for k, v in params.items()}, [(put(np.zeros(c, np.float32)), put(np.ones(c, np.float32))) for c in widths])]
    images, labels = batch_of(batch, seed)
    x, t = put(images), put(labels.astype(np.int32))
    step(state[0], x, t)[1].block_until_ready()  # compile now, on a copy of the state that is thrown away

    def step_at(i):
        state[0], loss = step(state[0], x, t)
        return loss.block_until_ready()  # each step waits for its result, as the eager frameworks do

    return harness.Runner(step_at, float)


def make_runner(key, model_name, device, batch, threads=2):
    import node

    if key in ("node", "captured", "reference"):
        return node_step_runner(model_name, device, batch, compile=node.compile if key == "captured" else None,
                           kernels="reference" if key == "reference" else None)
    if key == "torch":
        return torch_step_runner(harness.torch_or_none(threads), model_name, device, batch)
    return jax_step_runner(harness.jax_or_none(device), model_name, device, batch)


def node_runner(model_name, device, steps, seed=0):
    """run(): ``steps`` node eager steps at batch 128, then a wait for the device (benchmarks/blas_threads.py's form)."""
    return node_step_runner(model_name, device, BATCH, seed).sample(steps)


def torch_runner(torch, model_name, device, steps, seed=0):
    """run(): ``steps`` PyTorch steps at batch 128, then a wait for the device (benchmarks/blas_threads.py's form)."""
    return torch_step_runner(torch, model_name, device, BATCH, seed).sample(steps)


def memory_probe(framework, model_name, steps, tune, batch=BATCH):
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
    runner = make_runner("node" if framework == "node" else "torch", model_name, "cpu", batch)
    before = harness.current_rss_mib()
    if framework == "node":
        tracemalloc.start()
    for _ in range(steps):
        runner.one()
    result = {"peak_rss_mib": harness.peak_rss_mib(), "step_rss_mib": harness.peak_rss_mib() - before}
    if framework == "node":
        result["numpy_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(result))


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[BATCH], help="batch sizes, each timed on its own (default: 128)")
    p.add_argument("--steps", type=int, default=None, help="steps per timed sample (default: chosen per model and batch size so a sample of node eager takes about 0.6 s)")
    p.add_argument("--repeats", type=int, default=5, help="timed samples per implementation")
    p.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--reference", action="store_true", help="also time node with only its reference ops (no fast kernels)")
    p.add_argument("--no-captured", action="store_true", help="leave out the node captured row (node.compile(step))")
    p.add_argument("--no-jax", action="store_true", help="leave out the JAX row")
    p.add_argument("--same-process", action="store_true",
                   help="run every implementation in this process (default: one process each, asked in turn, so that no framework's idle threads slow another)")
    p.add_argument("--tune", action="store_true", help="opt in to node.kernels.tune_host_allocator() (changes glibc's allocator for the whole process)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--probe", choices=["node", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=sorted(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if any(b < 1 for b in args.batch) or (args.steps is not None and args.steps < 1) or args.repeats < 1:
        p.error("--batch, --steps and --repeats must be >= 1")
    return args


def handler(key, args):
    return harness.runner_handler(lambda request: make_runner(key, request["model"], args.device, request["batch"], args.threads))


def start(keys, args):
    """One worker per implementation (in its own process, or in this one with --same-process)."""
    if args.same_process:
        return [harness.LocalWorker(IMPLEMENTATIONS[key], handler(key, args)) for key in keys]
    common = ["--device", args.device, "--threads", args.threads] + ["--tune"] * args.tune
    return [harness.Worker(IMPLEMENTATIONS[key], [__file__, "--worker", key, *common]) for key in keys]


def measure(workers, model_name, batch, args):
    """Set every worker up, check the losses, time alternate samples; (rows, largest loss difference)."""
    losses = {w.name: w.ask(do="setup", model=model_name, batch=batch, check=CHECK_STEPS)["losses"] for w in workers}
    worst = harness.check_losses(losses, "node eager", CHECK_RTOL, f"{model_name}, batch {batch}: ")
    steps = args.steps or workers[0].ask(do="calibrate", target=0.6, least=1)["steps"]
    times = harness.alternate_workers(workers, {"do": "sample", "steps": steps}, args.repeats)
    ms = {name: harness.median(samples) / steps * 1000 for name, samples in times.items()}
    relative = lambda name, to: ms[name] / ms[to] if to in ms else "not measured"
    rows = [{
        "model": model_name,
        "batch": batch,
        "framework": name,
        "steps/sample": steps,
        "images/s (median)": batch / ms[name] * 1000,
        "ms/step (median)": ms[name],
        "min-max ms/step": f"{min(samples) / steps * 1000:.3g}-{max(samples) / steps * 1000:.3g}",
        "vs node eager": relative(name, "node eager"),
        "vs node captured": relative(name, "node captured"),
        "node / PyTorch throughput": ms["PyTorch eager"] / ms["node eager"] if "PyTorch eager" in ms else "not measured",
    } for name, samples in times.items()]
    return rows, worst


def peak_memory(torch, args):
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
    print("\nPeak memory of the LeNets++ step (fresh process per framework, batch 128, 3 steps):")
    print(harness.table(memory, list(memory[0])))


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else [str(a) for a in argv])
    if args.probe:
        return memory_probe(args.probe, args.models[0], args.steps or 3, args.tune)
    harness.TUNED = args.tune and harness.tune_allocator()
    if args.worker:
        return harness.serve(handler(args.worker, args))

    import node

    compile = harness.compile_or_none(node, not args.no_captured)
    torch = harness.torch_or_none(args.threads)
    if torch is not None and args.device == "gpu" and not torch.cuda.is_available():
        print("PyTorch has no CUDA device here: its row is skipped.")
        torch = None
    jax = None if args.no_jax else harness.jax_or_none(args.device)
    if args.no_jax:
        print("--no-jax: the JAX row is skipped.")
    keys = ["node"] + ["captured"] * (compile is not None) + ["reference"] * args.reference
    keys += ["torch"] * (torch is not None) + ["jax"] * (jax is not None)
    workers = start(keys, args)
    rows, worst = [], 0.0
    try:
        for model_name in args.models:
            for batch in args.batch:
                found, difference = measure(workers, model_name, batch, args)
                rows += found
                worst = max(worst, difference)
    finally:
        for w in workers:
            w.close()
    print(f"\nConv net training step ({args.device}): {harness.machine()}")
    print(f"OpenBLAS: {harness.blas_report()}")
    versions = [f"{n} {m.__version__}" for m, n in ((torch, "PyTorch"), (jax, "JAX")) if m is not None]
    print(f"{args.repeats} alternating samples each, "
          + ("all in this process" if args.same_process else "each implementation in its own process")
          + f"; PyTorch threads: {args.threads}" + (f"; {', '.join(versions)}" if versions else "")
          + f"; losses of the first {CHECK_STEPS} steps agree within {worst:.1e} relative"
          + ("" if os.environ.get("OPENBLAS_NUM_THREADS") is None else f"; OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"))
    print(harness.table(rows, list(rows[0])))
    if not args.no_memory and args.device == "cpu":
        peak_memory(torch, args)


if __name__ == "__main__":
    sys.exit(main())

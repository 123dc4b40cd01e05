"""Benchmark 1: the training step of the Center Loss notebook this package recreates, per-step medians at several batch sizes.

Workload: MLP 784-256-2-10 (ReLU), softmax cross entropy + Center Loss (paper
form, α = 0.01) on the 2-D layer, Adam lr 1e-3, float32. Every implementation
starts from the same weights and centers and takes the same batches in the same
order: batches of each ``--batch`` size drawn once from the MNIST training
images (the first ``--limit`` of them) and prepared up front in each
framework's own form, so the loader is not timed.

Implementations, timed alternately in rounds in this process (each timed sample
is ``--steps`` steps; reported as the median time per step):

* node eager;
* node captured: ``node.compile(step)`` around the same step, when node has ``compile``;
* hand-written NumPy (every gradient written out; CPU only);
* PyTorch eager, when installed;
* JAX, the whole step (value_and_grad, Adam, center update) under ``jax.jit``, when installed.

Before timing, the losses of the first steps are compared: they must agree within
float32 tolerance (the script stops otherwise). Peak memory (RSS) of each is
measured in a fresh process.

    python benchmarks/mlp_step.py --data ../shared/data
    python benchmarks/mlp_step.py --batch 1 8 32 128 512 --repeats 5 --no-memory
    python benchmarks/mlp_step.py --blas-env both       # as set here, and with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset
    python benchmarks/mlp_step.py --device gpu          # node on CuPy vs PyTorch on CUDA (JAX if it has a GPU)
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

import harness

BATCH, ALPHA, LR = 128, 0.01, 1e-3
CHECK_STEPS = 5  # steps whose losses must agree across implementations (the captured step replays from the 2nd or 3rd)
CHECK_RTOL = 1e-3
BATCH_BYTES = 8 << 20  # float32 bytes of prepared batches per implementation and batch size (at least CHECK_STEPS batches)
BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def load_mnist(root, limit=None):
    """MNIST's training images and labels from the data root (``root``, else node.data.data_root()'s).

    Without the MNIST files there, random images of the same size (nothing is downloaded).
    """
    import node

    if node.MNIST.available(root):
        data = node.MNIST(training=True, root=root, download=False)
        images, labels = data.images, data.labels
    else:
        rng = np.random.default_rng(0)
        images, labels = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def draw_batches(images, labels, batch, seed=0):
    """The batches every implementation takes, in order: (uint8 rows, int64 labels) pairs drawn without replacement."""
    if batch > len(images):
        raise SystemExit(f"--batch {batch} is larger than the {len(images)} images (see --limit)")
    count = max(CHECK_STEPS, min(64, BATCH_BYTES // (batch * 784 * 4), len(images) // batch))
    order = np.random.default_rng(seed + batch).permutation(len(images))
    order = np.resize(order, count * batch)  # wraps around when --limit leaves fewer than CHECK_STEPS batches
    flat = images.reshape(len(images), -1)
    return [(flat[idx], np.asarray(labels[idx], dtype=np.int64)) for idx in order.reshape(count, batch)]


# ---- node ----------------------------------------------------------------------------------
class Images:
    """uint8 images and labels served as node.MNIST serves them: float32 rows and one-hot targets (benchmarks/overhead.py's loader)."""

    batch_indexing = True

    def __init__(self, images, labels):
        self.images, self.labels = images.reshape(len(images), -1), labels
        self.eye = np.eye(10, dtype=np.float32)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index].astype(np.float32), self.eye[self.labels[index]]

    def to(self, name):
        """On the GPU the uint8 images live on the device and batches are made there, as node.MNIST.to does."""
        import node

        moved = Images(node.backend.to_backend(self.images, name), node.backend.to_backend(self.labels, name))
        moved.eye = node.backend.to_backend(self.eye, name)
        moved.backend = node.backend.canonical_name(name)
        return moved


def node_training(seed=0, device="cpu"):
    """The notebook's model, Center Loss and Adam in node; returns (model, step(x, t) -> loss)."""
    import node
    from center_loss_mnist import Classifier

    node.set_backend("cupy" if device == "gpu" else "numpy")
    model = Classifier(node.layers.as_generator(seed))
    center = node.CenterLoss(10, 2, alpha=ALPHA, rng=seed)
    optimizer = node.Adam(model.parameters(), LR)

    def step(x, t):
        optimizer.zero_grad()
        h, scores = model(x)
        loss = scores.softmax_with_cross_entropy(t) + center(h, t)
        loss.backward()
        optimizer.step()
        return loss

    return model, step


def node_batches(batches, device="cpu"):
    """The batches as node.MNIST and node.DataLoader serve them: float32 rows and one-hot targets, Nodes on the backend."""
    import node

    name = "cupy" if device == "gpu" else "numpy"
    eye = np.eye(10, dtype=np.float32)
    return [
        (node.Node(node.backend.to_backend(x.astype(np.float32), name), requires_grad=False),
         node.Node(node.backend.to_backend(eye[y], name), requires_grad=False))
        for x, y in batches
    ]


def node_runner(prepared, seed=0, device="cpu", compile=None, kernels=None):
    """node eager, or captured with ``compile`` (node.compile), optionally with the fast kernels set to ``kernels``."""

    _, step = node_training(seed, device)
    if compile is not None:
        step = compile(step)
    if kernels is not None:
        step = harness.with_kernels(step, kernels)

    return harness.Runner(lambda i: step(*prepared[i % len(prepared)]), lambda loss: float(getattr(loss, "value", loss)))


# ---- hand-written NumPy: the same step with every gradient written out -----------------------
class NumpyMLP:
    def __init__(self, weights, centers):
        self.params = [w.astype(np.float32).copy() for w in weights]  # W1, b1, W2, b2, W3, b3
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.work = [np.empty_like(p) for p in self.params]
        self.centers = centers.astype(np.float32).copy()
        self.t = 0

    def step(self, x, labels):
        W1, b1, W2, b2, W3, b3 = self.params
        m = len(x)
        rows = np.arange(m)
        x = x / np.float32(255)
        h1 = x @ W1
        h1 += b1
        r = np.maximum(h1, 0)
        f = r @ W2
        f += b2
        s = f @ W3
        s += b3
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        c = self.centers[labels]
        d = f - c
        loss = -np.log(p[rows, labels]).mean() + (d * d).sum() / (2 * m)
        # backward
        gs = p
        gs[rows, labels] -= 1
        gs /= m
        gf = gs @ W3.T
        gf += d / m
        gr = gf @ W2.T
        gr *= h1 > 0
        grads = [x.T @ gr, gr.sum(axis=0), r.T @ gf, gf.sum(axis=0), f.T @ gs, gs.sum(axis=0)]
        # center update (paper form)
        delta = np.zeros_like(self.centers)
        np.add.at(delta, labels, c - f)
        self.centers -= ALPHA * delta / (1 + np.bincount(labels, minlength=10))[:, None]
        # Adam, in place
        self.t += 1
        b1_, b2_ = 0.9, 0.999
        c = np.sqrt(1 - b2_**self.t)
        step = LR * c / (1 - b1_**self.t)
        for param, g, m1, v, w in zip(self.params, grads, self.m, self.v, self.work):
            m1 *= b1_
            np.multiply(g, 1 - b1_, out=w)
            m1 += w
            v *= b2_
            np.multiply(g, g, out=w)
            w *= 1 - b2_
            v += w
            np.sqrt(v, out=w)
            w += 1e-8 * c
            np.divide(m1, w, out=w)
            w *= -step
            param += w
        return loss


def numpy_runner(batches, weights, centers):
    net = NumpyMLP(weights, centers)
    prepared = [(x.astype(np.float32), y) for x, y in batches]
    return harness.Runner(lambda i: net.step(*prepared[i % len(prepared)]), float)


# ---- PyTorch -------------------------------------------------------------------------------
def torch_step(torch, weights, centers, device="cpu"):
    """The same step in PyTorch, from node's initial weights and centers: step(x, y) -> loss, x float32 pixels, y labels."""
    nn, F = torch.nn, torch.nn.functional
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    layers = [nn.Linear(784, 256), nn.Linear(256, 2), nn.Linear(2, 10)]
    with torch.no_grad():
        for layer, W, b in zip(layers, weights[0::2], weights[1::2]):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            layer.bias.copy_(torch.from_numpy(b))
    model = nn.Sequential(*layers).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), LR)
    center_buf = torch.from_numpy(centers.astype(np.float32)).to(dev)

    def step(x, y):
        x = x / 255
        optimizer.zero_grad()
        h = model[1](torch.relu(model[0](x)))
        c = center_buf[y]
        loss = F.cross_entropy(model[2](h), y) + ((h - c) ** 2).sum() / (2 * len(x))
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            delta = torch.zeros_like(center_buf).index_add_(0, y, c - h)
            counts = torch.bincount(y, minlength=10).to(center_buf.dtype)
            center_buf.sub_(ALPHA * delta / (1 + counts)[:, None])
        return loss

    return step


def torch_runner(torch, batches, weights, centers, device="cpu"):
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    step = torch_step(torch, weights, centers, device)
    prepared = [(torch.from_numpy(x.astype(np.float32)).to(dev), torch.from_numpy(y).to(dev)) for x, y in batches]
    return harness.Runner(lambda i: step(*prepared[i % len(prepared)]), lambda loss: loss.item())


# ---- JAX: the whole step as one pure function under jax.jit ---------------------------------
def jax_runner(jax, batches, weights, centers, device="cpu"):
    import jax.numpy as jnp

    dev = jax.devices("gpu" if device == "gpu" else "cpu")[0]
    b1, b2, eps = 0.9, 0.999, 1e-8

    def loss_of(params, picked, x, y):
        W1, c1, W2, c2, W3, c3 = params
        h = jnp.maximum((x / 255) @ W1 + c1, 0) @ W2 + c2
        log_p = jax.nn.log_softmax(h @ W3 + c3)
        cross_entropy = -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))
        return cross_entropy + jnp.sum((h - picked) ** 2) / (2 * x.shape[0]), h

    def step(state, x, y):
        params, m, v, centers, t = state
        picked = centers[y]  # the old centers, kept for the loss (no gradient reaches them)
        (loss, h), grads = jax.value_and_grad(loss_of, has_aux=True)(params, picked, x, y)
        t = t + 1
        m = [b1 * a + (1 - b1) * g for a, g in zip(m, grads)]
        v = [b2 * a + (1 - b2) * g * g for a, g in zip(v, grads)]
        m_hat, v_hat = 1 - b1**t, 1 - b2**t  # bias corrections
        params = [p - LR * (a / m_hat) / (jnp.sqrt(b / v_hat) + eps) for p, a, b in zip(params, m, v)]
        delta = jnp.zeros_like(centers).at[y].add(picked - h)
        counts = jnp.bincount(y, length=10)
        centers = centers - ALPHA * delta / (1 + counts)[:, None]
        return (params, m, v, centers, t), loss

    step = jax.jit(step)
    put = lambda a: jax.device_put(a, dev)
    params = [put(np.asarray(w, dtype=np.float32)) for w in weights]
    state = [(params, [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params],
              put(centers.astype(np.float32)), put(np.float32(0)))]
    prepared = [(put(x.astype(np.float32)), put(y.astype(np.int32))) for x, y in batches]
    step(state[0], *prepared[0])[1].block_until_ready()  # compile now, on a copy of the state that is thrown away

    def step_at(i):
        state[0], loss = step(state[0], *prepared[i % len(prepared)])
        return loss.block_until_ready()  # each step waits for its result, as the eager frameworks do

    return harness.Runner(step_at, float)


def initial_weights(seed=0):
    import node
    from center_loss_mnist import Classifier

    model = Classifier(node.layers.as_generator(seed))
    centers = np.asarray(node.CenterLoss(10, 2, alpha=ALPHA, rng=seed).centers)
    return [np.asarray(p.value) for p in model.parameters()], centers


IMPLEMENTATIONS = {
    "node": "node eager",
    "captured": "node captured",
    "reference": "node, reference kernels",
    "numpy": "hand-written NumPy",
    "torch": "PyTorch eager",
    "jax": "JAX jit",
}


def make_runner(key, batches, weights, centers, device="cpu", threads=2, node_prepared=None):
    """The runner of one implementation (a key of IMPLEMENTATIONS), from the given weights and batches."""
    import node

    if key in ("node", "captured", "reference"):
        prepared = node_prepared if node_prepared is not None else node_batches(batches, device)
        return node_runner(prepared, device=device, compile=node.compile if key == "captured" else None,
                           kernels="reference" if key == "reference" else None)
    if key == "numpy":
        return numpy_runner(batches, weights, centers)
    if key == "torch":
        return torch_runner(harness.torch_or_none(threads), batches, weights, centers, device)
    return jax_runner(harness.jax_or_none(device), batches, weights, centers, device)


def runner_maker(key, args, images, labels, weights, centers):
    """``make(request) -> Runner`` for harness.runner_handler: a fresh runner for the request's batch size, from the initial weights.

    The node rows made by one maker share one set of prepared batches.
    """
    cache = {}

    def make(request):
        if cache.get("batch") != request["batch"]:
            cache.update(batch=request["batch"], batches=draw_batches(images, labels, request["batch"]), node=None)
        if key in ("node", "captured", "reference") and cache["node"] is None:
            cache["node"] = node_batches(cache["batches"], args.device)
        return make_runner(key, cache["batches"], weights, centers, args.device, args.threads, cache["node"])

    return make


def worker(key, args):
    """``--worker KEY``: one implementation in this process, answering the main process's requests (harness.serve)."""
    images, labels = load_mnist(args.data, args.limit)
    weights, centers = initial_weights()
    harness.serve(harness.runner_handler(runner_maker(key, args, images, labels, weights, centers)))


def memory_probe(key, args, batch, steps):
    """Run ``steps`` steps of one implementation in this (fresh) process; print its peak RSS as JSON."""
    images, labels = load_mnist(args.data, args.limit)
    weights, centers = initial_weights()
    make_runner(key, draw_batches(images, labels, batch), weights, centers, "cpu", args.threads).sample(steps)()
    print(json.dumps({"peak_rss_mib": harness.peak_rss_mib()}))


def run_with_blas_env(mode, argv):
    """Run this script again in subprocesses: with the environment as it is and/or with the OpenBLAS variables removed."""
    runs = [("as-is", "the environment as this machine sets it")] if mode in ("both", "as-is") else []
    runs += [("unset", "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset")] if mode in ("both", "unset") else []
    failed = 0
    for label, words in runs:
        env = dict(os.environ)
        if label == "unset":
            for name in BLAS_VARIABLES:
                env.pop(name, None)
        env["NODE_BENCH_BLAS_ENV"] = words
        print(f"\n=== OpenBLAS settings: {words} ===", flush=True)
        failed |= subprocess.run([sys.executable, __file__, *argv, "--blas-env", "as-is"], env=env).returncode
    return failed


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="data root holding mnist/ (default: node.data.data_root()'s; random images when MNIST is not there)")
    p.add_argument("--batch", type=int, nargs="+", default=[BATCH], help="batch sizes, each timed on its own (default: 128)")
    p.add_argument("--steps", type=int, default=None, help="steps per timed sample (default: chosen per batch size so a sample of node eager takes about 0.3 s)")
    p.add_argument("--repeats", type=int, default=5, help="timed samples per implementation and batch size")
    p.add_argument("--limit", type=int, default=None, help="draw the batches from the first LIMIT training images (default: all 60,000)")
    p.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--reference", action="store_true", help="also time node with only its reference ops (no fast kernels)")
    p.add_argument("--no-captured", action="store_true", help="leave out the node captured row (node.compile(step))")
    p.add_argument("--same-process", action="store_true",
                   help="run every implementation in this process (default: one process each, asked in turn, so that no framework's idle threads slow another)")
    p.add_argument("--tune", action="store_true", help="opt in to node.kernels.tune_host_allocator() (changes glibc's allocator for the whole process)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--blas-env", choices=["as-is", "unset", "both"], default="as-is",
                   help="run with the environment as it is (default), with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, or both (in subprocesses)")
    p.add_argument("--probe", choices=sorted(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=sorted(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if any(b < 1 for b in args.batch) or (args.steps is not None and args.steps < 1) or args.repeats < 1:
        p.error("--batch, --steps and --repeats must be >= 1")
    return args


def start(keys, args, images, labels, weights, centers):
    """One worker per implementation (in its own process, or in this one with --same-process)."""
    if args.same_process:
        return [harness.LocalWorker(IMPLEMENTATIONS[key], harness.runner_handler(runner_maker(key, args, images, labels, weights, centers)))
                for key in keys]
    common = ["--device", args.device, "--threads", args.threads] + ["--tune"] * args.tune
    common += (["--data", args.data] if args.data else []) + (["--limit", args.limit] if args.limit else [])
    return [harness.Worker(IMPLEMENTATIONS[key], [__file__, "--worker", key, *common]) for key in keys]


def measure(workers, batch, args):
    """Set every worker up for ``batch``, check the losses, time alternate samples; (rows, worst loss difference)."""
    losses = {w.name: w.ask(do="setup", batch=batch, check=CHECK_STEPS)["losses"] for w in workers}
    worst = harness.check_losses(losses, "node eager", CHECK_RTOL, f"batch {batch}: ")
    steps = args.steps or workers[0].ask(do="calibrate", target=0.3)["steps"]
    times = harness.alternate_workers(workers, {"do": "sample", "steps": steps}, args.repeats)
    per_step = {name: [t / steps * 1000 for t in samples] for name, samples in times.items()}
    ms = {name: harness.median(samples) for name, samples in per_step.items()}
    relative = lambda name, to: ms[name] / ms[to] if to in ms else "not measured"
    rows = [{
        "batch": batch,
        "implementation": name,
        "steps/sample": steps,
        "ms/step (median)": ms[name],
        "min-max ms/step": f"{min(samples):.3g}-{max(samples):.3g}",
        "vs node eager": relative(name, "node eager"),
        "vs node captured": relative(name, "node captured"),
        "vs hand-written NumPy": relative(name, "hand-written NumPy"),
    } for name, samples in per_step.items()]
    return rows, worst


def peak_memory(keys, args, batch):
    """Peak RSS of each implementation, each in a fresh process."""
    memory = {}
    for key in keys:
        extra = ["--limit", str(args.limit)] if args.limit else []
        extra += ["--tune"] if args.tune else []
        extra += ["--batch", str(batch), "--steps", str(args.steps or 50), "--threads", str(args.threads)]
        extra += ["--data", args.data] if args.data else []
        memory[IMPLEMENTATIONS[key]] = harness.peak_rss_of(__file__, "--probe", key, *extra)["peak_rss_mib"]
    return memory


def report(rows, batches):
    """The whole table, then time relative to node eager (and to node captured) with one column per batch size."""
    print(harness.table(rows, list(rows[0])))
    names = list(dict.fromkeys(r["implementation"] for r in rows))
    ms = {(r["implementation"], r["batch"]): r["ms/step (median)"] for r in rows}
    for base, title in (("node eager", "time relative to node eager (below 1: faster than node)"), ("node captured", "time relative to node captured")):
        if base in names:
            summary = [{title: name, **{f"batch {b}": ms[name, b] / ms[base, b] for b in batches}} for name in names]
            print()
            print(harness.table(summary, list(summary[0])))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parse(argv)
    if args.blas_env != "as-is" and not (args.probe or args.worker):
        return run_with_blas_env(args.blas_env, argv)
    harness.TUNED = args.tune and harness.tune_allocator()
    memory_batch = BATCH if BATCH in args.batch else max(args.batch)
    if args.probe:
        return memory_probe(args.probe, args, memory_batch, args.steps or 50)
    if args.worker:
        return worker(args.worker, args)

    import node

    images, labels = load_mnist(args.data, args.limit)
    weights, centers = initial_weights()
    compile = harness.compile_or_none(node, not args.no_captured)
    torch, jax = harness.torch_or_none(args.threads), harness.jax_or_none(args.device)
    if torch is not None and args.device == "gpu" and not torch.cuda.is_available():
        print("PyTorch has no CUDA device here: its row is skipped.")
        torch = None
    keys = ["node"] + ["captured"] * (compile is not None) + ["reference"] * args.reference + ["numpy"] * (args.device == "cpu")
    keys += ["torch"] * (torch is not None) + ["jax"] * (jax is not None)
    workers = start(keys, args, images, labels, weights, centers)
    rows, worst = [], 0.0
    try:
        for batch in args.batch:
            found, difference = measure(workers, batch, args)
            rows += found
            worst = max(worst, difference)
    finally:
        for w in workers:
            w.close()
    memory = peak_memory(keys, args, memory_batch) if not args.no_memory and args.device == "cpu" else {}

    print(f"\nThe notebook's MLP step ({args.device}): {harness.machine()}")
    print(f"OpenBLAS: {os.environ.get('NODE_BENCH_BLAS_ENV', 'the environment as it is')}: {harness.blas_report()}")
    versions = [f"{n} {m.__version__}" for m, n in ((torch, "PyTorch"), (jax, "JAX")) if m is not None]
    print(f"{len(images)} images to draw from; {args.repeats} alternating samples each, "
          + ("all in this process" if args.same_process else "each implementation in its own process")
          + f"; PyTorch threads: {args.threads}" + (f"; {', '.join(versions)}" if versions else "")
          + f"; losses of the first {CHECK_STEPS} steps agree within {worst:.1e} relative")
    report(rows, args.batch)
    if memory:
        print(f"\nPeak RSS, a fresh process per implementation, batch {memory_batch}, {args.steps or 50} steps:")
        print(harness.table([{"implementation": n, "peak RSS MiB": m} for n, m in memory.items()], ["implementation", "peak RSS MiB"]))
        if "hand-written NumPy" in memory:
            print(f"node peak RSS / hand-written NumPy: {memory['node eager'] / memory['hand-written NumPy']:.2f}")


if __name__ == "__main__":
    sys.exit(main())

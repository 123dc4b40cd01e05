"""Benchmark 1: the training step of the Center Loss notebook this package recreates, node vs hand-written NumPy vs PyTorch.

Workload: MLP 784-256-2-10 (ReLU), softmax cross entropy + Center Loss (paper
form, α = 0.01) on the 2-D layer, Adam lr 1e-3, batch 128, float32, one epoch
of the 60,000 MNIST training images (469 steps), batches drawn by each
implementation's own loader from the same uint8 images.

The three implementations run alternately in this process; each epoch is one
timed sample. Peak memory (RSS) is measured for each in a fresh process.

    python benchmarks/mlp_step.py --data ../shared/data
    python benchmarks/mlp_step.py --device gpu      # node on CuPy vs PyTorch on CUDA
"""
import argparse
import json
import sys

import numpy as np

import harness

BATCH, ALPHA, LR = 128, 0.01, 1e-3


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


# ---- node ----------------------------------------------------------------------------------
class Images:
    """uint8 images and labels served as node.MNIST serves them: float32 rows and one-hot targets."""

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


def node_epoch_runner(images, labels, seed=0, device="cpu"):
    import node

    model, step = node_training(seed, device)
    data = Images(images, labels)
    loader = node.DataLoader(data.to("gpu") if device == "gpu" else data, batch_size=BATCH, seed=seed)

    def epoch():
        for x, t in loader:
            loss = step(x, t)
        return float(loss.value)  # the one read-back (and wait for the device) per epoch

    return epoch, model


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


def numpy_epoch_runner(images, labels, weights, centers, seed=0):
    net = NumpyMLP(weights, centers)
    flat = images.reshape(len(images), -1)
    rng = np.random.default_rng(seed)

    def epoch():
        order = rng.permutation(len(flat))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            loss = net.step(flat[idx].astype(np.float32), labels[idx])
        return float(loss)

    return epoch


# ---- PyTorch -------------------------------------------------------------------------------
def torch_epoch_runner(torch, images, labels, weights, centers, seed=0, device="cpu"):
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
    flat = torch.from_numpy(images.reshape(len(images), -1)).to(dev)
    targets = torch.from_numpy(labels).to(dev)
    generator = torch.Generator(device="cpu").manual_seed(seed)

    def epoch():
        order = torch.randperm(len(flat), generator=generator).to(dev)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            x, y = flat[idx].float() / 255, targets[idx]
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
        if device == "gpu":
            torch.cuda.synchronize()
        return loss.item()

    return epoch


def initial_weights(seed=0):
    import node
    from center_loss_mnist import Classifier

    model = Classifier(node.layers.as_generator(seed))
    centers = np.asarray(node.CenterLoss(10, 2, alpha=ALPHA, rng=seed).centers)
    return [np.asarray(p.value) for p in model.parameters()], centers


def memory_probe(which, root, limit, tune):
    """Run one epoch of one implementation in this (fresh) process; print its peak RSS as JSON."""
    if tune:
        harness.tune_allocator()
    images, labels = load_mnist(root, limit)
    weights, centers = initial_weights()
    if which == "node":
        run, _ = node_epoch_runner(images, labels)
    elif which == "numpy":
        run = numpy_epoch_runner(images, labels, weights, centers)
    else:
        run = torch_epoch_runner(harness.torch_or_none(2), images, labels, weights, centers)
    run()
    print(json.dumps({"peak_rss_mib": harness.peak_rss_mib()}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="data root holding mnist/ (default: node.data.data_root()'s; random images when MNIST is not there)")
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per implementation")
    p.add_argument("--limit", type=int, default=None, help="images per epoch (default: all 60,000)")
    p.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--reference", action="store_true", help="also time node with only its reference ops (no fast kernels)")
    p.add_argument("--tune", action="store_true", help="opt in to node.kernels.tune_host_allocator() (changes glibc's allocator for the whole process)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--probe", choices=["node", "numpy", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    harness.TUNED = args.tune and harness.tune_allocator()
    root = args.data
    if args.probe:
        return memory_probe(args.probe, root, args.limit, args.tune)

    images, labels = load_mnist(root, args.limit)
    weights, centers = initial_weights()
    steps = -(-len(images) // BATCH)
    runners = {"node": node_epoch_runner(images, labels, device=args.device)[0]}
    if args.reference:
        runners["node, reference kernels"] = harness.with_kernels(node_epoch_runner(images, labels, device=args.device)[0], "reference")
    if args.device == "cpu":
        runners["hand-written NumPy"] = numpy_epoch_runner(images, labels, weights, centers)
    torch = harness.torch_or_none(args.threads)
    if torch is not None and (args.device == "cpu" or torch.cuda.is_available()):
        runners["PyTorch"] = torch_epoch_runner(torch, images, labels, weights, centers, device=args.device)
    times = harness.alternate(runners, args.repeats)

    memory = {}
    if not args.no_memory and args.device == "cpu":
        for name, probe in (("node", "node"), ("hand-written NumPy", "numpy"), ("PyTorch", "torch")):
            if name in runners:
                extra = ["--limit", str(args.limit)] if args.limit else []
                extra += ["--tune"] if args.tune else []
                memory[name] = harness.peak_rss_of(__file__, "--probe", probe, *(["--data", root] if root else []), *extra)["peak_rss_mib"]

    floor = harness.median(times.get("hand-written NumPy", times["node"])) / steps
    node_ms = harness.median(times["node"]) / steps * 1000
    rows = []
    for name, samples in times.items():
        ms = harness.median(samples) / steps * 1000
        rows.append({
            "implementation": name,
            "ms/step (median)": ms,
            "min-max ms/step": f"{min(samples) / steps * 1000:.2f}-{max(samples) / steps * 1000:.2f}",
            "epoch s": harness.median(samples),
            "vs hand-written NumPy": ms / (floor * 1000) if "hand-written NumPy" in times else "not measured",
            "node speed-up": ms / node_ms,
            "peak RSS MiB": memory.get(name, "not measured"),
        })
    print(f"The notebook's MLP step ({args.device}): {harness.machine()}")
    print(f"{len(images)} images/epoch, batch {BATCH}, {steps} steps, {args.repeats} alternating epochs each")
    print(harness.table(rows, list(rows[0])))
    if "node" in memory and "hand-written NumPy" in memory:
        print(f"node peak RSS / hand-written NumPy: {memory['node'] / memory['hand-written NumPy']:.2f}")


if __name__ == "__main__":
    sys.exit(main())

"""Device syncs per training step on CuPy: the seed MLP step and LeNets++, eager and captured (node.compile).

A training step should never wait for the GPU: it should queue its kernels and
return. This runs a few warm-up steps (node.compile records on the first two),
then ``--steps`` steps inside ``cupyx.allow_synchronize(False)``, CuPy's own
guard, which raises at the first device-to-host wait; the step is counted as
sync-free only if none happened. It also reports the host time per step (time
to queue the work) against the time until the device has finished it: a step
that waits on the device shows both nearly equal.

    python benchmarks/gpu_syncs.py                    # on a GPU with CuPy
    PYTHONPATH=../shared/fake_cupy python benchmarks/gpu_syncs.py --steps 2   # dry run on the CPU

Under ../shared/fake_cupy the timings mean nothing, but the guard and the
stand-in's per-line counters (``cupy._fake.stats``) work.
"""
import argparse
import sys
import time

import numpy as np

import harness  # noqa: F401  (puts examples/ on sys.path)


def mlp_step():
    import mlp_step as mlp

    _, step = mlp.node_training(device="gpu")
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (128, 784), dtype=np.uint8), rng.integers(0, 10, 128)
    (batch,) = mlp.node_batches([(images, labels)], device="gpu")
    return step, batch


def lenets_step():
    import node
    import node.functions as F
    from center_loss_convnet import LeNetsPlusPlus

    node.set_backend("cupy")
    model = LeNetsPlusPlus(node.layers.as_generator(0))
    optimizer = node.SGD(model.parameters(), lr=0.01, momentum=0.9)
    center = node.CenterLoss(10, 2, alpha=0.5, rng=1)
    rng = np.random.default_rng(0)
    x = node.Node(node.backend.to_backend(rng.integers(0, 256, (128, 1, 28, 28)).astype(np.float32), "cupy"), requires_grad=False)
    t = node.backend.to_backend(rng.integers(0, 10, 128), "cupy")

    def step(x, t):
        optimizer.zero_grad()
        features, log_probs = model(x)
        loss = F.nll_loss(log_probs, t) + center(features, t)
        loss.backward()
        optimizer.step()
        return loss

    return step, (x, t)


def check(name, make, captured, steps):
    import cupy
    import cupyx
    import node

    step, args = make()
    if captured:
        step = node.compile(step)
    for _ in range(3):
        step(*args)
    cupy.cuda.Device().synchronize()
    began = time.perf_counter()
    try:
        with cupyx.allow_synchronize(False):
            for _ in range(steps):
                loss = step(*args)
            queued = time.perf_counter() - began
        waits = "none"
    except cupyx.DeviceSynchronized as error:
        queued, waits = float("nan"), f"a wait: {str(error).splitlines()[0][:120]}"
    cupy.cuda.Device().synchronize()
    done = time.perf_counter() - began
    value = float(loss.value)
    mode = "captured" if captured else "eager"
    print(f"| {name} | {mode} | {waits} | {queued / steps * 1000:.2f} | {done / steps * 1000:.2f} | {value:.4f} |")
    return waits == "none"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="steps run under the no-sync guard")
    args = p.parse_args(argv)
    import node

    if not node.cupy_available():
        print("CuPy is not usable here (no GPU, or CuPy not installed): nothing to check.")
        return 0
    print(f"{args.steps} steps each, after 3 warm-up steps, inside cupyx.allow_synchronize(False)")
    print("| step | mode | device waits | host ms/step (queueing) | ms/step until the device is done | last loss |")
    print("|---|---|---|---|---|---|")
    clean = [check(name, make, captured, args.steps) for name, make in (("seed MLP, batch 128", mlp_step), ("LeNets++, batch 128", lenets_step)) for captured in (False, True)]
    return 0 if all(clean) else 1


if __name__ == "__main__":
    sys.exit(main())

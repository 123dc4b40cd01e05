"""Sigmoid cross entropy with soft targets as a custom Function with an analytic backward,
trained side by side with the same loss built from primitive ops.

The experiment writes the loss (1/N) Σ [log(1 + eˣ) - t·x] for targets t ∈ [0, 1] as a
Chainer Function whose backward is simply (σ(x) - t)/N, and checks on MNIST
(an MLP with 1000 hidden units, batch 100, 20 epochs) that it trains the same
as the version whose backward autograd derives. Here the custom Function is
``node.functions.sigmoid_cross_entropy`` (see node/functions/loss.py) and the
primitive version is ``primitive_sigmoid_cross_entropy`` below; both models
start from the same weights and see the same batches.

Targets are one-hot rows, the extreme case of soft targets. Writes curves.png
(train and test loss, and test accuracy, of both), metrics.json and checkpoints.

    python examples/soft_target_sigmoid.py --data ../shared/data
"""
import time

import common
import node
import node.functions as F


def primitive_sigmoid_cross_entropy(x, t):
    """The same loss from primitive ops, stable as well: log(1 + eˣ) = relu(x) + log(1 + e^-|x|)."""
    softplus = x.relu() + (1 + (-abs(x)).exp()).log()
    return (softplus - t * x).sum() / len(x)


class MLP(node.Network):
    """784 -> 1000 -> 1000 -> 10 with ReLU (Chainer's MNIST example, which the experiment builds on)."""

    def __init__(self, rng, units=1000):
        self.layers = [node.Linear(784, units, rng=rng), node.Linear(units, units, rng=rng), node.Linear(units, 10, rng=rng)]

    def forward(self, x):
        h = self.layers[0](x / 255).relu()
        h = self.layers[1](h).relu()
        return self.layers[2](h)


LOSSES = {"custom Function": F.sigmoid_cross_entropy, "primitive ops": primitive_sigmoid_cross_entropy}


def evaluate(model, loss_fn, dataset):
    """(mean loss, accuracy) over a dataset."""
    total, correct = 0.0, 0.0
    with node.no_grad():
        for x, t in node.DataLoader(dataset, batch_size=1000, shuffle=False):
            scores = model(x)
            total += float(loss_fn(scores, t).value) * len(x)
            correct += node.metrics.accuracy(scores, t) * len(x)
    return total / len(dataset), correct / len(dataset)


def main(argv=None):
    p = common.parser(__doc__, epochs=20, batch_size=100, out="runs/soft_target_sigmoid")
    p.add_argument("--units", type=common.at_least(1), default=1000, help="hidden units per layer, at least 1")
    p.add_argument("--lr", type=common.RATE, default=1e-3, help="Adam learning rate, >= 0")
    args = p.parse_args(argv)
    out = common.setup(args)
    train, test = common.datasets(args)

    runs = {}
    for name in LOSSES:
        model = MLP(node.layers.as_generator(args.seed), args.units)  # the same initial weights for both
        runs[name] = {
            "model": model,
            "optimizer": node.Adam(model.parameters(), args.lr),
            "loader": node.DataLoader(train, batch_size=args.batch_size, seed=args.seed + 1),  # the same batches
        }
    parts = {f"{part}/{name}": obj for name, run in runs.items() for part, obj in run.items()}
    checkpoint = common.Checkpoint(out / "checkpoint.npz", config=common.run_config(args), **parts)
    start, history = checkpoint.resume(args.resume)
    print(f"{len(train)} training and {len(test)} test images, {common.epochs_to_train(start, args.epochs)}", flush=True)

    for epoch in range(start, args.epochs):
        record = {"epoch": epoch + 1}
        for name, run in runs.items():
            began = time.perf_counter()
            model, optimizer, loss_fn = run["model"], run["optimizer"], LOSSES[name]
            running = node.metrics.RunningMean()  # summed on the device: no sync per step
            for x, t in common.batches(run["loader"], f"{name} {epoch + 1}/{args.epochs}"):
                optimizer.zero_grad()
                loss = loss_fn(model(x), t)
                common.stop_if_not_finite(loss, f"{name}, epoch {epoch + 1}")
                loss.backward()
                optimizer.step()
                running.add(loss)
            record[f"{name} train loss"] = running.value()
            record[f"{name} test loss"], record[f"{name} test accuracy"] = evaluate(model, loss_fn, test)
            record[f"{name} seconds"] = time.perf_counter() - began
        history.append(record)
        print(
            f"epoch={epoch + 1}, " + ", ".join(f"{name}: train loss={record[f'{name} train loss']:.6f}, test loss={record[f'{name} test loss']:.6f}" for name in runs),
            flush=True,
        )
        checkpoint.save(epoch, history)

    results = []
    for name, run in runs.items():
        test_loss, test_accuracy = evaluate(run["model"], LOSSES[name], test)
        results.append({"loss": name, "test_loss": test_loss, "test_accuracy": test_accuracy})
    curves = {f"{name} {curve}": [r[f"{name} {curve}"] for r in history] for name in runs for curve in ("train loss", "test loss", "test accuracy")}
    node.plot.training_curves(curves, out / "curves.png", title="sigmoid cross entropy: custom Function vs primitive ops")
    common.write_json(out / "metrics.json", {"runs": results, "history": history, "args": vars(args)})
    print(common.markdown_table(results, ["loss", "test_loss", "test_accuracy"]))
    return results


if __name__ == "__main__":
    main()

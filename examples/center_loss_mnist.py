"""The Center Loss notebook this package recreates: an MLP with a 2-D feature layer trained with Center Loss on MNIST.

Recipe (the notebook's defaults): MLP 784-256-2-10 with ReLU, Adam lr 1e-3,
batch 128, 25 epochs, softmax cross entropy plus Center Loss on the 2-D layer
in the paper's form (centers moved by the update rule with α = 0.01, loss
weight λ = 1, the notebook's ``gain``). ``--no-center`` trains the softmax-only
baseline for comparison.

Writes to --out: features.png (test features by class), curves.png,
frames/epoch=N.png (with --frames), metrics.json and checkpoint.npz.

    python examples/center_loss_mnist.py --data ../shared/data
    python examples/center_loss_mnist.py --data ../shared/data --no-center --out runs/mlp-softmax
"""
import time

import common
import node


class Classifier(node.Network):
    """784 -> 256 (ReLU) -> 2 (the feature) -> 10 (class scores)."""

    def __init__(self, rng):
        self.hidden = node.Linear(784, 256, rng=rng)
        self.feature = node.Linear(256, 2, rng=rng)
        self.output = node.Linear(2, 10, rng=rng)

    def forward(self, x):
        h = self.feature(self.hidden(x / 255).relu())
        return h, self.output(h)


def main(argv=None):
    p = common.parser(__doc__, epochs=25, batch_size=128, out="runs/center_loss_mnist")
    p.add_argument("--no-center", action="store_true", help="softmax only (the baseline)")
    p.add_argument("--alpha", type=common.number(0, 1), default=0.01, help="center update rate α, in [0, 1]")
    p.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=common.RATE, default=1.0, help="center loss weight λ, >= 0")
    p.add_argument("--lr", type=common.RATE, default=1e-3, help="Adam learning rate, >= 0")
    p.add_argument("--frames", action="store_true", help="save a scatter of the test features every epoch")
    args = p.parse_args(argv)
    out = common.setup(args)
    train, test = common.datasets(args)

    model = Classifier(node.layers.as_generator(args.seed))
    center = None if args.no_center else node.CenterLoss(10, 2, alpha=args.alpha, lambda_=args.lambda_, rng=args.seed + 1)
    optimizer = node.Adam(model.parameters(), args.lr)
    loader = node.DataLoader(train, batch_size=args.batch_size, seed=args.seed + 2)
    parts = {"model": model, "optimizer": optimizer, "loader": loader}
    if center is not None:
        parts["center"] = center
    checkpoint = common.Checkpoint(out / "checkpoint.npz", config=common.run_config(args), **parts)
    start, history = checkpoint.resume(args.resume)
    name = "softmax" if center is None else "softmax + center loss"
    print(f"{name}: {len(train)} training and {len(test)} test images, {common.epochs_to_train(start, args.epochs)}", flush=True)

    for epoch in range(start, args.epochs):
        began = time.perf_counter()
        model.train()
        running = node.metrics.RunningMean()  # summed on the device: no sync per step
        for x, t in common.batches(loader, f"epoch {epoch + 1}/{args.epochs}"):
            optimizer.zero_grad()
            h, scores = model(x)
            loss = scores.softmax_with_cross_entropy(t)
            if center is not None:
                common.stop_if_not_finite(loss, f"epoch {epoch + 1}")  # NaN features stop the run here; CenterLoss would refuse them
                loss = loss + center(h, t)
            common.stop_if_not_finite(loss, f"epoch {epoch + 1}")
            loss.backward()
            optimizer.step()
            running.add(loss)
        model.eval()
        features, labels = common.evaluate_epoch(model, test, history, epoch, running.value(), began)
        if args.frames:
            node.plot.save_epoch_frame(features, labels, epoch + 1, out / "frames")
        checkpoint.save(epoch, history)

    model.eval()
    return common.final_report(model, test, out, name, history, args)


if __name__ == "__main__":
    main()

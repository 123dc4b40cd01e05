"""The PyTorch CNN comparison of cross entropy, Center Loss and PC loss: one CNN with a 2-D feature layer trained three ways, features compared.

The network: three 5×5 convolutions (32, 64, 128 channels, padding 2), each
followed by ReLU and 2×2 max pooling, global average pooling, a 2-unit layer
(the feature) and 10 outputs. SGD lr 0.001, momentum 0.9, batch 100.

1. cross entropy only;
2. + Center Loss with learnable centers (their own SGD, lr 0.5), λ_c = 1;
3. + Center Loss + PC loss, subtracted with λ_pc = 1e-4 (PC centers: SGD, lr 0.01).

λ_c follows the PyTorch comparison's definition, Σᵢ‖xᵢ - c_yᵢ‖²/B, which is twice the
paper's ½ convention used by ``node.LearnableCenterLoss``, so the loss here is
built with lambda_=2·λ_c. Two departures from the comparison's code, both fixes:
it zeroes the centers' gradients *after* backward and right before their
optimizer's step, so its centers never move; here they are trained. And its
PC centers term reduces to ‖c_j‖² (see ``node.PCLoss``).

The PC centers descend λ_pc·(-PC) like the network does (``node.PCLoss``'s
default), so their effective step is lr·λ_pc. The comparison's code divides λ_pc
back out of their gradient, but
-PC has no minimum in the centers (pushing them apart lowers it without end):
trained that way at lr 0.01 they run away exponentially (the comparison's 20-epoch
recipe: loss -590 after epoch 2, -7e22 after epoch 8). The comparison never sees this
because its centers never move. ``--pc-divide-lambda`` restores its scaling.

Defaults finish in minutes on two CPU cores: 3 epochs on 20,000 training
images, tested on 2,000, with lr 0.01, since the comparison's lr 0.001 barely moves
this network in so few steps (600 steps: 13% accuracy at 0.001, 78% at 0.01).
``--full`` runs the comparison's recipe: lr 0.001, 20 epochs on all 60,000 images.
Writes features.png (three panels), metrics.json and a checkpoint per run.

    python examples/compare_losses.py --data ../shared/data
    python examples/compare_losses.py --data ../shared/data --full
"""
import time

import common
import node
import node.functions as F


class CNN(node.Network):
    def __init__(self, rng, hidden_dim=2, num_classes=10):
        self.convs = [node.Conv2d(c_in, c_out, 5, padding=2, rng=rng) for c_in, c_out in ((1, 32), (32, 64), (64, 128))]
        self.fc1 = node.Linear(128, hidden_dim, rng=rng)
        self.fc2 = node.Linear(hidden_dim, num_classes, rng=rng)

    def forward(self, x):
        h = x / 255
        for conv in self.convs:
            h = F.max_pool2d(conv(h).relu(), 2)
        features = self.fc1(F.global_avg_pool2d(h))
        return features, self.fc2(features)


RUNS = [  # (folder, title, losses)
    ("xent", "cross entropy", {"center": False, "pc": False}),
    ("xent_center", "+ center loss", {"center": True, "pc": False}),
    ("xent_center_pc", "+ center + PC loss", {"center": True, "pc": True}),
]


def train_run(folder, title, options, args, train, test, out):
    seed = args.seed
    model = CNN(node.layers.as_generator(seed))
    optimizer = node.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loader = node.DataLoader(train, batch_size=args.batch_size, seed=seed + 1)
    parts = {"model": model, "optimizer": optimizer, "loader": loader}
    center = pc = None
    if options["center"]:
        # The PyTorch comparison steps its centers on the plain gradient of its loss: scale_centers_by_lambda=True.
        center = node.LearnableCenterLoss(10, 2, lambda_=2 * args.lambda_center, scale_centers_by_lambda=True, rng=seed + 2)
        parts["center"], parts["center_optimizer"] = center, node.SGD(center.parameters(), lr=args.center_lr)
    if options["pc"]:
        pc = node.PCLoss(10, 2, lambda_=args.lambda_pc, scale_centers_by_lambda=not args.pc_divide_lambda, rng=seed + 3)
        parts["pc"], parts["pc_optimizer"] = pc, node.SGD(pc.parameters(), lr=args.pc_lr)
    optimizers = [part for name, part in parts.items() if name.endswith("optimizer")]
    run_dir = out / folder
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = common.Checkpoint(run_dir / "checkpoint.npz", config=common.run_config(args), **parts)
    start, history = checkpoint.resume(args.resume)
    print(f"{title}: {common.epochs_to_train(start, args.epochs)}", flush=True)

    for epoch in range(start, args.epochs):
        began = time.perf_counter()
        model.train()
        running = node.metrics.RunningMean()  # summed on the device: no sync per step
        for x, t in common.batches(loader, f"{title} {epoch + 1}/{args.epochs}"):
            for opt in optimizers:
                opt.zero_grad()
            features, scores = model(x)
            loss = scores.softmax_with_cross_entropy(t)
            if center is not None:
                loss = loss + center(features, t)
            if pc is not None:
                loss = loss - pc(features, t)
            common.stop_if_not_finite(loss, f"{title}, epoch {epoch + 1}")
            loss.backward()
            for opt in optimizers:
                opt.step()
            running.add(loss)
        history.append({"epoch": epoch + 1, "train_loss": running.value(), "seconds": time.perf_counter() - began})
        print(f"{title}: epoch {epoch + 1}, loss {history[-1]['train_loss']:.4f} ({history[-1]['seconds']:.0f} s)", flush=True)
        checkpoint.save(epoch, history)

    model.eval()
    features, scores, labels = common.predict(model, test, batch_size=500)
    metrics = {"run": title, "test_accuracy": node.metrics.accuracy(scores, labels), **node.metrics.feature_report(features, labels)}
    return metrics, history, (features, labels)


def main(argv=None):
    p = common.parser(__doc__, epochs=3, batch_size=100, out="runs/compare_losses", limit=20000, helps={
        "limit": f"use only the first N training images and the first min(N, 2,000) test images, N >= {common.MIN_LIMIT}",
    })
    p.add_argument("--full", action="store_true", help="the PyTorch comparison's recipe: 20 epochs on all 60,000 / 10,000 images (overrides --epochs and --limit)")
    p.add_argument("--lr", type=common.RATE, default=None, help="SGD learning rate, >= 0 (default 0.01; 0.001, the PyTorch comparison's, with --full)")
    p.add_argument("--lambda-center", type=common.RATE, default=1.0, help="Center Loss weight λ_c >= 0 in the PyTorch comparison's convention (Σ‖x-c‖²/B)")
    p.add_argument("--center-lr", type=common.RATE, default=0.5, help="learning rate of the centers' own SGD, >= 0")
    p.add_argument("--lambda-pc", type=common.RATE, default=1e-4, help="PC loss weight λ_pc >= 0 (the PC loss is subtracted)")
    p.add_argument("--pc-lr", type=common.RATE, default=0.01, help="learning rate of the PC centers' own SGD, >= 0")
    p.add_argument("--pc-divide-lambda", action="store_true", help="divide λ_pc out of the PC centers' gradient, as the PyTorch comparison's code does (they run away)")
    args = p.parse_args(argv)
    if args.full:
        args.epochs, args.limit = 20, None
    if args.lr is None:
        args.lr = 0.001 if args.full else 0.01
    out = common.setup(args)
    train, test = common.datasets(args, flatten=False)
    if args.limit:  # evaluate on at most 2,000 test images in the quick setting
        test = node.Subset(test, range(min(len(test), 2000)))
    print(f"{len(train)} training and {len(test)} test images, {args.epochs} epochs per run", flush=True)

    results, panels, histories = [], {}, {}
    for folder, title, options in RUNS:
        metrics, history, (features, labels) = train_run(folder, title, options, args, train, test, out)
        results.append(metrics)
        histories[title] = history
        panels[f"{title}\naccuracy {metrics['test_accuracy']:.3f}, tr(S_W)/tr(S_B) {metrics['compactness']:.3f}"] = (features, labels)
    node.plot.feature_panels(panels, out / "features.png")
    table = common.markdown_table(results, ["run", "test_accuracy", "compactness", "silhouette", "center_separation"])
    common.write_json(out / "metrics.json", {"runs": results, "history": histories, "args": vars(args)})
    common.write_text(out / "table.md", table + "\n")
    print(table)
    return results


if __name__ == "__main__":
    main()

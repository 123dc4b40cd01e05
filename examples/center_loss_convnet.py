"""LeNets++ with Center Loss, the paper's MNIST model: a Conv-BN-PReLU network with a 2-D feature, NLL loss and Center Loss.

Network (LeNets++ from Wen, Zhang, Li, Qiao, "A Discriminative Feature
Learning Approach for Deep Face Recognition", ECCV 2016, in a Conv-BN-PReLU
layout): six 5×5 convolutions (32, 32, 64, 64, 128, 128 channels, padding 2),
each followed by batch normalization and PReLU, with 2×2 max pooling after
every second one; then a 2-unit linear layer with PReLU (the feature) and 10
log-softmax outputs.

Training: NLL loss on the log-softmax outputs plus Center Loss on
the feature; SGD with momentum 0.9 and weight decay 5e-4, StepLR (×0.8 every
20 epochs), inputs normalized with MNIST's mean 0.1309 and std 0.3084.
Center Loss in the paper's form (centers moved by the update rule, α = 0.5) by
default, or with ``--learnable-centers`` trained by their own SGD (lr 0.5) as a
Parameter. ``--lambda 0`` trains softmax only.

Saves a scatter of the test features every epoch (frames/epoch=N.png), a
checkpoint every epoch (--resume continues), features.png, curves.png and
metrics.json.

    python examples/center_loss_convnet.py --data ../shared/data --epochs 10
"""
import time

import common
import node
import node.functions as F

MEAN, STD = 0.1309, 0.3084


def conv_block(c_in, c_out, rng):
    return [node.Conv2d(c_in, c_out, 5, padding=2, bias=False, rng=rng), node.BatchNorm2d(c_out), node.PReLU(c_out)]


class LeNetsPlusPlus(node.Network):
    """LeNets++: ``feature_dim`` features (2 in the paper) and ``num_classes`` log-softmax outputs.

    ``num_classes=None`` leaves the output layer out: forward then returns
    (features, None), for losses that own their class weights (NormFace,
    CosFace, ArcFace in examples/open_set.py). ``mean`` and ``std`` normalize
    the 0-255 pixels (MNIST's by default).
    """

    def __init__(self, rng, feature_dim=2, num_classes=10, mean=MEAN, std=STD):
        self.mean, self.std = mean, std
        self.body = node.Sequential(
            *conv_block(1, 32, rng), *conv_block(32, 32, rng), node.MaxPool2d(2),
            *conv_block(32, 64, rng), *conv_block(64, 64, rng), node.MaxPool2d(2),
            *conv_block(64, 128, rng), *conv_block(128, 128, rng), node.MaxPool2d(2),
        )
        self.feature = node.Linear(128 * 3 * 3, feature_dim, rng=rng)
        self.feature_act = node.PReLU(1)
        self.output = None if num_classes is None else node.Linear(feature_dim, num_classes, rng=rng)

    def forward(self, x):
        h = self.body((x / 255 - self.mean) / self.std)
        features = self.feature_act(self.feature(F.flatten(h)))
        return features, None if self.output is None else self.output(features).log_softmax()


def main(argv=None):
    p = common.parser(__doc__, epochs=10, batch_size=100, out="runs/center_loss_convnet")
    p.add_argument("--lr", type=common.RATE, default=0.001, help="SGD learning rate, >= 0")
    p.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=common.RATE, default=1.0, help="center loss weight λ, >= 0 (0: softmax only)")
    p.add_argument("--alpha", type=common.number(0, 1), default=0.5, help="center update rate α, in [0, 1] (paper form)")
    p.add_argument("--learnable-centers", action="store_true", help="train the centers with their own SGD instead of the update rule")
    p.add_argument("--center-lr", type=common.RATE, default=0.5, help="learning rate of the centers' SGD, >= 0 (with --learnable-centers)")
    args = p.parse_args(argv)
    out = common.setup(args)
    train, test = common.datasets(args, flatten=False)

    model = LeNetsPlusPlus(node.layers.as_generator(args.seed))
    optimizer = node.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    scheduler = node.StepLR(optimizer, step_size=20, gamma=0.8)
    loader = node.DataLoader(train, batch_size=args.batch_size, seed=args.seed + 1)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "loader": loader}
    optimizers = [optimizer]
    center = None
    if args.lambda_ > 0 and args.learnable_centers:
        center = node.LearnableCenterLoss(10, 2, lambda_=args.lambda_, rng=args.seed + 2)
        parts["center_optimizer"] = node.SGD(center.parameters(), lr=args.center_lr)
        optimizers.append(parts["center_optimizer"])
    elif args.lambda_ > 0:
        center = node.CenterLoss(10, 2, alpha=args.alpha, lambda_=args.lambda_, rng=args.seed + 2)
    if center is not None:
        parts["center"] = center
    name = "softmax" if center is None else f"softmax + center loss ({'learnable' if args.learnable_centers else 'paper'} centers, λ={args.lambda_})"
    checkpoint = common.Checkpoint(out / "checkpoint.npz", config=common.run_config(args), **parts)
    start, history = checkpoint.resume(args.resume)
    print(f"{name}: {len(train)} training and {len(test)} test images, {common.epochs_to_train(start, args.epochs)}", flush=True)

    for epoch in range(start, args.epochs):
        began = time.perf_counter()
        model.train()
        if center is not None:
            center.train()
        running = node.metrics.RunningMean()  # summed on the device: no sync per step
        for x, t in common.batches(loader, f"epoch {epoch + 1}/{args.epochs}"):
            for opt in optimizers:
                opt.zero_grad()
            features, log_probs = model(x)
            loss = F.nll_loss(log_probs, t)
            if center is not None:
                common.stop_if_not_finite(loss, f"epoch {epoch + 1}")  # NaN features stop the run here; CenterLoss would refuse them
                loss = loss + center(features, t)
            common.stop_if_not_finite(loss, f"epoch {epoch + 1}")
            loss.backward()
            for opt in optimizers:
                opt.step()
            running.add(loss)
        scheduler.step()
        model.eval()
        lr = scheduler.get_last_lr()[0]
        features, labels = common.evaluate_epoch(model, test, history, epoch, running.value(), began, batch_size=500, lr=lr)
        node.plot.save_epoch_frame(features, labels, epoch + 1, out / "frames")
        checkpoint.save(epoch, history)

    model.eval()
    return common.final_report(model, test, out, name, history, args, batch_size=500, title=f"LeNets++, {name}")


if __name__ == "__main__":
    main()

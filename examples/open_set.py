"""Open-set study (issue 24): do LeNets++ features trained on five classes verify and retrieve the five classes never seen?

LeNets++ (examples/center_loss_convnet.py's network, with ``--feature-dim``
features) is trained on the training images of classes 0-4 of MNIST (or, with
``--dataset fashion``, Fashion-MNIST). Its features of the test images of
classes 5-9, which it never saw, are then compared by cosine similarity:

* verification on sampled pairs (``node.metrics.pairs`` + ``pair_scores``,
  ``--pairs`` same and as many different pairs): ``node.metrics.verification``
  (AUC, EER, TAR at FAR 1e-2 and 1e-3) and ``pair_accuracy`` (LFW's 10 folds);
* retrieval among the unseen test images: precision@1, R-precision, MAP@R;
* and, for contrast, the closed-set accuracy on the seen classes' test images.

Models (``--models``, comma-separated): ``softmax`` (the paper's A),
``contrastive`` (B: softmax + λ_B·ContrastiveLoss on the batch's pairs),
``center`` (C: softmax + Center Loss in the paper's form, λ and α),
``learnable`` (Center Loss with learnable centers, SGD lr 0.5), ``pc``
(softmax + learnable Center Loss - λ_pc·PC loss, PC's centers on their own
SGD at lr 0.01, as in examples/compare_losses.py),
``normface``, ``cosface``, ``arcface`` (the loss owns the class weights).
Each runs ``--seeds`` times (seeds --seed, --seed + 1, ...); the report gives
mean ± std over them. ``--sensitivity`` adds the paper's study for model C:
λ ∈ {0, 0.001, 0.01, 0.1, 1} at α = 0.5, then α ∈ {0.01, 0.1, 0.5, 1} at the
λ with the best mean pair accuracy.

Training: SGD (momentum 0.9, weight decay 5e-4, StepLR ×0.8 every 20 epochs)
as center_loss_convnet.py. Outputs in --out: results.md (the table),
metrics.json, roc.png (mean ROC over seeds, log-FAR axis), sensitivity.png
(with --sensitivity) and, with --feature-dim 2, features_<model>.png (seen
and unseen test features side by side, from the first seed). Every
(model, seed) run has its folder runs/<name>/ with a checkpoint after each
epoch and result.json when finished (all written atomically); ``--resume``
skips finished runs and continues an interrupted one from its last epoch,
giving the same numbers as an uninterrupted run.

``--quick`` (for CI): 300 images, 1 epoch, 1 seed, models softmax, center and
arcface, 500 pairs of each kind; under a minute on two CPU cores. Options
given explicitly still win over it.

Time, measured on two CPU cores (real MNIST, model C, --feature-dim 64,
batch 100, seed 0): one epoch on the 30,596 training images of digits 0-4
takes 92 s (306 steps), the evaluation 12 s. A (model, seed) run of the
default 10 epochs is thus about 15.5 minutes; each of the four commands below
trains 24 runs (8 models × 3 seeds), about 6.2 hours, and --sensitivity 24
more (8 new settings × 3 seeds), another 6.2 hours: about 31 hours for the
whole study on two cores. docs/results.md, "Open-set study", has the
measurement and the study's state. The full study's commands::

    python examples/open_set.py --data ../shared/data --feature-dim 64 --seeds 3 --epochs 10 --sensitivity --out runs/open_set/mnist64
    python examples/open_set.py --data ../shared/data --feature-dim 2 --seeds 3 --epochs 10 --out runs/open_set/mnist2
    python examples/open_set.py --data ../shared/data --dataset fashion --feature-dim 64 --seeds 3 --epochs 10 --out runs/open_set/fashion64
    python examples/open_set.py --data ../shared/data --dataset fashion --feature-dim 2 --seeds 3 --epochs 10 --out runs/open_set/fashion2

(each resumable with --resume; --device gpu when a GPU is there).
"""
import argparse
import json
import sys
import time

import numpy as np

import common
import node
import node.functions as F
from center_loss_convnet import LeNetsPlusPlus
from node.fileio import atomic_write

MODELS = ("softmax", "contrastive", "center", "learnable", "pc", "normface", "cosface", "arcface")
QUICK_MODELS = ("softmax", "center", "arcface")
SEEN, UNSEEN = range(0, 5), range(5, 10)
NORMALIZATION = {"mnist": (0.1309, 0.3084), "fashion": (0.2860, 0.3530)}
LAMBDAS, ALPHAS = (0.0, 0.001, 0.01, 0.1, 1.0), (0.01, 0.1, 0.5, 1.0)
FARS = (1e-2, 1e-3)
FAR_GRID = np.logspace(-4, 0, 81)  # where the mean ROC is drawn
METRICS = ("auc", "eer", "tar@1e-2", "tar@1e-3", "pair_accuracy", "precision_at_1", "r_precision", "map_at_r", "seen_accuracy")


def model_list(text):
    """argparse type of --models: names from MODELS, comma-separated, no repeats."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if not names or unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"must be distinct names from {', '.join(MODELS)}, comma-separated, got {text!r}")
    return names


def parse(argv):
    p = common.parser(
        __doc__, epochs=10, batch_size=100, out="runs/open_set",
        helps={"data": "data root holding mnist/ (or fashion-mnist/) (default: node.data.data_root()'s)",
               "limit": f"use only the first N seen training images, and the first N seen and N unseen test images, N >= {common.MIN_LIMIT} (default: all)",
               "seed": "first seed; the runs use --seed, --seed + 1, ..."},
    )
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist", help="MNIST digits or Fashion-MNIST clothes")
    p.add_argument("--models", type=model_list, default=list(MODELS), help=f"comma-separated, from {','.join(MODELS)} (default: all)")
    p.add_argument("--feature-dim", type=common.at_least(2), default=64, help="feature size (2 draws the feature pictures)")
    p.add_argument("--seeds", type=common.at_least(1), default=3, help="runs per model, for mean ± std")
    p.add_argument("--pairs", type=common.at_least(10, " (pair accuracy's 10 folds)"), default=3000, help="same-class pairs, and as many different ones, of unseen test features")
    p.add_argument("--sensitivity", action="store_true", help="add model C's λ and α study")
    p.add_argument("--quick", action="store_true", help="tiny run for CI: --limit 300 --epochs 1 --seeds 1 --pairs 500 --models softmax,center,arcface")
    p.add_argument("--lr", type=common.RATE, default=0.001, help="SGD learning rate, >= 0")
    p.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=common.RATE, default=0.1, help="Center Loss weight λ of models C, learnable and pc, >= 0")
    p.add_argument("--alpha", type=common.number(0, 1), default=0.5, help="center update rate α of model C, in [0, 1]")
    p.add_argument("--center-lr", type=common.RATE, default=0.5, help="SGD learning rate of learnable centers, >= 0")
    p.add_argument("--contrastive-weight", type=common.RATE, default=0.1, help="weight λ_B of the contrastive loss (model B), >= 0")
    p.add_argument("--contrastive-margin", type=common.number(0, open_minimum=True), default=10.0, help="margin of the contrastive loss, > 0")
    p.add_argument("--pc-weight", type=common.RATE, default=1e-4, help="weight of the PC loss (model pc), >= 0")
    args = p.parse_args(argv)
    if args.quick:  # the quick sizes become defaults; options given explicitly still win
        p.set_defaults(epochs=1, seeds=1, limit=300, pairs=500, models=list(QUICK_MODELS))
        args = p.parse_args(argv)
    return args


def load(args):
    """(seen training set, seen test set, unseen test set), each a node.Subset, --limit applied to each."""
    cls = node.FashionMNIST if args.dataset == "fashion" else node.MNIST
    root = args.data or None
    try:
        train = cls(training=True, root=root, flatten=False, one_hot=False)
        test = cls(training=False, root=root, flatten=False, one_hot=False)
    except FileNotFoundError as exc:
        sys.exit(str(exc).replace("pass root=", "pass --data"))
    picked = []
    for data, classes in ((train, SEEN), (test, SEEN), (test, UNSEEN)):
        index = np.flatnonzero(np.isin(data.labels, list(classes)))  # on the host, before any move to the GPU
        picked.append(index[: args.limit] if args.limit else index)
    if args.device == "gpu":
        train, test = train.to("gpu"), test.to("gpu")
    sets = [node.Subset(data, index) for data, index in zip((train, test, test), picked)]
    for data, name in zip(sets, ("seen training", "seen test", "unseen test")):
        if len(data) < common.MIN_LIMIT:
            sys.exit(f"--data: only {len(data)} {name} images in {args.dataset}; need at least {common.MIN_LIMIT}")
    return sets


def runs_planned(args):
    """[(run name, model, λ, α, seed)] of the main comparison, in order."""
    seeds = [args.seed + k for k in range(args.seeds)]
    return [(f"{model}-seed{seed}", model, args.lambda_, args.alpha, seed) for model in args.models for seed in seeds]


def sensitivity_runs(args, lambdas, alphas):
    seeds = [args.seed + k for k in range(args.seeds)]
    return [(f"center-lambda{lam:g}-alpha{alpha:g}-seed{seed}", "center", lam, alpha, seed) for lam in lambdas for alpha in alphas for seed in seeds]


def build(model_name, lam, alpha, seed, args):
    """(network, losses {name: layer}, parts to checkpoint {name: part}, optimizers [the network's first])."""
    k, d = len(SEEN), args.feature_dim
    margin = model_name in ("normface", "cosface", "arcface")
    mean, std = NORMALIZATION[args.dataset]
    net = LeNetsPlusPlus(node.layers.as_generator(seed), feature_dim=d, num_classes=None if margin else k, mean=mean, std=std)
    losses, parts = {}, {"model": net}
    if model_name == "contrastive":
        losses["contrastive"] = node.ContrastiveLoss(args.contrastive_margin)
    elif model_name == "center":
        losses["center"] = node.CenterLoss(k, d, alpha=alpha, lambda_=lam, rng=seed + 2)
    elif model_name in ("learnable", "pc"):
        losses["center"] = node.LearnableCenterLoss(k, d, lambda_=lam, rng=seed + 2)
        parts["center_optimizer"] = node.SGD(losses["center"].parameters(), lr=args.center_lr)
        if model_name == "pc":
            losses["pc"] = node.PCLoss(k, d, lambda_=args.pc_weight, rng=seed + 3)
            parts["pc_optimizer"] = node.SGD(losses["pc"].parameters(), lr=0.01)
    elif margin:
        head = {"normface": node.NormFace, "cosface": node.CosFace, "arcface": node.ArcFace}[model_name]
        losses["head"] = head(d, k, rng=seed + 2)
    params = list(net.parameters()) + (list(losses["head"].parameters()) if margin else [])
    optimizer = node.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    parts.update({f"loss_{name}": loss for name, loss in losses.items()})
    parts["optimizer"], parts["scheduler"] = optimizer, node.StepLR(optimizer, step_size=20, gamma=0.8)
    optimizers = [optimizer] + [part for name, part in parts.items() if name.endswith("_optimizer")]
    return net, losses, parts, optimizers


def training_loss(net, losses, x, t, args, where):
    features, log_probs = net(x)
    if "head" in losses:
        return losses["head"](features, t)
    loss = F.nll_loss(log_probs, t)
    common.stop_if_not_finite(loss, where)
    if "contrastive" in losses:
        loss = loss + losses["contrastive"](features, t) * args.contrastive_weight
    if "center" in losses:
        loss = loss + losses["center"](features, t)
    if "pc" in losses:
        loss = loss - losses["pc"](features, t)
    return loss


def features_of(net, losses, dataset, batch_size=500):
    """(features, closed-set scores, labels) as NumPy arrays, without a graph; margin heads score with logits (no margin)."""
    features, scores, labels = [], [], []
    with node.no_grad():
        for x, t in node.DataLoader(dataset, batch_size=batch_size, shuffle=False):
            h, s = net(x)
            if "head" in losses:
                s = losses["head"].logits(h)
            features.append(node.asnumpy(h.value))
            scores.append(node.asnumpy(s.value))
            labels.append(node.asnumpy(t.value))
    return np.concatenate(features), np.concatenate(scores), np.concatenate(labels)


def evaluate(net, losses, seen_test, unseen_test, seed, args):
    """The run's numbers (METRICS), its mean-ROC points on FAR_GRID, and the test features."""
    _, seen_scores, seen_labels = seen = features_of(net, losses, seen_test)
    unseen_features, _, unseen_labels = unseen = features_of(net, losses, unseen_test)
    result = {"seen_accuracy": node.metrics.accuracy(seen_scores, seen_labels)}
    if not np.isfinite(unseen_features).all():
        print("  unseen features are not all finite (a diverged run): verification and retrieval recorded as NaN", flush=True)
        return {**result, **{name: float("nan") for name in METRICS if name != "seen_accuracy"}}, [float("nan")] * len(FAR_GRID), seen, unseen
    same_available = sum(n * (n - 1) // 2 for n in np.bincount(unseen_labels))
    n_pairs = min(args.pairs, same_available)
    i, j, same = node.metrics.pairs(unseen_features, unseen_labels, n_pairs, n_pairs, rng=seed + 4)
    scores = node.metrics.pair_scores(unseen_features, i, j)
    report = node.metrics.verification(scores, same, far=FARS)
    mean, _ = node.metrics.pair_accuracy(scores, same, folds=10)
    fpr, tpr, _ = node.metrics.roc_curve(scores, same)
    result.update(
        auc=report["auc"], eer=report["eer"], pair_accuracy=mean, pairs_per_kind=int(n_pairs),
        **{f"tar@{far:.0e}".replace("e-0", "e-"): report["tar@far"][far] for far in FARS},
        **node.metrics.retrieval(unseen_features, unseen_labels),
    )
    roc = np.interp(FAR_GRID, fpr, tpr).tolist()
    return result, roc, seen, unseen


def train_run(name, model_name, lam, alpha, seed, args, data, out):
    """Train one (model, seed) run, resuming within it; returns its result dict (also written to result.json)."""
    folder = out / "runs" / name
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model": model_name, "seed": seed, "lambda": lam, "alpha": alpha, "dataset": args.dataset, "feature_dim": args.feature_dim,
        "limit": args.limit, "batch_size": args.batch_size, "lr": args.lr, "center_lr": args.center_lr, "pairs": args.pairs,
        "contrastive_weight": args.contrastive_weight, "contrastive_margin": args.contrastive_margin, "pc_weight": args.pc_weight,
    }
    done = folder / "result.json"
    if args.resume and done.is_file():
        saved = json.loads(done.read_text())
        if saved["config"] == config and saved["epochs"] == args.epochs:
            print(f"{name}: finished before, read from {done}", flush=True)
            return saved
    train, seen_test, unseen_test = data
    net, losses, parts, optimizers = build(model_name, lam, alpha, seed, args)
    loader = node.DataLoader(train, batch_size=args.batch_size, seed=seed + 1)
    parts["loader"] = loader
    checkpoint = common.Checkpoint(folder / "checkpoint.npz", config=config, **parts)
    start, history = checkpoint.resume(args.resume)
    print(f"{name}: {common.epochs_to_train(start, args.epochs)}", flush=True)
    for epoch in range(start, args.epochs):
        began = time.perf_counter()
        net.train()
        for loss in losses.values():
            loss.train()
        running = node.metrics.RunningMean()
        for x, t in common.batches(loader, f"{name} {epoch + 1}/{args.epochs}"):
            for opt in optimizers:
                opt.zero_grad()
            loss = training_loss(net, losses, x, t, args, f"{name}, epoch {epoch + 1}")
            common.stop_if_not_finite(loss, f"{name}, epoch {epoch + 1}")
            loss.backward()
            for opt in optimizers:
                opt.step()
            running.add(loss)
        parts["scheduler"].step()
        history.append({"epoch": epoch + 1, "train_loss": running.value(), "seconds": time.perf_counter() - began})
        print(f"  epoch {epoch + 1}: loss {history[-1]['train_loss']:.4f} ({history[-1]['seconds']:.1f} s)", flush=True)
        checkpoint.save(epoch, history)
    net.eval()
    for loss in losses.values():
        loss.eval()
    began = time.perf_counter()
    result, roc, seen, unseen = evaluate(net, losses, seen_test, unseen_test, seed, args)
    result = {"name": name, "config": config, "epochs": args.epochs, "metrics": result, "roc_tpr": roc, "history": history,
              "evaluation_seconds": time.perf_counter() - began}
    if args.feature_dim == 2 and seed == args.seed:
        pictures(name, model_name, seen, unseen, out, args)
    common.write_json(done, result)
    m = result["metrics"]
    print(f"  seen accuracy {m['seen_accuracy']:.4f}; unseen: AUC {m['auc']:.4f}, EER {m['eer']:.4f}, "
          f"pair accuracy {m['pair_accuracy']:.4f}, MAP@R {m['map_at_r']:.4f}", flush=True)
    return result


def pictures(name, model_name, seen, unseen, out, args):
    """Seen and unseen test features side by side (2-D features only)."""
    classes = list((node.FashionMNIST if args.dataset == "fashion" else node.MNIST).classes)
    node.plot.feature_panels(
        {f"{model_name}: seen classes 0-4 (trained)": (seen[0], seen[2]), f"{model_name}: unseen classes 5-9": (unseen[0], unseen[2])},
        out / f"features_{model_name}.png", classes=classes,
    )


def summary(results):
    """{metric: (mean, std)} over a model's runs (population std, as pair_accuracy's)."""
    return {m: (float(np.mean([r["metrics"][m] for r in results])), float(np.std([r["metrics"][m] for r in results]))) for m in METRICS}


def table(rows):
    """Markdown: one row per (label, summary), cells "mean ± std"."""
    lines = ["| model | " + " | ".join(METRICS) + " |", "|" + "---|" * (len(METRICS) + 1)]
    for label, s in rows:
        lines.append(f"| {label} | " + " | ".join(f"{s[m][0]:.4f} ± {s[m][1]:.4f}" for m in METRICS) + " |")
    return "\n".join(lines)


def save_figure(fig, path):
    with atomic_write(path) as f:
        fig.savefig(f, format="png", bbox_inches="tight")


def roc_figure(curves, path, title):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot(1, 1, 1)
    for label, tpr in curves.items():
        ax.plot(FAR_GRID, tpr, label=label)
    ax.set_xscale("log")
    ax.set(xlabel="false accept rate (log)", ylabel="true accept rate", title=title, xlim=(FAR_GRID[0], 1), ylim=(0, 1.01))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def sensitivity_figure(by_lambda, by_alpha, best_lambda, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    for k, (points, label, note) in enumerate(((by_lambda, "λ", "α = 0.5"), (by_alpha, "α", f"λ = {best_lambda:g}"))):
        ax = fig.add_subplot(1, 2, k + 1)
        xs = list(range(len(points)))
        means = [s["pair_accuracy"][0] for _, s in points]
        stds = [s["pair_accuracy"][1] for _, s in points]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3)
        ax.set_xticks(xs, [f"{v:g}" for v, _ in points])
        ax.set(xlabel=label, ylabel="pair accuracy on unseen classes", title=f"model C, {note}")
        ax.grid(True, alpha=0.3)
    save_figure(fig, path)


def main(argv=None):
    args = parse(argv)
    out = common.setup(args)
    data = load(args)
    began = time.perf_counter()
    print(f"{args.dataset}: {len(data[0])} seen training images, {len(data[1])} seen and {len(data[2])} unseen test images; "
          f"feature size {args.feature_dim}, {args.seeds} seed(s), {args.epochs} epoch(s)", flush=True)
    finished = {}  # run name -> result: a run asked for twice (α = 0.5 at the best λ) is trained once

    def result_of(run):
        if run[0] not in finished:
            finished[run[0]] = train_run(*run, args, data, out)
        return finished[run[0]]

    results = {}
    for run in runs_planned(args):
        results.setdefault(run[1], []).append(result_of(run))
    summaries = {model: summary(rs) for model, rs in results.items()}
    report = {"args": vars(args), "models": {model: {"mean": {m: s[m][0] for m in METRICS}, "std": {m: s[m][1] for m in METRICS},
                                                     "runs": [r["metrics"] for r in results[model]]} for model, s in summaries.items()}}
    text = [f"Open-set study: {args.dataset}, trained on classes 0-4, evaluated on classes 5-9; feature size {args.feature_dim}, "
            f"{args.epochs} epoch(s), {args.seeds} seed(s), mean ± std over seeds", "", table(summaries.items())]
    roc_figure({model: np.mean([r["roc_tpr"] for r in rs], axis=0) for model, rs in results.items()}, out / "roc.png",
               f"unseen classes, {args.dataset}, {args.feature_dim}-D features")

    if args.sensitivity:
        by_lambda = []
        for lam in LAMBDAS:
            rs = [result_of(run) for run in sensitivity_runs(args, [lam], [0.5])]
            by_lambda.append((lam, summary(rs)))
        best = max(by_lambda, key=lambda point: point[1]["pair_accuracy"][0])[0]
        by_alpha = []
        for alpha in ALPHAS:
            rs = [result_of(run) for run in sensitivity_runs(args, [best], [alpha])]
            by_alpha.append((alpha, summary(rs)))
        sensitivity_figure(by_lambda, by_alpha, best, out / "sensitivity.png")
        report["sensitivity"] = {
            "best_lambda": best,
            "lambda": [{"lambda": lam, "alpha": 0.5, **{m: s[m][0] for m in METRICS}, "pair_accuracy_std": s["pair_accuracy"][1]} for lam, s in by_lambda],
            "alpha": [{"lambda": best, "alpha": alpha, **{m: s[m][0] for m in METRICS}, "pair_accuracy_std": s["pair_accuracy"][1]} for alpha, s in by_alpha],
        }
        text += ["", f"Model C, λ at α = 0.5 (best λ: {best:g}):", "", table([(f"λ = {lam:g}", s) for lam, s in by_lambda]),
                 "", f"Model C, α at λ = {best:g}:", "", table([(f"α = {alpha:g}", s) for alpha, s in by_alpha])]
    report["seconds"] = time.perf_counter() - began
    common.write_json(out / "metrics.json", report)
    common.write_text(out / "results.md", "\n".join(text) + "\n")
    print("\n".join(text), flush=True)
    return report


if __name__ == "__main__":
    main()

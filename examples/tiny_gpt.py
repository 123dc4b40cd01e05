"""A small GPT-style transformer learns to continue Shakespeare one character at a time, and writes a sample.

The model is the decoder of a GPT, small: each character of a window of --block
is embedded (node.Embedding) and its position too (a second embedding, learned),
the two added; then --layers blocks, each

    x = x + attention(layer_norm(x))        causal self-attention, --heads heads
    x = x + mlp(layer_norm(x))              Linear(d, 4d), GELU, Linear(4d, d)

(pre-LayerNorm residual blocks, node.LayerNorm, and node.GELU in the tanh form
GPT-2 uses, which costs less than the exact one's erf), a last LayerNorm
and a linear layer to the scores of the next character at every position. The
attention is causal: position t attends to positions 0..t only
(node.functions.scaled_dot_product_attention with is_causal=True), so every
position of a window is a training example for its next character.

Training: AdamW (node.AdamW; weight decay on the matrices and embeddings, none
on biases and LayerNorm gains), the learning rate rising linearly for --warmup
steps and then falling along a cosine to a tenth of --lr at the last step
(node.optim's LinearLR, CosineAnnealingLR and SequentialLR, stepped once per step),
and the gradient's norm clipped to --clip (node.clip_grad_norm_). The loss is
the cross entropy in nats per character (node.functions.cross_entropy).

The text is examples/data/shakespeare.txt: 300 KB of Shakespeare's plays (public
domain), the first part of the tiny-shakespeare file of Andrej Karpathy's
char-rnn (github.com/karpathy/char-rnn, data/tinyshakespeare/input.txt). The
last 10% is the validation part (see examples/chartext.py for the batches, the
validation loss and the sampling). The full configuration reaches a validation
loss of 1.61 after 2000 steps, in under 6 minutes on two CPU cores (docs/results.md).

Writes metrics.json (losses, the sample, the history) and checkpoint.npz to --out.

    python examples/tiny_gpt.py                      # the full configuration (minutes on two CPU cores)
    python examples/tiny_gpt.py --tiny               # a smoke test of seconds
    python examples/tiny_gpt.py --device gpu --steps 5000 --width 384 --layers 6 --heads 6 --block 256
"""
import chartext
import common
import node
import node.functions as F

PRESETS = {
    "full": {"steps": 2000, "batch_size": 16, "block": 64, "width": 128, "heads": 4, "layers": 4, "warmup": 100, "eval_every": 250},
    "tiny": {"steps": 30, "batch_size": 8, "block": 16, "width": 32, "heads": 2, "layers": 1, "warmup": 5, "eval_every": 15},
}


class CausalSelfAttention(node.Network):
    """Multi-head self-attention where position t sees positions 0..t: (batch, time, width) -> the same shape."""

    def __init__(self, width, heads, rng):
        self.heads = heads
        self.qkv = node.Linear(width, 3 * width, rng=rng)  # queries, keys and values of every head, in one product
        self.project = node.Linear(width, width, rng=rng)

    def forward(self, x):
        batch, time, width = x.shape
        # (batch, time, 3·width) -> (3, batch, heads, time, width/heads): one (time, width/heads) matrix per head
        qkv = self.qkv(x).reshape(batch, time, 3, self.heads, width // self.heads).transpose(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        return self.project(y.transpose(0, 2, 1, 3).reshape(batch, time, width))  # the heads side by side again


class Block(node.Network):
    """A pre-LayerNorm transformer block: attention, then a GELU MLP, each added to the residual stream."""

    def __init__(self, width, heads, rng):
        self.norm1 = node.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, rng)
        self.norm2 = node.LayerNorm(width)
        self.mlp = node.Sequential(node.Linear(width, 4 * width, rng=rng), node.GELU("tanh"), node.Linear(4 * width, width, rng=rng))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyGPT(node.Network):
    """codes (batch, time <= block) -> scores (batch, time, vocabulary)."""

    def __init__(self, vocabulary, block, width, heads, layers, rng):
        self.token = node.Embedding(vocabulary, width, rng=rng)
        self.position = node.Embedding(block, width, rng=rng)
        self.blocks = [Block(width, heads, rng) for _ in range(layers)]
        self.norm = node.LayerNorm(width)
        self.head = node.Linear(width, vocabulary, rng=rng)

    def forward(self, codes):
        x = self.token(codes) + self.position(node.arange(codes.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def optimizer_for(model, args):
    """AdamW with weight decay on the matrices and embeddings (2-D) only, not on biases and LayerNorm's gains and shifts."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return node.AdamW(groups, lr=args.lr, betas=(0.9, 0.99))


def schedule_for(optimizer, args):
    """--warmup steps from lr/warmup up to --lr, then a cosine down to lr/10 at --steps; stepped once per step."""
    warmup = min(args.warmup, args.steps - 1)
    rise = node.optim.LinearLR(optimizer, start_factor=1 / max(warmup, 1), end_factor=1.0, total_iters=max(warmup, 1))
    fall = node.optim.CosineAnnealingLR(optimizer, T_max=max(args.steps - warmup, 1), eta_min=args.lr / 10)
    return node.optim.SequentialLR(optimizer, [rise, fall], milestones=[max(warmup, 1)])


def main(argv=None):
    p = chartext.parser(__doc__, out="runs/tiny_gpt", presets=PRESETS, helps={"block": "characters per window: the longest context the model sees"})
    p.add_argument("--width", type=common.at_least(1), default=None, help="width of the residual stream (embeddings), a multiple of --heads" + chartext.default_of(PRESETS, "width"))
    p.add_argument("--heads", type=common.at_least(1), default=None, help="attention heads per block" + chartext.default_of(PRESETS, "heads"))
    p.add_argument("--layers", type=common.at_least(1), default=None, help="transformer blocks" + chartext.default_of(PRESETS, "layers"))
    p.add_argument("--lr", type=common.RATE, default=1e-3, help="peak AdamW learning rate, >= 0")
    p.add_argument("--warmup", type=common.at_least(0), default=None, help="steps of linear warmup" + chartext.default_of(PRESETS, "warmup"))
    p.add_argument("--weight-decay", type=common.RATE, default=0.1, help="AdamW's decoupled weight decay on the 2-D parameters, >= 0")
    p.add_argument("--clip", type=common.number(minimum=0, open_minimum=True), default=1.0, help="largest norm of the gradient (all parameters together), > 0")
    args = chartext.parse(p, argv, PRESETS)
    if args.width % args.heads:
        p.error(f"argument --width: must be a multiple of --heads ({args.heads}), got {args.width}")
    out, data = chartext.setup(args)

    rng = node.layers.as_generator(args.seed)
    model = TinyGPT(len(data), args.block, args.width, args.heads, args.layers, rng)
    optimizer = optimizer_for(model, args)
    schedule = schedule_for(optimizer, args)
    windows = chartext.Windows(data.train, args.block, args.batch_size, seed=args.seed + 1)
    config = chartext.run_config(args, data, defines={"steps"})  # the cosine's length is --steps: a resume keeps it
    parts = {"model": model, "optimizer": optimizer, "schedule": schedule, "windows": windows}
    checkpoint = common.Checkpoint(out / "checkpoint.npz", config=config, unit="step", **parts)
    start, history = checkpoint.resume(args.resume)
    parameters = sum(p.size for p in model.parameters())
    print(
        f"tiny GPT, {parameters:,} parameters: {len(data.host_train):,} training and {len(data.host_validation):,} validation characters, "
        f"{len(data)} distinct; {chartext.steps_to_train(start, args.steps)}",
        flush=True,
    )

    def loss_of(inputs, targets):
        return F.cross_entropy(model(inputs).reshape(-1, len(data)), targets.reshape(-1))

    chartext.train(args, model, optimizer, loss_of, windows, data, checkpoint, start, history, schedule)
    context = []

    def next_scores(codes):
        context.extend(int(c) for c in codes)
        del context[: -args.block]  # the model has positions for --block characters only
        return model(node.backend.backend_module().asarray(context)[None, :]).value[0, -1]

    sample = chartext.generate(next_scores, data, args.prompt, args.sample_length, args.temperature, seed=args.seed + 2)
    return chartext.report(out, "tiny GPT", history, sample, args, parameters)


if __name__ == "__main__":
    main()

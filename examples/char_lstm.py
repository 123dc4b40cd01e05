"""A character-level language model: an LSTM learns to continue Shakespeare one character at a time, and writes a sample.

The model reads a window of characters and, at every position, scores each
character of the vocabulary as the next one: an embedding of each character
(node.Embedding), an LSTM over the window (node.LSTM, --layers layers of
--hidden units, starting from a zero state in every window: backpropagation
through time over --block characters) and a linear layer from each hidden state
to the scores. The loss is the cross entropy of the scores against the next
characters (node.functions.cross_entropy), in nats per character; Adam takes
the steps, with the gradient's norm clipped to --clip (node.clip_grad_norm_),
which keeps the rare large gradients of a recurrent network from throwing the
weights far off.

The text is examples/data/shakespeare.txt: 300 KB of Shakespeare's plays (public
domain), the first part of the tiny-shakespeare file of Andrej Karpathy's
char-rnn (github.com/karpathy/char-rnn, data/tinyshakespeare/input.txt). The
last 10% is the validation part (see examples/chartext.py for the batches, the
validation loss and the sampling). A uniform guess scores ln 62 = 4.13 nats,
the characters' frequencies without any context 3.40. The full configuration
reaches a validation loss of 1.49 after 1500 steps, in under 7 minutes on two
CPU cores shared with other work (docs/results.md).

Writes metrics.json (losses, the sample, the history) and checkpoint.npz to --out.

    python examples/char_lstm.py                     # the full configuration (minutes on two CPU cores)
    python examples/char_lstm.py --tiny              # a smoke test of seconds
    python examples/char_lstm.py --device gpu --steps 3000 --hidden 512
"""
import chartext
import common
import node
import node.functions as F

PRESETS = {
    "full": {"steps": 1500, "batch_size": 32, "block": 64, "embed": 32, "hidden": 256, "layers": 1, "eval_every": 250},
    "tiny": {"steps": 30, "batch_size": 8, "block": 16, "embed": 8, "hidden": 32, "layers": 1, "eval_every": 15},
}


class CharLSTM(node.Network):
    """codes (batch, time) -> scores (batch, time, vocabulary), and the LSTM's final (h, c)."""

    def __init__(self, vocabulary, embed, hidden, layers, rng):
        self.embedding = node.Embedding(vocabulary, embed, rng=rng)
        self.lstm = node.LSTM(embed, hidden, num_layers=layers, batch_first=True, rng=rng)
        self.head = node.Linear(hidden, vocabulary, rng=rng)

    def forward(self, codes, state=None):
        h, state = self.lstm(self.embedding(codes), state)
        return self.head(h), state


def main(argv=None):
    p = chartext.parser(__doc__, out="runs/char_lstm", presets=PRESETS, helps={"block": "characters per window: the steps backpropagation goes back through"})
    p.add_argument("--embed", type=common.at_least(1), default=None, help="size of a character's embedding" + chartext.default_of(PRESETS, "embed"))
    p.add_argument("--hidden", type=common.at_least(1), default=None, help="LSTM units per layer" + chartext.default_of(PRESETS, "hidden"))
    p.add_argument("--layers", type=common.at_least(1), default=None, help="stacked LSTM layers" + chartext.default_of(PRESETS, "layers"))
    p.add_argument("--lr", type=common.RATE, default=3e-3, help="Adam learning rate, >= 0")
    p.add_argument("--clip", type=common.number(minimum=0, open_minimum=True), default=1.0, help="largest norm of the gradient (all parameters together), > 0")
    args = chartext.parse(p, argv, PRESETS)
    out, data = chartext.setup(args)

    rng = node.layers.as_generator(args.seed)
    model = CharLSTM(len(data), args.embed, args.hidden, args.layers, rng)
    optimizer = node.Adam(model.parameters(), args.lr)
    windows = chartext.Windows(data.train, args.block, args.batch_size, seed=args.seed + 1)
    checkpoint = common.Checkpoint(out / "checkpoint.npz", config=chartext.run_config(args, data), unit="step", model=model, optimizer=optimizer, windows=windows)
    start, history = checkpoint.resume(args.resume)
    parameters = sum(p.size for p in model.parameters())
    print(
        f"char-LSTM, {parameters:,} parameters: {len(data.host_train):,} training and {len(data.host_validation):,} validation characters, "
        f"{len(data)} distinct; {chartext.steps_to_train(start, args.steps)}",
        flush=True,
    )

    def loss_of(inputs, targets):
        scores, _ = model(inputs)
        return F.cross_entropy(scores.reshape(-1, len(data)), targets.reshape(-1))

    chartext.train(args, model, optimizer, loss_of, windows, data, checkpoint, start, history)
    state = None

    def next_scores(codes):
        nonlocal state
        scores, state = model(node.backend.backend_module().asarray(codes)[None, :], state)
        return scores.value[0, -1]

    sample = chartext.generate(next_scores, data, args.prompt, args.sample_length, args.temperature, seed=args.seed + 2)
    return chartext.report(out, "char-LSTM", history, sample, args, parameters)


if __name__ == "__main__":
    main()

"""The Center Loss notebook this package recreates, as written: an MLP with a 2-D feature layer trained with the notebook's own Center Loss on MNIST.

The cells from "# In [1]:" on are the code cells of that Jupyter notebook (an MLP
784-256-2-10 whose 2-D features are pulled to their class centers, after Wen et al.,
"A Discriminative Feature Learning Approach for Deep Face Recognition", ECCV 2016),
as written, run against `node`. Only three lines differ, because this is a script and
not a notebook: `import tqdm` -> `import tqdm.auto` and tqdm.tqdm_notebook -> tqdm.auto.tqdm
(a widget in Jupyter, text in a terminal; tqdm_notebook is deprecated), and the
`%matplotlib inline` magic is commented out. tests/test_seed_notebook.py runs the cells
and, when the original notebook is present beside the clone, checks every cell against
its text; notebooks/build.py makes these cells the code of notebooks/00_seed_notebook.ipynb.

Run as a script, main() takes the examples' options and runs the cells with these
changes to their text, each on one line (the file itself stays as written):

* --data: the cells' node.MNIST() reads $NODE_DATA, which is set from --data;
* --epochs N: range(25) -> range(N) in the training loop (25 is the notebook's);
* --limit N: the dataset is the first N training images, for training and for the figure;
* --batch-size N: batch_size=128 -> batch_size=N;
* --seed N: np.random.seed(N) and node.manual_seed(N) before the first cell (the notebook
  does not seed; this makes a run repeatable);
* --out: plt.show() -> the figure saved as --out/features.png (a script has no window).

--device gpu and --resume are refused: the cells compute with NumPy on the host and
keep no checkpoint. examples/center_loss_mnist.py trains the same model with both.

    python examples/seed_notebook.py --data ../shared/data
"""
import os
import re
import sys
from pathlib import Path

CELLS = re.compile(r"^# In \[[^\]]*\]:\n", re.M)


def main(argv=None):
    """Parse the options, then run the cells below with the changes the docstring lists."""
    import common

    p = common.parser(__doc__, epochs=25, batch_size=128, out="runs/seed_notebook", helps={
        "limit": f"use only the first N training images, N >= {common.MIN_LIMIT} (default: all 60,000, as the notebook)",
        "seed": "seed for NumPy's global generator (the centroids) and node.manual_seed (weights, shuffling)",
        "device": "cpu only: the notebook's cells compute with NumPy on the host",
        "out": "folder for features.png, the notebook's figure",
        "resume": "not supported: the notebook's code keeps no checkpoint",
    })
    args = p.parse_args(argv)
    if args.seed >= 2**32:
        p.error(f"argument --seed: must be an integer in [0, {2**32 - 1}] (np.random.seed's range), got {args.seed}")
    if args.resume:
        p.error("--resume is not supported: the notebook's code keeps no checkpoint; run it again without --resume")
    if args.device == "gpu":
        p.error("--device gpu is not supported: the notebook's cells compute with NumPy on the host "
                "(np.argmax(target.value), ...); examples/center_loss_mnist.py --device gpu trains this model on the GPU")
    out = common.setup(args)  # checks --data before creating --out
    if args.data:  # without it, the cells' node.MNIST() looks where node.data.data_root() says, as the other examples do
        os.environ["NODE_DATA"] = args.data

    source = Path(__file__).read_text(encoding="utf-8")
    start = CELLS.search(source).start()
    cells = source[start:]
    # Patterns, not the lines themselves: tests/test_seed_notebook.py edits those lines in this file's text and expects each once.
    changes = [
        (r"for epoch in range\(25\):", f"for epoch in range({args.epochs}):"),
        (r"batch_size=128\)", f"batch_size={args.batch_size})"),
        (r"plt\.show\(\)", f"fig.savefig({str(out / 'features.png')!r})"),
    ]
    if args.limit:
        changes.append((r"dataset = node\.MNIST\(training=True\)", f"dataset = node.MNIST(training=True); dataset = node.Subset(dataset, np.arange(min({args.limit}, len(dataset))))"))
    for pattern, new in changes:
        cells, found = re.subn(pattern, lambda match, new=new: new, cells)
        if found != 1:
            sys.exit(f"seed_notebook.py: expected {pattern!r} once in the cells, found it {found} times")

    import matplotlib
    import numpy as np

    import node

    matplotlib.use("Agg")  # no window: the figure goes to --out
    np.random.seed(args.seed)  # the notebook's centroids (np.random.randn)
    node.manual_seed(args.seed)  # its layers' weights and the DataLoader's shuffling
    padding = "\n" * source[:start].count("\n")  # tracebacks give the line numbers of this file
    exec(compile(padding + cells, __file__, "exec"), {"__name__": "__seed_notebook__"})
    print(f"figure: {out / 'features.png'}", flush=True)


if __name__ == "__main__":
    main()
    sys.exit()  # the cells below have run inside main(), with the options applied


# The cells below are the notebook's code as written, its style included:
# ruff: noqa: E402, W291, W293, UP030, UP032

# In [1]:
import node
import numpy as np

# In [2]:
class CenterLoss(node.Layer):
    
    def __init__(self, num_in_units, num_classes, alpha=0.01, gain=1.0):
        """
        引数
            num_classes: クラスターの数
            alpha: セントロイドの更新率
            gain: この関数の貢献度(大きいほどクラスターの分散が小さくなる)
        """
        
        self.num_in_units = num_in_units
        self.num_classes = num_classes
        self.alpha = alpha
        self.gain = gain
        
        # セントロイドを乱数で初期化する
        self.centroids = np.random.randn(num_classes, num_in_units)
        
    def __call__(self, input, target):
        # 各入力と対応するセントロイドとの誤差を計算する
        indeces = np.argmax(target.value, axis=1)
        error = input.mean_squared_error(node.Node(self.centroids[indeces]))
        
        # クラスターの更新量を求める
        delta = np.zeros([self.num_classes, self.num_in_units])
        np.add.at(delta, indeces, self.centroids[indeces]-input.value)
        
        # セントロイドを更新する
        counter = np.array([[np.count_nonzero(indeces==i)] for i in range(self.num_classes)])
        self.centroids -= self.alpha * (delta / (1 + counter))
        
        return self.gain * error

# In [3]:
class Classifier(node.Network):
    
    def __init__(self, num_in_units, num_h_units, num_out_units):
        
        self.layers = [node.Linear(num_in_units, num_h_units),
                       node.Linear(num_h_units, 2),
                       node.Linear(2, num_out_units)]
        
        self.loss_function = CenterLoss(2, 10)
        
    def __call__(self, input, target):
        hidden = input
        hidden = self.layers[0](hidden).relu()
        hidden = self.layers[1](hidden)
        output = self.layers[2](hidden)
        loss = self.loss_function(hidden, target)
        
        return hidden, output, loss
    
classifier = Classifier(784, 256, 10)
optimizer = node.Adam(classifier.get_parameters(), 0.001)

# In [4]:
def optimize(input, target):
    optimizer.zero_grad()
    
    # 普通の損失値とCenter Lossを計算する
    _, output, loss1 = classifier(input, target)
    loss2 = output.softmax_with_cross_entropy(target)
    loss = loss1 + loss2 
    
    # パラメーターを更新する
    loss.backward()
    optimizer()
    
    return loss.value

# In [5]:
dataset = node.MNIST(training=True)
data_loader = node.DataLoader(dataset, batch_size=128)

# In [6]:
import tqdm.auto

for epoch in range(25):
    loss = 0
    for input, target in tqdm.auto.tqdm(data_loader, leave=False):
        loss += optimize(input/255, target) / len(data_loader)
    print("epoch {0}, loss {1:.2f}".format(epoch, loss), flush=True)

# In [None]:
import matplotlib.pyplot as plt 
# %matplotlib inline

distributions = [[] for _ in range(10)]

with node.zero_grad():
    for i in range(len(dataset)):
        input, target = dataset[i]
        hidden, _, _ = classifier(node.Node(input.reshape(1, -1)/255), 
                                  node.Node(target.reshape(1, -1)))
        distributions[np.argmax(target)].append(list(hidden.value[0]))

fig, ax = plt.subplots(figsize=[16, 16])
for i in range(10):
    ax.scatter(*zip(*distributions[i]))
ax.legend([str(i) for i in range(10)])
plt.show()

"""Step 11: Center Loss.

Softmax cross entropy only asks the features of a network to be separable.
Center Loss (Wen et al., "A Discriminative Feature Learning Approach for Deep
Face Recognition", ECCV 2016) also asks them to be compact: it pulls each
feature towards a centre of its class. This step adds:

* ``center_loss(features, labels, centers)``: ½·mean over the batch of
  ‖x_i − c_{y_i}‖², from engine operations (so its gradient comes from the walk);
* ``update_centers(centers, features, labels, alpha)``: the paper's centre
  update (its eq. 4), which is not a gradient step;
* ``CenterLoss``, a layer that holds the centres and moves them after each
  loss; ``FeatureNet``, an MLP with a 2-D feature layer and a classifier on
  top; ``train_step`` and ``train`` for the joint loss L_S + λ·L_C;
* ``blobs``, synthetic data to train on, and ``spread``, a measure of how
  compact the classes are.

Run it: ``python -m course.exercises.step11_center_loss``.
"""
import numpy as np

from .step05_arrays import Node
from .step06_matmul import matmul
from .step07_softmax import accuracy, onehot, softmax_cross_entropy
from .step08_mlp import MLP, Adam, Layer, Linear, batches


def center_loss(features, labels, centers):
    """L_C = 1/(2N) · Σ_i ‖x_i − c_{y_i}‖², a 0-d Node.

    ``features``: a Node (N, D); ``labels``: ints (N,) in 0..K−1;
    ``centers``: (K, D), an array (constants: no gradient reaches them) or a
    Node (then it gets the gradient −Σ_i δ(y_i=j)(x_i − c_j)/N, from the walk).

    Write it with engine operations, so that the walk gives ∂L_C/∂x_i = (x_i − c_{y_i})/N
    by itself. To pick each row's centre c_{y_i} (N, D), multiply the one-hot
    rows of the labels by the centres: ``matmul(Node(onehot(labels, K)), centers)``
    (row i of the one-hot matrix has its 1 at column y_i, so the product's row
    i is c_{y_i}). Then the difference, its square, the sum, and divide by 2N.
    """
    features = features if isinstance(features, Node) else Node(np.asarray(features, dtype=np.float64))
    centers = centers if isinstance(centers, Node) else Node(np.asarray(centers, dtype=np.float64))
    labels = np.asarray(labels)
    # --- exercise 1: center_loss, ½·mean of squared distances to the class centres ---
    raise NotImplementedError('step 11 exercise 1 (center_loss, ½·mean of squared distances to the class centres) is not written yet: write it here, in place of this line')
    # --- end of exercise 1 ---


def update_centers(centers, features, labels, alpha):
    """The paper's update of the centres (Wen et al., ECCV 2016, eq. 4); returns a NEW (K, D) array.

    For each class j, with n_j = Σ_i δ(y_i = j) samples of it in the batch:

        Δc_j = Σ_i δ(y_i = j)·(c_j − x_i) / (1 + n_j)
        c_j ← c_j − α·Δc_j

    ``centers`` (K, D) and ``features`` (N, D) are arrays (or Nodes: their
    ``.data`` is used); ``labels`` ints (N,). The caller's ``centers`` is not
    changed. A class absent from the batch has n_j = 0 and Δc_j = 0: its
    centre stays. ``np.bincount(labels, minlength=K)`` counts n_j and
    ``np.add.at(sums, labels, rows)`` adds each row into its class's sum (a
    plain ``sums[labels] += rows`` would add a repeated label once only);
    a loop over the classes is fine too.
    """
    centers = np.asarray(getattr(centers, "data", centers), dtype=np.float64)
    features = np.asarray(getattr(features, "data", features), dtype=np.float64)
    labels = np.asarray(labels)
    # --- exercise 2: update_centers, the paper's Δc_j = Σ(c_j − x_i)/(1 + n_j) ---
    raise NotImplementedError("step 11 exercise 2 (update_centers, the paper's Δc_j = Σ(c_j − x_i)/(1 + n_j)) is not written yet: write it here, in place of this line")
    # --- end of exercise 2 ---


class CenterLoss(Layer):
    """Center Loss in the paper's form: the centres are an array moved by ``update_centers``, not a Parameter.

    ``CenterLoss(num_classes, num_features, alpha, rng)``: K centres of size D,
    drawn from a standard normal with ``rng`` (zeros without one). Calling it
    on (features, labels) returns ``center_loss`` computed with the current
    centres and then, when ``training`` is True, replaces ``self.centers``
    with ``update_centers(...)`` of this batch. No optimizer sees the centres
    (``params()`` has none).
    """

    def __init__(self, num_classes, num_features, alpha=0.5, rng=None):
        shape = (num_classes, num_features)
        self.centers = np.zeros(shape) if rng is None else rng.standard_normal(shape)
        self.alpha = alpha
        self.training = True

    def forward(self, features, labels):
        loss = center_loss(features, labels, self.centers)  # from the old centres: they are constants here
        if self.training:
            self.centers = update_centers(self.centers, features, labels, self.alpha)
        return loss


class FeatureNet(Layer):
    """An MLP of ``sizes`` whose last layer is the feature (e.g. [10, 32, 2]), then a Linear to ``num_classes`` scores.

    ``model(x)`` returns (features (N, sizes[-1]), logits (N, num_classes)).
    """

    def __init__(self, sizes, num_classes, rng):
        self.body = MLP(sizes, rng)
        self.head = Linear(sizes[-1], num_classes, rng)

    def forward(self, x):
        features = self.body(x)
        return features, self.head(features)


def train_step(model, center, optimizer, x, t, lam):
    """One optimizer step on the joint loss L = L_S + λ·L_C for inputs x (array (N, ...)) and labels t (N,).

    1. ``optimizer.zero_grad()``;
    2. ``features, logits = model(Node(x))``;
    3. L_S = ``softmax_cross_entropy(logits, t)``, L_C = ``center(features, t)``
       (a ``CenterLoss``: call it once, it also moves its centres);
    4. L = L_S + lam·L_C, ``backward()``, ``optimizer.step()``.

    Return (L_S, L_C) as two floats (L_C without the λ).
    """
    # --- exercise 3: a training step of the joint loss softmax CE + λ·center loss ---
    raise NotImplementedError('step 11 exercise 3 (a training step of the joint loss softmax CE + λ·center loss) is not written yet: write it here, in place of this line')
    # --- end of exercise 3 ---


def train(model, center, optimizer, x, t, lam, epochs, batch_size, rng):
    """``train_step`` over shuffled batches for ``epochs`` epochs; return the list of (L_S, L_C) of every step."""
    history = []
    for _ in range(epochs):
        for xb, tb in batches(x, t, batch_size, rng):
            history.append(train_step(model, center, optimizer, xb, tb, lam))
    return history


def blobs(n_per_class, num_classes, dim, rng, noise=1.0):
    """Synthetic data: ``num_classes`` Gaussian clouds in ``dim`` dimensions (means 2.5 apart on average): x (N, dim), t (N,)."""
    means = rng.standard_normal((num_classes, dim)) * 2.5 / np.sqrt(2)
    t = np.repeat(np.arange(num_classes), n_per_class)
    x = means[t] + noise * rng.standard_normal((len(t), dim))
    return x, t


def spread(features, labels):
    """How compact the classes are: the mean distance of a feature to its class mean, over the mean distance between class means.

    Scale-free (shrinking every feature does not change it); lower is tighter.
    """
    features = np.asarray(getattr(features, "data", features))
    classes = np.unique(labels)
    means = np.array([features[labels == k].mean(axis=0) for k in classes])
    within = np.mean(np.linalg.norm(features - means[np.searchsorted(classes, labels)], axis=1))
    between = np.mean([np.linalg.norm(a - b) for i, a in enumerate(means) for b in means[i + 1:]])
    return within / between


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x, t = blobs(100, 4, 10, rng)
    for lam in (0.0, 1.0):
        model = FeatureNet([10, 32, 2], 4, np.random.default_rng(1))
        center = CenterLoss(4, 2, alpha=0.5, rng=np.random.default_rng(2))
        history = train(model, center, Adam(model.params(), lr=0.01), x, t, lam, epochs=40, batch_size=50, rng=np.random.default_rng(3))
        features, logits = model(Node(x))
        print(f"λ = {lam}: last step L_S = {history[-1][0]:.3f}, L_C = {history[-1][1]:.3f}; "
              f"accuracy {accuracy(logits, t):.3f}, spread {spread(features, t):.3f}")

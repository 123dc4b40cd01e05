"""DataLoader: batches of a Dataset as Nodes on the active backend."""
import numpy as np

from .. import backend
from ..config import as_generator
from ..core import Node
from ..validation import flag, integer


class DataLoader:
    """Iterate over a dataset in batches: ``for input, target in DataLoader(dataset, batch_size=128)``.

    Each batch is a tuple of Nodes (``requires_grad=False``) on the active
    backend. With ``shuffle`` the order is redrawn at every epoch (every
    ``iter()``) from the loader's own seeded generator.

    On the GPU, give it a dataset that lives there (``dataset.to("gpu")``): the
    epoch's order is uploaded once and each batch is gathered on the device, so
    a training step copies nothing from the host. A dataset on the CPU works
    too, at the price of uploading every batch.

    Args:
        dataset: a Dataset. With ``batch_indexing`` it is indexed once per batch
            with an integer array; otherwise samples are fetched one by one and stacked.
        batch_size: samples per batch, an integer >= 1 (2.5 or True are refused, not rounded).
        shuffle: reshuffle every epoch (default True, as the Center Loss notebook this package recreates expects).
        drop_last: drop the last, smaller batch. Default False: every sample is
            seen once per epoch, and ``len(loader)`` = ceil(len(dataset) / batch_size).
        seed: int seed (or numpy.random.Generator) of the shuffling; None for fresh
            entropy, or a stream of the generator set by ``node.manual_seed``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=True, drop_last=False, seed=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")) or isinstance(dataset, (str, bytes)):
            raise TypeError(
                f"DataLoader: dataset must have len() and [index] (a node Dataset, e.g. ArrayDataset(images, labels)), "
                f"got {type(dataset).__name__} {dataset!r:.60}"
            )
        batch_size = integer("DataLoader", "batch_size", batch_size, minimum=1)
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last = flag("DataLoader", "shuffle", shuffle), flag("DataLoader", "drop_last", drop_last)
        self.rng = as_generator(seed)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        batch_indexing = getattr(self.dataset, "batch_indexing", False)
        if batch_indexing:  # one upload per epoch for a dataset on the GPU, none per batch
            order = backend.to_backend(order, getattr(self.dataset, "backend", "numpy"))
        xp_name = backend.get_backend()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start : start + self.batch_size]
            batch = self.dataset[indices] if batch_indexing else self._stack(indices)
            batch = batch if isinstance(batch, tuple) else (batch,)
            yield tuple(Node(backend.to_backend(a, xp_name), requires_grad=False) for a in batch)

    def _stack(self, indices):
        """One batch from a dataset that gives one sample at a time (on either device)."""
        samples = [self.dataset[int(i)] for i in indices]
        samples = [s if isinstance(s, tuple) else (s,) for s in samples]
        columns = []
        for k in range(len(samples[0])):
            column = [s[k] for s in samples]
            xp = backend.get_array_module(*column)
            columns.append(xp.stack([xp.asarray(v) for v in column]))
        return tuple(columns)

    def state_dict(self):
        """The shuffling generator's state, so a resumed run draws the same orders."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]

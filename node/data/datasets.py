"""Datasets: the base protocol, in-memory arrays, and MNIST / Fashion-MNIST.

A Dataset has ``len(dataset)`` and ``dataset[i]``. Datasets here also accept an
integer array as the index and return a whole batch at once
(``batch_indexing = True``), which is what makes DataLoader batching fast.

``dataset.to("gpu")`` returns a copy whose arrays live on the GPU (MNIST keeps
its uint8 images there: 47 MB for the training set). Batches are then gathered,
converted and one-hot encoded on the device, so training on it copies nothing
from the host per step.
"""
import copy

import numpy as np

from .. import backend
from ..config import Config
from .download import ENV_VAR, DownloadError, data_root, fetch
from ..validation import flag, float_dtype
from .idx import IDX_TYPE_CODES, IDXError, read_idx


class Dataset:
    """Base class: implement ``__len__`` and ``__getitem__``.

    Set ``batch_indexing = True`` when ``__getitem__`` also takes an integer
    array and returns batched arrays; DataLoader then fetches a batch with one
    call instead of one call per sample.
    """

    batch_indexing = False
    backend = "numpy"  # where the samples' arrays live; datasets that can move override ``to``

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def to(self, name):
        """A copy of this dataset with its arrays on backend ``name`` ('cpu'/'numpy' or 'gpu'/'cupy')."""
        raise TypeError(
            f"{type(self).__name__} cannot move its data to another device: write its own to(), or leave it on the "
            "CPU (DataLoader then uploads every batch)"
        )


def _moved(dataset, name, **arrays):
    """A shallow copy of ``dataset`` with the named array attributes moved to backend ``name``."""
    name = backend.canonical_name(name)
    out = copy.copy(dataset)
    for attribute, array in arrays.items():
        setattr(out, attribute, backend.to_backend(array, name))
    out.backend = name
    return out


class ArrayDataset(Dataset):
    """Samples are rows of the given arrays: ``ArrayDataset(images, labels)[i] == (images[i], labels[i])``."""

    batch_indexing = True

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"ArrayDataset: arrays have different lengths {[len(a) for a in arrays]}")
        self.arrays = arrays
        backend.check_same_device("ArrayDataset", **{f"array {i}": a for i, a in enumerate(arrays) if backend.is_array(a)})
        self.backend = backend.get_array_module(*arrays).__name__  # after is_array has recognised CuPy arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def to(self, name):
        return ArrayDataset(*(backend.to_backend(a, name) for a in self.arrays))


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (e.g. the first N, for a quick run).

    ``indices`` are integers in [-len(dataset), len(dataset)) (a list, a range
    or an integer array); floats and booleans are refused, not truncated.
    """

    def __init__(self, dataset, indices):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"Subset: dataset must have len() and [index], got {type(dataset).__name__}")
        self.dataset = dataset
        indices = np.asarray(backend.asnumpy(indices) if backend.is_array(indices) else indices)
        if indices.size == 0:
            indices = indices.astype(np.int64)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"Subset: indices must be integers, got {indices.dtype} values (e.g. {indices.flat[0].item()!r})")
        indices = indices.astype(np.int64)
        if indices.ndim != 1:
            raise ValueError(f"Subset: indices must be one-dimensional, got shape {indices.shape}")
        if len(indices) and (indices.min() < -len(dataset) or indices.max() >= len(dataset)):
            raise ValueError(f"Subset: indices must be in [0, {len(dataset)}) for a dataset of {len(dataset)} samples")
        self.backend = getattr(dataset, "backend", "numpy")
        self.indices = backend.to_backend(indices, self.backend)  # beside the data, so picking a batch stays there
        self.batch_indexing = getattr(dataset, "batch_indexing", False)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        picked = self.indices[index]
        return self.dataset[picked if backend.is_array(picked) and picked.ndim else int(picked)]

    def to(self, name):
        return Subset(self.dataset.to(name), self.indices)


class MNIST(Dataset):
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 28×28, classes 0-9.

    ``dataset[i]`` (or ``dataset[indices]``, a batch) is ``(image, target)``. By
    default it is the original Center Loss notebook's form, which this package
    recreates:

    * images: floats in **0..255** (the notebook divides by 255 itself),
      **flattened** to 784 values; a batch is (N, 784);
    * targets: **one-hot** float rows of length 10; a batch is (N, 10).

    torchvision's form (``ToTensor()``: floats in 0..1, shape (N, 1, 28, 28),
    int64 class labels) is::

        node.MNIST(scale=True, flatten=False, one_hot=False)

    A conv net needs ``flatten=False`` (``Conv2d`` takes (N, C, H, W));
    ``cross_entropy``/``nll_loss`` take either targets, ``softmax_cross_entropy``
    one-hot rows.

    Args:
        training: the training split (True) or the test split (False).
        root: data root holding ``mnist/`` (or the files themselves). Without
            it, the first of: ``$NODE_DATA``; ``../shared/data`` beside the
            source checkout node runs from, if that folder exists (where the
            examples and notebooks look too); ``$XDG_CACHE_HOME/node`` or
            ``~/.cache/node``. Missing files are downloaded there.
        flatten: images as 784 values (True) or (1, 28, 28) (False).
        one_hot: targets as one-hot float rows (True) or int64 labels (False).
        scale: pixels divided by 255, in 0..1 (True, as torchvision's
            ``ToTensor``), or left in 0..255 (False, the notebook's form).
        download: fetch missing files from the public mirrors.
        dtype: float dtype of images and one-hot targets (default float32); an
            integer dtype is refused (int8 would wrap pixels 128..255 to negatives).
    """

    batch_indexing = True
    title = "MNIST"
    folder = "mnist"
    classes = tuple(str(i) for i in range(10))
    mirrors = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    splits = {
        True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
    # SHA-256 of the decompressed files (so a file from any mirror, gzipped or not, can be checked).
    sha256 = {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }

    def __init__(self, training=True, root=None, flatten=True, one_hot=True, download=True, dtype=None, scale=False):
        cls = self.title
        self.training, self.flatten, self.one_hot = flag(cls, "training", training), flag(cls, "flatten", flatten), flag(cls, "one_hot", one_hot)
        self.scale = flag(cls, "scale", scale)
        download = flag(cls, "download", download)
        self.dtype = float_dtype(cls, "dtype", dtype) or np.dtype(Config.default_dtype)
        image_file, label_file = (self._locate(name, root, download) for name in self.splits[bool(training)])
        images, labels = read_idx(image_file), read_idx(label_file)
        if images.ndim != 3:
            raise IDXError(f"{image_file}: expected images of shape (count, rows, cols), got {images.shape}")
        if labels.ndim != 1:
            raise IDXError(f"{label_file}: expected labels of shape (count,), got {labels.shape}")
        if len(images) != len(labels):
            raise IDXError(f"count mismatch: {image_file} holds {len(images)} images but {label_file} holds {len(labels)} labels")
        if labels.dtype != np.uint8:  # a signed or float label would be wrapped or truncated into a wrong class
            raise IDXError(
                f"{label_file}: labels are {labels.dtype} (IDX type 0x{IDX_TYPE_CODES[labels.dtype]:02x}); {self.title} "
                "label files hold unsigned bytes (IDX type 0x08), one class number per image"
            )
        if len(labels) and labels.max() >= len(self.classes):
            raise IDXError(f"{label_file}: label {int(labels.max())} is out of range for {len(self.classes)} classes")
        self.images = images  # uint8 (count, 28, 28): 47 MB for the training set, converted per batch
        self.labels = labels.astype(np.int64)
        self._eye = np.eye(len(self.classes), dtype=self.dtype)

    def to(self, name):
        """A copy with images, labels and the one-hot table on backend ``name``; batches are then made there."""
        return _moved(self, name, images=self.images, labels=self.labels, _eye=self._eye)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        images = self.images[index].astype(self.dtype)
        if self.scale:
            images /= 255
        rows, cols = self.images.shape[1:]
        images = images.reshape(images.shape[:-2] + ((rows * cols,) if self.flatten else (1, rows, cols)))
        labels = self.labels[index]
        return images, (self._eye[labels] if self.one_hot else labels)

    def __repr__(self):
        return f"{self.title}(training={self.training}, {len(self)} samples)"

    @classmethod
    def available(cls, root=None):
        """Whether the data set's four files are already on this machine (nothing is downloaded).

        Args:
            root: the data root to look in; None looks where the constructor
                would (see the class's ``root`` argument).

        Returns:
            bool: True when the constructor would find every file without downloading.
        """
        return all(cls._find(name, root)[0] is not None for split in cls.splits.values() for name in split)

    @classmethod
    def _find(cls, name, root):
        """(path or None, folders looked in, where the data root came from) for ``name`` or ``name.gz``."""
        base, source = data_root(root)
        folders = [base / cls.folder, base]
        for folder in folders:
            for candidate in (folder / name, folder / (name + ".gz")):
                if candidate.is_file():
                    return candidate, folders, source
        return None, folders, source

    @classmethod
    def _locate(cls, name, root, download):
        """The path of ``name`` (or ``name.gz``) under the data root, downloading it if allowed."""
        found, folders, source = cls._find(name, root)
        if found is not None:
            return found
        reason = "downloading is switched off (download=False)"
        if download:
            try:
                return fetch(name, cls.mirrors, folders[0], cls.sha256[name])
            except (DownloadError, OSError) as exc:
                reason = str(exc)
        raise FileNotFoundError(
            f"{cls.title}: {name} (or {name}.gz) is missing.\n"
            f"Looked in: {', '.join(str(f) for f in folders)} (data root from {source}).\n"
            f"Download: {reason}\n"
            f"To provide it: put the four {cls.title} IDX files (.gz or not) in {folders[0]}, or set "
            f"{ENV_VAR} / pass root= to a folder that holds {cls.folder}/. Mirrors: {', '.join(cls.mirrors)}"
        )


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): same format and sizes as MNIST, ten kinds of clothing."""

    title = "FashionMNIST"
    folder = "fashion-mnist"
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    mirrors = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    )
    sha256 = {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }


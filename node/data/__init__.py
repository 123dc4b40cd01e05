"""Data: IDX files, datasets (MNIST, Fashion-MNIST, arrays) and the DataLoader."""
from .datasets import ArrayDataset, Dataset, FashionMNIST, MNIST, Subset
from .download import DownloadError, data_root, fetch
from .idx import IDXError, read_idx, write_idx
from .loader import DataLoader

__all__ = [
    "ArrayDataset", "DataLoader", "Dataset", "DownloadError", "FashionMNIST", "IDXError", "MNIST",
    "Subset", "data_root", "fetch", "read_idx", "write_idx",
]

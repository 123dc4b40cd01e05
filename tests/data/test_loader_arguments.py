"""DataLoader and datasets check their arguments when made (issue 25, areas 6 and 9).

A batch size is an integer >= 1 (2.5 is not rounded to 2, True is not 1);
Subset indices are integers (0.5 is not truncated to 0); MNIST images are
floats (int8 would wrap the pixels 128..255 into negatives).
"""
import numpy as np
import pytest

import node

from helpers import make_fake_mnist


def dataset(n=6):
    return node.ArrayDataset(np.arange(n, dtype=np.float32), np.arange(n) % 3)


BAD = [
    (lambda: node.DataLoader(dataset(), batch_size=2.5), TypeError, r"^DataLoader: batch_size must be an integer >= 1, got float 2\.5$"),
    (lambda: node.DataLoader(dataset(), batch_size=True), TypeError, r"^DataLoader: batch_size must be an integer >= 1, got bool True$"),
    (lambda: node.DataLoader(dataset(), batch_size=None), TypeError, r"^DataLoader: batch_size must be an integer >= 1, got NoneType None$"),
    (lambda: node.DataLoader(dataset(), batch_size=float("nan")), TypeError, r"^DataLoader: batch_size must be an integer >= 1, got float nan$"),
    (lambda: node.DataLoader(dataset(), batch_size="8"), TypeError, r"^DataLoader: batch_size must be an integer >= 1, got str '8'$"),
    (lambda: node.DataLoader(dataset(), batch_size=0), ValueError, r"^DataLoader: batch_size must be an integer >= 1, got 0$"),
    (lambda: node.DataLoader(dataset(), batch_size=-4), ValueError, r"^DataLoader: batch_size must be an integer >= 1, got -4$"),
    (lambda: node.DataLoader(None), TypeError, r"^DataLoader: dataset must have len\(\) and \[index\] .*got NoneType None$"),
    (lambda: node.DataLoader(42, batch_size=2), TypeError, r"^DataLoader: dataset must have len\(\) and \[index\] .*got int 42$"),
    (lambda: node.DataLoader("images.npz"), TypeError, r"^DataLoader: dataset must have len\(\) and \[index\] .*got str 'images\.npz'$"),
    (lambda: node.DataLoader(dataset(), shuffle="no"), TypeError, r"^DataLoader: shuffle must be True or False, got str 'no'$"),
    (lambda: node.DataLoader(dataset(), drop_last=None), TypeError, r"^DataLoader: drop_last must be True or False, got NoneType None$"),
    (lambda: node.Subset(dataset(), [0.5, 1.5]), TypeError, r"^Subset: indices must be integers, got float64 values \(e\.g\. 0\.5\)$"),
    (lambda: node.Subset(dataset(), [True, False]), TypeError, r"^Subset: indices must be integers, got bool values \(e\.g\. True\)$"),
    (lambda: node.Subset(dataset(), ["0", "1"]), TypeError, r"^Subset: indices must be integers, got <U1 values"),
    (lambda: node.Subset(dataset(), [0, 6]), ValueError, r"^Subset: indices must be in \[0, 6\) for a dataset of 6 samples$"),
    (lambda: node.Subset(dataset(), [-7]), ValueError, r"^Subset: indices must be in \[0, 6\)"),
    (lambda: node.Subset(dataset(), [[0, 1]]), ValueError, r"^Subset: indices must be one-dimensional, got shape \(1, 2\)$"),
    (lambda: node.Subset(None, [0]), TypeError, r"^Subset: dataset must have len\(\) and \[index\], got NoneType$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_loader_and_subset_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_edge_cases_still_work():
    data = dataset(5)
    assert [len(x) for (x, _) in node.DataLoader(data, batch_size=np.int64(2), shuffle=False)] == [2, 2, 1]
    assert [len(x) for (x, _) in node.DataLoader(data, batch_size=7, shuffle=np.bool_(False))] == [5]
    assert [len(x) for (x, _) in node.DataLoader(data, batch_size=1, drop_last=True)] == [1] * 5
    assert len(node.Subset(data, [])) == 0
    assert node.Subset(data, range(2, 4))[1][0] == 3.0
    assert node.Subset(data, np.array([0, -1], dtype=np.int32))[1][0] == 4.0  # negative indices count from the end
    assert node.Subset(data, np.array([1, 2], dtype=np.uint8))[1][0] == 2.0


# ---- MNIST: float images only ------------------------------------------------------------------
@pytest.mark.parametrize("dtype, error", [("int8", ValueError), ("uint8", ValueError), ("int64", ValueError), (np.complex64, ValueError), ("pixels", TypeError)])
def test_mnist_refuses_a_non_float_dtype_instead_of_wrapping_pixels(tmp_path, dtype, error):
    root = make_fake_mnist(tmp_path / "data", n_train=20, n_test=10)
    with pytest.raises(error, match=r"^MNIST: dtype must be a floating-point dtype \(float16, float32 or float64\), got "):
        node.MNIST(root=root, dtype=dtype)


@pytest.mark.parametrize("argument", ["training", "flatten", "one_hot", "download", "scale"])
def test_mnist_flags_are_true_or_false(tmp_path, argument):
    root = make_fake_mnist(tmp_path / "data", n_train=20, n_test=10)
    with pytest.raises(TypeError, match=rf"^MNIST: {argument} must be True or False, got str 'no'$"):
        node.MNIST(root=root, **{argument: "no"})


@pytest.mark.parametrize("dtype", ["float16", "float32", np.float64])
def test_mnist_float_dtypes_keep_every_pixel_value(tmp_path, dtype):
    root = make_fake_mnist(tmp_path / "data", n_train=20, n_test=10)
    data = node.MNIST(root=root, dtype=dtype)
    images, targets = data[np.arange(20)]
    raw = node.data.read_idx(next((root / "mnist").glob("train-images*")))
    assert images.dtype == np.dtype(dtype) and targets.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(images.reshape(raw.shape), raw.astype(np.float64))
    assert images.max() > 127  # the values int8 would have wrapped

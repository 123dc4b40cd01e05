"""IDX files, MNIST, downloads and the DataLoader, on files the tests write themselves."""
import gzip
import hashlib
import os
import struct

import numpy as np
import pytest

import node
from node.data import DownloadError, data_root, fetch
from node.data.download import sha256_of_content

from helpers import REPO, make_fake_mnist


# ---- IDX ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("ext", ["", ".gz"])
def test_idx_roundtrip(tmp_path, dtype, ext):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = tmp_path / f"a{ext}"
    node.write_idx(path, array)
    back = node.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def raw_idx(shape, payload_bytes, type_code=0x08):
    return struct.pack(">BBBB", 0, 0, type_code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload_bytes


def test_truncated_idx(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(raw_idx((10, 28, 28), b"\0" * 5000))
    with pytest.raises(node.IDXError, match=r"images: truncated: the header announces shape \(10, 28, 28\) \(7840 bytes of data\) but only 5000 bytes follow"):
        node.read_idx(path)
    path.write_bytes(raw_idx((10, 28, 28), b"")[:9])
    with pytest.raises(node.IDXError, match="truncated header"):
        node.read_idx(path)


def test_wrong_magic_and_extra_bytes(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(node.IDXError, match="labels: wrong magic number 0x01020801"):
        node.read_idx(path)
    path.write_bytes(b"<html>Not Found</html>")
    with pytest.raises(node.IDXError, match="wrong magic number"):
        node.read_idx(path)
    path.write_bytes(raw_idx((3,), b"\1\2\3\4"))
    with pytest.raises(node.IDXError, match=r"count mismatch: 1 bytes follow the 3 bytes that shape \(3,\) needs"):
        node.read_idx(path)
    path.write_bytes(b"\0\0")
    with pytest.raises(node.IDXError, match="too short"):
        node.read_idx(path)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(raw_idx((100,), bytes(range(100))))
    path = tmp_path / "labels.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(node.IDXError, match=r"labels.gz: corrupt or truncated gzip data"):
        node.read_idx(path)
    path.write_bytes(good[:12] + b"\xff" * (len(good) - 12))
    with pytest.raises(node.IDXError, match="corrupt or truncated gzip"):
        node.read_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found: .*nothing"):
        node.read_idx(tmp_path / "nothing")


# ---- MNIST ----------------------------------------------------------------------------------
def test_mnist_from_generated_files(fake_mnist):
    train = node.MNIST(training=True, root=fake_mnist)
    test = node.MNIST(training=False, root=fake_mnist)
    assert (len(train), len(test)) == (600, 200)
    image, target = train[0]
    assert image.shape == (784,) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 255
    assert target.shape == (10,) and target.sum() == 1 and target.dtype == np.float32
    assert target.argmax() == train.labels[0]
    images, targets = train[np.array([3, 1, 4])]
    assert images.shape == (3, 784) and targets.shape == (3, 10)

    conv = node.MNIST(root=fake_mnist, flatten=False, one_hot=False)
    image, label = conv[5]
    assert image.shape == (1, 28, 28) and label.dtype == np.int64
    assert conv[np.arange(4)][0].shape == (4, 1, 28, 28)


def test_mnist_in_torchvisions_form(fake_mnist):
    """scale=True, flatten=False, one_hot=False: ToTensor()'s 0..1 floats in (N, 1, 28, 28) and int64 labels."""
    notebook = node.MNIST(root=fake_mnist)
    torchvision = node.MNIST(root=fake_mnist, scale=True, flatten=False, one_hot=False)
    raw = node.data.read_idx(next((fake_mnist / "mnist").glob("train-images*")))
    images, labels = torchvision[np.arange(8)]
    assert images.shape == (8, 1, 28, 28) and images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(images[:, 0], raw[:8].astype(np.float32) / 255)  # ToTensor: img.float().div(255)
    assert 0 <= images.min() and images.max() <= 1 and raw[:8].max() == 255
    np.testing.assert_array_equal(labels, notebook[np.arange(8)][1].argmax(axis=1))
    flat, one_hot = notebook[np.arange(8)]
    np.testing.assert_array_equal(flat, raw[:8].reshape(8, 784).astype(np.float32))  # the default: 0..255, flattened
    assert one_hot.shape == (8, 10)
    single, label = torchvision[3]
    assert single.shape == (1, 28, 28) and single.max() <= 1 and int(label) == notebook.labels[3]


def test_mnist_accepts_uncompressed_files_and_the_root_itself(tmp_path):
    make_fake_mnist(tmp_path / "plain", gz=False)
    assert len(node.MNIST(root=tmp_path / "plain")) == 600
    assert len(node.MNIST(root=tmp_path / "plain" / "mnist")) == 600  # root pointing at the folder itself


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    make_fake_mnist(tmp_path, folder="fashion-mnist", n_train=50, n_test=20)
    data = node.FashionMNIST(training=False, root=tmp_path)
    assert len(data) == 20 and data.classes[9] == "Ankle boot"


def test_mnist_count_mismatch(tmp_path):
    root = make_fake_mnist(tmp_path, n_train=50)
    node.write_idx(root / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(49, dtype=np.uint8))
    with pytest.raises(node.IDXError, match="count mismatch: .*50 images but .*49 labels"):
        node.MNIST(root=root)


def test_data_root_resolution(tmp_path, monkeypatch):
    import node.data.download as download

    shared = tmp_path / "shared" / "data"
    monkeypatch.setattr(download, "SHARED_DATA", shared)
    monkeypatch.setenv("NODE_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == (tmp_path / "arg", "argument")
    assert data_root() == (tmp_path / "env", "$NODE_DATA")
    monkeypatch.delenv("NODE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == (tmp_path / "cache" / "node", "cache")  # ../shared/data does not exist
    shared.mkdir(parents=True)
    assert data_root() == (shared, "../shared/data beside the checkout")
    monkeypatch.setattr(download, "SHARED_DATA", None)  # node installed from a wheel: no checkout
    assert data_root() == (tmp_path / "cache" / "node", "cache")


def test_mnist_without_a_root_finds_the_data_the_examples_find(tmp_path, monkeypatch):
    import node.data.download as download

    # node runs from this checkout, so its ../shared/data is the one beside this repository (the examples and tests use node's lookup).
    assert download.SHARED_DATA == REPO.parent / "shared" / "data"
    shared = make_fake_mnist(tmp_path / "shared" / "data", n_train=30, n_test=20)
    monkeypatch.setattr(download, "SHARED_DATA", shared)
    monkeypatch.delenv("NODE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert node.MNIST.available() and not node.FashionMNIST.available()
    assert len(node.MNIST(training=True)) == 30 and len(node.MNIST(training=False)) == 20
    monkeypatch.setenv("NODE_DATA", str(tmp_path / "empty"))  # the environment variable comes first
    assert not node.MNIST.available()
    assert node.MNIST.available(root=shared)


def test_missing_files_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("NODE_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as info:
        node.MNIST(download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) is missing" in message
    assert str(tmp_path / "empty" / "mnist") in message and "$NODE_DATA" in message
    assert "download=False" in message and "NODE_DATA" in message


def test_offline_download_failure_lists_every_mirror(tmp_path, monkeypatch):
    monkeypatch.setattr(node.MNIST, "mirrors", ((tmp_path / "no-mirror").as_uri() + "/", "http://127.0.0.1:9/"))
    with pytest.raises(FileNotFoundError) as info:
        node.MNIST(root=tmp_path / "root")
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert "no-mirror" in message and "127.0.0.1:9" in message
    assert not list((tmp_path / "root" / "mnist").glob("*"))  # no partial files left behind


def test_download_from_a_mirror_checks_the_content(tmp_path):
    mirror = make_fake_mnist(tmp_path / "mirror", n_train=30, n_test=10) / "mnist"
    name = "train-labels-idx1-ubyte"
    good = sha256_of_content(mirror / (name + ".gz"))
    path = fetch(name, [mirror.as_uri()], tmp_path / "dest", good, progress=False)
    assert path == tmp_path / "dest" / (name + ".gz") and sha256_of_content(path) == good

    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(name, [mirror.as_uri()], tmp_path / "dest2", "0" * 64, progress=False)
    assert os.listdir(tmp_path / "dest2") == []


def test_mnist_downloads_missing_files(tmp_path, monkeypatch):
    mirror = make_fake_mnist(tmp_path / "mirror", n_train=30, n_test=10) / "mnist"
    sums = {name: sha256_of_content(mirror / (name + ".gz")) for name in node.MNIST.sha256}
    monkeypatch.setattr(node.MNIST, "mirrors", (mirror.as_uri() + "/",))
    monkeypatch.setattr(node.MNIST, "sha256", sums)
    data = node.MNIST(training=False, root=tmp_path / "fresh")
    assert len(data) == 10
    assert sorted(os.listdir(tmp_path / "fresh" / "mnist")) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_real_mnist_matches_published_checksums(real_data):
    for name, digest in node.MNIST.sha256.items():
        assert sha256_of_content(real_data / "mnist" / (name + ".gz")) == digest, name
    train = node.MNIST(training=True, root=real_data)
    assert len(train) == 60000 and len(node.MNIST(training=False, root=real_data)) == 10000
    image, target = train[0]
    assert image.shape == (784,) and target.argmax() == 5  # the first training digit is a 5


def test_real_fashion_mnist_matches_published_checksums(real_data):
    folder = real_data / "fashion-mnist"
    if not folder.is_dir():
        pytest.skip("no fashion-mnist/ beside the real MNIST")
    for name, digest in node.FashionMNIST.sha256.items():
        assert sha256_of_content(folder / (name + ".gz")) == digest, name
    test = node.FashionMNIST(training=False, root=real_data, one_hot=False)
    assert len(test) == 10000 and sorted(set(test.labels.tolist())) == list(range(10))


# ---- DataLoader -----------------------------------------------------------------------------
def test_loader_batches_and_length(fake_mnist):
    data = node.MNIST(root=fake_mnist)
    loader = node.DataLoader(data, batch_size=128)
    assert len(loader) == 5  # ceil(600 / 128): the last, partial batch is kept
    batches = list(loader)
    assert [len(x) for x, _ in batches] == [128, 128, 128, 128, 88]
    x, t = batches[0]
    assert isinstance(x, node.Node) and not x.requires_grad and x.shape == (128, 784) and t.shape == (128, 10)
    dropping = node.DataLoader(data, batch_size=128, drop_last=True)
    assert len(dropping) == 4 and [len(x) for x, _ in dropping] == [128] * 4


def test_loader_covers_every_sample_and_reshuffles(fake_mnist):
    data = node.MNIST(root=fake_mnist, one_hot=False)
    loader = node.DataLoader(data, batch_size=100, seed=1)
    epoch1 = np.concatenate([t.value for _, t in loader])
    epoch2 = np.concatenate([t.value for _, t in loader])
    assert sorted(epoch1) == sorted(data.labels) == sorted(epoch2)
    assert not np.array_equal(epoch1, epoch2)
    again = node.DataLoader(data, batch_size=100, seed=1)
    np.testing.assert_array_equal(np.concatenate([t.value for _, t in again]), epoch1)
    ordered = node.DataLoader(data, batch_size=100, shuffle=False)
    np.testing.assert_array_equal(np.concatenate([t.value for _, t in ordered]), data.labels)


def test_loader_stacks_samples_of_plain_datasets():
    class Squares(node.Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i

    batches = list(node.DataLoader(Squares(), batch_size=3, shuffle=False))
    assert [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][0].value, [[3, 9], [4, 16], [5, 25]])


def test_array_dataset_and_loader_errors():
    with pytest.raises(ValueError, match="different lengths"):
        node.ArrayDataset(np.zeros(3), np.zeros(4))
    data = node.ArrayDataset(np.arange(5.0), np.arange(5))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        node.DataLoader(data, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        node.DataLoader(node.ArrayDataset(np.zeros(0)))


def test_loader_batches_land_on_the_active_backend(xp, fake_mnist):
    x, t = next(iter(node.DataLoader(node.MNIST(root=fake_mnist), batch_size=4)))
    assert isinstance(x.value, xp.ndarray) and isinstance(t.value, xp.ndarray)


def test_checksums_in_code_match_the_data_readme():
    readme = os.path.join(REPO, "..", "shared", "data", "README.md")
    if not os.path.isfile(readme):
        pytest.skip("../shared/data/README.md not found")
    text = open(readme, encoding="utf-8").read()
    for cls in (node.MNIST, node.FashionMNIST):
        for name, digest in cls.sha256.items():
            assert f"{digest}  {name}" in text


def test_sha256_of_content_sees_through_gzip(tmp_path):
    (tmp_path / "a").write_bytes(b"hello")
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"hello"))
    assert sha256_of_content(tmp_path / "a") == sha256_of_content(tmp_path / "a.gz") == hashlib.sha256(b"hello").hexdigest()


def test_subset_keeps_batch_indexing(fake_mnist):
    data = node.MNIST(root=fake_mnist, one_hot=False)
    sub = node.Subset(data, np.arange(10, 30))
    assert len(sub) == 20 and sub.batch_indexing
    assert sub[0][1] == data[10][1]
    np.testing.assert_array_equal(sub[np.array([0, 19])][1], data.labels[[10, 29]])
    seen = np.concatenate([t.value for _, t in node.DataLoader(sub, batch_size=7)])
    assert sorted(seen) == sorted(data.labels[10:30])
    with pytest.raises(ValueError, match=r"indices must be in \[0, 600\)"):
        node.Subset(data, [600])

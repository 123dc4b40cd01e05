"""CPU and GPU together: moving data and models, clear errors for mixed devices, sync-free training steps.

These need CuPy: a GPU, or ../shared/fake_cupy first on PYTHONPATH (CI's second pass).
"""
import contextlib
import warnings

import numpy as np
import pytest

import node
from node.functions import getitem

from helpers import make_fake_mnist, skip_without_cupy

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    """The cupy module, with the NumPy backend active (tests choose where each thing lives)."""
    skip_without_cupy()
    import cupy

    node.set_backend("numpy")
    yield cupy
    node.set_backend("numpy")


@contextlib.contextmanager
def no_device_syncs():
    """Raise at the first device synchronization inside the block (CuPy's own detector)."""
    import cupyx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CuPy warns that the detector is deprecated; it still detects
        with cupyx.allow_synchronize(False):
            yield


def fake_stats():
    """fake_cupy's event counters, or None on a real GPU."""
    import cupy

    return getattr(getattr(cupy, "_fake", None), "stats", None)


# ---- mixed devices: a clear error naming both ---------------------------------------------------
CPU_THEN_GPU = r"input 0 on the CPU \(numpy\), input 1 on the GPU \(cupy\)"
GPU_THEN_CPU = r"input 0 on the GPU \(cupy\), input 1 on the CPU \(numpy\)"


def test_ops_on_two_devices_name_both(cp):
    a = node.Node(np.ones((2, 3)))
    b = node.Node(cp.ones((2, 3)))  # node has not loaded CuPy itself yet in a fresh process: still recognised
    cases = [(lambda: a + b, "Add", CPU_THEN_GPU), (lambda: b * a, "Mul", GPU_THEN_CPU), (lambda: a @ b.T, "MatMul", CPU_THEN_GPU),
             (lambda: node.concat([a, b]), "Concat", CPU_THEN_GPU), (lambda: a - b, "Sub", CPU_THEN_GPU)]
    for op, name, where in cases:
        with pytest.raises(node.DeviceError, match=rf"{name}: expected all arrays on the same device, got {where}\. Move them"):
            op()
    with pytest.raises(node.DeviceError, match=r"getitem: .*data on the CPU \(numpy\) and the index on the GPU \(cupy\)"):
        a[cp.asarray([0])]
    np.testing.assert_array_equal(node.asnumpy(b[np.array([1, 0])].value), np.ones((2, 3)))  # a host index is uploaded


def test_layer_and_input_on_different_devices(cp):
    layer = node.Linear(3, 2, rng=0).to("gpu")
    with pytest.raises(node.DeviceError, match=r"Affine: .*input 0 on the CPU \(numpy\), input 1 on the GPU \(cupy\)"):
        layer(node.Node(np.ones((4, 3), np.float32)))


@pytest.mark.parametrize("make", [lambda: node.CenterLoss(3, 2, rng=0), lambda: node.LearnableCenterLoss(3, 2, rng=0), lambda: node.PCLoss(3, 2, rng=0)])
def test_center_losses_name_features_and_centers_devices(cp, make):
    loss = make()  # centers on the CPU
    with pytest.raises(node.DeviceError, match=r"features on the GPU \(cupy\), centers on the CPU \(numpy\).*loss.to\('gpu'\)"):
        loss(node.Node(cp.zeros((2, 2), np.float32)), np.array([0, 1]))
    loss.to("gpu")
    value = loss(node.Node(cp.zeros((2, 2), np.float32)), np.array([0, 1]))  # host labels move with the check done
    assert isinstance(value.value, cp.ndarray)


# ---- moving things between devices -------------------------------------------------------------
def test_state_dicts_load_across_devices(cp):
    gpu_model = node.Sequential(node.Linear(3, 4, rng=1), node.BatchNorm1d(4)).to("gpu")
    cpu_model = node.Sequential(node.Linear(3, 4, rng=2), node.BatchNorm1d(4))
    cpu_model.load_state_dict(gpu_model.state_dict())
    for (name, a), (_, b) in zip(cpu_model.state_dict().items(), gpu_model.state_dict().items()):
        assert isinstance(a, np.ndarray) and isinstance(b, cp.ndarray), name
        np.testing.assert_array_equal(a, node.asnumpy(b))
    other = node.Sequential(node.Linear(3, 4, rng=3), node.BatchNorm1d(4)).to("gpu")
    other.load_state_dict(cpu_model.state_dict())
    np.testing.assert_array_equal(node.asnumpy(other.layers[0].W.value), cpu_model.layers[0].W.value)


def test_backward_takes_a_gradient_from_the_other_device(cp):
    x = node.Node(np.arange(3.0))
    (x * x).backward(grad=cp.asarray([1.0, 2.0, 3.0]))
    assert isinstance(x.grad, np.ndarray) and x.grad.tolist() == [0.0, 4.0, 12.0]
    y = node.Node(cp.arange(3.0))
    (y * y).backward(grad=np.array([1.0, 2.0, 3.0]))
    assert isinstance(y.grad, cp.ndarray) and node.asnumpy(y.grad).tolist() == [0.0, 4.0, 12.0]


def test_cpu_center_loss_accepts_gpu_labels(cp):
    loss = node.CenterLoss(3, 2, rng=0)
    value = loss(node.Node(np.zeros((2, 2), np.float32)), cp.asarray([0, 2]))
    assert isinstance(value.value, np.ndarray)


@pytest.mark.parametrize("make", [lambda ps: node.SGD(ps, 0.1, momentum=0.9, nesterov=True), lambda ps: node.Adam(ps, 0.01, weight_decay=0.1)])
def test_optimizer_state_follows_the_model_between_steps(cp, make):
    """CPU steps, model.to('gpu'), GPU steps, back to the CPU: the same trajectory as all on the CPU."""

    def train(moves):
        model = node.Linear(3, 2, rng=0)
        opt = make(model.parameters())
        x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
        for device in moves:
            model.to(device)
            xs = node.Node(node.backend.to_backend(x, device), requires_grad=False)
            opt.zero_grad()
            (model(xs) ** 2).sum().backward()
            opt.step()
        return model.W.numpy()

    np.testing.assert_allclose(train(["cpu", "gpu", "gpu", "cpu", "gpu"]), train(["cpu"] * 5), rtol=1e-5)


# ---- data on the GPU -----------------------------------------------------------------------------
class PerSample(node.Dataset):
    """A dataset that serves one sample at a time, on a given device."""

    def __init__(self, xp):
        self.xp = xp

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return self.xp.full(3, float(i), dtype=np.float32), i


@pytest.mark.parametrize("samples_on", ["cpu", "gpu"])
@pytest.mark.parametrize("backend", ["numpy", "cupy"])
def test_dataloader_over_samples_from_either_device(cp, samples_on, backend):
    node.set_backend(backend)
    loader = node.DataLoader(PerSample(cp if samples_on == "gpu" else np), batch_size=2, shuffle=False)
    batches = list(loader)
    assert [len(x) for x, _ in batches] == [2, 2, 1]
    x, t = batches[1]
    xp = node.backend.backend_module(backend)
    assert isinstance(x.value, xp.ndarray) and isinstance(t.value, xp.ndarray)
    assert node.asnumpy(x.value)[:, 0].tolist() == [2.0, 3.0] and node.asnumpy(t.value).tolist() == [2, 3]


def test_datasets_on_the_gpu_give_the_same_batches(cp, tmp_path):
    root = make_fake_mnist(tmp_path, n_train=50, n_test=10)
    host = node.Subset(node.MNIST(root=root), np.arange(5, 45))
    for device_dataset in (host.to("gpu"), node.Subset(node.MNIST(root=root).to("gpu"), np.arange(5, 45))):
        assert device_dataset.backend == "cupy" and isinstance(device_dataset.dataset.images, cp.ndarray)
        node.set_backend("cupy")
        on_gpu = list(node.DataLoader(device_dataset, batch_size=16, seed=3))
        node.set_backend("numpy")
        on_cpu = list(node.DataLoader(host, batch_size=16, seed=3))
        for (xg, tg), (xc, tc) in zip(on_gpu, on_cpu):
            assert isinstance(xg.value, cp.ndarray) and xg.dtype == np.float32
            np.testing.assert_array_equal(node.asnumpy(xg.value), xc.value)
            np.testing.assert_array_equal(node.asnumpy(tg.value), tc.value)
    back = host.to("gpu").to("cpu")
    assert isinstance(back.dataset.images, np.ndarray) and isinstance(back.indices, np.ndarray)
    pair = node.ArrayDataset(np.arange(6.0), np.arange(6)).to("gpu")
    assert pair.backend == "cupy" and isinstance(pair[cp.asarray([1, 2])][0], cp.ndarray)
    with pytest.raises(TypeError, match="PerSample cannot move its data to another device"):
        PerSample(np).to("gpu")
    with pytest.raises(node.DeviceError, match="ArrayDataset"):
        node.ArrayDataset(np.arange(3), cp.arange(3))


def test_complex_indexing_gradient_accumulates_on_the_gpu(cp):
    values = np.array([1 + 2j, 3 - 1j, -2 + 0.5j])
    index = [0, 2, 0, 0]
    grads = []
    for xp in (np, cp):
        x = node.Node(xp.asarray(values))
        getitem(x, xp.asarray(index)).backward(grad=xp.asarray([1 + 1j, 2, 3j, -1]))
        grads.append(node.asnumpy(x.grad))
    np.testing.assert_array_equal(grads[1], grads[0])
    assert grads[0].tolist() == [(0 + 4j), 0, 2]


def test_scatter_add_complex(cp):
    target = cp.zeros(3, dtype=np.complex64)
    node.scatter_add(target, cp.asarray([1, 1, 2]), cp.asarray([1j, 2, 3 + 1j], dtype=np.complex64))
    assert node.asnumpy(target).tolist() == [0, 2 + 1j, 3 + 1j]


# ---- a training step never waits on the device ----------------------------------------------------
def mlp_training(cp, tmp_path):
    """The seed MLP (784-256-2-10) with Center Loss and Adam on the GPU; data uploaded once."""
    node.set_backend("cupy")
    root = make_fake_mnist(tmp_path, n_train=300, n_test=10)
    loader = node.DataLoader(node.MNIST(root=root).to("gpu"), batch_size=64, seed=0)
    rng = node.layers.as_generator(0)
    layers = [node.Linear(784, 256, rng=rng), node.Linear(256, 2, rng=rng), node.Linear(2, 10, rng=rng)]
    center = node.CenterLoss(10, 2, alpha=0.01, rng=1)
    opt = node.Adam([p for layer in layers for p in layer.parameters()], 1e-3)
    running = node.metrics.RunningMean()

    def step(x, t):
        opt.zero_grad()
        h = layers[1](layers[0](x / 255).relu())
        loss = layers[2](h).softmax_with_cross_entropy(t) + center(h, t)
        loss.backward()
        opt.step()
        running.add(loss)

    return loader, step, running


def test_mlp_training_step_never_syncs(cp, tmp_path):
    loader, step, running = mlp_training(cp, tmp_path)
    with no_device_syncs():
        for x, t in loader:  # the DataLoader's batches are made on the device too
            step(x, t)
    assert np.isfinite(running.value())  # one read, after the loop


def test_mlp_training_step_kernel_budget(cp, tmp_path):
    """fake_cupy's counts for one step (batching included): ≤ 60 launches, no copies, no syncs."""
    stats = fake_stats()
    if stats is None:
        pytest.skip("launch counting needs ../shared/fake_cupy (a real GPU has no counter)")
    loader, step, _ = mlp_training(cp, tmp_path)
    batches = iter(loader)
    step(*next(batches))  # first step: optimizer state and kernels are created
    before = stats.totals()
    step(*next(batches))
    after = stats.totals()
    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert spent.get("sync", 0) == 0 and spent.get("h2d", 0) == 0 and spent.get("scalar_array", 0) == 0, spent
    assert spent["launch"] <= 60, spent


def test_lenets_training_step_never_syncs(cp):
    import sys

    from helpers import REPO

    sys.path.insert(0, str(REPO / "examples"))
    from center_loss_convnet import LeNetsPlusPlus

    node.set_backend("cupy")
    model = LeNetsPlusPlus(node.layers.as_generator(0))
    center = node.CenterLoss(10, 2, rng=1)
    opt = node.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    data = node.ArrayDataset(np.random.default_rng(0).integers(0, 256, (8, 1, 28, 28)).astype(np.float32), np.arange(8) % 10).to("gpu")
    for x, t in node.DataLoader(data, batch_size=4):
        with no_device_syncs():
            opt.zero_grad()
            features, log_probs = model(x)
            loss = node.functions.nll_loss(log_probs, t) + center(features, t)
            loss.backward()
            opt.step()
    assert np.isfinite(float(node.asnumpy(loss.value)))


def test_device_labels_are_not_read_back_by_default(cp):
    """Losses never read labels on the GPU back (that would wait for the device) unless asked to."""
    logits = node.Node(cp.zeros((3, 10)))
    with no_device_syncs():
        logits.softmax_with_cross_entropy(cp.asarray([1, 2, 3]))
        node.functions.nll_loss(logits, cp.asarray([1, 2, 3]))
        node.CenterLoss(10, 2).to("gpu")(logits[:, :2], cp.asarray([1, 2, 3]))
    with node.using_config("check_device_labels", True), pytest.raises(ValueError, match="label 12 is out of range"):
        logits.softmax_with_cross_entropy(cp.asarray([1, 12, 3]))


def test_running_mean(cp):
    running = node.metrics.RunningMean()
    assert np.isnan(running.value())
    with no_device_syncs():
        for value, weight in [(1.0, 1), (2.0, 1), (4.0, 2)]:
            running.add(node.Node(cp.asarray(value, dtype=np.float32)), weight)
    assert running.value() == pytest.approx((1 + 2 + 8) / 4)


def test_backend_choice_is_per_thread(cp):
    import threading

    node.set_backend("gpu")
    seen = []
    worker = threading.Thread(target=lambda: seen.append((node.get_backend(), type(node.Node([1.0]).value))))
    worker.start()
    worker.join()
    assert seen == [("numpy", np.ndarray)] and node.get_backend() == "cupy"

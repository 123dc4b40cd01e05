"""Helpers shared by the tests: random inputs in the domains ops need, and a layer gradient check.

Fixtures live in ``conftest.py``; everything else tests share is here. Import it as ``from helpers import randn`` (tests/ is on ``sys.path`` through
``conftest.py``); no test module imports another test module.
"""
import ast
import os
import re
from pathlib import Path

import numpy as np
import pytest

import node

REPO = Path(__file__).resolve().parents[1]


def real_data_root():
    """The data root node.MNIST() reads ($NODE_DATA, else ../shared/data), when it holds the real mnist/*.gz; else None.

    The folder comes from ``node.data.data_root()``. Its last resort, the
    download cache, does not count: tests train on real data only where it was
    put on purpose, and on generated data otherwise.
    """
    root, source = node.data.data_root()
    if source == "cache" or not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        return None
    return root


def skip_without_cupy():
    """Skip the calling test when CuPy cannot run; fail instead under NODE_REQUIRE_CUPY=1 (CI's CuPy pass)."""
    if node.cupy_available():
        return
    reason = "CuPy with a CUDA GPU is not available (or put ../shared/fake_cupy first on PYTHONPATH)"
    if os.environ.get("NODE_REQUIRE_CUPY") == "1":
        pytest.fail(f"NODE_REQUIRE_CUPY=1 but {reason}")
    pytest.skip(reason)


def make_fake_mnist(root, n_train=600, n_test=200, seed=0, folder="mnist", gz=True):
    """Write small MNIST-format IDX files: ten classes, each a bright blob in its own place."""
    rng = np.random.default_rng(seed)
    out = Path(root) / folder
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            r, c = 3 + 7 * (label // 4), 3 + 6 * (label % 4)
            images[i, r : r + 6, c : c + 6] = rng.integers(180, 256, (6, 6))
        node.write_idx(out / f"{prefix}-images-idx3-ubyte{ext}", images)
        node.write_idx(out / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return Path(root)


def randn(xp, rng, shape):
    """Standard normal float64 values of ``shape`` on backend ``xp``."""
    return xp.asarray(rng.standard_normal(shape))


def away_from_zero(xp, rng, shape, margin=0.1):
    """Values with |x| >= margin, so kinks (relu, abs) sit outside the ε-neighbourhood of a finite difference."""
    v = rng.standard_normal(shape)
    return xp.asarray(np.sign(v + (v == 0)) * (margin + np.abs(v)))


def positive(xp, rng, shape, low=0.5):
    """Values in [low, low + 1): inside the domain of log, sqrt and a ** b."""
    return xp.asarray(low + rng.random(shape))


def distinct(xp, rng, shape):
    """Values at least 0.05 apart, so that max, min and max pooling have no ties near a finite difference."""
    size = int(np.prod(shape))
    return xp.asarray(rng.permutation(size).reshape(shape) * 0.05 - size * 0.025)


def probabilities(xp, rng, shape):
    """Rows (last axis) of positive numbers summing to one: soft targets."""
    p = rng.random(shape) + 0.1
    return xp.asarray(p / p.sum(axis=-1, keepdims=True))


def labels(xp, rng, n, classes):
    """``n`` integer class labels below ``classes``."""
    return xp.asarray(rng.integers(0, classes, n))


def gradcheck_layer(layer, *inputs, **kwargs):
    """gradcheck a layer with respect to its inputs and all its parameters.

    gradcheck works on float64 copies, so each call puts those copies where the
    layer keeps its parameters before running it.
    """
    from node.layers.layer import Parameter, _assign

    entries = [(owner, key, value) for _, owner, key, value in layer._walk() if isinstance(value, Parameter)]

    def fn(*args):
        for (owner, key, _), w in zip(entries, args[len(inputs):]):
            _assign(owner, key, w)
        return layer(*args[: len(inputs)])

    try:
        return node.gradcheck(fn, *inputs, *[p.value for _, _, p in entries], **kwargs)
    finally:
        for owner, key, original in entries:  # put the layer's own Parameters back
            _assign(owner, key, original)


# ---- naive references: loops over every output position, obviously right ----------------
def conv_reference(x, W, b, stride, padding):
    """The convolution by its definition, one output position at a time."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oc, _, kh, kw = W.shape
    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    y = np.zeros((x.shape[0], oc, oh, ow), dtype=np.result_type(x, W))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, W) + b
    return y


def conv_loops(x, W, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """The convolution with every option by its definition: output by output, group by group, tap by tap."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, w = x.shape
    oc, cg, kh, kw = W.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, oc, oh, ow), dtype=np.result_type(x, W))
    for o in range(oc):
        g = o // (oc // groups)  # the group of output channel o reads input channels g·cg ... (g+1)·cg - 1
        for i in range(oh):
            for j in range(ow):
                rows, cols = i * sh + dh * np.arange(kh), j * sw + dw * np.arange(kw)
                patch = x[:, g * cg : (g + 1) * cg][:, :, rows][:, :, :, cols]  # (N, C/G, KH, KW)
                y[:, o, i, j] = (patch * W[o]).sum(axis=(1, 2, 3))
    return y if b is None else y + b[:, None, None]


def conv_transpose_loops(x, W, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1, dilation=(1, 1)):
    """The transposed convolution by its definition: each input pixel adds W times itself onto its output patch."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    n, c, h, w = x.shape
    _, ocg, kh, kw = W.shape
    full = np.zeros((n, ocg * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph, (w - 1) * sw + dw * (kw - 1) + 1 + opw))
    for ci in range(c):
        g = ci // (c // groups)  # input channel ci writes to output channels g·ocg ... (g+1)·ocg - 1
        for i in range(h):
            for j in range(w):
                for a in range(kh):
                    for d in range(kw):
                        full[:, g * ocg : (g + 1) * ocg, i * sh + a * dh, j * sw + d * dw] += x[:, ci, i, j, None] * W[ci, :, a, d]
    y = full[:, :, ph : full.shape[2] - ph, pw : full.shape[3] - pw]
    return y if b is None else y + b[:, None, None]


def pool_loops(x, kernel, stride, padding, ceil_mode, reduce):
    """Max (reduce=np.max) or average (np.mean) pooling by its definition, window by window, with PyTorch's ceil_mode rule.

    A window covers the padded input from its start to start + kernel, cut at the padded input's end.
    """
    fill = -np.inf if reduce is np.max else 0.0
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)

    def count(size, k, s, p):
        n = (-(-(size + 2 * p - k) // s) if ceil_mode else (size + 2 * p - k) // s) + 1
        return n - 1 if ceil_mode and (n - 1) * s >= size + p else n

    oh, ow = count(x.shape[2], kh, sh, ph), count(x.shape[3], kw, sw, pw)
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(padded[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], axis=(2, 3))
    return y


def adaptive_pool_loops(x, oh, ow):
    """Adaptive average pooling by PyTorch's index formula, output by output."""
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            y[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return y


def pool_reference(x, k, stride, padding, reduce):
    """Pooling by its definition, one window at a time."""
    fill = -np.inf if reduce is np.max else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    oh, ow = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    y = np.zeros((x.shape[0], x.shape[1], oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(x[:, :, i * stride : i * stride + k, j * stride : j * stride + k], axis=(2, 3))
    return y


# ---- Markdown pages whose python blocks run (docs/, course/) -------------------------------------
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SHOWS = ("print(", "plt.", "display(")  # a block with one of these shows something when it runs


def python_blocks(path):
    """The ```python blocks of a Markdown page, in order."""
    return FENCE.findall(path.read_text(encoding="utf-8"))


def run_page_blocks(page, monkeypatch, tmp_path):
    """Run a page's python blocks in order in one namespace, from ``tmp_path``, as a reader would.

    A block whose first line is ``# needs real MNIST`` runs with NODE_DATA set
    to the real data and skips the rest of the page without it.
    """
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    namespace = {"__name__": "__page__"}
    try:
        for number, block in enumerate(python_blocks(page), 1):
            if block.startswith("# needs real MNIST"):
                root = real_data_root()
                if root is None:
                    pytest.skip(f"{page.name} block {number} needs the real MNIST files")
                monkeypatch.setenv("NODE_DATA", str(root))
            try:
                exec(compile(block, f"{page.name} (block {number})", "exec"), namespace)
            except Exception as exc:  # report which block failed, keep the original traceback
                raise AssertionError(f"{page.name}, code block {number} failed: {exc!r}") from exc
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
        node.set_backend("numpy")


def asserts_without_showing(block):
    """True if the block has an assert statement but prints, plots and displays nothing.

    A last line that is a bare expression counts as showing: a notebook displays its value.
    """
    tree = ast.parse(block)
    if not any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
        return False
    if any(call in block for call in SHOWS):
        return False
    return not (tree.body and isinstance(tree.body[-1], ast.Expr))


def optimizer_trajectory(make, xp=np, steps=6, seed=0, shape=(5,)):
    """Step ``make([p])`` with fixed random gradients; (parameters after each step on the host, p₀, gradients).

    The gradients are set directly (``p.grad = g``) so that a NumPy reference
    update, or PyTorch's optimizer, can be run on exactly the same numbers.
    """
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    p = node.Parameter(xp.array(p0))  # a copy: p0 stays the starting point
    optimizer = make([p])
    history = []
    for g in grads:
        p.grad = xp.asarray(g)
        optimizer.step()
        history.append(node.asnumpy(p.value).copy())
    return np.array(history), p0, grads


def torch_trajectory(make, p0, grads):
    """The same steps with a PyTorch optimizer ``make([p])`` (float64), for the tests that compare with it."""
    import torch

    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    optimizer = make([p])
    history = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        history.append(p.detach().numpy().copy())
    return np.array(history)

"""Every file node or the examples write follows the umask, through the one atomic write (issue 25, area 11).

mkstemp creates files 0600, so a shared data cache or run folder written
through it is unreadable to the group. ``node.fileio.atomic_write`` creates
its temporary with the permissions ``open(path, "w")`` would give (0666 less
the umask). Each writer is run under umask 022 (files 0644) and 077 (0600),
and a scan of the sources checks that nothing writes a file another way.
"""
import ast
import os
import stat
import sys

import numpy as np
import pytest

import node
from node.fileio import atomic_write

from helpers import REPO, make_fake_mnist

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")

sys.path.insert(0, str(REPO / "examples"))


def write_atomic_bytes(folder):
    with atomic_write(folder / "a.bin") as f:
        f.write(b"\0")
    return [folder / "a.bin"]


def write_atomic_text(folder):
    with atomic_write(folder / "deeper" / "a.txt", "w") as f:  # a missing folder is made on the way
        f.write("λ")
    return [folder / "deeper" / "a.txt"]


def write_checkpoint(folder):
    node.save(folder / "c.npz", {"w": np.zeros(2)})
    node.Linear(2, 2, rng=0).save(folder / "model.npz")
    return [folder / "c.npz", folder / "model.npz"]


def write_idx_files(folder):
    node.write_idx(folder / "x-idx1-ubyte", np.arange(5, dtype=np.uint8))
    node.write_idx(folder / "x-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    return [folder / "x-idx1-ubyte", folder / "x-idx1-ubyte.gz"]


def download(folder):
    import hashlib

    mirror = folder / "mirror"
    node.write_idx(mirror / "y-idx1-ubyte.gz", np.arange(7, dtype=np.uint8))
    content = node.data.idx.gzip.decompress((mirror / "y-idx1-ubyte.gz").read_bytes())
    os.chmod(mirror / "y-idx1-ubyte.gz", 0o600)  # the source's own mode must not carry over
    path = node.data.fetch("y-idx1-ubyte", [mirror.as_uri()], folder / "cache", hashlib.sha256(content).hexdigest(), progress=False)
    return [path]


def plot_figure(folder):
    node.plot.training_curves({"loss": [1.0, 0.5]}, folder / "figures" / "curves.png")
    node.plot.training_curves({"loss": [1.0, 0.5]}, folder / "figures" / "curves.svg")
    return [folder / "figures" / "curves.png", folder / "figures" / "curves.svg"]


def example_reports(folder):
    import common

    common.write_json(folder / "metrics.json", {"a": 1})
    common.write_text(folder / "table.md", "| a |\n")
    common.Checkpoint(folder / "checkpoint.npz", config={}, model=node.Linear(2, 2, rng=0)).save(0, [])
    return [folder / "metrics.json", folder / "table.md", folder / "checkpoint.npz"]


WRITERS = [write_atomic_bytes, write_atomic_text, write_checkpoint, write_idx_files, download, plot_figure, example_reports]


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)], ids=["umask022", "umask077", "umask027"])
def umask(request):
    mask, mode = request.param
    previous = os.umask(mask)
    try:
        yield mode
    finally:
        os.umask(previous)


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.__name__)
def test_files_get_the_permissions_the_umask_gives(tmp_path, umask, writer):
    paths = writer(tmp_path)
    assert paths
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0, path
        assert stat.S_IMODE(path.stat().st_mode) == umask, f"{path.name}: {oct(stat.S_IMODE(path.stat().st_mode))}, expected {oct(umask)}"
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporary left behind


def test_an_example_run_writes_every_file_with_the_umask(tmp_path):
    import center_loss_mnist

    data = make_fake_mnist(tmp_path / "data", n_train=60, n_test=30)
    previous = os.umask(0o022)
    try:
        center_loss_mnist.main(["--data", str(data), "--limit", "30", "--epochs", "1", "--batch-size", "10", "--out", str(tmp_path / "out")])
    finally:
        os.umask(previous)
        node.set_backend("numpy")
    written = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"metrics.json", "checkpoint.npz", "features.png", "curves.png"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {p.name: "0o644" for p in written}


# ---- no other way to write a file --------------------------------------------------------------
ALLOWED = {
    ("node/fileio.py", "open"): "the one atomic write itself",
    ("examples/seed_notebook.py", "savefig"): "the notebook's own cell, run as written (its plt.show() becomes fig.savefig)",
}
TEMPORARIES = {"mkstemp", "NamedTemporaryFile"}  # 0600 files
PATH_WRITES = {"write_text", "write_bytes"}  # pathlib's, not atomic
NUMPY_WRITES = {"save", "savez", "savez_compressed", "savetxt"}  # np.save(path, ...)


def writing_calls(path):
    """(name, line) of every call in ``path`` that may create a file without atomic_write, in line order."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
        first = call.args[0] if call.args else None
        into_a_file_object = isinstance(first, ast.Name) and first.id in ("f", "out", "buffer")  # what atomic_write handed out
        if name == "open":
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
            if mode is not None and not (isinstance(mode, ast.Constant) and set(str(mode.value)) <= set("rbt")):
                found.append((name, call.lineno))
        elif name in TEMPORARIES or (name in PATH_WRITES and owner != "common") or name == "tofile":
            found.append((name, call.lineno))
        elif (name == "savefig" or (name in NUMPY_WRITES and owner in ("np", "numpy"))) and not into_a_file_object:
            found.append((name, call.lineno))
    return sorted(found, key=lambda item: item[1])


def test_nothing_in_node_or_the_examples_writes_a_file_but_through_atomic_write():
    sources = sorted((REPO / "node").rglob("*.py")) + sorted((REPO / "examples").glob("*.py"))
    offenders = []
    for path in sources:
        relative = path.relative_to(REPO).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        offenders += [f"{relative}:{line}: {lines[line - 1].strip()}" for name, line in writing_calls(path) if (relative, name) not in ALLOWED]
    assert not offenders, "write these through node.fileio.atomic_write:\n" + "\n".join(offenders)


def test_the_scan_finds_a_write_that_bypasses_atomic_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import tempfile\nfd, p = tempfile.mkstemp()\nopen(p, 'w').write('x')\nopen(p).read()\nPath(p).write_text('y')\n"
        "np.savez(p, a=1)\nfig.savefig(p)\nfig.savefig(f, format='png')\ncommon.write_text(p, 'z')\nopen(p, mode='ab')\n"
    )
    assert writing_calls(sample) == [("mkstemp", 2), ("open", 3), ("write_text", 5), ("savez", 6), ("savefig", 7), ("open", 10)]

"""The seed notebook (../shared/seeds/000_474c49b8c984d1dc.txt) runs against node as written.

examples/seed_notebook.py holds its code cells; the first test checks them
against the seed's text, the second runs a short version: one epoch (on the
full real training set when ../shared/data is there, on generated data
otherwise) and the feature extraction of the last cell on a subset.
"""
import re

import numpy as np
import pytest

from helpers import REPO, make_fake_mnist, real_data_root

SCRIPT = REPO / "examples" / "seed_notebook.py"
SEED = REPO.parent / "shared" / "seeds" / "000_474c49b8c984d1dc.txt"


def _cells(source):
    return [c.rstrip("\n") for c in re.split(r"^# In \[[^\]]*\]:\n", source, flags=re.M)[1:]]


def test_cells_are_the_seed_notebook_as_written():
    if not SEED.is_file():
        pytest.skip(f"seed notebook not found at {SEED}")
    seed = SEED.read_text(encoding="utf-8")
    cells = _cells(SCRIPT.read_text(encoding="utf-8"))
    assert len(cells) == 7
    for cell in cells:
        # Undo the script-only changes; what remains must be in the notebook verbatim.
        original = (
            cell.replace("import tqdm.auto\n", "import tqdm\n")
            .replace("tqdm.auto.tqdm(", "tqdm.tqdm_notebook(")
            .replace("# %matplotlib inline", "%matplotlib inline")
        )
        assert original in seed, f"cell differs from the seed notebook:\n{cell[:300]}"


def test_notebook_trains_and_its_loss_falls(tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    root = real_data_root()
    real = root is not None
    if not real:
        root = make_fake_mnist(tmp_path / "data", n_train=3000, n_test=10)
    monkeypatch.setenv("NODE_DATA", str(root))
    source = SCRIPT.read_text(encoding="utf-8")
    short = source.replace("for epoch in range(25):", "for epoch in range(1):").replace(
        "for i in range(len(dataset)):", "for i in range(500):"
    )
    assert short.count("range(1)") == 1 and "range(500)" in short

    cells = _cells(short)
    namespace = {"__name__": "__main__"}
    for cell in cells[:5]:  # definitions, model, optimizer, dataset, loader
        exec(compile(cell, str(SCRIPT), "exec"), namespace)
    losses = []
    optimize = namespace["optimize"]

    def recording_optimize(input, target):
        value = optimize(input, target)
        losses.append(float(value))
        return value

    namespace["optimize"] = recording_optimize
    exec(compile(cells[5], str(SCRIPT), "exec"), namespace)  # the training loop
    printed = capsys.readouterr().out
    match = re.search(r"epoch 0, loss (\d+\.\d\d)", printed)
    assert match, printed

    loader = namespace["data_loader"]
    assert len(losses) == len(loader)
    if real:
        assert len(namespace["dataset"]) == 60000 and len(loader) == 469
    assert np.isfinite(losses).all()
    k = max(len(losses) // 10, 1)
    first, last = np.mean(losses[:k]), np.mean(losses[-k:])
    assert last < 0.8 * first, f"loss did not fall: first {first:.3f}, last {last:.3f}"
    assert float(match.group(1)) == pytest.approx(np.mean(losses), abs=0.01)

    exec(compile(cells[6], str(SCRIPT), "exec"), namespace)  # features under node.zero_grad()
    distributions = namespace["distributions"]
    assert sum(len(d) for d in distributions) == 500
    assert all(len(point) == 2 for d in distributions for point in d)

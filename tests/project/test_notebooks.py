"""The notebooks in notebooks/: current with their sources, and each runs top to bottom in a Jupyter kernel.

The execution tests need nbclient, nbformat and ipykernel (the ``notebook``
extra) and are skipped without them, and in CI's CuPy pass (NODE_REQUIRE_CUPY=1),
which tests the CuPy backend and not the notebooks a second time. Each
notebook runs in a fresh kernel of this interpreter with
NODE_NOTEBOOK_QUICK=1 (a small subset of MNIST, one or two epochs), under a
time limit, and fails on any error, on anything written to stderr (a learner
would see it as a red box), and on a missing picture or progress bar widget.
"""
import asyncio
import importlib.util
import json
import os
import re
import shutil
import sys
import time

import pytest

import node

from helpers import REPO

# notebooks/build.py, loaded by its path: a module named "build" may also be installed (pypa's build).
_spec = importlib.util.spec_from_file_location("notebooks_build", REPO / "notebooks" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

NOTEBOOK_LIMIT = 180  # seconds one notebook may take in quick mode (they take 2-10 s on two cores)
EXECUTION_DEPS = ("nbclient", "nbformat", "ipykernel", "ipywidgets")
WIDGET = "application/vnd.jupyter.widget-view+json"
TRAINS_AND_DRAWS = {"00_seed_notebook.ipynb", "02_center_loss.ipynb"}  # with MNIST: progress bar widgets and inline figures


# ---- the notebooks are generated from their sources -----------------------------------------
def test_notebooks_are_current():
    assert build.main(["--check"]) == 0, "a notebook is out of date: run python notebooks/build.py"


def test_check_reports_stale_missing_and_extra_notebooks(tmp_path, capsys):
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    assert build.main(["--out", str(tmp_path)]) == 0  # a second build changes nothing
    first = sorted(tmp_path.glob("*.ipynb"))[0]
    notebook = json.loads(first.read_text(encoding="utf-8"))
    notebook["cells"][1]["source"] = ["print('edited by hand')"]
    first.write_text(json.dumps(notebook), encoding="utf-8")
    (tmp_path / "extra.ipynb").write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    sorted(tmp_path.glob("*.ipynb"))[-2].unlink()  # the last generated one
    capsys.readouterr()
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    report = capsys.readouterr().err
    assert f"{first.name} is stale (first difference at cell 1)" in report
    assert "is missing" in report and "extra.ipynb is not made by notebooks/build.py" in report


def test_outputs_saved_from_jupyter_do_not_make_a_notebook_stale(tmp_path):
    build.main(["--out", str(tmp_path)])
    path = tmp_path / "01_autograd.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]
    code["execution_count"] = 1
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert build.main(["--check", "--out", str(tmp_path)]) == 0


def test_notebooks_follow_their_sources():
    cells = build.expected()
    assert set(cells) >= {"00_seed_notebook.ipynb", "01_autograd.ipynb", "02_center_loss.ipynb"}
    if (REPO / "docs" / "higher_order.md").is_file():
        assert "03_higher_order.ipynb" in cells
    # Every ```python block of a chapter is a code cell, in order.
    autograd = [text for kind, text in cells["01_autograd.ipynb"][0] if kind == "code"]
    blocks = [b.strip("\n") for b in build.FENCE.findall((REPO / "docs" / "autograd.md").read_text(encoding="utf-8"))]
    assert autograd[: len(blocks)] == blocks
    # The seed notebook's code is the seed's cells with the listed edits only.
    seed = "\n".join(text for kind, text in cells["00_seed_notebook.ipynb"][0] if kind == "code")
    for cell in build.seed_cells():
        for old, new in build.SEED_EDITS:
            cell = cell.replace(old, new)
        body = cell if cell in seed else "\n".join("    " + l if l.strip() else "" for l in cell.split("\n"))
        assert body in seed, f"seed cell missing from the notebook:\n{cell[:200]}"
    assert "tqdm.auto.tqdm(data_loader" in seed and "%matplotlib inline" in seed


def test_guard_and_links(tmp_path):
    guarded = build.guarded("# needs real MNIST\nx = 1\n\nif x:\n    y = 2")
    assert guarded.startswith("if HAVE_MNIST:") and "\n    x = 1\n\n    if x:\n        y = 2\nelse:\n" in guarded
    compile(guarded, "guarded", "exec")
    for name, (cells, _) in build.expected().items():
        for kind, text in cells:
            if kind != "markdown":
                continue
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", text):
                if "://" not in target:
                    assert (REPO / "notebooks" / target).exists(), f"{name} links to missing {target}"


# ---- executing them --------------------------------------------------------------------
def _execution_skip_reason():
    missing = [name for name in EXECUTION_DEPS if importlib.util.find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed: pip install -e '.[notebook]' to execute the notebooks"
    if os.environ.get("NODE_REQUIRE_CUPY") == "1":
        return "the CuPy pass (NODE_REQUIRE_CUPY=1) does not execute the notebooks again"
    return None


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernel spec for this interpreter, with the notebooks' quick mode switched on."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / "node-tests"
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {"NODE_NOTEBOOK_QUICK": "1", "PYTHONPATH": str(REPO)}  # the notebooks run in a temporary folder: the course's must find course/
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "node tests", "language": "python", "env": env}))
    return folder


def execute(path, kernel_dir, workdir):
    """Run a notebook in a fresh kernel from ``kernel_dir``; returns the executed notebook and the seconds it took."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)

    async def run():
        km = AsyncKernelManager(kernel_name="node-tests", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
        client = NotebookClient(notebook, km=km, timeout=NOTEBOOK_LIMIT, resources={"metadata": {"path": str(workdir)}})
        try:
            await asyncio.wait_for(client.async_execute(), NOTEBOOK_LIMIT)  # the whole notebook; timeout= is per cell
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                await km.shutdown_kernel(now=True)

    began = time.perf_counter()
    try:
        asyncio.run(run())
    except asyncio.TimeoutError:
        pytest.fail(f"{path.name} took longer than {NOTEBOOK_LIMIT} s")
    return notebook, time.perf_counter() - began


def outputs_of(notebook):
    """(cell source, output) for every output of every code cell."""
    return [(cell.source, output) for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def shown(outputs, mime):
    return [data for _, o in outputs if o.get("output_type") in ("display_data", "execute_result") for key, data in o.get("data", {}).items() if key == mime]


def printed(outputs, stream="stdout"):
    return "".join(o.get("text", "") for _, o in outputs if o.get("output_type") == "stream" and o.get("name") == stream)


NOTEBOOK_FILES = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, kernel_dir, tmp_path):
    reason = _execution_skip_reason()
    if reason:
        pytest.skip(reason)
    notebook, seconds = execute(path, kernel_dir, tmp_path)
    outputs = outputs_of(notebook)
    errors = [o for _, o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    assert not printed(outputs, "stderr"), f"{path.name} wrote to stderr:\n{printed(outputs, 'stderr')}"
    has_data = node.MNIST.available()
    text = printed(outputs)
    needs_data = any(cell.source.startswith("if HAVE_MNIST:") for cell in notebook.cells if cell.cell_type == "code")
    if needs_data and has_data:
        assert "MNIST found in" in text and "Skipped" not in text
        if path.name in TRAINS_AND_DRAWS:
            assert shown(outputs, "image/png"), f"{path.name} drew no inline figure"
            assert shown(outputs, WIDGET), f"{path.name} showed no progress bar widget"
    elif needs_data:
        assert "MNIST is not in" in text and "Skipped: this cell needs the MNIST files" in text
    print(f"{path.name}: {seconds:.1f} s")


@pytest.mark.notebook
def test_autograd_notebook_draws_the_graph(kernel_dir, tmp_path):
    reason = _execution_skip_reason()
    if reason:
        pytest.skip(reason)
    notebook, _ = execute(REPO / "notebooks" / "01_autograd.ipynb", kernel_dir, tmp_path)
    graph = [o for source, o in outputs_of(notebook) if "show_grad=True)" in source and o.get("output_type") == "execute_result"]
    assert len(graph) == 1
    data = graph[0]["data"]
    assert "digraph node_graph" in data["text/plain"] and "grad 1.5 1" in data["text/plain"]
    if shutil.which("dot"):
        assert data["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    else:
        assert "image/svg+xml" not in data and data["text/plain"].startswith("(DOT text shown:")


@pytest.mark.notebook
def test_data_cell_without_the_data_skips_cleanly(kernel_dir, tmp_path):
    reason = _execution_skip_reason()
    if reason:
        pytest.skip(reason)
    spec = json.loads((kernel_dir / "node-tests" / "kernel.json").read_text())
    empty = tmp_path / "no-data"
    empty.mkdir()
    spec["env"]["NODE_DATA"] = str(empty)
    other = tmp_path / "kernels" / "node-tests"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps(spec))
    notebook, _ = execute(REPO / "notebooks" / "00_seed_notebook.ipynb", tmp_path / "kernels", tmp_path)
    outputs = outputs_of(notebook)
    assert not [o for _, o in outputs if o.get("output_type") == "error"]
    text = printed(outputs)
    assert f"MNIST is not in {empty}" in text
    assert text.count("Skipped: this cell needs the MNIST files") == 4
    assert not shown(outputs, "image/png")

"""Every Python code block in the docs runs and shows what it checks, and the API page covers node.__all__ and is current.

Blocks run in order, one namespace per page, so a page reads as one session.
A block whose first line is ``# needs real MNIST`` runs with NODE_DATA set to
the real data, and is skipped without it. A block that checks something with
``assert`` must also show it (the docs and notebooks/src pages become the
notebooks, where a cell that only asserts shows a learner nothing).
"""
import ast
import re
import sys

import pytest

import node

from helpers import REPO, real_data_root

PAGES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
NOTEBOOK_PAGES = sorted((REPO / "notebooks" / "src").glob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SHOWS = ("print(", "plt.", "display(")  # a block with one of these shows something when it runs


def python_blocks(path):
    return FENCE.findall(path.read_text(encoding="utf-8"))


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


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_code_blocks_run(page, monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    namespace = {"__name__": "__docs__"}
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
    node.set_backend("numpy")


@pytest.mark.parametrize("page", [p for p in PAGES + NOTEBOOK_PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_blocks_that_assert_also_show(page):
    silent = [number for number, block in enumerate(python_blocks(page), 1) if asserts_without_showing(block)]
    assert not silent, (
        f"{page.relative_to(REPO)}: code block(s) {silent} check with assert but show nothing; "
        "print the values checked (or end with an expression, plot or display())"
    )


def test_the_showing_rule():
    assert asserts_without_showing("x = 1\nassert x == 1\n")
    assert asserts_without_showing("if True:\n    assert 1\nx = 2\n")
    assert not asserts_without_showing("x = 1\nprint(x)\nassert x == 1\n")
    assert not asserts_without_showing("x = 1\nassert x == 1\nx\n")  # a notebook displays x
    assert not asserts_without_showing("plt.plot([1])\nassert True\n")
    assert not asserts_without_showing("x = 1\n")  # nothing checked: nothing required
    assert not asserts_without_showing("np.testing.assert_allclose(1, 1)\n")  # only assert statements count


def test_api_page_covers_every_public_name():
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [name for name in node.__all__ if f"### `node.{name}`" not in text]
    assert not missing, f"docs/api.md lacks {missing}; run python docs/make_api.py"


def test_api_page_is_current():
    sys.path.insert(0, str(REPO / "docs"))
    import make_api

    assert make_api.main(["--check"]) == 0, "docs/api.md is out of date: run python docs/make_api.py"


def test_docs_link_to_existing_files():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"

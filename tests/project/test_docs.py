"""Every Python code block in the docs runs and shows what it checks, and the API page covers node.__all__ and is current.

Blocks run in order, one namespace per page, so a page reads as one session.
A block whose first line is ``# needs real MNIST`` runs with NODE_DATA set to
the real data, and is skipped without it. A block that checks something with
``assert`` must also show it (the docs and notebooks/src pages become the
notebooks, where a cell that only asserts shows a learner nothing).
"""
import re
import sys

import pytest

import node

from helpers import REPO, asserts_without_showing, python_blocks, run_page_blocks

PAGES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
NOTEBOOK_PAGES = sorted((REPO / "notebooks" / "src").glob("*.md"))
@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_code_blocks_run(page, monkeypatch, tmp_path):
    run_page_blocks(page, monkeypatch, tmp_path)


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

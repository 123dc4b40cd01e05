"""Write the notebooks in notebooks/ from Markdown, so that they cannot drift from the course in docs/.

    python notebooks/build.py          # (re)write every notebook
    python notebooks/build.py --check  # exit 1 if a notebook is missing, stale or left over

Each notebook is the concatenation of its sources in NOTEBOOKS: chapters of
the docs in docs/ and of the course in course/ (the single source of their
text) and notebook-only pages in notebooks/src/. Every course chapter
course/NN_*.md becomes notebooks/course_NN_*.ipynb, after a set-up cell that
puts the repository root on ``sys.path``. Prose becomes Markdown cells (a new one at every
heading), every ```python block a code cell; other fences stay in the prose.
Relative links are rewritten to work from notebooks/. Two more rules:

* A code block whose first line is ``# needs real MNIST`` (the convention of
  tests/test_docs.py) runs only where the MNIST files are on the machine: it
  is put under ``if HAVE_MNIST:`` and prints a note otherwise. The data cell
  (notebooks/src/data.md), which sets HAVE_MNIST, goes where a source has the
  line ``<!-- data cell -->``, else before the prose that leads to the first
  such block of a notebook.
* A line ``<!-- seed cell N -->`` stands for code cell N of
  examples/seed_notebook.py (the original Center Loss notebook's cells, kept as
  written), with the notebook changes in SEED_EDITS; ``<!-- seed cell N,
  needs real MNIST -->`` also puts it under the guard.

A source whose path ends in "?" is optional: the notebook is left out until
that file exists. tests/test_notebooks.py runs ``--check`` (it compares the
cells' types and sources, not outputs, so running a notebook in Jupyter and
saving it does not make it stale) and executes every notebook.

Only the standard library is used, so the check runs without Jupyter installed.
"""
import argparse
import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "notebooks"

# notebook file -> its sources, in order. A trailing "?" marks an optional source (see the docstring).
NOTEBOOKS = {
    "00_seed_notebook.ipynb": ["notebooks/src/seed_notebook.md"],
    "01_autograd.ipynb": ["docs/autograd.md", "notebooks/src/autograd_in_jupyter.md"],
    "02_center_loss.ipynb": ["docs/center_loss.md", "notebooks/src/center_loss_training.md"],
    "03_higher_order.ipynb": ["docs/higher_order.md?"],
    "04_open_set.ipynb": ["docs/open_set.md"],
}

COURSE_SETUP = "notebooks/src/course_setup.md"  # the first cell of every course notebook: makes `import course` work
# every chapter of the course (course/NN_*.md) is a notebook course_NN_*.ipynb, after the set-up cell
NOTEBOOKS.update(
    (f"course_{chapter.stem}.ipynb", [COURSE_SETUP, f"course/{chapter.name}"])
    for chapter in sorted((REPO / "course").glob("[0-9][0-9]_*.md"))
)

DATA_CELL = "notebooks/src/data.md"
SEED_SCRIPT = "examples/seed_notebook.py"
NEEDS_MNIST = "# needs real MNIST"
SKIPPED = 'print("Skipped: this cell needs the MNIST files (see the data cell above).")'

# (the text in examples/seed_notebook.py's cells, what the notebook has instead); each must occur exactly once.
SEED_EDITS = [
    ("# %matplotlib inline", "%matplotlib inline"),  # a script cannot run the magic; the notebook does
    ("for epoch in range(25):", "for epoch in range(EPOCHS):  # the original: range(25)"),
    (
        "dataset = node.MNIST(training=True)\n",
        "dataset = node.MNIST(training=True)\n"
        "if LIMIT:  # not in the original: the first LIMIT images only (see the settings cell)\n"
        "    dataset = node.Subset(dataset, np.arange(min(LIMIT, len(dataset))))\n",
    ),
]

FENCE = re.compile(r"^```python\n(.*?)^```[ \t]*\n?", re.S | re.M)
DIRECTIVE = re.compile(r"^<!-- (?:seed cell (\d+)(, needs real MNIST)?|(data cell)) -->[ \t]*$", re.M)
LINK = re.compile(r"(\]\()([^)#\s]+)((?:#[^)\s]*)?\))")
SEED_CELLS = re.compile(r"^# In \[[^\]]*\]:\n", re.M)


class BuildError(Exception):
    """A source is missing or malformed."""


def _read(relative):
    path = REPO / relative
    if not path.is_file():
        raise BuildError(f"{relative} is missing (a source of a notebook in notebooks/build.py)")
    return path.read_text(encoding="utf-8")


def seed_cells():
    """The code cells of examples/seed_notebook.py (the text after each ``# In [...]:`` line), numbered from 1."""
    parts = SEED_CELLS.split(_read(SEED_SCRIPT))[1:]
    return [part.strip("\n") for part in parts]


def seed_cell(number):
    """Seed cell ``number`` as examples/seed_notebook.py has it (SEED_EDITS are applied by page_cells)."""
    cells = seed_cells()
    if not 1 <= number <= len(cells):
        raise BuildError(f"<!-- seed cell {number} -->: {SEED_SCRIPT} has cells 1 to {len(cells)}")
    return cells[number - 1]


def apply_seed_edits(cells):
    """Apply SEED_EDITS to the seed cells used; each edit must find its text exactly once among them."""
    joined = "\n\0\n".join(cells)
    for old, new in SEED_EDITS:
        count = joined.count(old)
        if count != 1:
            raise BuildError(f"notebooks/build.py SEED_EDITS: expected {old!r} once in the seed cells, found it {count} times")
        joined = joined.replace(old, new)
    return joined.split("\n\0\n")


def guarded(code):
    """``code`` under ``if HAVE_MNIST:``, printing a note instead when the data is missing.

    Every line is indented by four spaces, those inside multi-line strings too.
    """
    lines = code.strip("\n").split("\n")
    if lines[0].startswith(NEEDS_MNIST):
        lines = lines[1:]
    body = "\n".join(("    " + line) if line.strip() else "" for line in lines)
    return f"if HAVE_MNIST:  # needs the MNIST files; set in the data cell above\n{body}\nelse:\n    {SKIPPED}"


def rewrite_links(markdown, source):
    """Make relative links of a page in ``source``'s folder work from notebooks/."""
    folder = (REPO / source).parent

    def fix(match):
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        return match.group(1) + Path(os.path.relpath(folder / target, HERE)).as_posix() + match.group(3)

    return LINK.sub(fix, markdown)


def markdown_cells(text):
    """Prose split into cells: one per heading's section, without empty ones."""
    cells, current = [], []
    in_fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("#") and re.match(r"#{1,6} ", line) and any(l.strip() for l in current):
            cells.append("\n".join(current))
            current = []
        current.append(line)
    cells.append("\n".join(current))
    return [("markdown", cell.strip("\n")) for cell in cells if cell.strip()]


def page_cells(source):
    """(cell type, text, needs MNIST) for one Markdown source, seed cells included."""
    text = _read(source)
    pieces, position = [], 0
    for match in FENCE.finditer(text):
        pieces.append(("prose", text[position:match.start()]))
        pieces.append(("code", match.group(1)))
        position = match.end()
    pieces.append(("prose", text[position:]))

    cells, seed = [], []
    for kind, piece in pieces:
        if kind == "code":
            code = piece.strip("\n")
            cells.append(["code", code, code.startswith(NEEDS_MNIST)])  # as tests/test_docs.py recognises it
            continue
        position = 0
        for match in DIRECTIVE.finditer(piece):
            cells += [[t, s, False] for t, s in markdown_cells(rewrite_links(piece[position:match.start()], source))]
            if match.group(3):
                cells.append(["data cell", "", False])  # a placeholder that notebook_cells fills
            else:
                seed.append(len(cells))
                cells.append(["code", seed_cell(int(match.group(1))), bool(match.group(2))])
            position = match.end()
        cells += [[t, s, False] for t, s in markdown_cells(rewrite_links(piece[position:], source))]
    if seed:
        for index, code in zip(seed, apply_seed_edits([cells[i][1] for i in seed])):
            cells[index][1] = code
    return cells


def notebook_cells(sources):
    """The (cell type, source) list of a notebook, or None when an optional source is missing."""
    cells = []
    for source in sources:
        optional = source.endswith("?")
        source = source.rstrip("?")
        if optional and not (REPO / source).is_file():
            return None
        for kind, text, needs_mnist in page_cells(source):
            cells.append((kind, guarded(text) if needs_mnist else text, needs_mnist))
    data = [(kind, text) for kind, text, _ in page_cells(DATA_CELL)]
    places = [i for i, (kind, _, _) in enumerate(cells) if kind == "data cell"]
    if len(places) > 1:
        raise BuildError(f"{sources}: <!-- data cell --> may appear once in a notebook, found it {len(places)} times")
    first = next((i for i, (_, _, needs) in enumerate(cells) if needs), None)
    if not places and first is not None:
        while first > 0 and cells[first - 1][0] == "markdown":  # before the prose that leads to that block
            first -= 1
        places = [first]
        cells.insert(first, ("data cell", "", False))
    elif places and first is not None and first < places[0]:
        raise BuildError(f"{sources}: a block that needs MNIST comes before <!-- data cell -->, which sets HAVE_MNIST")
    out = []
    for kind, text, _ in cells:
        out += data if kind == "data cell" else [(kind, text)]
    return out


def to_json(name, cells):
    """The notebook as nbformat 4.5 JSON text, with stable cell ids (so rebuilding changes nothing)."""
    stem = name.rsplit(".", 1)[0]
    notebook = {
        "cells": [],
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    for number, (kind, text) in enumerate(cells):
        lines = text.split("\n")
        cell = {
            "cell_type": kind,
            "id": f"{stem[:40]}-{number}",
            "metadata": {},
            "source": [line + "\n" for line in lines[:-1]] + [lines[-1]],
        }
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        notebook["cells"].append(cell)
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def expected():
    """{file name: (cells, JSON text)} for every notebook whose sources exist."""
    out = {}
    for name, sources in NOTEBOOKS.items():
        cells = notebook_cells(sources)
        if cells is not None:
            out[name] = (cells, to_json(name, cells))
    return out


def cells_of(path):
    """(cell type, source) of a notebook file: what --check compares (outputs and metadata are not)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in notebook["cells"]]


def problems(folder):
    """What --check reports for the notebooks in ``folder``: missing, stale and left-over files."""
    wanted, found = expected(), {p.name for p in Path(folder).glob("*.ipynb")}
    report = [f"{name} is missing" for name in sorted(set(wanted) - found)]
    for name in sorted(set(wanted) & found):
        try:
            current = cells_of(Path(folder) / name)
        except (ValueError, KeyError, TypeError) as exc:
            report.append(f"{name} is not a readable notebook ({exc})")
            continue
        if current != wanted[name][0]:
            first = next((i for i, (a, b) in enumerate(zip(current, wanted[name][0])) if a != b), min(len(current), len(wanted[name][0])))
            report.append(f"{name} is stale (first difference at cell {first})")
    report += [f"{name} is not made by notebooks/build.py (remove it, or add it to NOTEBOOKS)" for name in sorted(found - set(wanted))]
    return report


def main(argv=None):
    """Write the notebooks (or, with --check, report those that differ); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is missing, stale or left over")
    parser.add_argument("--out", default=str(HERE), help="folder of the notebooks (default: notebooks/)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if args.check:
            report = problems(out)
            for line in report:
                print(f"notebooks: {line}; run python notebooks/build.py", file=sys.stderr)
            return 1 if report else 0
        out.mkdir(parents=True, exist_ok=True)
        for name, (_, text) in expected().items():
            path = out / name
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            path.write_text(text, encoding="utf-8")  # outputs saved from Jupyter are cleared too
            print(f"wrote {path}")
    except BuildError as exc:
        print(f"notebooks/build.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

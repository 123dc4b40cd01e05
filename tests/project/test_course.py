"""The course in course/: its chapters run, its exercise files are the solutions with blanks, and the grader's contract holds.

Grading every solution and every blank (``python course/check.py`` both ways)
is run by .ci/run itself; here are the checks that are quick.
"""
import os
import re
import subprocess
import sys

import pytest

from helpers import REPO, real_data_root

COURSE = REPO / "course"
CHAPTERS = sorted(COURSE.glob("[0-9][0-9]_*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path):
    return FENCE.findall(path.read_text(encoding="utf-8"))


@pytest.fixture
def course_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_runs(chapter, course_importable, monkeypatch, tmp_path):
    """Every ```python block of a chapter runs, in order, in one namespace, from a temporary folder."""
    if os.environ.get("NODE_REQUIRE_CUPY") == "1":
        pytest.skip("the CuPy pass (NODE_REQUIRE_CUPY=1) does not run the course's chapters again: they run on NumPy")
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__course__"}
    for number, block in enumerate(python_blocks(chapter), 1):
        if block.startswith("# needs real MNIST"):
            root = real_data_root()
            if root is None:
                pytest.skip(f"{chapter.name} block {number} needs the real MNIST files")
            monkeypatch.setenv("NODE_DATA", str(root))
        try:
            exec(compile(block, f"{chapter.name} (block {number})", "exec"), namespace)
        except Exception as exc:  # report which block failed, keep the original traceback
            raise AssertionError(f"{chapter.name}, code block {number} failed: {exc!r}") from exc
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_shows_what_happens(chapter):
    """A chapter's code prints or draws something; a block is never only asserts."""
    blocks = python_blocks(chapter)
    assert blocks, f"{chapter.name} has no code"
    for number, block in enumerate(blocks, 1):
        lines = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert not all(line.lstrip().startswith("assert") for line in lines), f"{chapter.name} block {number} only asserts: show the values"


def test_every_step_has_a_chapter_solution_exercise_and_checks():
    solutions = sorted(p.stem for p in (COURSE / "solutions").glob("step[0-9][0-9]_*.py"))
    assert len(solutions) >= 12, f"the course has {len(solutions)} steps"
    for stem in solutions:
        number = stem[4:6]
        assert (COURSE / "exercises" / f"{stem}.py").is_file(), f"course/exercises/{stem}.py is missing"
        assert (COURSE / "checks" / f"step{number}.py").is_file(), f"course/checks/step{number}.py is missing"
        assert list(COURSE.glob(f"{number}_*.md")), f"step {number} has no chapter course/{number}_*.md"


def test_exercise_files_are_the_solutions_with_blanks():
    result = subprocess.run([sys.executable, "course/make_exercises.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr + "\nrun python course/make_exercises.py"


def test_every_exercise_has_a_check():
    sys.path.insert(0, str(REPO))
    try:
        from course import check
    finally:
        sys.path.remove(str(REPO))
    total = 0
    for number, name in check.steps().items():
        exercises = check.exercises_of(name)
        assert exercises, f"step {number} has no exercise"
        assert [k for k, _ in exercises] == list(range(1, len(exercises) + 1)), f"step {number}'s exercises are not numbered 1, 2, ..."
        text = (COURSE / "checks" / f"step{number:02d}.py").read_text(encoding="utf-8")
        for k, _ in exercises:
            assert f"def exercise_{k}(" in text, f"course/checks/step{number:02d}.py has no exercise_{k}"
        total += len(exercises)
    assert total >= 30, f"the course has {total} exercises"


def test_grader_output_format(tmp_path):
    """One line per exercise, then the total; the exit status says whether anything failed."""
    result = subprocess.run([sys.executable, "course/check.py", "1", "--solutions"], cwd=REPO, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(re.fullmatch(r"step 01 exercise \d+ \(.+\): PASS", line) for line in lines[:-1]), lines
    assert re.fullmatch(r"course: (\d+) passed, 0 failed of \1 exercises", lines[-1]), lines[-1]
    blank = subprocess.run([sys.executable, "course/check.py", "1"], cwd=REPO, capture_output=True, text=True)
    assert blank.returncode == 1
    assert all(": FAIL: " in line and "Traceback" not in line for line in blank.stdout.strip().splitlines()[:-1]), blank.stdout
    wrong = subprocess.run([sys.executable, "course/check.py", "99"], cwd=REPO, capture_output=True, text=True)
    assert wrong.returncode == 2 and "no step 99" in wrong.stderr

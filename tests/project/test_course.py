"""The course in course/: its chapters run, its exercise files are the solutions with blanks, and the grader's contract holds.

Grading every solution and every blank (``python course/check.py`` both ways)
is run by .ci/run itself; here are the checks that are quick.
"""
import os
import re
import subprocess
import sys

import pytest

from helpers import REPO, asserts_without_showing, python_blocks, run_page_blocks

COURSE = REPO / "course"
CHAPTERS = sorted(COURSE.glob("[0-9][0-9]_*.md"))


@pytest.fixture
def course_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_runs(chapter, course_importable, monkeypatch, tmp_path):
    """Every ```python block of a chapter runs, in order, in one namespace, from a temporary folder."""
    if os.environ.get("NODE_REQUIRE_CUPY") == "1":
        pytest.skip("the CuPy pass (NODE_REQUIRE_CUPY=1) does not run the course's chapters again: they run on NumPy")
    run_page_blocks(chapter, monkeypatch, tmp_path)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_shows_what_happens(chapter):
    """A chapter has code, and a block that checks something with assert also shows it."""
    blocks = python_blocks(chapter)
    assert blocks, f"{chapter.name} has no code"
    silent = [number for number, block in enumerate(blocks, 1) if asserts_without_showing(block)]
    assert not silent, f"{chapter.name}: code block(s) {silent} check with assert but show nothing"


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

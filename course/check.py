"""Grade the course's exercises: one line per exercise, a total, exit 0 only when nothing failed.

    python course/check.py              # your exercises, course/exercises/, every step
    python course/check.py 5 6          # steps 5 and 6 only
    python course/check.py --solutions  # the reference solutions, course/solutions/

Run it from the repository root. Each step's exercises are graded with the
reference solutions of the steps before it, so that an unfinished step does
not fail the ones after it. When you run your own files
(``python -m course.exercises.step05_arrays``) they use your own earlier steps.

Every line reads ``step NN exercise K (<what it asks>): PASS`` or ``... FAIL:
<message>``; the message says what to write (a blank) or which value or
gradient is wrong.
"""
import argparse
import importlib
import importlib.util
import re
import signal
import sys
import time
import traceback
import types
from pathlib import Path

import numpy as np

COURSE = Path(__file__).resolve().parent
REPO = COURSE.parent
STEP_FILE = re.compile(r"^step(\d\d)_\w+\.py$")
MARKER = re.compile(r"^[ \t]*# --- exercise (\d+): (.+?) ---[ \t]*$", re.M)
SECONDS = 60  # one exercise's time limit: an endless loop in a walk should not hang the grader

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from course.grading import Wrong  # noqa: E402  (needs the repository root on sys.path)


def steps():
    """{step number: module name} for every step that has a reference solution."""
    found = {}
    for path in sorted((COURSE / "solutions").glob("step*.py")):
        match = STEP_FILE.match(path.name)
        if match:
            found[int(match.group(1))] = path.stem
    return found


def exercises_of(name):
    """[(number, what it asks)] from the markers in the reference solution of step ``name``."""
    text = (COURSE / "solutions" / f"{name}.py").read_text(encoding="utf-8")
    return [(int(number), what) for number, what in MARKER.findall(text)]


def load(name, folder):
    """Import ``course/<folder>/<name>.py`` in a package whose other modules are the reference solutions.

    Relative imports (``from .step02_scalar import Node``) in the file graded
    therefore reach the solutions of the earlier steps.
    """
    package = f"_graded_{folder}_{name}"
    for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
        del sys.modules[key]
    module = types.ModuleType(package)
    module.__path__ = [str(COURSE / "solutions")]
    sys.modules[package] = module
    spec = importlib.util.spec_from_file_location(f"{package}.{name}", COURSE / folder / f"{name}.py")
    step = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = step
    spec.loader.exec_module(step)
    return step


def where(exc, path):
    """' (course/exercises/stepNN_x.py line L)': the last line of the graded file in the traceback, if any."""
    lines = [frame for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename).resolve() == path.resolve()]
    return f" ({path.relative_to(REPO)} line {lines[-1].lineno})" if lines else ""


def message(exc, path):
    """One line for an exception raised while grading."""
    if isinstance(exc, Wrong):
        return str(exc)
    if isinstance(exc, NotImplementedError):
        return (str(exc) or f"something in {path.relative_to(REPO)} is not written yet") + where(exc, path)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"raised {type(exc).__name__}: {text}{where(exc, path)}"


class TimeLimit(Exception):
    """An exercise ran longer than SECONDS."""


def _alarm(signum, frame):
    raise TimeLimit


def run(check, step, seed):
    """Run one check under the time limit (where the platform has SIGALRM)."""
    limited = hasattr(signal, "SIGALRM")
    if limited:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(SECONDS)
    try:
        check(step, np.random.default_rng(seed))
    finally:
        if limited:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


def grade(number, name, folder, out):
    """Grade one step; return (passed, failed)."""
    path = COURSE / folder / f"{name}.py"
    exercises = exercises_of(name)
    try:
        checks = importlib.import_module(f"course.checks.step{number:02d}")
    except ModuleNotFoundError:
        checks = None
    try:
        step = load(name, folder)
        broken = None
    except Exception as exc:  # a learner's file that does not import fails every exercise of its step, with why
        step, broken = None, f"{path.relative_to(REPO)} does not import: {message(exc, path)}"
    passed = failed = 0
    for k, what in exercises:
        line = f"step {number:02d} exercise {k} ({what}): "
        check = getattr(checks, f"exercise_{k}", None) if checks else None
        if check is None:
            result = f"FAIL: course/checks/step{number:02d}.py has no exercise_{k} (a bug in the course)"
        elif broken:
            result = f"FAIL: {broken}"
        else:
            try:
                run(check, step, seed=1000 * number + k)
                result = "PASS"
            except TimeLimit:
                result = f"FAIL: took more than {SECONDS} s (an endless loop?)"
            except Exception as exc:  # every failure becomes one line with what went wrong
                result = "FAIL: " + message(exc, path)
        own = f"FAIL: step {number:02d} exercise {k} ({what}) "
        if result.startswith(own):  # a blank of this very exercise: the line already names it
            result = "FAIL: " + result[len(own):].removeprefix("is ")
        passed += result == "PASS"
        failed += result != "PASS"
        print(line + result, file=out, flush=True)
    return passed, failed


def main(argv=None):
    parser = argparse.ArgumentParser(description="Grade the course's exercises (run from the repository root).")
    parser.add_argument("steps", nargs="*", type=int, metavar="STEP", help="step numbers to grade (default: all)")
    parser.add_argument("--solutions", action="store_true", help="grade the reference solutions in course/solutions/ instead")
    parser.add_argument("--times", action="store_true", help="also print how long each step took")
    args = parser.parse_args(argv)
    known = steps()
    unknown = [s for s in args.steps if s not in known]
    if unknown:
        parser.error(f"no step {unknown[0]}: the course has steps {min(known)} to {max(known)}")
    folder = "solutions" if args.solutions else "exercises"
    passed = failed = 0
    for number in args.steps or sorted(known):
        start = time.perf_counter()
        p, f = grade(number, known[number], folder, sys.stdout)
        passed, failed = passed + p, failed + f
        if args.times:
            print(f"step {number:02d}: {time.perf_counter() - start:.2f} s")
    print(f"course: {passed} passed, {failed} failed of {passed + failed} exercises")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

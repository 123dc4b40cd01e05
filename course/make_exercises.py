"""Write the blank exercise files in course/exercises/ from the reference solutions.

    python course/make_exercises.py          # (re)write every exercise file
    python course/make_exercises.py --check  # exit 1 if an exercise file differs from what it would write

In a solution, an exercise is the code between two marker lines::

    # --- exercise 2: the gradient of f by central differences ---
    ...the reference code...
    # --- end of exercise 2 ---

Its exercise file has the same text with that code replaced by one line that
raises NotImplementedError with a message naming the step, the exercise and
what it asks, which is what course/check.py prints for a blank. So the two
files cannot drift apart: everything outside the blanks is shared.

Careful: the default mode overwrites your work in course/exercises/.
"""
import argparse
import re
import sys
from pathlib import Path

COURSE = Path(__file__).resolve().parent
BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)# --- exercise (?P<k>\d+): (?P<what>.+?) ---[ \t]*\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)# --- end of exercise (?P=k) ---[ \t]*$",
    re.S | re.M,
)


def blank(solution_text, step_file):
    """The exercise text for one solution file."""
    number = int(step_file[4:6])

    def replace(match):
        indent, k, what = match["indent"], match["k"], match["what"]
        text = f"step {number:02d} exercise {k} ({what}) is not written yet: write it here, in place of this line"
        return (
            f"{indent}# --- exercise {k}: {what} ---\n"
            f"{indent}raise NotImplementedError({text!r})\n"
            f"{indent}# --- end of exercise {k} ---"
        )

    return BLOCK.sub(replace, solution_text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report exercise files that are missing or differ")
    args = parser.parse_args(argv)
    stale = []
    for solution in sorted((COURSE / "solutions").glob("step*.py")):
        text = blank(solution.read_text(encoding="utf-8"), solution.name)
        target = COURSE / "exercises" / solution.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            stale.append(target)
            if not args.check:
                target.write_text(text, encoding="utf-8")
    for path in stale:
        print(("differs from its solution's blanks: " if args.check else "wrote ") + str(path.relative_to(COURSE.parent)))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())

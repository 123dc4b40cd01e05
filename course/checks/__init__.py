"""The checks that grade each step's exercises (run by course/check.py)."""

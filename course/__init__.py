"""The course: build an autograd engine of your own, step by step (see course/README.md)."""

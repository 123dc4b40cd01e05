"""Step 3: the automatic backward walk.

Step 2 called each Function's ``backward`` by hand, in the right order. Here
a loop finds that order itself: every Function, latest generation first, so
that a Function runs only after all the gradients of its outputs are summed.
No recursion, so a graph of 100,000 Functions is walked as easily as one of 3.

Run it: ``python -m course.exercises.step03_walk``.
"""
import heapq
import itertools


def accumulate(node, grad):
    """Add ``grad`` to ``node.grad``: set it when it is None, else sum (a Node used twice gets both gradients)."""
    # --- exercise 1: accumulate a gradient into a node ---
    raise NotImplementedError('step 03 exercise 1 (accumulate a gradient into a node) is not written yet: write it here, in place of this line')
    # --- end of exercise 1 ---


def functions_in_order(output):
    """Every Function that ``output`` depends on, each once, highest ``generation`` first.

    Start from ``output.creator`` and follow each Function's ``inputs`` to
    their creators (``None`` for a Node nobody made). Keep the Functions seen
    in a set (of ``id``s) so none is listed twice, and use a loop with a heap
    (``heapq``, ordered by ``-generation``) or a list sorted at the end: no
    recursion. Functions of the same generation may come in any order.
    """
    # --- exercise 2: every Function behind the output, latest generation first ---
    raise NotImplementedError('step 03 exercise 2 (every Function behind the output, latest generation first) is not written yet: write it here, in place of this line')
    # --- end of exercise 2 ---


def backward(output, grad=1.0):
    """Fill ``grad`` of every Node that ``output`` depends on with d(output)/d(node), scaled by ``grad``.

    Set ``output.grad = grad``, then for each Function of ``functions_in_order(output)``:
    collect its outputs' gradients (``[y().grad for y in f.outputs]``, the
    outputs are weak references), call ``f.backward`` with them, make the
    result a tuple if it is one value, and ``accumulate`` each into the matching input.
    """
    # --- exercise 3: the backward walk ---
    raise NotImplementedError('step 03 exercise 3 (the backward walk) is not written yet: write it here, in place of this line')
    # --- end of exercise 3 ---


if __name__ == "__main__":
    from .step02_scalar import Node, exp

    x = Node(0.5, name="x")
    a = x**2
    y = exp(a) + a  # a is used twice: its gradient is the sum of both uses
    backward(y)
    print("dy/dx:", x.grad, "(2x·e^(x²) + 2x =", 2 * 0.5 * 2.718281828459045**0.25 + 1.0, ")")
    leaf = z = Node(1.0, name="leaf")
    for _ in range(100_000):  # a chain far deeper than Python's recursion limit
        z = z * 1.00001
    backward(z)
    print("a chain of 100,000 Functions walked; d(output)/d(leaf):", leaf.grad, "(1.00001**100000 =", 1.00001**100_000, ")")

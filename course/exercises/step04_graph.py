"""Step 4: operators, constants and the graph's memory.

Step 2's Node already has Python's operators (``x * y + 2`` builds Mul and
Add Functions, and a plain number is wrapped as a constant Node). This step
adds what is needed to live with graphs:

* ``using_config`` and ``no_grad``: switch the recording of the graph off
  for a block (inference needs no graph, and keeping one costs memory);
* ``graph_of``: every Node and Function behind an output, found with a loop;
* ``to_dot``: the graph as Graphviz DOT text, to look at.

Run it: ``python -m course.exercises.step04_graph``.
"""
import contextlib

import numpy as np

from . import step02_scalar as scalar


@contextlib.contextmanager
def using_config(name, value):
    """Set ``scalar.config.<name>`` to ``value`` for the duration of a ``with`` block.

    Read the old value with ``getattr(scalar.config, name)``, set the new one
    with ``setattr``, ``yield``, and put the old value back in a ``finally:``
    so that it is restored even when the block raises. Set it on the
    ``config`` object (one per thread), never on its class ``Config`` (shared
    by every thread).
    """
    # --- exercise 1: using_config, a setting for the duration of a with block ---
    raise NotImplementedError('step 04 exercise 1 (using_config, a setting for the duration of a with block) is not written yet: write it here, in place of this line')
    # --- end of exercise 1 ---


def no_grad():
    """``with no_grad():`` computes without recording the graph (no ``creator``, no ``inputs``): for inference."""
    return using_config("enable_backprop", False)


def graph_of(output):
    """``(nodes, functions)``: every Node and every Function that ``output`` depends on, each once.

    Start with ``output`` on a stack (a list). Pop a Node; if it was not seen
    (keep a set of ``id``s), list it, and if its ``creator`` is a Function not
    seen yet, list that and push its ``inputs``. A loop, no recursion: a chain
    of 100,000 Functions must work. ``output`` comes first in ``nodes``; the
    rest may come in any order.
    """
    # --- exercise 2: graph_of, every Node and Function behind an output ---
    raise NotImplementedError('step 04 exercise 2 (graph_of, every Node and Function behind an output) is not written yet: write it here, in place of this line')
    # --- end of exercise 2 ---


def label_of(node):
    """A Node's label in a drawing: its name, else its value (a number) or its shape and dtype (an array)."""
    if node.name is not None:
        return str(node.name)
    data = node.data
    if isinstance(data, np.ndarray) and data.ndim > 0:
        return f"{data.shape} {data.dtype}"
    return f"{float(data):.4g}"


def to_dot(output):
    """The graph behind ``output`` as Graphviz DOT text (paste it into any DOT viewer, or ``dot -Tpng``).

    Take ``graph_of(output)`` and give every Node and Function an identifier
    (``f"n{i}"`` and ``f"f{i}"`` by position, or from ``id``). Write, inside
    ``digraph G {`` ... ``}``, one line per Node
    ``  n0 [label="<label_of(node)>", shape=ellipse];``, one line per Function
    ``  f0 [label="<its class name, type(f).__name__>", shape=box];``, and the
    arrows in the forward direction: ``  n1 -> f0;`` for every input of a
    Function (one arrow per input, so ``x * x`` draws two) and ``  f0 -> n0;``
    from each Node's ``creator`` to the Node. Return the text (a ``str``).
    """
    # --- exercise 3: to_dot, the graph as DOT text ---
    raise NotImplementedError('step 04 exercise 3 (to_dot, the graph as DOT text) is not written yet: write it here, in place of this line')
    # --- end of exercise 3 ---


if __name__ == "__main__":
    x = scalar.Node(0.5, name="x")
    y = scalar.exp(x**2) * 3 + 1  # the numbers 3 and 1 become constant Nodes
    y.name = "y"
    nodes, functions = graph_of(y)
    print(f"y = exp(x**2) * 3 + 1: {len(nodes)} Nodes, {len(functions)} Functions:",
          ", ".join(type(f).__name__ for f in functions))
    print(to_dot(y))
    with no_grad():
        z = scalar.exp(x**2) * 3 + 1
    print("under no_grad the same expression records nothing: z.creator =", z.creator)

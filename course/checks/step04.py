"""Grading of step 4: using_config and no_grad, graph_of, to_dot.

The graphs are built with step 2's reference Node and ops, from the same
package as the graded file, so that ``using_config`` changes the very
``config`` those Functions read.
"""
import importlib
import re
import sys
import threading

from course.grading import Wrong, expect, expect_equal, show

DEEP = 20_000  # far deeper than Python's recursion limit


def scalar_of(step):
    """Step 2's module in the package ``step`` was imported in (the reference solution when grading)."""
    return importlib.import_module(step.__name__.rpartition(".")[0] + ".step02_scalar")


class _Boom(Exception):
    """Raised inside a with block on purpose."""


def exercise_1(step, rng):
    scalar = scalar_of(step)
    config = scalar.config
    expect(config.enable_backprop is True, f"before any with block, config.enable_backprop should be True, got {config.enable_backprop!r}")
    with step.using_config("enable_backprop", False):
        inside = config.enable_backprop
        seen_by_thread = []
        thread = threading.Thread(target=lambda: seen_by_thread.append(config.enable_backprop))
        thread.start()
        thread.join()
    expect(inside is False, f"inside `with using_config('enable_backprop', False):` config.enable_backprop should be False, got {inside!r}")
    expect(config.enable_backprop is True, f"after the with block config.enable_backprop should be back to True, got {config.enable_backprop!r}")
    expect(seen_by_thread == [True],
           f"a thread started inside `with using_config('enable_backprop', False):` should see the default True, saw {show(seen_by_thread)}: "
           "set the attribute on the config object (one per thread), not on its class")
    try:
        with step.using_config("enable_backprop", False):
            raise _Boom
    except _Boom:
        pass
    expect(config.enable_backprop is True, "after a with block that raised, config.enable_backprop should be restored to True, "
                                           f"got {config.enable_backprop!r}: restore it in a finally: clause")
    with step.using_config("enable_backprop", False):
        with step.using_config("enable_backprop", True):
            nested = config.enable_backprop
        after_inner = config.enable_backprop
    expect(nested is True and after_inner is False,
           "nested using_config blocks: the inner one should set True and, on leaving, restore the outer one's False; "
           f"got {nested!r} inside and {after_inner!r} after the inner block")
    expect(config.enable_backprop is True, "after nested with blocks config.enable_backprop should be True again")
    # no_grad (given) is using_config("enable_backprop", False): Functions then record nothing.
    x = scalar.Node(float(rng.uniform(0.5, 1.5)), name="x")
    with step.no_grad():
        y = scalar.exp(x * x)
    expect(y.creator is None, f"under no_grad(), y = exp(x * x) should have no creator (nothing recorded), got {show(y.creator)}")
    expect(abs(y.data - 2.718281828459045 ** (x.data * x.data)) < 1e-9, f"under no_grad() the value is still computed: expected e^(x²), got {show(y.data)}")
    z = scalar.exp(x * x)
    expect(z.creator is not None, "after the no_grad() block, Functions should record again (z.creator is None)")


def _known_graph(scalar):
    """y = exp(a) + a * a - 2 * x with a = x * w: the Nodes (named) and Functions, as built."""
    x, w = scalar.Node(0.5, name="x"), scalar.Node(-1.5, name="w")
    a = x * w
    a.name = "a"
    b = scalar.exp(a)
    b.name = "b"
    c = a * a  # a used twice by one Function: two arrows from a to its box
    c.name = "c"
    d = b + c
    d.name = "d"
    e = 2.0 * x  # the constant 2.0 becomes a Node with no name
    e.name = "e"
    y = d - e
    y.name = "y"
    nodes = [x, w, a, b, c, d, e, y, e.creator.inputs[0]]
    functions = [a.creator, b.creator, c.creator, d.creator, e.creator, y.creator]
    return y, nodes, functions


def _check_graph(what, got, nodes, functions):
    expect(isinstance(got, tuple) and len(got) == 2, f"graph_of({what}) should return (nodes, functions), got {show(got)}")
    got_nodes, got_functions = got
    for kind, listed, expected in (("Nodes", got_nodes, nodes), ("Functions", got_functions, functions)):
        ids = [id(v) for v in listed]
        expect(len(set(ids)) == len(ids), f"graph_of({what}) lists some of its {kind} more than once: keep a set of the ids seen")
        expect_equal(f"graph_of({what}): number of {kind}", len(expected), len(listed))
        expect(set(ids) == {id(v) for v in expected}, f"graph_of({what}): the {kind} listed are not the graph's")


def exercise_2(step, rng):
    scalar = scalar_of(step)
    y, nodes, functions = _known_graph(scalar)
    got = step.graph_of(y)
    _check_graph("y = exp(a) + a*a - 2*x with a = x*w", got, nodes, functions)
    expect(got[0][0] is y, f"graph_of(y): the output y should come first in nodes, got {show(got[0][0])}")
    leaf = scalar.Node(1.0)
    _check_graph("a leaf Node", step.graph_of(leaf), [leaf], [])
    z = leaf
    chain_nodes, chain_functions = [leaf], []
    for _ in range(DEEP):
        z = -z
        chain_nodes.append(z)
        chain_functions.append(z.creator)
    try:
        got = step.graph_of(z)
    except RecursionError:
        raise Wrong(f"graph_of on a chain of {DEEP:,} Neg Functions raised RecursionError (Python's limit is "
                    f"{sys.getrecursionlimit()} nested calls): use a loop and a stack (a list), not recursion") from None
    _check_graph(f"a chain of {DEEP:,} Neg Functions", got, chain_nodes, chain_functions)


NODE_LINE = re.compile(r'^\s*(\w+)\s*\[label="((?:[^"\\]|\\.)*)",\s*shape=ellipse\s*\];\s*$', re.M)
FUNCTION_LINE = re.compile(r'^\s*(\w+)\s*\[label="((?:[^"\\]|\\.)*)",\s*shape=box\s*\];\s*$', re.M)
EDGE_LINE = re.compile(r"^\s*(\w+)\s*->\s*(\w+)\s*;\s*$", re.M)


def exercise_3(step, rng):
    scalar = scalar_of(step)
    y, nodes, functions = _known_graph(scalar)
    text = step.to_dot(y)
    expect(isinstance(text, str), f"to_dot(y) should return the DOT text, a str; got {type(text).__name__}")
    stripped = text.strip()
    expect(re.match(r"^digraph\s+\w*\s*\{", stripped) and stripped.endswith("}"),
           f"to_dot(y) should be 'digraph G {{ ... }}', got text starting {stripped[:40]!r} and ending {stripped[-20:]!r}")
    node_labels = dict(NODE_LINE.findall(text))
    function_labels = dict(FUNCTION_LINE.findall(text))
    expect_equal("to_dot(y = exp(a) + a*a - 2*x with a = x*w): Node lines `n0 [label=\"...\", shape=ellipse];`", len(nodes), len(node_labels))
    expect_equal("to_dot(y = exp(a) + a*a - 2*x with a = x*w): Function lines `f0 [label=\"...\", shape=box];`", len(functions), len(function_labels))
    expect(not set(node_labels) & set(function_labels), "to_dot: a Node and a Function share an identifier; give each its own")
    expected_labels = sorted(["x", "w", "a", "b", "c", "d", "e", "y", "2"])
    expect_equal("to_dot: the Nodes' labels, sorted (their names, and the value 2 for the unnamed constant)", expected_labels, sorted(node_labels.values()))
    expect_equal("to_dot: the Functions' labels, sorted (their class names)", sorted(type(f).__name__ for f in functions),
                 sorted(function_labels.values()))
    edges = EDGE_LINE.findall(text)
    for a, b in edges:
        expect((a in node_labels and b in function_labels) or (a in function_labels and b in node_labels),
               f"to_dot: the arrow {a} -> {b} should join a Node and a Function (an ellipse and a box) that have lines of their own")
    # Each Function as (class, sorted input labels with repeats, output labels): the arrows in and out of its box.
    drawn = []
    for f_id, name in function_labels.items():
        ins = sorted(node_labels[a] for a, b in edges if b == f_id)
        outs = sorted(node_labels[b] for a, b in edges if a == f_id)
        drawn.append((name, ins, outs))
    label = {id(v): (v.name if v.name is not None else "2") for v in nodes}
    expected = [(type(f).__name__, sorted(label[id(x)] for x in f.inputs), [label[id(f.outputs[0]())]]) for f in functions]
    for item in sorted(expected):
        if item not in drawn:
            near = [d for d in drawn if d[0] == item[0]]
            raise Wrong(f"to_dot: expected a {item[0]} box with arrows in from {item[1]} and out to {item[2]} "
                        f"(one arrow per input, in the forward direction); the {item[0]} boxes drawn have "
                        + "; ".join(f"in from {d[1]}, out to {d[2]}" for d in near))
    expect_equal("to_dot: the number of arrows (one per input of each Function, one from each Function to its output)",
                 sum(len(f.inputs) + 1 for f in functions), len(edges))

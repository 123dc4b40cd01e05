"""The computation graph as Graphviz DOT text (no Graphviz needed to produce it).

    print(node.to_dot(loss))                 # paste into any DOT viewer, or:
    dot -Tpng graph.dot -o graph.png          # with Graphviz installed

Nodes are ellipses labelled with their name (if any), shape and dtype;
functions are boxes; arrows follow the forward direction. The walk is
iterative, so graphs of any depth work.
"""
from .core import Node


def to_dot(output, show_values=False):
    """DOT text of the graph that produced ``output`` (a Node).

    Args:
        output: the Node to start from (a loss, usually).
        show_values: also print small values (up to 6 elements) in the labels.
    """
    if not isinstance(output, Node):
        raise TypeError(f"to_dot needs a Node, got {type(output).__name__}")
    lines = ["digraph node_graph {", '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];']
    ids = {}

    def ident(obj, prefix):
        if id(obj) not in ids:
            ids[id(obj)] = f"{prefix}{len(ids)}"
        return ids[id(obj)]

    def node_line(v):
        label = v.name + "\\n" if v.name else ""
        label += f"{v.shape} {v.dtype}"
        if show_values and v.size <= 6:
            label += "\\n" + " ".join(f"{float(a):.4g}" for a in v.numpy().reshape(-1))
        style = ', style=filled, fillcolor="#dbe9f6"' if v.creator is None and v.requires_grad else ""
        return f'  {ident(v, "v")} [label="{label}", shape=ellipse{style}];'

    seen_nodes, seen_functions = set(), set()
    stack = [output]
    while stack:
        v = stack.pop()
        if id(v) in seen_nodes:
            continue
        seen_nodes.add(id(v))
        lines.append(node_line(v))
        f = v.creator
        if f is None:
            continue
        if id(f) not in seen_functions:
            seen_functions.add(id(f))
            lines.append(f'  {ident(f, "f")} [label="{type(f).__name__}", shape=box, style=rounded];')
            for x in f.inputs or ():
                lines.append(f"  {ident(x, 'v')} -> {ident(f, 'f')};")
                stack.append(x)
        lines.append(f"  {ident(f, 'f')} -> {ident(v, 'v')};")
    lines.append("}")
    return "\n".join(lines) + "\n"

"""The computation graph as Graphviz DOT text, drawn inline in Jupyter.

    graph = node.to_dot(loss)                # DOT text (a str), no Graphviz needed
    print(graph)                             # paste into any DOT viewer, or:
    dot -Tpng graph.dot -o graph.png          # with Graphviz installed
    graph                                    # as a cell's last expression in Jupyter: a picture

Nodes are ellipses labelled with their name (if any), shape and dtype;
functions are boxes labelled with the op's class, and, when a fast kernel of
``node.kernels`` computed it, a second line naming that kernel
(``kernel: spectral``); arrows follow the forward direction. The walk is
iterative, so graphs of any depth work.

In Jupyter the graph is drawn as SVG by Graphviz's ``dot`` program, run as a
subprocess with a time limit, when it is installed; without it the cell shows
the DOT text and says why. Nothing here needs Graphviz to produce the text.
"""
import shutil

import numpy as np

from . import backend
from .core import Node

DOT_EXECUTABLE = "dot"  # Graphviz's layout program, looked up on PATH
DOT_TIMEOUT = 10.0  # seconds a drawing may take before it is given up
INSTALL_HINT = (
    "install Graphviz (apt install graphviz, brew install graphviz, conda install graphviz or "
    "https://graphviz.org/download/) and restart the kernel, or paste the text into any DOT viewer"
)


class DotGraph(str):
    """DOT text of a graph (a ``str``) that Jupyter displays as a picture.

    Everything a string does still works (``print``, ``in``, ``count``, writing
    it to a ``.dot`` file); ``svg()`` draws it with Graphviz, and Jupyter calls
    ``_repr_svg_`` to show it inline. Without Graphviz, Jupyter shows the DOT
    text with a note saying how to get the picture.
    """

    def svg(self, timeout=None):
        """The graph drawn as SVG text by Graphviz's ``dot`` (run as a subprocess).

        Args:
            timeout: seconds to wait for ``dot`` (default ``DOT_TIMEOUT``, 10).

        Returns:
            The SVG document as text (it starts with ``<?xml`` or ``<svg``).

        Raises:
            FileNotFoundError: ``dot`` is not installed (not on ``PATH``).
            RuntimeError: ``dot`` failed on the text or took longer than ``timeout``.
        """
        import subprocess  # here, not at the top: `import node` stays light

        timeout = DOT_TIMEOUT if timeout is None else timeout
        executable = shutil.which(DOT_EXECUTABLE)
        if executable is None:
            raise FileNotFoundError(f"Graphviz's {DOT_EXECUTABLE!r} program was not found on PATH: {INSTALL_HINT}")
        try:
            done = subprocess.run(
                [executable, "-Tsvg"], input=str(self).encode("utf-8"), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{executable} -Tsvg took longer than {timeout:g} s; the graph may be too large to draw") from None
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
            raise RuntimeError(f"{executable} -Tsvg failed: {message}")
        return done.stdout.decode("utf-8")

    def _drawn(self):
        """(svg, None) or (None, why not), computed once per graph: Jupyter asks for several formats."""
        cached = self.__dict__.get("_drawing")
        if cached is None:
            try:
                cached = (self.svg(), None)
            except (OSError, RuntimeError) as exc:
                cached = (None, str(exc))
            self.__dict__["_drawing"] = cached
        return cached

    def _repr_svg_(self):
        """The picture for Jupyter, or None (Jupyter then shows the text) when Graphviz cannot draw it."""
        return self._drawn()[0]

    def _repr_pretty_(self, p, cycle):
        """IPython's text form: the DOT text itself, after a note when no picture could be drawn."""
        svg, why = self._drawn()
        if svg is None:
            p.text(f"(DOT text shown: {why})\n")
        p.text(str(self))


def _escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(x):
    return f"{complex(x):.4g}" if np.iscomplexobj(x) else f"{float(x):.4g}"


def _summary(array):
    """Up to six values in full, else the mean, minimum and maximum (of the magnitude, for complex arrays)."""
    a = np.asarray(backend.asnumpy(getattr(array, "value", array)))  # .grad may be a Node (create_graph)
    if a.size == 0:
        return "(empty)"
    if a.size <= 6:
        return " ".join(_number(v) for v in a.reshape(-1))
    if np.iscomplexobj(a):
        a, kind = np.abs(a), "|·| "
    else:
        kind = ""
    return f"{kind}mean {_number(a.mean())}, min {_number(a.min())}, max {_number(a.max())}"


def to_dot(output, show_values=False, show_grad=False):
    """The graph that produced ``output`` (a Node) as DOT text, drawn inline in Jupyter.

    The result is a ``DotGraph``: a ``str`` holding the DOT text, which Jupyter
    displays as an SVG picture when Graphviz's ``dot`` is installed (and as the
    text, with a note, when it is not).

    Each function's box names its class and, on a second line, the fast
    kernel that computed its forward when one did (``f.kernel``, e.g.
    ``kernel: spectral``).

    ``show_values`` and ``show_grad`` label every Node as micrograd's
    ``draw_dot`` does, which makes the backward pass visible. ``backward()``
    frees the graph and keeps only the leaves' gradients, so to draw it with
    every gradient call ``loss.backward(retain_graph=True, retain_grad=True)``
    first; functions whose graph was freed are drawn dashed, without inputs.

    Args:
        output: the Node to start from (a loss, usually).
        show_values: also print each Node's value in its label: up to six
            elements in full, larger arrays as their mean, minimum and maximum.
        show_grad: also print each Node's ``.grad`` the same way ("grad None"
            where there is none).

    Returns:
        DotGraph: the DOT text (a ``str`` subclass).

    Raises:
        TypeError: ``output`` is not a Node.
    """
    if not isinstance(output, Node):
        raise TypeError(f"to_dot needs a Node, got {type(output).__name__}")
    lines = ["digraph node_graph {", '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];']
    ids = {}

    def ident(obj, prefix):
        if id(obj) not in ids:
            ids[id(obj)] = f"{prefix}{len(ids)}"
        return ids[id(obj)]

    seen_nodes, seen_functions = set(), set()
    stack = [output]
    while stack:
        v = stack.pop()
        if id(v) in seen_nodes:
            continue
        seen_nodes.add(id(v))
        lines.append(f'  {ident(v, "v")} [{_node_attributes(v, show_values, show_grad)}];')
        f = v.creator
        if f is None:
            continue
        if id(f) not in seen_functions:
            seen_functions.add(id(f))
            lines.append(f'  {ident(f, "f")} [{_function_attributes(f)}];')
            for x in f.inputs or ():
                lines.append(f"  {ident(x, 'v')} -> {ident(f, 'f')};")
                stack.append(x)
        lines.append(f"  {ident(f, 'f')} -> {ident(v, 'v')};")
    lines.append("}")
    return DotGraph("\n".join(lines) + "\n")


def _node_attributes(v, show_values, show_grad):
    """A Node's ellipse: name, shape and dtype, and what was asked for; leaves that want gradients shaded."""
    label = _escape(v.name) + "\\n" if v.name else ""
    label += f"{v.shape} {v.dtype}"
    if show_values:
        label += "\\n" + _escape(_summary(v.value))
    if show_grad:
        label += "\\ngrad " + ("None" if v.grad is None else _escape(_summary(v.grad)))
    style = ', style=filled, fillcolor="#dbe9f6"' if v.creator is None and v.requires_grad else ""
    return f'label="{label}", shape=ellipse{style}'


def _function_attributes(f):
    """A Function's box: its class and the kernel that ran, or dashed when backward() freed it."""
    if f.inputs is None:  # Function.release() after backward() dropped them
        return f'label="{_escape(type(f).__name__)}\\n(freed by backward)", shape=box, style="rounded,dashed"'
    label = _escape(type(f).__name__)
    if f.kernel is not None:
        label += f"\\nkernel: {_escape(f.kernel)}"
    return f'label="{label}", shape=box, style=rounded'

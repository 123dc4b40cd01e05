"""node.to_dot: the graph as Graphviz text."""
import re

import numpy as np
import pytest

import node


def test_dot_lists_every_node_and_function_once():
    x = node.Node(np.array([1.0, 2.0]), name="x")
    w = node.Node(np.array([0.5, -1.0]), name="w")
    loss = (x * w).sum() + (x * x).mean()
    text = node.to_dot(loss)
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    boxes = re.findall(r'label="(\w+)", shape=box', text)
    assert sorted(boxes) == ["Add", "Mean", "Mul", "Mul", "Sum"]
    assert len(re.findall(r"shape=ellipse", text)) == 7  # x, w, two products, two reductions, the sum
    assert text.count('label="x\\n(2,) float64"') == 1  # x is shared by two Muls but drawn once
    assert "fillcolor" in text  # leaves that want gradients are shaded


def test_dot_of_a_deep_graph_and_bad_input():
    y = node.Node(np.array(1.0))
    for _ in range(3000):
        y = y + 1
    assert node.to_dot(y).count("shape=box") == 3000
    with pytest.raises(TypeError, match="needs a Node"):
        node.to_dot(np.ones(2))


def _graph():
    x = node.Node(np.array([1.0, 2.0]), name="x")
    w = node.Node(np.array([0.5, -1.0]), name="w")
    loss = (x * w).sum() + (x * x).mean()
    loss.name = "loss"
    return x, w, loss


def test_dot_is_still_a_string():
    _, _, loss = _graph()
    graph = node.to_dot(loss)
    assert isinstance(graph, str) and isinstance(graph, node.dot.DotGraph)
    assert graph == str(graph) and "digraph" in graph and graph.startswith("digraph")
    assert type(graph + "") is str and f"{graph}" == str(graph)


def test_values_and_gradients_in_the_labels():
    x, w, loss = _graph()
    loss.backward(retain_graph=True, retain_grad=True)
    text = node.to_dot(loss, show_values=True, show_grad=True)
    assert 'label="x\\n(2,) float64\\n1 2\\ngrad 1.5 1"' in text  # w + x: two uses of x add up
    assert 'label="w\\n(2,) float64\\n0.5 -1\\ngrad 1 2"' in text
    assert 'label="loss\\n() float64\\n1\\ngrad 1"' in text
    big = node.Node(np.arange(10.0), name='a "quoted" name')
    text = node.to_dot(big.sum(), show_values=True, show_grad=True)
    assert 'a \\"quoted\\" name\\n(10,) float64\\nmean 4.5, min 0, max 9\\ngrad None' in text
    # backward() without retain_graph frees the graph: drawn as such, not silently cut off.
    y = (x * w).sum()
    y.backward()
    assert 'label="Sum\\n(freed by backward)", shape=box, style="rounded,dashed"' in node.to_dot(y)


def test_without_graphviz_jupyter_shows_the_dot_text(monkeypatch):
    monkeypatch.setattr(node.dot, "DOT_EXECUTABLE", "no-such-graphviz-dot")
    _, _, loss = _graph()
    graph = node.to_dot(loss)
    assert graph._repr_svg_() is None
    with pytest.raises(FileNotFoundError, match="'no-such-graphviz-dot' program was not found on PATH: install Graphviz"):
        graph.svg()


def test_without_graphviz_ipython_shows_the_text_with_a_note(monkeypatch):
    pretty = pytest.importorskip("IPython.lib.pretty", reason="IPython (the notebook extra) is not installed")
    monkeypatch.setattr(node.dot, "DOT_EXECUTABLE", "no-such-graphviz-dot")
    _, _, loss = _graph()
    graph = node.to_dot(loss)
    text = pretty.pretty(graph)
    assert text.startswith("(DOT text shown: Graphviz's 'no-such-graphviz-dot' program was not found")
    assert text.endswith(str(graph)) and "digraph node_graph {" in text
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(graph)
    assert sorted(data) == ["text/plain"] and data["text/plain"] == text


def test_a_failing_or_slow_dot_is_reported(monkeypatch, tmp_path):
    import os
    import sys

    if os.name != "posix":
        pytest.skip("the stand-in for dot is a shell script")
    fake = tmp_path / "fake-dot"
    fake.write_text("#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(node.dot, "DOT_EXECUTABLE", str(fake))
    _, _, loss = _graph()
    with pytest.raises(RuntimeError, match="failed: syntax error in line 1"):
        node.to_dot(loss).svg()
    slow = tmp_path / "slow-dot"
    slow.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import time; time.sleep(30)'\n")
    slow.chmod(0o755)
    monkeypatch.setattr(node.dot, "DOT_EXECUTABLE", str(slow))
    graph = node.to_dot(loss)
    with pytest.raises(RuntimeError, match="took longer than 0.5 s"):
        graph.svg(timeout=0.5)


def test_with_graphviz_jupyter_shows_a_picture():
    import shutil

    if shutil.which(node.dot.DOT_EXECUTABLE) is None:
        pytest.skip("Graphviz's dot is not installed (the fallback is tested above)")
    x, _, loss = _graph()
    graph = node.to_dot(loss, show_values=True)
    svg = graph._repr_svg_()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in svg
    assert ">Mul<" in svg and ">x<" in svg
    assert graph._repr_svg_() is svg  # drawn once, however many formats Jupyter asks for


class Triple(node.Function):
    """A throw-away op with a kernel of its own, for the label test below."""

    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        return 3 * gy


class TripleBySums(node.dispatch.Kernel):
    name = "sums"

    def applies(self, f, x):
        return x.size > 1

    def forward(self, f, x):
        return x + x + x


node.dispatch.register_kernel(Triple, TripleBySums())


@pytest.mark.kernels
def test_a_function_box_names_the_kernel_that_ran():
    x = node.Node(np.array([1.0, 2.0]), name="x")
    text = node.to_dot(Triple()(x).sum())
    assert 'label="Triple\\nkernel: sums", shape=box' in text
    assert 'label="Sum", shape=box' in text  # no kernel ran: one line
    with node.using_config("kernels", "reference"):
        text = node.to_dot(Triple()(x).sum())
    assert 'label="Triple", shape=box' in text and "kernel:" not in text
    one = node.Node(np.array([1.0]))
    assert 'label="Triple", shape=box' in node.to_dot(Triple()(one))  # the kernel does not apply

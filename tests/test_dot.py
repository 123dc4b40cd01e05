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

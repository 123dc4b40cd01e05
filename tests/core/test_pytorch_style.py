"""PyTorch's way of writing a Function (ctx, @staticmethod, .apply) is refused with node's way in the message (issue 23)."""
import numpy as np
import pytest

import node

NODE_WAY = [
    "a node Function has no ctx and is called as an instance",
    "def forward(self, x):",
    "def backward(self, gy):",
    "(x,) = self.saved_inputs()",
    "docs/autograd.md",
]


def assert_shows_node_way(message, name):
    for part in NODE_WAY + [f"class {name}(node.Function):", f"call it as {name}()(x), not {name}.apply(x)"]:
        assert part in message, (part, message)


def test_apply_is_refused_with_the_instance_call():
    class Double(node.Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            return 2 * gy

    with pytest.raises(TypeError, match=r"^Double\.apply\(\.\.\.\) is PyTorch's call; ") as error:
        Double.apply(node.Node(np.ones(2)))
    assert_shows_node_way(str(error.value), "Double")
    np.testing.assert_array_equal(Double()(node.Node(np.ones(2))).value, [2.0, 2.0])  # node's way works


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_a_staticmethod_with_ctx_is_refused_when_the_class_is_written(method):
    body = {
        "forward": staticmethod(lambda ctx, x: x) if method == "forward" else (lambda self, x: x),
        "backward": staticmethod(lambda ctx, gy: gy) if method == "backward" else (lambda self, gy: gy),
    }
    with pytest.raises(TypeError, match=rf"^Square\.{method} is a @staticmethod taking ctx, as in PyTorch; ") as error:
        type("Square", (node.Function,), body)
    assert_shows_node_way(str(error.value), "Square")


def test_the_pytorch_class_as_written_is_refused_at_definition():
    with pytest.raises(TypeError, match=r"^MyReLU\.forward is a @staticmethod taking ctx") as error:

        class MyReLU(node.Function):  # the PyTorch tutorial's example, unchanged
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.clamp(min=0)

            @staticmethod
            def backward(ctx, gy):
                (x,) = ctx.saved_tensors
                return gy * (x > 0)

    assert_shows_node_way(str(error.value), "MyReLU")


def test_ctx_methods_are_refused_with_node_way():
    class Saves(node.Function):
        def forward(ctx, x):  # not static, so ctx is self: then save_for_backward is what fails
            ctx.save_for_backward(x)
            return x

    with pytest.raises(TypeError, match=r"^save_for_backward is PyTorch's ctx method; ") as error:
        Saves()(node.Node(np.ones(2)))
    assert_shows_node_way(str(error.value), "Saves")

    class Reads(node.Function):
        def forward(self, x):
            return x * x

        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return 2 * x * gy

    y = Reads()(node.Node(np.ones(2)))
    with pytest.raises(TypeError, match=r"^saved_tensors is PyTorch's ctx attribute; ") as error:
        y.sum().backward()
    assert_shows_node_way(str(error.value), "Reads")


def test_a_staticmethod_without_ctx_and_ordinary_functions_are_left_alone():
    class Plain(node.Function):
        @staticmethod
        def forward(x):
            return x + 1

        def backward(self, gy):
            return gy

    np.testing.assert_array_equal(Plain()(node.Node(np.zeros(2))).value, [1.0, 1.0])

"""gradcheck and gradgradcheck take node's form, gradcheck(fn, x, y), and PyTorch's, gradcheck(fn, (x, y)) (issue 23)."""
import numpy as np
import pytest

import node


class WrongSecondInputGradient(node.Function):
    """x·y with the gradient for y off by a factor of 2 (the one for x is right)."""

    def forward(self, x, y):
        return x * y

    def backward(self, gy):
        x, y = self.saved_inputs()
        return gy * y, 2 * gy * x


def product(x, y):
    return (x * y).tanh()


def inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 3)), rng.standard_normal((2, 3))


@pytest.mark.parametrize("check", [node.gradcheck, node.gradgradcheck])
@pytest.mark.parametrize("form", ["node", "tuple", "list", "nodes-in-tuple"])
def test_both_calling_forms_check_each_input(check, form):
    x, y = inputs()
    calls = []

    def fn(a, b):
        calls.append((a.shape, b.shape))
        return product(a, b)

    args = {"node": (x, y), "tuple": ((x, y),), "list": ([x, y],), "nodes-in-tuple": ((node.Node(x), node.Node(y)),)}[form]
    assert check(fn, *args) is True
    assert set(calls) == {((2, 3), (2, 3))}  # fn got two inputs each time, never one packed array


@pytest.mark.parametrize("form", ["node", "tuple"])
def test_a_wrong_gradient_is_caught_in_either_form(form):
    x, y = inputs()
    fn = lambda a, b: WrongSecondInputGradient()(a, b)
    args = (x, y) if form == "node" else ((x, y),)
    with pytest.raises(AssertionError, match=r"^gradcheck: input 1 \(shape \(2, 3\)\), index \(0, 0\): analytic"):
        node.gradcheck(fn, *args)


def test_a_wrong_second_derivative_is_caught_in_the_tuple_form():
    class ConstantInBackward(node.Function):
        """x², whose backward reads x's array: right first derivative, but x is a constant to the second."""

        differentiable_backward = True

        def forward(self, x):
            return x * x

        def backward(self, gy):
            (x,) = self.saved_inputs()
            return 2 * node.Node(getattr(x, "value", x), requires_grad=False) * gy

    x = np.random.default_rng(1).standard_normal(4)
    assert node.gradcheck(lambda a: ConstantInBackward()(a), (x,))
    with pytest.raises(AssertionError, match=r"^gradgradcheck: input 0 \(shape \(4,\)\), index \(0,\): analytic"):
        node.gradgradcheck(lambda a: ConstantInBackward()(a), (x,))


def test_a_list_of_numbers_is_still_one_input():
    seen = []

    def fn(a):
        seen.append(a.shape)
        return (a * a).sum()

    assert node.gradcheck(fn, [1.0, 2.0, 3.0])
    assert node.gradcheck(fn, (1.0, 2.0))
    assert set(seen) == {(3,), (2,)}


def test_the_tuple_form_passes_labels_and_constants_through():
    rng = np.random.default_rng(2)
    scores, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    assert node.gradcheck(lambda s, t: node.functions.cross_entropy(s, t), (scores, labels))

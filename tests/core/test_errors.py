"""Bad input gets a clear error naming the problem, raised at the boundary."""
import contextlib

import numpy as np
import pytest

import node


def test_matmul_shape_mismatch_names_both_shapes(xp):
    a, b = node.Node(xp.ones((3, 4))), node.Node(xp.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\)"):
        a @ b
    with pytest.raises(ValueError, match="at least one dimension"):
        a @ node.Node(xp.asarray(2.0))


def test_elementwise_shape_mismatch(xp):
    a, b = node.Node(xp.ones((3, 4))), node.Node(xp.ones((2, 4)))
    for op in (lambda: a + b, lambda: a - b, lambda: a * b, lambda: a / b):
        with pytest.raises(ValueError, match=r"\(3, 4\) and \(2, 4\) cannot be broadcast"):
            op()


def test_non_scalar_backward_without_gradient(xp):
    y = node.Node(xp.ones(3)) * 2
    with pytest.raises(node.GraphError, match=r"shape \(3,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\)"):
        y.backward(xp.ones(2))


@pytest.mark.parametrize("labels_on", ["host", "device"])
def test_labels_out_of_range(xp, labels_on):
    """Host labels are always range-checked; labels already on the GPU when check_device_labels is on."""
    logits = node.Node(xp.zeros((3, 10)))
    put = np.asarray if labels_on == "host" else xp.asarray
    checks = node.using_config("check_device_labels", True) if labels_on == "device" else contextlib.nullcontext()
    with checks:
        for loss in (logits.softmax_with_cross_entropy, lambda t: node.functions.nll_loss(logits, t)):
            with pytest.raises(ValueError, match="label 12 is out of range for 10 classes"):
                loss(put([1, 12, 3]))
            with pytest.raises(ValueError, match="label -1 is out of range"):
                loss(put([1, -1, 3]))
        with pytest.raises(ValueError, match="CenterLoss: label 10 is out of range for 10 classes"):
            node.CenterLoss(10, 2)(xp.zeros((3, 2)), put([1, 10, 3]))
        with pytest.raises(ValueError, match=r"integer labels must have shape \(3,\)"):
            logits.softmax_with_cross_entropy(put([1, 2]))


def test_one_hot_of_wrong_shape(xp):
    logits = node.Node(xp.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"one-hot target of shape \(3, 9\) does not match scores of shape \(3, 10\)"):
        logits.softmax_with_cross_entropy(xp.zeros((3, 9)))
    with pytest.raises(ValueError, match="integer labels need an integer dtype"):
        logits.softmax_with_cross_entropy(xp.asarray([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"scores of shape \(batch, classes\)"):
        node.Node(xp.zeros(10)).softmax_with_cross_entropy(xp.asarray([1]))


def test_huge_logits_stay_finite_and_correct(xp):
    logits = xp.asarray([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [5e3, 5e3, -1e4]], dtype="float32")
    x = node.Node(logits)
    loss = x.softmax_with_cross_entropy(xp.asarray([1, 2, 0]))
    loss.backward()
    # Reference: row 0 pays 2e4 (label 1 sits 2e4 below the max), row 1 pays 0, row 2 pays log 2.
    assert float(loss.value) == pytest.approx((2e4 + 0 + np.log(2)) / 3, rel=1e-6)
    grad = node.asnumpy(x.grad)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, np.array([[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]]) / 3, atol=1e-6)
    assert np.isfinite(node.asnumpy(x.log_softmax().value)).all()
    assert np.isfinite(node.asnumpy(x.softmax().value)).all()
    assert np.isfinite(node.asnumpy(x.sigmoid().value)).all()


def test_bad_reshape_transpose_index_axis(xp):
    x = node.Node(xp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\) into \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        x.transpose((0, 0))  # a tuple is a permutation; two ints swap two axes, as torch
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        x.sum(axis=2)


def test_mse_shapes_and_custom_function_gradient_shape(xp):
    with pytest.raises(ValueError, match=r"input shape \(2,\) and target shape \(3,\)"):
        node.Node(xp.ones(2)).mean_squared_error(xp.ones(3))

    class BadShape(node.Function):
        def forward(self, v):
            return v * 2

        def backward(self, gy):
            return gy.sum()

    with pytest.raises(node.GraphError, match=r"BadShape.backward returned a gradient of shape \(\) for an input of shape \(3,\)"):
        BadShape()(node.Node(xp.ones(3))).sum().backward()


def test_function_without_backward_says_so(xp):
    class NoBackward(node.Function):
        def forward(self, v):
            return v

    with pytest.raises(NotImplementedError, match="NoBackward.backward"):
        NoBackward()(node.Node(xp.ones(2))).sum().backward()

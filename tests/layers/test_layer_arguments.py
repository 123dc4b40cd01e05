"""Layer constructors check their arguments when the layer is made (issue 25, area 4).

One table of bad calls: each must raise the exception named, with a message
of node.validation's form ("Class: argument must be ..., got value"), before
any weight is drawn. A second table holds edge cases that must still work,
checked on what they build, not only that nothing raised.
"""
import numpy as np
import pytest

import node

BAD = [
    # Linear: sizes are integers >= 1
    (lambda: node.Linear(0, 3), ValueError, r"^Linear: in_features must be an integer >= 1, got 0$"),
    (lambda: node.Linear(-2, 3), ValueError, r"^Linear: in_features must be an integer >= 1, got -2$"),
    (lambda: node.Linear(3, 0), ValueError, r"^Linear: out_features must be an integer >= 1, got 0$"),
    (lambda: node.Linear(3.5, 2), TypeError, r"^Linear: in_features must be an integer >= 1, got float 3\.5$"),
    (lambda: node.Linear(3.0, 2), TypeError, r"^Linear: in_features must be an integer >= 1, got float 3\.0$"),
    (lambda: node.Linear("3", 2), TypeError, r"^Linear: in_features must be an integer >= 1, got str '3'$"),
    (lambda: node.Linear(None, 2), TypeError, r"^Linear: in_features must be an integer >= 1, got NoneType None$"),
    (lambda: node.Linear(True, 2), TypeError, r"^Linear: in_features must be an integer >= 1, got bool True$"),
    (lambda: node.Linear(2, (3,)), TypeError, r"^Linear: out_features must be an integer >= 1, got tuple \(3,\)$"),
    (lambda: node.Linear(2, 3, bias="no"), TypeError, r"^Linear: bias must be True or False, got str 'no'$"),
    (lambda: node.Linear(2, 3, dtype="int32"), ValueError, r"^Linear: dtype must be a floating-point dtype .*, got int32$"),
    (lambda: node.Linear(2, 3, dtype=np.complex128), ValueError, r"^Linear: dtype must be a floating-point dtype .*, got complex128$"),
    (lambda: node.Linear(2, 3, dtype="floot32"), TypeError, r"^Linear: dtype must be a floating-point dtype .*, got 'floot32'$"),
    # Conv2d: channels and kernel >= 1, stride >= 1, padding >= 0 (integers or pairs: tests/layers/test_conv_options.py)
    (lambda: node.Conv2d(0, 4, 3), ValueError, r"^Conv2d: in_channels must be an integer >= 1, got 0$"),
    (lambda: node.Conv2d(1, -4, 3), ValueError, r"^Conv2d: out_channels must be an integer >= 1, got -4$"),
    (lambda: node.Conv2d(1, 4, 0), ValueError, r"^Conv2d: kernel_size must be an integer >= 1, got 0$"),
    (lambda: node.Conv2d(1, 4, 2.5), TypeError, r"^Conv2d: kernel_size must be an integer >= 1 or a pair of them, got float 2\.5$"),
    (lambda: node.Conv2d(1, 4, [3]), TypeError, r"^Conv2d: kernel_size must be a pair of integers >= 1, got \[3\]$"),
    (lambda: node.Conv2d(1, 4, 3, stride=0), ValueError, r"^Conv2d: stride must be an integer >= 1, got 0$"),
    (lambda: node.Conv2d(1, 4, 3, stride=-1), ValueError, r"^Conv2d: stride must be an integer >= 1, got -1$"),
    (lambda: node.Conv2d(1, 4, 3, padding=-1), ValueError, r"^Conv2d: padding must be an integer >= 0, got -1$"),
    (lambda: node.Conv2d(1, 4, 3, padding=None), TypeError, r"^Conv2d: padding must be an integer >= 0 or a pair of them, got NoneType None$"),
    (lambda: node.Conv2d(1, 4, 3, dtype="uint8"), ValueError, r"^Conv2d: dtype must be a floating-point dtype"),
    # Pooling: kernel and stride >= 1, padding in [0, kernel_size // 2]
    (lambda: node.MaxPool2d(0), ValueError, r"^MaxPool2d: kernel_size must be an integer >= 1, got 0$"),
    (lambda: node.MaxPool2d(2, stride=0), ValueError, r"^MaxPool2d: stride must be an integer >= 1, got 0$"),
    (lambda: node.MaxPool2d(2, padding=-1), ValueError, r"^MaxPool2d: padding must be an integer in \[0, 1\], got -1$"),
    (lambda: node.MaxPool2d(2, padding=2), ValueError, r"^MaxPool2d: padding must be an integer in \[0, 1\], got 2$"),
    (lambda: node.MaxPool2d(2.0), TypeError, r"^MaxPool2d: kernel_size must be an integer >= 1 or a pair of them, got float 2\.0$"),
    (lambda: node.AvgPool2d(2, stride=-1), ValueError, r"^AvgPool2d: stride must be an integer >= 1, got -1$"),
    (lambda: node.AvgPool2d(-3), ValueError, r"^AvgPool2d: kernel_size must be an integer >= 1, got -3$"),
    # BatchNorm: num_features >= 1, eps > 0, momentum in [0, 1]
    (lambda: node.BatchNorm1d(0), ValueError, r"^BatchNorm1d: num_features must be an integer >= 1, got 0$"),
    (lambda: node.BatchNorm2d(4.0), TypeError, r"^BatchNorm2d: num_features must be an integer >= 1, got float 4\.0$"),
    (lambda: node.BatchNorm1d(4, eps=-1), ValueError, r"^BatchNorm1d: eps must be a finite number > 0, got -1\.0$"),
    (lambda: node.BatchNorm1d(4, eps=0), ValueError, r"^BatchNorm1d: eps must be a finite number > 0, got 0\.0$"),
    (lambda: node.BatchNorm2d(4, eps=float("nan")), ValueError, r"^BatchNorm2d: eps must be a finite number > 0, got nan$"),
    (lambda: node.BatchNorm1d(4, momentum=2), ValueError, r"^BatchNorm1d: momentum must be a finite number in \[0, 1\], got 2\.0$"),
    (lambda: node.BatchNorm2d(4, momentum=-0.1), ValueError, r"^BatchNorm2d: momentum must be a finite number in \[0, 1\], got -0\.1$"),
    (lambda: node.BatchNorm2d(4, momentum=None), TypeError, r"^BatchNorm2d: momentum must be a finite number in \[0, 1\], got NoneType None$"),
    (lambda: node.BatchNorm1d(4, dtype="int64"), ValueError, r"^BatchNorm1d: dtype must be a floating-point dtype"),
    # Activations and Dropout
    (lambda: node.PReLU(0), ValueError, r"^PReLU: num_parameters must be an integer >= 1, got 0$"),
    (lambda: node.PReLU(2.5), TypeError, r"^PReLU: num_parameters must be an integer >= 1, got float 2\.5$"),
    (lambda: node.PReLU(3, init=float("inf")), ValueError, r"^PReLU: init must be a finite number, got inf$"),
    (lambda: node.PReLU(3, init="0.25"), TypeError, r"^PReLU: init must be a finite number, got str '0\.25'$"),
    (lambda: node.LeakyReLU(float("nan")), ValueError, r"^LeakyReLU: slope must be a finite number, got nan$"),
    (lambda: node.LeakyReLU(None), TypeError, r"^LeakyReLU: slope must be a finite number, got NoneType None$"),
    (lambda: node.Softmax(1.0), TypeError, r"^Softmax: axis must be an integer, got float 1\.0$"),
    (lambda: node.LogSoftmax("last"), TypeError, r"^LogSoftmax: axis must be an integer, got str 'last'$"),
    (lambda: node.Dropout(1), ValueError, r"^Dropout: p must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.Dropout(-0.1), ValueError, r"^Dropout: p must be a finite number in \[0, 1\), got -0\.1$"),
    (lambda: node.Dropout(float("nan")), ValueError, r"^Dropout: p must be a finite number in \[0, 1\), got nan$"),
    (lambda: node.Dropout("0.5"), TypeError, r"^Dropout: p must be a finite number in \[0, 1\), got str '0\.5'$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_constructor_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


def out_shape(layer, shape, dtype=np.float64):
    return layer(node.Node(np.ones(shape, dtype))).shape


GOOD = [
    # (constructor, check of what it built)
    (lambda: node.Linear(1, 1, rng=0), lambda layer: layer.W.shape == (1, 1) and out_shape(layer, (2, 1)) == (2, 1)),
    (lambda: node.Linear(np.int64(3), np.int32(2), rng=0), lambda layer: layer.W.shape == (3, 2) and type(layer.in_features) is int),
    (lambda: node.Linear(3, 2, bias=np.bool_(False), rng=0), lambda layer: layer.b is None),
    (lambda: node.Linear(3, 2, rng=0, dtype="float64"), lambda layer: layer.W.dtype == np.float64),
    (lambda: node.Linear(3, 2, rng=0, dtype=np.float16), lambda layer: layer.W.dtype == np.float16),
    (lambda: node.Conv2d(1, 1, 1, rng=0), lambda layer: out_shape(layer, (1, 1, 3, 3)) == (1, 1, 3, 3)),
    (lambda: node.Conv2d(1, 2, 3, stride=2, padding=1, rng=0), lambda layer: out_shape(layer, (1, 1, 5, 5)) == (1, 2, 3, 3)),
    (lambda: node.MaxPool2d(1), lambda layer: out_shape(layer, (1, 1, 2, 2)) == (1, 1, 2, 2)),
    (lambda: node.MaxPool2d(3, stride=1, padding=1), lambda layer: out_shape(layer, (1, 1, 4, 4)) == (1, 1, 4, 4)),
    (lambda: node.AvgPool2d(2, stride=None), lambda layer: layer.stride == (2, 2) and out_shape(layer, (1, 1, 4, 4)) == (1, 1, 2, 2)),
    (lambda: node.BatchNorm1d(2, momentum=0), lambda layer: layer.momentum == 0 and out_shape(layer, (3, 2), np.float32) == (3, 2)),
    (lambda: node.BatchNorm1d(2, momentum=1), lambda layer: layer.momentum == 1 and out_shape(layer, (3, 2), np.float32) == (3, 2)),
    (lambda: node.BatchNorm2d(1, eps=1e-12), lambda layer: layer.eps == 1e-12),
    (lambda: node.PReLU(1, init=0), lambda layer: float(layer.slope.value[0]) == 0),
    (lambda: node.PReLU(4, init=-1), lambda layer: layer.slope.shape == (4,) and float(layer.slope.value[3]) == -1),
    (lambda: node.LeakyReLU(0), lambda layer: layer(node.Node(np.array([-2.0, 3.0]))).value.tolist() == [0, 3]),
    (lambda: node.Softmax(np.int64(0)), lambda layer: layer.axis == 0),
    (lambda: node.Dropout(0), lambda layer: layer(node.Node(np.ones(4))).value.tolist() == [1, 1, 1, 1]),
    (lambda: node.Dropout(0.999, rng=0), lambda layer: layer.p == 0.999),
]


@pytest.mark.parametrize("make, check", GOOD, ids=[f"good{i}" for i in range(len(GOOD))])
def test_edge_cases_still_build_working_layers(make, check):
    assert check(make())


def test_a_refused_construction_draws_nothing_from_the_generator():
    """The checks run before the weights are drawn: a shared generator is left where it was."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        node.Linear(3, 0, rng=rng)
    with pytest.raises(ValueError):
        node.Conv2d(1, 4, 3, stride=0, rng=rng)
    assert rng.random() == np.random.default_rng(0).random()

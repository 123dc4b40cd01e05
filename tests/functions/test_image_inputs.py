"""Ops that take a batch of images (N, C, H, W) say how to get one from flattened images or a single image (issue 23)."""
import numpy as np
import pytest

import node

OPS = [
    ("conv2d", lambda x: node.functions.conv2d(x, np.ones((4, 1, 3, 3)))),
    ("conv2d", lambda x: node.Conv2d(1, 4, 3)(x)),
    ("max_pool2d", lambda x: node.functions.max_pool2d(x, 2)),
    ("avg_pool2d", lambda x: node.functions.avg_pool2d(x, 2)),
    ("global_avg_pool2d", lambda x: node.functions.global_avg_pool2d(x)),
]


@pytest.mark.parametrize("name, op", OPS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(OPS)])
def test_flattened_mnist_images_get_the_flatten_false_hint(name, op):
    with pytest.raises(ValueError, match=(
        rf"^{name}: expected input of shape \(N, C, H, W\), got \(64, 784\)\. Flattened images\? Reshape them to \(N, C, H, W\), "
        r"x\.reshape\(64, 1, 28, 28\) for MNIST's 784 pixels, or load MNIST unflattened: node\.MNIST\(\.\.\., flatten=False\) gives \(N, 1, 28, 28\)$"
    )):
        op(np.ones((64, 784)))


@pytest.mark.parametrize("name, op", OPS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(OPS)])
def test_other_shapes_get_their_own_hint_or_none(name, op):
    with pytest.raises(ValueError, match=rf"^{name}: expected input of shape \(N, C, H, W\), got \(8, 12\)\. Flattened images\? Reshape them to \(N, C, H, W\), or load MNIST"):
        op(np.ones((8, 12)))
    with pytest.raises(ValueError, match=rf"^{name}: expected input of shape \(N, C, H, W\), got \(1, 28, 28\)\. One image \(C, H, W\)\? Add the batch axis: x\.reshape\(1, 1, 28, 28\)$"):
        op(np.ones((1, 28, 28)))
    with pytest.raises(ValueError, match=rf"^{name}: expected input of shape \(N, C, H, W\), got \(2, 1, 1, 28, 28\)$"):
        op(np.ones((2, 1, 1, 28, 28)))

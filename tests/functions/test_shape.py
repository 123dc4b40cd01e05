"""Shape ops with PyTorch's names: the semantics chosen where PyTorch and NumPy differ, and refused arguments.

Values and gradients are in the op table; here are squeeze on an axis that
is not 1 long, transpose with two axes, tile against Node.repeat, split and
chunk's pieces, flatten's axes, and the error messages.
"""
import numpy as np
import pytest

import node
import node.functions as F

A = np.arange(24.0).reshape(2, 3, 4)


def test_squeeze_leaves_an_axis_that_is_not_1_long_as_pytorch():
    x = node.Node(np.ones((2, 1, 3, 1)))
    assert F.squeeze(x, 0).shape == (2, 1, 3, 1)
    assert F.squeeze(x, (0, 1)).shape == (2, 3, 1)
    assert x.squeeze().shape == (2, 3)
    assert F.squeeze(node.Node(1.0), 0).shape == ()


def test_transpose_with_two_axes_swaps_them_and_a_tuple_permutes():
    x = node.Node(A)
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), A.swapaxes(0, 2))
    np.testing.assert_array_equal(F.transpose(x, 0, 2).numpy(), A.swapaxes(0, 2))
    np.testing.assert_array_equal(x.transpose(2, 0, 1).numpy(), A.transpose(2, 0, 1))
    m = node.Node(A[0])
    np.testing.assert_array_equal(m.transpose(0, 1).numpy(), A[0].T)  # PyTorch: a swap, on 2-D too
    np.testing.assert_array_equal(m.transpose((0, 1)).numpy(), A[0])  # a tuple is NumPy's permutation
    np.testing.assert_array_equal(x.permute(1, 0, 2).numpy(), A.transpose(1, 0, 2))


def test_node_repeat_is_pytorchs_repeat_and_numpys_tile():
    x = node.Node(A[0])
    np.testing.assert_array_equal(x.repeat(2, 1, 3).numpy(), np.tile(A[0], (2, 1, 3)))
    np.testing.assert_array_equal(x.tile((2, 1)).numpy(), np.tile(A[0], (2, 1)))
    np.testing.assert_array_equal(x.repeat_interleave(2, axis=1).numpy(), np.repeat(A[0], 2, axis=1))
    np.testing.assert_array_equal(F.repeat_interleave(x, node.Node([1, 0, 2]), 0).numpy(), np.repeat(A[0], [1, 0, 2], axis=0))


@pytest.mark.parametrize("call, sizes", [
    (lambda x: F.split(x, 3, axis=2), [3, 1]),
    (lambda x: F.split(x, [1, 0, 3], axis=-1), [1, 0, 3]),
    (lambda x: F.chunk(x, 3, axis=2), [2, 2]),  # ceil(4 / 3) = 2 each: two pieces, as torch.chunk
    (lambda x: x.chunk(4, axis=2), [1, 1, 1, 1]),
    (lambda x: x.split(4, axis=2), [4]),
])
def test_split_and_chunk_pieces(call, sizes):
    pieces = call(node.Node(A))
    assert isinstance(pieces, tuple) and [p.shape[2] for p in pieces] == sizes
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in pieces], axis=2), A)


def test_flatten_keeps_the_batch_axis_by_default():
    x = node.Node(A)
    assert F.flatten(x).shape == (2, 12) and x.flatten().shape == (2, 12)
    assert F.flatten(x, 0).shape == (24,) and x.flatten(1, 1).shape == (2, 3, 4)
    assert x.flatten(-2, -1).shape == (2, 12) and F.flatten(node.Node(1.0), 0).shape == (1,)


def test_roll_flip_unsqueeze_and_swapaxes_as_numpy():
    x = node.Node(A)
    np.testing.assert_array_equal(x.roll(5).numpy(), np.roll(A, 5))
    np.testing.assert_array_equal(x.flip((0, 2)).numpy(), A[::-1, :, ::-1])
    np.testing.assert_array_equal(x.flip().numpy(), A[::-1, ::-1, ::-1])
    assert x.unsqueeze(3).shape == (2, 3, 4, 1) and F.unsqueeze(x, -4).shape == (1, 2, 3, 4)
    np.testing.assert_array_equal(x.swapaxes(1, -1).numpy(), A.swapaxes(1, 2))


def ones(*shape):
    return node.Node(np.ones(shape))


REFUSED = [
    ("permute not a permutation", lambda: F.permute(ones(2, 3), 0, 0), ValueError, r"^permute: axes \(0, 0\) are not a permutation of the 2 axes"),
    ("permute axis 2", lambda: F.permute(ones(2, 3), 0, 2), ValueError, r"^permute: axes must be an integer in \[-2, 1\], got 2$"),
    ("transpose int", lambda: F.transpose(ones(2, 3), 1), TypeError, r"^transpose: axes must be a tuple of axes"),
    ("swapaxes 3", lambda: F.swapaxes(ones(2, 3), 0, 3), ValueError, r"^swapaxes: axis2 must be an integer in \[-2, 1\], got 3$"),
    ("squeeze 2", lambda: F.squeeze(ones(2, 1), 2), ValueError, r"^squeeze: axis must be an integer in \[-2, 1\], got 2$"),
    ("unsqueeze 3", lambda: F.unsqueeze(ones(2, 1), 3), ValueError, r"^unsqueeze: axis must be an integer in \[-3, 2\], got 3$"),
    ("flatten reversed", lambda: F.flatten(ones(2, 3, 4), 2, 1), ValueError, r"^flatten: start_dim 2 comes after end_dim 1 for shape \(2, 3, 4\)$"),
    ("flatten start 3", lambda: F.flatten(ones(2, 3), 3), ValueError, r"^flatten: start_dim must be an integer in \[-2, 1\], got 3$"),
    ("flip twice", lambda: F.flip(ones(2, 3), (0, -2)), ValueError, r"^flip: axis \(0, -2\) names an axis twice$"),
    ("roll lengths", lambda: F.roll(ones(2, 3), (1, 2), 0), ValueError, r"^roll: shifts \(1, 2\) and axis 0 must have the same length$"),
    ("roll float", lambda: F.roll(ones(2, 3), 1.5), TypeError, r"^roll: shifts must be an integer, got float 1\.5$"),
    ("roll no axis many shifts", lambda: F.roll(ones(2, 3), (1, 2)), ValueError, r"^roll: give axis for each of the 2 shifts"),
    ("tile negative", lambda: F.tile(ones(2), (-1,)), ValueError, r"^tile: reps must be integers >= 0, got \(-1,\)$"),
    ("tile str", lambda: F.tile(ones(2), "ab"), TypeError, r"^tile: reps must be an int or a tuple of ints"),
    ("repeat_interleave count", lambda: F.repeat_interleave(ones(3), [1, 2]), ValueError, r"^repeat_interleave: repeats must be one int or 3 ints"),
    ("repeat_interleave negative", lambda: F.repeat_interleave(ones(3), -1), ValueError, r"^repeat_interleave: repeats must be an integer >= 0, got -1$"),
    ("split sizes", lambda: F.split(ones(2, 3), [1, 1], axis=1), ValueError, r"^split: sizes \(1, 1\) add up to 2, but axis 1 of shape \(2, 3\) has length 3$"),
    ("split size 0", lambda: F.split(ones(2, 3), 0), ValueError, r"^split: split_size_or_sections must be an integer >= 1, got 0$"),
    ("chunk 0", lambda: F.chunk(ones(2, 3), 0), ValueError, r"^chunk: chunks must be an integer >= 1, got 0$"),
    ("chunk 0-d", lambda: F.chunk(node.Node(1.0), 1), ValueError, r"^chunk: a 0-d Node has no axis to split$"),
]


@pytest.mark.parametrize("label, call, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_arguments_are_refused(label, call, error, message):
    with pytest.raises(error, match=message):
        call()

"""Step 9: convolution and pooling, through im2col.

A convolution slides a small filter over an image. Laid out the right way it
is one matrix product: ``im2col`` copies every patch the filter sees into a
row of a matrix, and the product of that matrix with the filters (one per
column) gives every output at once. This step adds:

* ``im2col`` and its adjoint ``col2im`` (NumPy), and the Functions ``Im2col``
  and ``Col2im``, each the other's gradient (``im2col_node``, ``col2im_node``);
* ``conv2d``: im2col, then step 6's ``affine``, then a reshape and a transpose;
* ``max_pool2d``: the largest value of each window; its gradient is a Function
  of its own (``MaxPooling2DGrad``, a scatter) whose gradient gathers;
* layers ``Conv2d``, ``MaxPool2d`` and ``Flatten``.

Run it: ``python -m course.exercises.step09_conv`` (a convolution's shapes, a
gradient check of x and W against step 1's central differences, then a small
conv net trained on synthetic bars).
"""
import math

import numpy as np

from .step05_arrays import Function, Node, transpose
from .step06_matmul import affine
from .step08_mlp import Layer, Parameter


def output_size(size, k, stride=1, pad=0):
    """How many positions a window of ``k`` takes along an axis of ``size`` (padded by ``pad`` on both sides)."""
    return (size + 2 * pad - k) // stride + 1


def im2col(x, kh, kw, stride=1, pad=0):
    """x (N, C, H, W) -> cols (N·OH·OW, C·kh·kw): one row per output position, holding the patch under it.

    Row ``(n·OH + i)·OW + j`` holds the values of image n under the window
    whose top-left corner is at (i·stride, j·stride) of the padded image,
    in the order (c, di, dj) of ``W.reshape(OC, C·kh·kw)``'s columns.

    Pad x with zeros (``np.pad``), make an array ``patches`` of shape
    (N, C, kh, kw, OH, OW), and fill it with one strided slice per kernel
    offset (di, dj): ``patches[:, :, di, dj]`` is the padded x at rows
    di, di + stride, ..., (OH of them) and columns dj, dj + stride, ... (OW
    of them). That is kh·kw slices, not a loop over pixels. Then move the
    axes to (N, OH, OW, C, kh, kw) and reshape.
    """
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, stride, pad), output_size(w, kw, stride, pad)
    # --- exercise 1: im2col, one strided slice per kernel offset ---
    raise NotImplementedError('step 09 exercise 1 (im2col, one strided slice per kernel offset) is not written yet: write it here, in place of this line')
    # --- end of exercise 1 ---


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """The adjoint of im2col: cols (N·OH·OW, C·kh·kw) -> an array of ``x_shape`` (N, C, H, W).

    Every value of ``cols`` is added back onto the pixel of x it was copied
    from; a pixel in several patches gets the sum. Undo im2col's last moves
    (reshape to (N, OH, OW, C, kh, kw), transpose to (N, C, kh, kw, OH, OW)),
    then for each offset (di, dj) *add* (``+=``) ``patches[:, :, di, dj]``
    into the same strided slice of a zero array of the padded shape that
    im2col read, and cut the padding off.
    """
    n, c, h, w = x_shape
    oh, ow = output_size(h, kh, stride, pad), output_size(w, kw, stride, pad)
    # --- exercise 2: col2im, the adjoint of im2col ---
    raise NotImplementedError('step 09 exercise 2 (col2im, the adjoint of im2col) is not written yet: write it here, in place of this line')
    # --- end of exercise 2 ---


class Im2col(Function):
    """im2col as a Function; its gradient is col2im (the adjoint), a Function too."""

    def __init__(self, kh, kw, stride, pad):
        self.kh, self.kw, self.stride, self.pad = kh, kw, stride, pad

    def forward(self, x):
        self.x_shape = x.shape
        return im2col(x, self.kh, self.kw, self.stride, self.pad)

    def backward(self, gy):
        return col2im_node(gy, self.x_shape, self.kh, self.kw, self.stride, self.pad)


class Col2im(Function):
    """col2im as a Function; its gradient is im2col (the adjoint of the adjoint)."""

    def __init__(self, x_shape, kh, kw, stride, pad):
        self.x_shape, self.kh, self.kw, self.stride, self.pad = tuple(x_shape), kh, kw, stride, pad

    def forward(self, cols):
        return col2im(cols, self.x_shape, self.kh, self.kw, self.stride, self.pad)

    def backward(self, gx):
        return im2col_node(gx, self.kh, self.kw, self.stride, self.pad)


def im2col_node(x, kh, kw, stride=1, pad=0):
    return Im2col(kh, kw, stride, pad)(x)


def col2im_node(cols, x_shape, kh, kw, stride=1, pad=0):
    return Col2im(x_shape, kh, kw, stride, pad)(cols)


def conv2d(x, W, b=None, stride=1, pad=0):
    """The 2-D convolution (a cross-correlation, as in PyTorch): x (N, C, H, W), W (OC, C, kh, kw), b (OC,) -> (N, OC, OH, OW).

    y[n, o, i, j] = b[o] + Σ over c, di, dj of W[o, c, di, dj] · x_padded[n, c, i·stride + di, j·stride + dj].

    Three engine operations, so that the gradients come for free:

    1. cols = ``im2col_node(x, kh, kw, stride, pad)``: (N·OH·OW, C·kh·kw);
    2. ``affine(cols, W.reshape(OC, C·kh·kw).T, b)``: (N·OH·OW, OC), row
       (n, i, j) holding the OC outputs at that position;
    3. reshape to (N, OH, OW, OC) and ``transpose`` to (N, OC, OH, OW).
    """
    n, _, h, w = x.shape
    oc, _, kh, kw = W.shape
    oh, ow = output_size(h, kh, stride, pad), output_size(w, kw, stride, pad)
    # --- exercise 3: conv2d through im2col and a matrix product ---
    raise NotImplementedError('step 09 exercise 3 (conv2d through im2col and a matrix product) is not written yet: write it here, in place of this line')
    # --- end of exercise 3 ---


def pooling_windows(shape, k, stride):
    """[(di, dj, rows, cols)] for each offset (di, dj) in a k×k window: the slices that pick that offset of every window."""
    h, w = shape[2:]
    oh, ow = output_size(h, k, stride), output_size(w, k, stride)
    return [(di, dj, slice(di, di + stride * oh, stride), slice(dj, dj + stride * ow, stride)) for di in range(k) for dj in range(k)]


class MaxPooling2D(Function):
    """The largest value of each k×k window, windows ``stride`` apart: (N, C, H, W) -> (N, C, OH, OW).

    The forward records, for every window, which of its k·k offsets held the
    maximum (``self.argmax``, an integer array of the output's shape: offset
    (di, dj) is number di·k + dj).
    """

    def __init__(self, k, stride):
        self.k, self.stride = k, stride

    def forward(self, x):
        self.x_shape = x.shape
        windows = np.stack([x[:, :, rows, cols] for _, _, rows, cols in pooling_windows(x.shape, self.k, self.stride)])
        self.argmax = windows.argmax(axis=0)
        return np.take_along_axis(windows, self.argmax[None], axis=0)[0]

    def backward(self, gy):
        return MaxPooling2DGrad(self)(gy)


class MaxPooling2DGrad(Function):
    """Max pooling's gradient: gy (N, C, OH, OW) -> gx (N, C, H, W), each window's gy sent to its maximum.

    It is linear in gy; its own gradient is ``MaxPooling2DGather``, which
    reads, for each window, the value at its maximum's position.
    """

    def __init__(self, pooling):
        self.pooling = pooling  # the MaxPooling2D whose gradient this is: its k, stride, argmax and input shape

    def forward(self, gy):
        """Scatter: start from zeros of the pooling's ``x_shape``; for each offset number m, (di, dj, rows, cols)
        of ``pooling_windows(x_shape, k, stride)``, add (``+=``: windows may overlap when stride < k)
        gy where ``argmax == m`` and 0 elsewhere (``np.where``) into ``gx[:, :, rows, cols]``.
        """
        p = self.pooling
        # --- exercise 4: max pooling's gradient, gy sent to each window's maximum ---
        raise NotImplementedError("step 09 exercise 4 (max pooling's gradient, gy sent to each window's maximum) is not written yet: write it here, in place of this line")
        # --- end of exercise 4 ---

    def backward(self, ggx):
        return MaxPooling2DGather(self.pooling)(ggx)


class MaxPooling2DGather(Function):
    """The adjoint of ``MaxPooling2DGrad``: g (N, C, H, W) -> (N, C, OH, OW), each window's value of g at its maximum's position."""

    def __init__(self, pooling):
        self.pooling = pooling

    def forward(self, g):
        p = self.pooling
        windows = np.stack([g[:, :, rows, cols] for _, _, rows, cols in pooling_windows(p.x_shape, p.k, p.stride)])
        return np.take_along_axis(windows, p.argmax[None], axis=0)[0]

    def backward(self, ggy):
        return MaxPooling2DGrad(self.pooling)(ggy)


def max_pool2d(x, k, stride=None):
    """Max over k×k windows, ``stride`` apart (k when None)."""
    return MaxPooling2D(k, k if stride is None else stride)(x)


class Conv2d(Layer):
    """A convolution layer: W (out_channels, in_channels, k, k) with He initialisation (fan-in C·k·k), b zeros."""

    def __init__(self, in_channels, out_channels, k, rng, stride=1, pad=0):
        fan_in = in_channels * k * k
        self.W = Parameter(rng.standard_normal((out_channels, in_channels, k, k)) * math.sqrt(2.0 / fan_in), name="W")
        self.b = Parameter(np.zeros(out_channels), name="b")
        self.stride, self.pad = stride, pad

    def forward(self, x):
        return conv2d(x, self.W, self.b, self.stride, self.pad)


class MaxPool2d(Layer):
    """``max_pool2d`` as a layer (no parameters)."""

    def __init__(self, k, stride=None):
        self.k, self.stride = k, stride

    def forward(self, x):
        return max_pool2d(x, self.k, self.stride)


class Flatten(Layer):
    """(N, ...) -> (N, everything else): from feature maps to the rows a Linear layer takes."""

    def forward(self, x):
        return x.reshape(len(x), -1)


def bars(n, size, rng, noise=0.3):
    """n images (n, 1, size, size) of one horizontal (label 0) or vertical (label 1) bright bar on noise, and their labels."""
    t = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 1, size, size)) * noise
    where = rng.integers(0, size, n)
    for i in range(n):
        if t[i] == 0:
            x[i, 0, where[i], :] += 1.0
        else:
            x[i, 0, :, where[i]] += 1.0
    return x, t


if __name__ == "__main__":
    from .step01_numerical import numerical_gradient
    from .step07_softmax import accuracy
    from .step08_mlp import Adam, Linear, relu, train

    rng = np.random.default_rng(0)
    x = Node(rng.standard_normal((2, 3, 7, 6)))
    W = Node(rng.standard_normal((4, 3, 3, 3)))
    y = conv2d(x, W, stride=2, pad=1)
    print("conv2d: x", x.shape, "W", W.shape, "stride 2, pad 1 -> y", y.shape)

    # A gradient check: the engine's gradients of sum(u · conv2d(x, W)) against step 1's central differences.
    u = rng.standard_normal(y.shape)
    (y * Node(u)).sum().backward()
    numerical_x = numerical_gradient(lambda a: np.sum(u * conv2d(Node(a), W, stride=2, pad=1).data), x.data.copy())
    numerical_W = numerical_gradient(lambda a: np.sum(u * conv2d(x, Node(a), stride=2, pad=1).data), W.data.copy())
    print("gradient check, max |engine − central differences|: x", np.abs(x.grad.data - numerical_x).max(),
          " W", np.abs(W.grad.data - numerical_W).max())

    class Net(Layer):
        def __init__(self, rng):
            self.conv, self.pool, self.flat = Conv2d(1, 4, 3, rng, pad=1), MaxPool2d(2), Flatten()
            self.fc = Linear(4 * 4 * 4, 2, rng)

        def forward(self, x):
            return self.fc(self.flat(self.pool(relu(self.conv(x)))))

    x, t = bars(256, 8, rng)
    net = Net(rng)
    losses = train(net, x, t, Adam(net.params(), lr=0.01), epochs=5, batch_size=32, rng=rng)
    print("mean loss per epoch:", np.round(losses, 4))
    x_new, t_new = bars(256, 8, rng)
    print("accuracy on new bars:", accuracy(net(Node(x_new)), t_new))

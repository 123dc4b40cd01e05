"""Grading of step 9: convolution and pooling, through im2col."""
import numpy as np

from course.grading import Wrong, expect, expect_close, expect_gradients

# (x shape, kh, kw, stride, pad): non-square images and kernels, strides and paddings.
CASES = [((2, 3, 7, 6), 3, 2, 2, 1), ((1, 2, 5, 5), 3, 3, 1, 0), ((2, 1, 6, 4), 2, 2, 2, 0), ((1, 2, 4, 5), 3, 3, 1, 1)]


def _out(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def loop_im2col(x, kh, kw, stride, pad):
    """The check's own im2col: one patch at a time."""
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, stride, pad), _out(w, kw, stride, pad)
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    padded[:, :, pad : pad + h, pad : pad + w] = x
    rows = []
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                rows.append(padded[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw].ravel())
    return np.array(rows)


def loop_conv(x, W, b, stride, pad):
    """The check's own convolution: y[n, o, i, j] = b[o] + Σ W[o] · (the patch of x under (i, j))."""
    n, c, h, w = x.shape
    oc, _, kh, kw = W.shape
    oh, ow = _out(h, kh, stride, pad), _out(w, kw, stride, pad)
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    padded[:, :, pad : pad + h, pad : pad + w] = x
    y = np.zeros((n, oc, oh, ow))
    for b_ in range(n):
        for o in range(oc):
            for i in range(oh):
                for j in range(ow):
                    patch = padded[b_, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    y[b_, o, i, j] = np.sum(patch * W[o]) + (0.0 if b is None else b[o])
    return y


def loop_max_pool(x, k, stride):
    n, c, h, w = x.shape
    oh, ow = _out(h, k, stride, 0), _out(w, k, stride, 0)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k].max(axis=(2, 3))
    return y


def _case(shape, kh, kw, stride, pad):
    return f"x of shape {shape}, kh={kh}, kw={kw}, stride={stride}, pad={pad}"


def exercise_1(step, rng):
    order = "(row (n·OH + i)·OW + j is the patch under output (i, j) of image n; column (c·kh + di)·kw + dj is its channel c, offset (di, dj))"
    for shape, kh, kw, stride, pad in CASES:
        x = rng.standard_normal(shape)
        before = x.copy()
        try:
            expect_close(f"im2col({_case(shape, kh, kw, stride, pad)})", loop_im2col(x, kh, kw, stride, pad), step.im2col(x, kh, kw, stride, pad))
        except Wrong as wrong:
            raise Wrong(f"{wrong} {order}") from None
        expect(np.array_equal(x, before), "im2col changed its input x: pad a copy (np.pad makes one)")
    # The Function: its forward is im2col.
    x = rng.standard_normal((1, 2, 4, 4))
    expect_close("im2col_node(x, 2, 2) (the Function Im2col's forward)", loop_im2col(x, 2, 2, 1, 0), step.im2col_node(step.Node(x), 2, 2))


def exercise_2(step, rng):
    for shape, kh, kw, stride, pad in CASES:
        x = rng.standard_normal(shape)
        rows = loop_im2col(x, kh, kw, stride, pad)
        c = rng.standard_normal(rows.shape)
        got = step.col2im(c.copy(), shape, kh, kw, stride, pad)
        expect(np.shape(got) == shape, f"col2im(cols of shape {c.shape}, x_shape={shape}, ...): expected shape {shape}, got {np.shape(got)}")
        left, right = float(np.sum(rows * c)), float(np.sum(x * got))
        expect(np.isclose(left, right, rtol=1e-9, atol=1e-9),
               f"col2im is not the adjoint of im2col ({_case(shape, kh, kw, stride, pad)}, random x and cols c): "
               f"<im2col(x), c> = {left:.8g} but <x, col2im(c)> = {right:.8g}; add every value of c back where im2col read it from (+=)")
        # The same statement element by element: col2im(c) is the gradient of sum(c * im2col(x)).
        if x.size <= 80:
            expect_gradients(f"col2im(c) as the gradient of sum(c * im2col(x)) ({_case(shape, kh, kw, stride, pad)})",
                             lambda v, kh=kh, kw=kw, stride=stride, pad=pad: loop_im2col(v, kh, kw, stride, pad), [x], c, [got], names=["x"])
    # The Function Col2im: its forward is col2im.
    shape = (1, 2, 5, 4)
    c = rng.standard_normal(loop_im2col(np.zeros(shape), 3, 2, 1, 1).shape)
    expected = step.col2im(c, shape, 3, 2, 1, 1)
    expect_close("col2im_node(cols, (1, 2, 5, 4), 3, 2, 1, 1) (the Function Col2im's forward)", expected, step.col2im_node(step.Node(c), shape, 3, 2, 1, 1))


def exercise_3(step, rng):
    for (n, c, h, w), oc, k, stride, pad, bias in [((2, 3, 7, 6), 4, 3, 2, 1, True), ((1, 2, 5, 6), 3, 2, 1, 0, False), ((2, 1, 6, 5), 2, 3, 1, 1, True)]:
        x = rng.standard_normal((n, c, h, w))
        W = rng.standard_normal((oc, c, k, k))
        b = rng.standard_normal(oc) if bias else None
        what = f"conv2d(x {x.shape}, W {W.shape}, {'b' if bias else 'no b'}, stride={stride}, pad={pad})"
        inputs = [step.Node(x.copy()), step.Node(W.copy())] + ([step.Node(b.copy())] if bias else [])
        try:
            y = step.conv2d(inputs[0], inputs[1], inputs[2] if bias else None, stride, pad)
            expect(hasattr(y, "creator"), f"{what} must return a Node, got {type(y).__name__}")
            expect_close(what, loop_conv(x, W, b, stride, pad), y, rtol=1e-9, atol=1e-10)
        except (Wrong, ValueError) as exc:
            text = str(exc) if isinstance(exc, Wrong) else f"{what} raised ValueError: {str(exc).splitlines()[0]}"
            raise Wrong(f"{text}; the layout: cols (N·OH·OW, C·kh·kw) times W.reshape(OC, -1).T (C·kh·kw, OC) gives "
                        "(N·OH·OW, OC); reshape that to (N, OH, OW, OC), then transpose to (N, OC, OH, OW) (axes (0, 3, 1, 2)); "
                        "reshaping straight to (N, OC, OH, OW) mixes positions and channels") from None
    # Gradients of every input through the engine (im2col's gradient is col2im, the matrix product's step 6's).
    x, W, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    upstream = rng.standard_normal(loop_conv(x, W, b, 2, 1).shape)
    nodes = [step.Node(x.copy()), step.Node(W.copy()), step.Node(b.copy())]
    (step.conv2d(*nodes, stride=2, pad=1) * step.Node(upstream)).sum().backward()
    expect_gradients("conv2d(x, W, b, stride=2, pad=1)", lambda x_, W_, b_: loop_conv(x_, W_, b_, 2, 1), [x, W, b], upstream,
                     [node.grad for node in nodes], names=["x", "W", "b"])


def _without_ties(shape, rng):
    """Distinct values at least 0.01 apart, so that a nudge of 1e-6 never changes which value is a window's maximum."""
    return (rng.permutation(int(np.prod(shape))) * 0.01 + rng.uniform(0, 0.002, int(np.prod(shape)))).reshape(shape) - 0.5


def exercise_4(step, rng):
    for shape, k, stride in [((2, 3, 6, 5), 2, None), ((1, 2, 7, 7), 3, 2), ((2, 1, 4, 5), 2, 1)]:
        x = _without_ties(shape, rng)
        s = k if stride is None else stride
        what = f"max_pool2d(x of shape {shape}, k={k}, stride={stride})"
        node = step.Node(x.copy())
        y = step.max_pool2d(node, k, stride)
        expect_close(what, loop_max_pool(x, k, s), y)
        upstream = rng.standard_normal(y.shape)
        (y * step.Node(upstream)).sum().backward()
        overlap = " (windows overlap here: add with +=, do not assign)" if s < k else ""
        try:
            expect_gradients(what, lambda v, k=k, s=s: loop_max_pool(v, k, s), [x], upstream, [node.grad], names=["x"])
        except Wrong as wrong:
            raise Wrong(f"{wrong}{overlap}; each window's gy goes to the position of its maximum only") from None

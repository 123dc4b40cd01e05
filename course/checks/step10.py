"""Grading of step 10: batch normalization."""
import numpy as np

from course.grading import Wrong, central_gradient, expect, expect_close, expect_equal, expect_gradients

SHAPES = [(6, 3), (3, 2, 4, 3)]  # (N, D) and (N, C, H, W)


def axes_of(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def forward_numpy(x, gamma, beta, eps, ddof=0):
    axes = axes_of(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    return per_channel(gamma, x) * (x - mean) / np.sqrt(var + eps) + per_channel(beta, x)


def gx_numpy(x, gamma, gy, eps):
    """The compact formula, checked against central differences of forward_numpy before it is used."""
    axes = axes_of(x)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    return per_channel(gamma, x) * inv_std / m * (m * gy - gy.sum(axis=axes, keepdims=True)
                                                   - xhat * (gy * xhat).sum(axis=axes, keepdims=True))


def inputs(shape, rng):
    x = rng.normal(2.0, 1.5, size=shape)
    channels = shape[1]
    return x, rng.uniform(0.5, 2.0, channels), rng.standard_normal(channels)


def exercise_1(step, rng):
    for shape in SHAPES:
        x, gamma, beta = inputs(shape, rng)
        for eps in (0.5, 1e-5):  # a large ε first, so that a forgotten ε shows
            what = f"batch_norm(x of shape {shape}, gamma, beta, eps={eps})"
            got = step.batch_norm(step.Node(x.copy()), step.Node(gamma), step.Node(beta), eps)
            expected = forward_numpy(x, gamma, beta, eps)
            got_data = np.asarray(getattr(got, "data", got), dtype=np.float64)
            if got_data.shape == expected.shape and np.allclose(got_data, forward_numpy(x, gamma, beta, eps, ddof=1)):
                raise Wrong(f"{what}: you used the unbiased variance (divided by m − 1); "
                            "batch normalization's training-mode σ² is the biased one, the mean of (x − μ)²")
            if eps != 0.5 or not np.allclose(got_data, forward_numpy(x, gamma, beta, 0.0)):
                expect_close(what, expected, got, rtol=1e-7, atol=1e-9)
            else:
                raise Wrong(f"{what}: your result ignores ε: divide by √(σ² + ε)")
    # The statistics must be per channel: a feature with a huge mean must not shift the others.
    x = np.array([[1.0, 100.0], [3.0, 300.0], [5.0, 500.0]])
    expect_close("batch_norm([[1, 100], [3, 300], [5, 500]], gamma=1, beta=0) (per-column statistics)",
                 forward_numpy(x, np.ones(2), np.zeros(2), 1e-5),
                 step.batch_norm(step.Node(x), step.Node(np.ones(2)), step.Node(np.zeros(2))), rtol=1e-7)


def exercise_2(step, rng):
    eps = 1e-3
    for shape in SHAPES:
        x, gamma, beta = inputs(shape, rng)
        gy = rng.standard_normal(shape)
        xn, gn, bn = step.Node(x.copy()), step.Node(gamma.copy()), step.Node(beta.copy())
        f = step.BatchNormalization(eps)
        try:
            f(xn, gn, bn)  # records the inputs (and whatever a forward keeps for the backward)
        except NotImplementedError:
            f.inputs = [xn, gn, bn]  # exercise 1 is still blank: the backward needs only the inputs
        grads = f.backward(step.Node(gy))
        what = f"BatchNormalization.backward (x of shape {shape})"
        expect(isinstance(grads, tuple) and len(grads) == 3,
               f"{what}: expected a tuple of 3 gradients (gx, ggamma, gbeta), got {type(grads).__name__}")
        for name, g in zip(("gx", "ggamma", "gbeta"), grads):
            expect(isinstance(g, step.Node), f"{what}: {name} is a {type(g).__name__}, not a Node: write the backward "
                                             "with engine operations on Nodes (gy * xhat, .sum(...)), never on .data")
        expect_gradients(what, lambda a, b, c: forward_numpy(a, b, c, eps), [x, gamma, beta], gy,
                         list(grads), rtol=1e-5, atol=1e-6, names=["x", "gamma", "beta"])
        # Differentiate gx once more: right only when x̂ and σ were recomputed from x inside the graph.
        r = rng.standard_normal(shape)
        xn.cleargrad()
        gn.cleargrad()
        (grads[0] * step.Node(r)).sum().backward()
        expected = central_gradient(lambda a, b, gy=gy: gx_numpy(a, b, gy, eps), [x, gamma], r)
        for name, node, e in (("x", xn, expected[0]), ("gamma", gn, expected[1])):
            expect(node.grad is not None, f"{what}: gx does not depend on {name} in the graph, so it cannot be "
                                          "differentiated again: build it from x and gamma with engine operations")
            try:
                expect_close(f"{what}: the gradient of sum(r * gx) with respect to {name} (gx differentiated again)",
                             e, node.grad, rtol=1e-5, atol=1e-6)
            except Wrong as exc:
                raise Wrong(f"{exc}; gx is right but not differentiable: compute x̂ and 1/σ with self.normalize(x) "
                            "(Nodes), not from arrays kept by the forward") from None


def exercise_3(step, rng):
    for shape, momentum in (((16, 3), 0.3), ((4, 2, 3, 3), 0.1)):
        channels = shape[1]
        layer = step.BatchNorm(channels, momentum=momentum)
        expect(layer.training, "a new BatchNorm layer should be in training mode (training = True)")
        axes = (0,) if len(shape) == 2 else (0, 2, 3)
        running_mean, running_var = np.zeros(channels), np.ones(channels)
        for k in range(3):
            x = rng.normal(rng.uniform(-3, 3, (1, channels) + (1,) * (len(shape) - 2)), 2.0, size=shape)
            y = layer(step.Node(x))
            running_mean = (1 - momentum) * running_mean + momentum * x.mean(axis=axes)
            running_var = (1 - momentum) * running_var + momentum * x.var(axis=axes, ddof=1)
            what = f"BatchNorm({channels}, momentum={momentum}) after {k + 1} training batch(es) of shape {shape}"
            expect_close(f"{what}: its output (the batch's own statistics)", forward_numpy(x, np.ones(channels), np.zeros(channels), layer.eps), y, rtol=1e-6, atol=1e-8)
            expect_close(f"{what}: running_mean", running_mean, layer.running_mean, rtol=1e-7)
            got_var = np.asarray(layer.running_var, dtype=np.float64)
            biased = (1 - momentum) + momentum * x.var(axis=axes)  # after the first batch, from the initial ones
            if k == 0 and got_var.shape == running_var.shape and np.allclose(got_var, biased):
                raise Wrong(f"{what}: running_var was updated with the biased variance; the running estimate uses the "
                            "unbiased one, x.var(axis=..., ddof=1)")
            expect_close(f"{what}: running_var", running_var, layer.running_var, rtol=1e-7)
        layer.training = False
        layer.gamma.data = rng.uniform(0.5, 2.0, channels)
        layer.beta.data = rng.standard_normal(channels)
        x = rng.normal(0.0, 2.0, size=(3,) + shape[1:])
        xn = step.Node(x)
        y = layer(xn)
        shaped = (1, -1) + (1,) * (len(shape) - 2)
        xhat = (x - running_mean.reshape(shaped)) / np.sqrt(running_var.reshape(shaped) + layer.eps)
        expected = layer.gamma.data.reshape(shaped) * xhat + layer.beta.data.reshape(shaped)
        what = f"BatchNorm({channels}) in evaluation (training = False) on x of shape {x.shape}"
        expect_close(f"{what}: output (from the running statistics)", expected, y, rtol=1e-7, atol=1e-9)
        expect_close(f"{what}: running_mean must not change in evaluation", running_mean, layer.running_mean, rtol=1e-12)
        expect_close(f"{what}: running_var must not change in evaluation", running_var, layer.running_var, rtol=1e-12)
        gy = rng.standard_normal(x.shape)
        layer.gamma.cleargrad()
        layer.beta.cleargrad()
        (y * step.Node(gy)).sum().backward()
        for name, node, e in (("x", xn, layer.gamma.data.reshape(shaped) * gy / np.sqrt(running_var.reshape(shaped) + layer.eps)),
                              ("gamma", layer.gamma, (gy * xhat).sum(axis=axes)),
                              ("beta", layer.beta, gy.sum(axis=axes))):
            expect(node.grad is not None, f"{what}: no gradient reached {name}: build the output with engine operations on x, gamma and beta")
            expect_close(f"{what}: gradient of {name} (random upstream gradient; the statistics are constants here)", e, node.grad, rtol=1e-7, atol=1e-9)
    expect_equal("the parameters of BatchNorm(4) (gamma, beta)", 2, len(list(step.BatchNorm(4).params())))

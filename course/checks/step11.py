"""Grading of step 11: Center Loss."""
import numpy as np

from course.grading import Wrong, data_of, expect, expect_close, expect_gradients


def center_loss_numpy(x, t, c):
    return 0.5 * np.mean(np.sum((x - c[t]) ** 2, axis=1))


def update_loop(centers, x, t, alpha):
    """The paper's eq. 4, one class at a time."""
    new = centers.copy()
    for j in range(len(centers)):
        mine = t == j
        new[j] = centers[j] - alpha * (centers[j] - x[mine]).sum(axis=0) / (1 + mine.sum())
    return new


def cross_entropy_numpy(logits, t):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(t)), t])


def exercise_1(step, rng):
    t = np.array([0, 2, 2, 1, 3, 2, 0])
    x = rng.standard_normal((7, 3))
    c = rng.standard_normal((4, 3))
    what = "center_loss(features (7, 3), labels [0 2 2 1 3 2 0], centers (4, 3))"
    got = step.center_loss(step.Node(x.copy()), t, c.copy())
    expect_close(f"{what}: the loss ½·mean_i ‖x_i − c_(y_i)‖²", center_loss_numpy(x, t, c), got, rtol=1e-7)
    # Its gradients, with the centres as a Node too, for a random upstream gradient.
    g = rng.standard_normal()
    xn, cn = step.Node(x.copy()), step.Node(c.copy())
    (step.center_loss(xn, t, cn) * step.Node(g)).backward()
    for name, node in (("features", xn), ("centers", cn)):
        expect(node.grad is not None, f"{what}: no gradient reached the {name}: build the loss from engine operations on them")
    expect_gradients(what, lambda a, b: center_loss_numpy(a, t, b), [x, c], np.array(g), [xn.grad, cn.grad],
                     names=["features", "centers (a Node)"])
    expect_close(f"{what}: the gradient of the features is (x_i − c_(y_i))/N", g * (x - c[t]) / len(t), xn.grad, rtol=1e-7)
    # Centres given as a plain array: constants, the features still get their gradient.
    xn = step.Node(x.copy())
    step.center_loss(xn, t, c.copy()).backward()
    expect(xn.grad is not None, f"{what} with the centres as an array: no gradient reached the features")
    expect_close(f"{what} with the centres as an array: gradient of the features", (x - c[t]) / len(t), xn.grad, rtol=1e-7)


def exercise_2(step, rng):
    centers = rng.standard_normal((5, 2))
    t = np.array([1, 3, 1, 1, 0, 3])  # classes 2 and 4 are absent; 1 appears three times
    x = rng.standard_normal((6, 2)) * 2
    before = centers.copy()
    alpha = 0.3
    got = step.update_centers(centers, x, t, alpha)
    what = f"update_centers(centers (5, 2), features (6, 2), labels {t}, alpha={alpha})"
    expect(got is not None, f"{what} returned None: return the new centres (a new (K, D) array)")
    if not np.array_equal(centers, before):
        raise Wrong(f"{what} changed the caller's centres: compute a new array and return it")
    expected = update_loop(before, x, t, alpha)
    got = np.asarray(data_of(got), dtype=np.float64)
    if got.shape == expected.shape:
        for j in (2, 4):
            expect_close(f"{what}: the centre of class {j}, absent from the batch, must stay", before[j], got[j], rtol=1e-12)
    expect_close(f"{what}: the new centres (c_j − α·Σ_i δ(y_i=j)(c_j − x_i)/(1 + n_j))", expected, got, rtol=1e-9)
    # One sample of a class moves its centre by α/2 of the gap.
    got = np.asarray(data_of(step.update_centers(np.zeros((2, 2)), np.array([[4.0, -2.0]]), np.array([1]), 0.5)), dtype=np.float64)
    expect_close("update_centers(zeros (2, 2), one feature [4, −2] of class 1, alpha=0.5): class 1 moves α/(1 + 1) of the way",
                 np.array([[0.0, 0.0], [1.0, -0.5]]), got, rtol=1e-9)


class PlainSGD:
    """The check's own optimizer: p ← p − lr·grad (independent of the learner's step 8)."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p in self.params:
            if p.grad is not None:
                p.data = p.data - self.lr * p.grad.data


def exercise_3(step, rng):
    # One step, against a gradient by central differences of the joint loss (the old centres are constants).
    x = rng.standard_normal((12, 5))
    t = np.arange(12) % 3
    model = step.FeatureNet([5, 6, 2], 3, np.random.default_rng(int(rng.integers(1 << 30))))
    center = step.CenterLoss(3, 2, alpha=0.5, rng=np.random.default_rng(int(rng.integers(1 << 30))))
    lam, lr = 0.7, 0.1
    params = list(model.params())
    old_centers = np.array(center.centers, dtype=np.float64, copy=True)
    features, logits = (a.data.copy() for a in model(step.Node(x)))

    def joint():
        f, z = model(step.Node(x))
        return cross_entropy_numpy(z.data, t) + lam * center_loss_numpy(f.data, t, old_centers)

    h = 1e-6
    gradients = []
    for p in params:
        g = np.zeros_like(p.data)
        for index in np.ndindex(p.data.shape):
            old = p.data[index]
            p.data[index] = old + h
            plus = joint()
            p.data[index] = old - h
            minus = joint()
            p.data[index] = old
            g[index] = (plus - minus) / (2 * h)
        gradients.append(g)
    before = [p.data.copy() for p in params]
    for p in params:  # a stale gradient from an earlier step: train_step must clear it first
        p.grad = step.Node(np.ones_like(p.data))
    what = "train_step(model, center, optimizer, x (12, 5), t, lam=0.7) with p ← p − 0.1·grad"
    result = step.train_step(model, center, PlainSGD(params, lr), x, t, lam)
    expect(isinstance(result, tuple) and len(result) == 2, f"{what}: expected (L_S, L_C), two floats, got {result!r:.80}")
    expect_close(f"{what}: L_S, the softmax cross entropy before the step", cross_entropy_numpy(logits, t), result[0], rtol=1e-7)
    expect_close(f"{what}: L_C, the center loss before the step (without λ)", center_loss_numpy(features, t, old_centers), result[1], rtol=1e-7)
    expect_close(f"{what}: the centres after the step (call the CenterLoss layer once: it moves them)",
                 update_loop(old_centers, features, t, 0.5), center.centers, rtol=1e-9)
    for k, (p, b, g) in enumerate(zip(params, before, gradients)):
        if np.allclose(p.data, b - lr * (g + 1), rtol=1e-5, atol=1e-7) and not np.allclose(p.data, b - lr * g, rtol=1e-5, atol=1e-7):
            raise Wrong(f"{what}: parameter {k} moved by its gradient plus the stale one from before the step: "
                        "call optimizer.zero_grad() before backward")
        expect_close(f"{what}: parameter {k} (shape {p.data.shape}) after the step (its gradient of L_S + λ·L_C "
                     "by central differences)", b - lr * g, p.data, rtol=1e-5, atol=1e-7)

    # A short training run: the classes must end up separated and compact.
    x, t = step.blobs(100, 4, 10, rng)
    seeds = rng.integers(1 << 30, size=3)
    model = step.FeatureNet([10, 32, 2], 4, np.random.default_rng(seeds[0]))
    center = step.CenterLoss(4, 2, alpha=0.5, rng=np.random.default_rng(seeds[1]))
    step.train(model, center, step.Adam(model.params(), lr=0.01), x, t, 1.0, epochs=40, batch_size=50, rng=np.random.default_rng(seeds[2]))
    features, logits = model(step.Node(x))
    accuracy = float(np.mean(logits.data.argmax(axis=1) == t))
    distance = float(np.mean(np.linalg.norm(features.data - center.centers[t], axis=1)))
    spread = float(step.spread(features, t))
    what = "after 320 Adam steps (lr 0.01, batches of 50) of L_S + 1.0·L_C on 4 Gaussian classes in 10-D, 2-D features"
    expect(accuracy >= 0.95, f"{what}: the training accuracy is {accuracy:.3f}, expected at least 0.95")
    expect(distance < 1.0, f"{what}: the mean distance of a feature to its class centre is {distance:.3f}, expected below 1.0 "
                           "(softmax alone leaves about 3)")
    expect(spread < 0.16, f"{what}: the spread (distance to the class mean over the distance between class means) is "
                          f"{spread:.3f}, expected below 0.16 (softmax alone leaves about 0.18)")

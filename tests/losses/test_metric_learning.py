"""Metric-learning losses: values against NumPy formulas, float64 gradients, CuPy, argument checks, PyTorch's formulas."""
import math

import numpy as np
import pytest

import node
from node.losses import ArcFace, ContrastiveLoss, CosFace, NormFace, SphereFace, TripletLoss

from helpers import gradcheck_layer

RNG = np.random.default_rng(7)
X = RNG.standard_normal((9, 4))
Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 3])


def value(loss):
    return float(node.asnumpy(loss.value))


# ---- NumPy references, written from the docstrings' formulas -------------------------------------
def contrastive_reference(x, y, margin):
    total, pairs = 0.0, 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            d = np.linalg.norm(x[i] - x[j])
            total += d**2 if y[i] == y[j] else max(0.0, margin - d) ** 2
            pairs += 1
    return total / pairs


def triplet_reference(x, y, margin, mining):
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    losses = []
    for a in range(len(x)):
        positives = [p for p in range(len(x)) if p != a and y[p] == y[a]]
        negatives = [n for n in range(len(x)) if y[n] != y[a]]
        if not positives or not negatives:
            continue
        if mining == "batch_hard":
            losses.append(max(0.0, margin + max(d[a, positives]) - min(d[a, negatives])))
        else:
            losses += [max(0.0, margin + d[a, p] - d[a, n]) for p in positives for n in negatives]
    if mining == "batch_hard":
        return np.mean(losses) if losses else 0.0
    positive = [v for v in losses if v > 0]
    return sum(positive) / len(positive) if positive else 0.0


def cosines(x, w):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T


def cross_entropy(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def arcface_reference(x, w, y, s, m):
    cos = cosines(x, w)
    out = cos.copy()
    for i, c in enumerate(cos[np.arange(len(y)), y]):
        theta = math.acos(c)
        out[i, y[i]] = math.cos(theta + m) if c > math.cos(math.pi - m) else c - m * math.sin(m)
    return s * out


def sphereface_reference(x, w, y, m, lam):
    cos = cosines(x, w)
    length = np.linalg.norm(x, axis=1)
    out = length[:, None] * cos
    for i, c in enumerate(cos[np.arange(len(y)), y]):
        theta = math.acos(c)
        k = math.floor(m * theta / math.pi)
        psi = (-1) ** k * math.cos(m * theta) - 2 * k
        out[i, y[i]] = length[i] * (lam * c + psi) / (1 + lam)
    return out


# ---- values --------------------------------------------------------------------------------------
@pytest.mark.parametrize("margin", [0.5, 2.5])
def test_contrastive_value(margin):
    assert value(ContrastiveLoss(margin)(X, Y)) == pytest.approx(contrastive_reference(X, Y, margin), rel=1e-12)


def test_contrastive_by_hand():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])  # d01 = 5, d02 = 1, d12 = √18
    # same (0, 1): 25; different (0, 2): (2 - 1)² = 1; different (1, 2): max(0, 2 - √18)² = 0
    assert value(ContrastiveLoss(2.0)(x, np.array([4, 4, 7]))) == pytest.approx(26 / 3, rel=1e-12)


@pytest.mark.parametrize("mining", ["batch_hard", "all"])
@pytest.mark.parametrize("margin", [0.0, 0.3, 5.0])
def test_triplet_value(mining, margin):
    got = value(TripletLoss(margin, mining)(X, Y))
    assert got == pytest.approx(triplet_reference(X, Y, margin, mining), rel=1e-12, abs=1e-15)


def test_triplet_by_hand():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    y = np.array([0, 0, 1, 1])
    # batch hard, margin 1: a0: 1 + 1 - 3 < 0; a1: 1 + 1 - 2 = 0; a2: 1 + 4 - 2 = 3; a3: 1 + 4 - 6 < 0
    assert value(TripletLoss(1.0)(x, y)) == pytest.approx(3 / 4)
    # all: the positive losses are a2 (p3, n1): 3 and a2 (p3, n0): 1 + 4 - 3 = 2
    assert value(TripletLoss(1.0, "all")(x, y)) == pytest.approx(5 / 2)


def test_triplet_without_valid_triplets_is_zero():
    for mining in ("batch_hard", "all"):
        loss = TripletLoss(0.5, mining)
        assert value(loss(X[:3], np.array([0, 1, 2]))) == 0  # no positives
        assert value(loss(X[:3], np.array([1, 1, 1]))) == 0  # no negatives


def test_equal_features_give_finite_gradients():
    x = node.Node(np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]]))
    for loss in (ContrastiveLoss(1.0), TripletLoss(0.5), TripletLoss(0.5, "all")):
        x.zero_grad()
        loss(x, np.array([0, 1, 0])).backward()
        assert np.isfinite(x.grad).all()


def test_normface_and_cosface_values():
    for layer, margin in ((NormFace(4, 5, s=7.0, rng=1, dtype="float64"), 0.0), (CosFace(4, 5, s=7.0, m=0.3, rng=1, dtype="float64"), 0.3)):
        w = node.asnumpy(layer.weight.value)
        expected = 7.0 * (cosines(X, w) - margin * np.eye(5)[Y])
        np.testing.assert_allclose(node.asnumpy(layer.margin_logits(X, Y).value), expected, rtol=1e-12, atol=1e-12)
        assert value(layer(X, Y)) == pytest.approx(cross_entropy(expected, Y), rel=1e-12)
        np.testing.assert_allclose(node.asnumpy(layer.logits(X).value), 7.0 * cosines(X, w), rtol=1e-12)


@pytest.mark.parametrize("m", [0.2, 0.5, 1.2])
def test_arcface_values_both_sides_of_the_fallback(m):
    layer = ArcFace(4, 5, s=3.0, m=m, rng=2, dtype="float64")
    w = node.asnumpy(layer.weight.value)
    x = np.concatenate([X, -w[[1, 2]] + 0.01, w[[3]] * 2])  # cos θ_y near -1 (fallback) and exactly 1
    y = np.concatenate([Y, [1, 2, 3]])
    expected = arcface_reference(x, w, y, 3.0, m)
    c = cosines(x, w)[np.arange(len(y)), y]
    assert (c <= math.cos(math.pi - m)).any() and (c > math.cos(math.pi - m)).any()  # both branches run
    np.testing.assert_allclose(node.asnumpy(layer.margin_logits(x, y).value), expected, rtol=1e-10, atol=1e-10)
    assert value(layer(x, y)) == pytest.approx(cross_entropy(expected, y), rel=1e-10)


def test_arcface_gradient_is_finite_where_cos_is_one():
    layer = ArcFace(3, 4, m=0.5, rng=0, dtype="float64")
    x = node.Node(node.asnumpy(layer.weight.value)[[0, 2]] * 3)  # cos θ_y = 1 (up to rounding)
    layer(x, np.array([0, 2])).backward()
    assert np.isfinite(x.grad).all() and np.isfinite(layer.weight.grad).all()


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_sphereface_values(m):
    layer = SphereFace(4, 5, m=m, base=10.0, gamma=0.5, power=2.0, lambda_min=0.1, rng=3, dtype="float64")
    w = node.asnumpy(layer.weight.value)
    lam = max(0.1, 10.0 * (1 + 0.5 * 1) ** -2.0)  # the first training step uses t = 1
    got = node.asnumpy(layer.margin_logits(X, Y).value)
    np.testing.assert_allclose(got, sphereface_reference(X, w, Y, m, lam), rtol=1e-10, atol=1e-10)
    assert layer.lambda_ == pytest.approx(lam)
    np.testing.assert_allclose(node.asnumpy(layer.logits(X).value), np.linalg.norm(X, axis=1)[:, None] * cosines(X, w), rtol=1e-12)


def test_sphereface_psi_is_continuous_and_decreasing():
    layer = SphereFace(2, 2, m=4, rng=0, dtype="float64")
    theta = np.linspace(0, np.pi, 2001)
    psi = node.asnumpy(layer.psi(node.Node(np.cos(theta))).value)
    assert np.all(np.diff(psi) < 0)
    assert psi[0] == pytest.approx(1) and psi[-1] == pytest.approx(1 - 2 * 4)


def test_sphereface_annealing_counts_training_steps_only():
    layer = SphereFace(4, 5, base=1000.0, gamma=0.12, power=1.0, lambda_min=5.0, rng=0)
    for _ in range(3):
        layer(X, Y)
    assert int(layer.iteration) == 3
    assert layer.lambda_ == pytest.approx(1000 / (1 + 0.12 * 3), rel=1e-6)
    with node.no_grad():
        layer(X, Y)
    layer.eval()
    layer(X, Y)
    assert int(layer.iteration) == 3
    resumed = SphereFace(4, 5, rng=1)
    resumed.load_state_dict(layer.state_dict())  # t travels with the weights
    assert int(resumed.iteration) == 3 and resumed.lambda_ == layer.lambda_
    late = SphereFace(4, 5, iteration=10**6, rng=0)
    assert late.lambda_ == pytest.approx(5.0)


def test_logits_leave_the_margin_out():
    layer = CosFace(4, 5, s=5.0, m=0.2, rng=0, dtype="float64")
    logits = node.asnumpy(layer.logits(X).value)
    np.testing.assert_allclose(logits - node.asnumpy(layer.margin_logits(X, Y).value), 5.0 * 0.2 * np.eye(5)[Y], atol=1e-12)


# ---- gradients (float64, random upstream gradient) -----------------------------------------------
DISTANCE_LOSSES = [ContrastiveLoss(1.5), ContrastiveLoss(0.3), TripletLoss(0.5), TripletLoss(1.0, "all"), TripletLoss(0.0, "all")]


@pytest.mark.parametrize("loss", DISTANCE_LOSSES, ids=repr)
def test_distance_losses_gradients(loss):
    node.gradcheck(lambda a: loss(a, Y), X)
    node.gradgradcheck(lambda a: loss(a, Y), X)


def margin_layers():
    return [
        NormFace(4, 5, s=3.0, rng=4, dtype="float64"),
        CosFace(4, 5, s=3.0, m=0.35, rng=4, dtype="float64"),
        ArcFace(4, 5, s=3.0, m=0.5, rng=4, dtype="float64"),
        ArcFace(4, 5, s=2.0, m=1.4, rng=4, dtype="float64"),  # many samples on the fallback side
        SphereFace(4, 5, m=4, base=3.0, rng=4, dtype="float64"),
        SphereFace(4, 5, m=3, base=0.0, lambda_min=0.0, rng=4, dtype="float64"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_margin_losses_gradients_in_input_and_weights(index):
    layer = margin_layers()[index]
    layer.eval()  # SphereFace: λ held still while the finite differences run
    gradcheck_layer(layer, X, Y)
    node.gradgradcheck(lambda a: layer(a, Y), X)


# ---- CuPy (under the stand-in in CI) -----------------------------------------------------------
def test_every_loss_on_the_backend(xp):
    x64 = xp.asarray(X)
    y = xp.asarray(Y)
    for loss in DISTANCE_LOSSES:
        got = loss(node.Node(x64), y)
        assert node.backend.get_array_module(got.value) is xp
        assert value(got) == pytest.approx(value(loss(X, Y)), rel=1e-10)
    for host, device in zip(margin_layers(), margin_layers()):  # made on the active backend
        host.to("numpy")
        assert node.backend.get_array_module(device.weight.value) is xp
        x = node.Node(x64)
        got = device(x, y)
        got.backward()
        assert node.backend.get_array_module(device.weight.grad) is xp
        assert value(got) == pytest.approx(value(host(X, Y)), rel=1e-10)
        assert node.backend.get_array_module(device.logits(x).value) is xp


# ---- arguments ---------------------------------------------------------------------------------
BAD = [
    (lambda: ContrastiveLoss(0), ValueError, r"^ContrastiveLoss: margin must be a finite number > 0, got 0\.0$"),
    (lambda: ContrastiveLoss("1"), TypeError, r"^ContrastiveLoss: margin must be a finite number > 0, got str '1'$"),
    (lambda: TripletLoss(-0.1), ValueError, r"^TripletLoss: margin must be a finite number >= 0, got -0\.1$"),
    (lambda: TripletLoss(0.2, mining="hard"), ValueError, r"^TripletLoss: mining must be one of 'batch_hard', 'all', got 'hard'$"),
    (lambda: NormFace(0, 5), ValueError, r"^NormFace: in_features must be an integer >= 1, got 0$"),
    (lambda: NormFace(4, 1), ValueError, r"^NormFace: num_classes must be an integer >= 2, got 1$"),
    (lambda: NormFace(4, 5, s=0), ValueError, r"^NormFace: s must be a finite number > 0, got 0\.0$"),
    (lambda: CosFace(4.0, 5), TypeError, r"^CosFace: in_features must be an integer >= 1, got float 4\.0$"),
    (lambda: CosFace(4, 5, m=-0.1), ValueError, r"^CosFace: m must be a finite number >= 0, got -0\.1$"),
    (lambda: CosFace(4, 5, s=float("nan")), ValueError, r"^CosFace: s must be a finite number > 0, got nan$"),
    (lambda: ArcFace(4, 5, m=2.0), ValueError, r"^ArcFace: m must be a finite number in \[0, 1\.57\d*\], got 2\.0$"),
    (lambda: ArcFace(4, 5, dtype="int32"), ValueError, r"^ArcFace: dtype must be a floating-point dtype .*, got int32$"),
    (lambda: SphereFace(4, 5, m=0), ValueError, r"^SphereFace: m must be an integer >= 1, got 0$"),
    (lambda: SphereFace(4, 5, m=1.5), TypeError, r"^SphereFace: m must be an integer >= 1, got float 1\.5$"),
    (lambda: SphereFace(4, 5, gamma=-1), ValueError, r"^SphereFace: gamma must be a finite number >= 0, got -1\.0$"),
    (lambda: SphereFace(4, 5, iteration=-1), ValueError, r"^SphereFace: iteration must be an integer >= 0, got -1$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"^ContrastiveLoss: needs at least 2 samples in the batch, got 1$"):
        ContrastiveLoss()(X[:1], Y[:1])
    with pytest.raises(ValueError, match=r"^TripletLoss: 9 features but 8 labels$"):
        TripletLoss()(X, Y[:8])
    with pytest.raises(ValueError, match=r"^TripletLoss: labels must be integers of shape \(M,\)"):
        TripletLoss()(X, Y.astype(float))
    with pytest.raises(ValueError, match=r"^CosFace: features must have shape \(M, 3\), got \(9, 4\)$"):
        CosFace(3, 5)(X, Y)
    with pytest.raises(ValueError, match=r"^ArcFace: 9 features but 8 labels$"):
        ArcFace(4, 5)(X, Y[:8])
    with pytest.raises(ValueError, match=r"^NormFace: label 3 is out of range for 3 classes"):
        NormFace(4, 3)(X, Y)


# ---- PyTorch's formulas (insightface's ArcFace, CosFace) ---------------------------------------
def test_cosface_and_arcface_logits_match_pytorch_formulas():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    x = rng.standard_normal((16, 6))
    y = rng.integers(0, 7, 16)
    for m in (0.35, 0.5, 1.0):
        arc = ArcFace(6, 7, s=64.0, m=m, rng=5, dtype="float64")
        cos_layer = CosFace(6, 7, s=30.0, m=m, rng=5, dtype="float64")
        w = torch.tensor(node.asnumpy(arc.weight.value))
        cosine = F.linear(F.normalize(torch.tensor(x)), F.normalize(w))
        one_hot = F.one_hot(torch.tensor(y), 7).double()
        sine = torch.sqrt((1.0 - cosine**2).clamp(0, 1))
        phi = cosine * math.cos(m) - sine * math.sin(m)
        phi = torch.where(cosine > math.cos(math.pi - m), phi, cosine - math.sin(math.pi - m) * m)
        arcface = 64.0 * (one_hot * phi + (1 - one_hot) * cosine)
        np.testing.assert_allclose(node.asnumpy(arc.margin_logits(x, y).value), arcface.numpy(), rtol=1e-10, atol=1e-10)
        cosface = 30.0 * (cosine - one_hot * m)
        np.testing.assert_allclose(node.asnumpy(cos_layer.margin_logits(x, y).value), cosface.numpy(), rtol=1e-10, atol=1e-10)
        expected = F.cross_entropy(arcface, torch.tensor(y)).item()
        assert value(arc(x, y)) == pytest.approx(expected, rel=1e-10)

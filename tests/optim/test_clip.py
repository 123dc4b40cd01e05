"""clip_grad_norm_ and clip_grad_value_ (node/optim/clip.py): PyTorch's semantics, NumPy references, and torch itself when installed."""
import math

import numpy as np
import pytest

import node


def params_with_grads(xp, seed=0, scale=1.0, shapes=((3, 4), (5,), (2, 2, 2))):
    rng = np.random.default_rng(seed)
    params = []
    for shape in shapes:
        p = node.Parameter(xp.asarray(rng.standard_normal(shape)))
        p.grad = xp.asarray(scale * rng.standard_normal(shape))
        params.append(p)
    return params


def host(params):
    return [node.asnumpy(getattr(p.grad, "value", p.grad)) for p in params]


def norm_reference(grads, max_norm, p):
    """PyTorch's rule: total = ‖(‖g₁‖_p, ‖g₂‖_p, ...)‖_p; each g times min(1, max_norm / (total + 1e-6))."""
    flat = np.concatenate([g.ravel() for g in grads])
    total = np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)
    scale = min(1.0, max_norm / (total + 1e-6))
    return total, [g * scale for g in grads]


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clipped, and left alone (scale 1)
def test_clip_grad_norm_matches_its_formula(xp, norm_type, max_norm):
    params = params_with_grads(xp)
    before = host(params)
    total = node.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    p = math.inf if norm_type == "inf" else norm_type
    expected_total, expected = norm_reference(before, max_norm, p)
    assert isinstance(total, node.Node) and total.shape == () and not total.requires_grad
    assert node.get_array_module(total.value) is xp  # computed where the gradients are: nothing waits for the device
    np.testing.assert_allclose(float(node.asnumpy(total.value)), expected_total, rtol=1e-12)
    for got, want in zip(host(params), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    if max_norm < expected_total:
        clipped = np.concatenate([g.ravel() for g in host(params)])
        norm = np.abs(clipped).max() if p == math.inf else (np.abs(clipped) ** p).sum() ** (1 / p)
        assert norm == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_replaces_gradients_instead_of_writing_into_shared_arrays():
    shared = np.array([3.0, 4.0])
    a, b = node.Parameter(np.ones(2)), node.Parameter(np.ones(2))
    a.grad, b.grad = shared, np.zeros(2)
    total = node.clip_grad_norm_([a], 1.0)
    np.testing.assert_array_equal(shared, [3.0, 4.0])  # the array another Node may hold is untouched
    np.testing.assert_allclose(a.grad, [0.6, 0.8], rtol=1e-6)
    assert float(total.value) == 5.0


def test_clip_grad_norm_skips_parameters_without_gradient_and_takes_one_node():
    a, b = node.Parameter(np.ones(2)), node.Parameter(np.ones(2))
    a.grad = np.array([0.0, 2.0])
    assert float(node.clip_grad_norm_([a, b], 1.0).value) == 2.0 and b.grad is None
    np.testing.assert_allclose(a.grad, [0.0, 1.0], rtol=1e-6)
    assert float(node.clip_grad_norm_(a, 10.0).value) == pytest.approx(1.0)  # a single Node, as torch accepts
    assert float(node.clip_grad_norm_([b], 1.0).value) == 0.0  # nothing to clip
    assert node.optim.clip_grad_norm_ is node.clip_grad_norm_


def test_clip_grad_norm_keeps_float32_and_a_gradient_graph():
    p = node.Parameter(np.ones(3, dtype=np.float32))
    p.grad = np.full(3, 2.0, dtype=np.float32)
    node.clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == np.float32
    x = node.Parameter(np.array([1.0, 2.0]))
    (g,) = node.grad((x**3).sum(), [x], create_graph=True)  # 3x², a Node with a graph
    x.grad = g
    node.clip_grad_norm_([x], 1.0)
    assert isinstance(x.grad, node.Node) and x.grad.requires_grad


def test_clip_grad_norm_nonfinite():
    p = node.Parameter(np.ones(2))
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_: the total norm of order 2\.0 of the gradients is inf"):
        node.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.warns(RuntimeWarning, match="invalid value"):  # NumPy's warning for inf · 0
        total = node.clip_grad_norm_([p], 1.0)  # PyTorch's default: scale anyway, by 0, which makes inf NaN
    assert float(total.value) == math.inf and np.isnan(p.grad[0]) and p.grad[1] == 0


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 5.0])
def test_clip_grad_value_matches_numpy_clip(xp, clip_value):
    params = params_with_grads(xp, scale=2.0)
    before = host(params)
    assert node.clip_grad_value_(params, clip_value) is None
    for got, g in zip(host(params), before):
        np.testing.assert_array_equal(got, np.clip(g, -clip_value, clip_value))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clipping_matches_pytorch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    params = params_with_grads(np)
    tensors = []
    for p in params:
        t = torch.tensor(p.value, requires_grad=True)
        t.grad = torch.tensor(p.grad)
        tensors.append(t)
    total = node.clip_grad_norm_(params, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type)
    np.testing.assert_allclose(float(total.value), float(expected), rtol=1e-12)
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    node.clip_grad_value_(params, 0.1)
    torch.nn.utils.clip_grad_value_(tensors, 0.1)
    for p, t in zip(params, tensors):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def ones():
    p = node.Parameter(np.ones(2))
    p.grad = np.ones(2)
    return [p]


BAD = [
    (lambda: node.clip_grad_norm_(ones(), -1.0), ValueError, r"^clip_grad_norm_: max_norm must be a finite number >= 0, got -1\.0$"),
    (lambda: node.clip_grad_norm_(ones(), None), TypeError, r"^clip_grad_norm_: max_norm must be a finite number >= 0, got NoneType None$"),
    (lambda: node.clip_grad_norm_(ones(), 1.0, norm_type=0), ValueError, r"^clip_grad_norm_: norm_type must be a finite number > 0, got 0\.0$"),
    (lambda: node.clip_grad_norm_(ones(), 1.0, norm_type="l2"), TypeError, r"^clip_grad_norm_: norm_type must be a finite number > 0, got str 'l2'$"),
    (lambda: node.clip_grad_norm_(ones(), 1.0, error_if_nonfinite=1), TypeError, r"^clip_grad_norm_: error_if_nonfinite must be True or False, got int 1$"),
    (lambda: node.clip_grad_norm_([np.ones(2)], 1.0), TypeError, r"^clip_grad_norm_: params\[0\] must be a Node \(a Parameter\), got ndarray"),
    (lambda: node.clip_grad_norm_(3.0, 1.0), TypeError, r"^clip_grad_norm_: params must be a Node or an iterable of Nodes"),
    (lambda: node.clip_grad_value_(ones(), -0.1), ValueError, r"^clip_grad_value_: clip_value must be a finite number >= 0, got -0\.1$"),
    (lambda: node.clip_grad_value_(ones(), float("nan")), ValueError, r"^clip_grad_value_: clip_value must be a finite number >= 0, got nan$"),
    (lambda: node.clip_grad_value_("weights", 1.0), TypeError, r"^clip_grad_value_: params must be a Node or an iterable of Nodes"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_clipping_refuses_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

"""RNN, LSTM and GRU and their cells (issue 23, item 5).

Outputs and gradients against NumPy references of PyTorch's equations written
here (forward, and backpropagation through time by hand for the LSTM), gradcheck
on tiny sizes in float64, PyTorch's parameter names, batch_first, unbatched
inputs, initial states, argument errors, and equality with torch's modules
with the same weights where torch is installed.
"""
import numpy as np
import pytest
from helpers import gradcheck_layer

import node


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_weights(layer, k=None):
    suffix = "" if k is None else f"_l{k}"
    state = {name: node.asnumpy(v) for name, v in layer.state_dict().items()}
    return [state.get(f"{name}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def np_step(mode, x, state, weights):
    """PyTorch's documented equations, in NumPy."""
    w_ih, w_hh, b_ih, b_hh = weights
    gi = x @ w_ih.T + (0 if b_ih is None else b_ih)
    h = state[0] if mode == "LSTM" else state
    gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode == "RNN":
        return np.tanh(gi + gh)
    if mode == "RNN relu":
        return np.maximum(gi + gh, 0)
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sigmoid(f) * state[1] + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    r_i, z_i, n_i = np.split(gi, 3, axis=-1)
    r_h, z_h, n_h = np.split(gh, 3, axis=-1)
    r, z = sigmoid(r_i + r_h), sigmoid(z_i + z_h)
    n = np.tanh(n_i + r * n_h)
    return (1 - z) * n + z * h


def np_sequence(mode, layer, x, h0):
    """The stacked recurrence over time, x (L, N, I): (outputs (L, N, H), final state per layer)."""
    finals = []
    for k in range(layer.num_layers):
        state, outputs = h0[k], []
        for t in range(len(x)):
            state = np_step(mode, x[t], state, np_weights(layer, k))
            outputs.append(state[0] if mode == "LSTM" else state)
        x = np.stack(outputs)
        finals.append(state)
    return x, finals


def make(mode, **kwargs):
    cls = {"RNN": node.RNN, "RNN relu": node.RNN, "LSTM": node.LSTM, "GRU": node.GRU}[mode]
    if mode == "RNN relu":
        kwargs["nonlinearity"] = "relu"
    return cls(3, 4, rng=0, dtype="float64", **kwargs)


MODES = ["RNN", "RNN relu", "LSTM", "GRU"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers, batch_first, bias", [(1, False, True), (2, True, True), (3, False, False)])
def test_sequences_match_numpy(xp, rng, mode, num_layers, batch_first, bias):
    layer = make(mode, num_layers=num_layers, batch_first=batch_first, bias=bias).to(xp.__name__)
    x = rng.standard_normal((5, 2, 3))
    h0 = rng.standard_normal((num_layers, 2, 4))
    c0 = rng.standard_normal((num_layers, 2, 4))
    given = x.transpose(1, 0, 2) if batch_first else x
    state = (xp.asarray(h0), xp.asarray(c0)) if mode == "LSTM" else xp.asarray(h0)
    y, final = layer(xp.asarray(given), state)
    expected_y, finals = np_sequence(mode, layer, x, list(zip(h0, c0)) if mode == "LSTM" else list(h0))
    np.testing.assert_allclose(y.numpy(), expected_y.transpose(1, 0, 2) if batch_first else expected_y, rtol=1e-10, atol=1e-12)
    if mode == "LSTM":
        np.testing.assert_allclose(final[0].numpy(), np.stack([h for h, _ in finals]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(final[1].numpy(), np.stack([c for _, c in finals]), rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(final.numpy(), np.stack(finals), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_cells_match_numpy_and_default_to_zero_states(rng, mode):
    cls = {"RNN": node.RNNCell, "RNN relu": node.RNNCell, "LSTM": node.LSTMCell, "GRU": node.GRUCell}[mode]
    cell = cls(3, 4, nonlinearity="relu", rng=1, dtype="float64") if mode == "RNN relu" else cls(3, 4, rng=1, dtype="float64")
    assert [name for name, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    weights = np_weights(cell)
    if mode == "LSTM":
        got, expected = cell(x, (h, c)), np_step(mode, x, (h, c), weights)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-10)
        np.testing.assert_allclose(cell(x)[1].numpy(), np_step(mode, x, (0 * h, 0 * c), weights)[1], rtol=1e-10)
    else:
        np.testing.assert_allclose(cell(x, h).numpy(), np_step(mode, x, h, weights), rtol=1e-10)
        np.testing.assert_allclose(cell(x).numpy(), np_step(mode, x, 0 * h, weights), rtol=1e-10)
        assert cell(x[0]).shape == (4,)  # unbatched


def test_lstm_gradient_by_hand(rng):
    """Backpropagation through time written out for a one-layer LSTM, against node's backward."""
    layer = node.LSTM(3, 4, rng=2, dtype="float64")
    x = rng.standard_normal((4, 2, 3))
    gy = rng.standard_normal((4, 2, 4))
    w_ih, w_hh, b_ih, b_hh = np_weights(layer, 0)
    h, c = np.zeros((2, 4)), np.zeros((2, 4))
    tape = []
    for t in range(4):
        i, f, g, o = np.split(x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=-1)
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c_new = f * c + i * g
        tape.append((h, c, i, f, g, o, c_new))
        h, c = o * np.tanh(c_new), c_new
    gw_ih, gw_hh, gb, gx = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b_ih), np.zeros_like(x)
    dh, dc = np.zeros((2, 4)), np.zeros((2, 4))
    for t in reversed(range(4)):
        h_prev, c_prev, i, f, g, o, c_t = tape[t]
        dh = dh + gy[t]
        do = dh * np.tanh(c_t)
        dc = dc + dh * o * (1 - np.tanh(c_t) ** 2)
        di, df, dg = dc * g, dc * c_prev, dc * i
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=-1)
        gw_ih += dz.T @ x[t]
        gw_hh += dz.T @ h_prev
        gb += dz.sum(axis=0)
        gx[t] = dz @ w_ih
        dh, dc = dz @ w_hh, dc * f
    xn = node.Node(x)
    y, _ = layer(xn)
    y.backward(gy)

    def grad(p):
        return node.asnumpy(getattr(p.grad, "value", p.grad))

    for got, expected in [(grad(layer.weight_ih_l0), gw_ih), (grad(layer.weight_hh_l0), gw_hh), (grad(layer.bias_ih_l0), gb), (grad(layer.bias_hh_l0), gb), (grad(xn), gx)]:
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_tiny(xp, rng, mode):
    cls = {"RNN": node.RNN, "RNN relu": node.RNN, "LSTM": node.LSTM, "GRU": node.GRU}[mode]
    extra = {"nonlinearity": "relu"} if mode == "RNN relu" else {}
    layer = cls(2, 3, num_layers=2, rng=3, dtype="float64", **extra).to(xp.__name__)
    x = xp.asarray(rng.standard_normal((3, 2, 2)))
    assert gradcheck_layer(lambda_layer(layer, mode), x, seed=4)


def lambda_layer(layer, mode):
    """The layer as a function of x returning the output and the final states joined in one Node."""

    class Joined(node.Layer):
        def __init__(self):
            self.inner = layer

        def forward(self, x):
            y, final = self.inner(x)
            parts = [y, *(final if mode == "LSTM" else (final,))]
            return node.functions.concat([p.reshape(-1) for p in parts])

    return Joined()


def test_unbatched_batch_first_and_names(rng):
    lstm = node.LSTM(3, 4, num_layers=2, batch_first=True, rng=0, dtype="float64")
    assert [n for n, _ in lstm.named_parameters()] == [f"{w}_l{k}" for k in range(2) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert lstm.weight_ih_l0.shape == (16, 3) and lstm.weight_hh_l1.shape == (16, 4) and lstm.bias_ih_l1.shape == (16,)
    assert node.GRU(3, 5).weight_ih_l0.shape == (15, 3) and node.RNN(3, 5, bias=False).state_dict().keys() == {"weight_ih_l0", "weight_hh_l0"}
    x = rng.standard_normal((2, 6, 3))
    y, (h, c) = lstm(x)
    assert y.shape == (2, 6, 4) and h.shape == (2, 2, 4) and c.shape == (2, 2, 4)
    y1, (h1, _) = lstm(x[0])  # unbatched (L, I): no batch axis anywhere
    assert y1.shape == (6, 4) and h1.shape == (2, 4)
    np.testing.assert_allclose(y1.numpy(), y.numpy()[0], rtol=1e-12)
    np.testing.assert_allclose(y.numpy()[:, -1], h.numpy()[-1], rtol=1e-12)  # the last step's output is the top layer's h_n
    assert repr(lstm) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(node.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"
    assert repr(node.GRUCell(3, 4)) == "GRUCell(3, 4, bias=True)"


def test_dropout_between_layers_only_in_training(rng):
    gru = node.GRU(3, 4, num_layers=2, dropout=0.5, rng=0, dtype="float64")
    x = rng.standard_normal((5, 2, 3))
    gru.eval()
    plain = node.GRU(3, 4, num_layers=2, rng=0, dtype="float64")
    np.testing.assert_allclose(gru(x)[0].numpy(), plain(x)[0].numpy())
    gru.train()
    assert not np.allclose(gru(x)[0].numpy(), plain(x)[0].numpy())


BAD = [
    (lambda: node.LSTM(0, 4), ValueError, r"^LSTM: input_size must be an integer >= 1, got 0$"),
    (lambda: node.GRU(3, 4.0), TypeError, r"^GRU: hidden_size must be an integer >= 1, got float 4\.0$"),
    (lambda: node.RNN(3, 4, num_layers=0), ValueError, r"^RNN: num_layers must be an integer >= 1, got 0$"),
    (lambda: node.RNN(3, 4, nonlinearity="sigmoid"), ValueError, r"^RNN: nonlinearity must be one of 'tanh', 'relu', got 'sigmoid'$"),
    (lambda: node.LSTM(3, 4, dropout=1.0), ValueError, r"^LSTM: dropout must be a finite number in \[0, 1\), got 1\.0$"),
    (lambda: node.LSTM(3, 4, batch_first=1), TypeError, r"^LSTM: batch_first must be True or False, got int 1$"),
    (lambda: node.LSTMCell(3, 4, bias="no"), TypeError, r"^LSTMCell: bias must be True or False, got str 'no'$"),
    (lambda: node.LSTM(3, 4)(np.ones((5, 2, 2))), ValueError, r"^LSTM: expected input of shape \(L, N, input_size\) or \(L, input_size\) with input_size=3, got \(5, 2, 2\)$"),
    (lambda: node.GRU(3, 4)(np.ones((5, 2, 3)), np.ones((2, 2, 4))), ValueError, r"^GRU: initial state of shape \(2, 2, 4\) does not fit input \(5, 2, 3\): expected \(1, 2, 4\)$"),
    (lambda: node.RNN(3, 4)(np.ones((0, 2, 3))), ValueError, r"^RNN: the input sequence is empty"),
    (lambda: node.GRUCell(3, 4)(np.ones((2, 3)), np.ones((2, 5))), ValueError, r"^GRUCell: hx of shape \(2, 5\) does not fit input \(2, 3\): expected \(2, 4\)$"),
]


@pytest.mark.parametrize("make, error, message", BAD, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_matches_torch_with_the_same_weights(rng, mode):
    torch = pytest.importorskip("torch")
    ours = getattr(node, mode)(3, 4, num_layers=2, batch_first=True, rng=0, dtype="float64")
    theirs = getattr(torch.nn, mode)(3, 4, num_layers=2, batch_first=True).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})  # the names map one to one
    x = rng.standard_normal((2, 5, 3))
    h0 = rng.standard_normal((2, 2, 4))
    state = (h0, h0 * 0.5) if mode == "LSTM" else h0
    t_state = tuple(torch.from_numpy(s) for s in state) if mode == "LSTM" else torch.from_numpy(state)
    y, final = ours(x, state)
    t_y, t_final = theirs(torch.from_numpy(x), t_state)
    np.testing.assert_allclose(y.numpy(), t_y.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(final if mode == "LSTM" else (final,), t_final if mode == "LSTM" else (t_final,)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    cell = getattr(node, mode + "Cell")(3, 4, rng=0, dtype="float64")
    t_cell = getattr(torch.nn, mode + "Cell")(3, 4).double()
    t_cell.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items()})
    got = cell(x[:, 0])
    expected = t_cell(torch.from_numpy(x[:, 0]))
    np.testing.assert_allclose((got[0] if mode == "LSTM" else got).numpy(), (expected[0] if mode == "LSTM" else expected).detach().numpy(), rtol=1e-10)

"""Recurrent layers: RNN, LSTM and GRU over sequences, and their cells for one time step.

Everything is written with node's ops (matrix products, sigmoid, tanh, slices,
stack), one time step after another in a Python loop, so the gradients come
from those ops: backpropagation through time is the ordinary backward walk
over the graph the loop recorded.

The equations and the parameters are PyTorch's, so that a state dict maps one
to one. With x the input and h the previous hidden state, every cell first computes

    gi = x @ weight_ihᵀ + bias_ih,      gh = h @ weight_hhᵀ + bias_hh

(weight_ih of shape (gates·H, input_size), weight_hh (gates·H, H)), then, with
σ the sigmoid and the gates in PyTorch's order along the rows of the weights:

    RNN (1 gate):   h' = tanh(gi + gh)    (or relu)
    LSTM (i, f, g, o):
                    i = σ(gi_i + gh_i),  f = σ(gi_f + gh_f),  g = tanh(gi_g + gh_g),  o = σ(gi_o + gh_o)
                    c' = f·c + i·g,      h' = o·tanh(c')
    GRU (r, z, n):  r = σ(gi_r + gh_r),  z = σ(gi_z + gh_z)
                    n = tanh(gi_n + r·gh_n)      (r multiplies W_hn·h + b_hn, as in PyTorch)
                    h' = (1 - z)·n + z·h

Every weight and bias starts uniform in ±1/√H (PyTorch's default). The
sequence layers name their parameters weight_ih_l{k}, weight_hh_l{k},
bias_ih_l{k} and bias_hh_l{k} for layer k; the cells weight_ih, weight_hh,
bias_ih and bias_hh.
"""
import math

from ..backend import get_array_module
from ..config import as_generator
from ..core import as_node
from ..functions import dropout, relu, sigmoid, stack, tanh, unbind
from ..validation import choice, flag, float_dtype, integer, real
from .init import uniform
from .layer import Layer, Parameter

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def projections(x, h, weights):
    """(x @ weight_ihᵀ + bias_ih, h @ weight_hhᵀ + bias_hh); ``weights`` is (weight_ih, weight_hh, bias_ih, bias_hh), biases None when absent."""
    w_ih, w_hh, b_ih, b_hh = weights
    gi, gh = x @ w_ih.T, h @ w_hh.T
    if b_ih is not None:
        gi, gh = gi + b_ih, gh + b_hh
    return gi, gh


def gate(z, k, hidden):
    """Gate k of the stacked gates z (..., gates·H): its H columns."""
    return z[..., k * hidden : (k + 1) * hidden]


def rnn_step(x, h, weights, nonlinearity="tanh"):
    """One step of the Elman RNN: h' = tanh (or relu) of x @ W_ihᵀ + b_ih + h @ W_hhᵀ + b_hh."""
    gi, gh = projections(x, h, weights)
    return tanh(gi + gh) if nonlinearity == "tanh" else relu(gi + gh)


def lstm_step(x, state, weights):
    """One LSTM step: (h, c) -> (h', c'), gates i, f, g, o."""
    h, c = state
    gi, gh = projections(x, h, weights)
    z, hidden = gi + gh, h.shape[-1]
    i, f = sigmoid(gate(z, 0, hidden)), sigmoid(gate(z, 1, hidden))
    g, o = tanh(gate(z, 2, hidden)), sigmoid(gate(z, 3, hidden))
    c = f * c + i * g
    return o * tanh(c), c


def gru_step(x, h, weights):
    """One GRU step: h -> h', gates r, z and the candidate n (r applied to W_hn·h + b_hn)."""
    gi, gh = projections(x, h, weights)
    hidden = h.shape[-1]
    r = sigmoid(gate(gi, 0, hidden) + gate(gh, 0, hidden))
    z = sigmoid(gate(gi, 1, hidden) + gate(gh, 1, hidden))
    n = tanh(gate(gi, 2, hidden) + r * gate(gh, 2, hidden))
    return (1 - z) * n + z * h


def _check_sizes(cls, input_size, hidden_size, bias, dtype):
    input_size = integer(cls, "input_size", input_size, minimum=1)
    hidden_size = integer(cls, "hidden_size", hidden_size, minimum=1)
    return input_size, hidden_size, flag(cls, "bias", bias), float_dtype(cls, "dtype", dtype)


def _parameters(rng, gates, input_size, hidden_size, bias, dtype, suffix=""):
    """[(name, Parameter)] for weight_ih, weight_hh, bias_ih, bias_hh (+ suffix), uniform in ±1/√H."""
    bound = 1 / math.sqrt(hidden_size)
    shapes = [("weight_ih", (gates * hidden_size, input_size)), ("weight_hh", (gates * hidden_size, hidden_size))]
    if bias:
        shapes += [("bias_ih", (gates * hidden_size,)), ("bias_hh", (gates * hidden_size,))]
    return [(name + suffix, Parameter(uniform(rng, shape, bound, dtype), name=name + suffix)) for name, shape in shapes]


def _zeros(x, *shape):
    """Zeros of ``shape`` in x's dtype on x's device: a default initial state (a constant)."""
    return get_array_module(x.value).zeros(shape, dtype=x.dtype)


# ---- cells: one time step ---------------------------------------------------------------------


class _Cell(Layer):
    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=None):
        cls = type(self).__name__
        input_size, hidden_size, bias, dtype = _check_sizes(cls, input_size, hidden_size, bias, dtype)
        self.input_size, self.hidden_size = input_size, hidden_size
        for name, p in _parameters(as_generator(rng), GATES[self.mode], input_size, hidden_size, bias, dtype):
            setattr(self, name, p)
        if not bias:
            self.bias_ih = self.bias_hh = None

    def weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def check_input(self, x):
        x = as_node(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input of shape (N, {self.input_size}) or ({self.input_size},), got {x.shape}")
        return x

    def state(self, x, h, name="hx"):
        if h is None:
            return _zeros(x, *x.shape[:-1], self.hidden_size)
        h = as_node(h)
        if h.shape != x.shape[:-1] + (self.hidden_size,):
            raise ValueError(f"{type(self).__name__}: {name} of shape {h.shape} does not fit input {x.shape}: expected {x.shape[:-1] + (self.hidden_size,)}")
        return h

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """One step of the Elman RNN: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (``nonlinearity="relu"``: relu).

    Call it as ``cell(x, h)`` with x (N, input_size) and h (N, hidden_size) or
    None (zeros); returns h'. An unbatched x (input_size,) gives (hidden_size,).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None, dtype=None):
        self.nonlinearity = choice("RNNCell", "nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(input_size, hidden_size, bias, rng, dtype)

    def forward(self, x, hx=None):
        x = self.check_input(x)
        return rnn_step(x, self.state(x, hx), self.weights(), self.nonlinearity)

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """One LSTM step: ``cell(x, (h, c))`` -> (h', c'), with gates i, f, g, o (see the module docstring).

    The state is optional (zeros); x (N, input_size) or unbatched (input_size,).
    """

    mode = "LSTM"

    def forward(self, x, hx=None):
        x = self.check_input(x)
        h, c = (None, None) if hx is None else hx
        return lstm_step(x, (self.state(x, h, "h"), self.state(x, c, "c")), self.weights())


class GRUCell(_Cell):
    """One GRU step: ``cell(x, h)`` -> h', with gates r, z and the candidate n (see the module docstring)."""

    mode = "GRU"

    def forward(self, x, hx=None):
        x = self.check_input(x)
        return gru_step(x, self.state(x, hx), self.weights())


# ---- sequences: layers of cells, unrolled over time ---------------------------------------------


class _Recurrent(Layer):
    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, nonlinearity="tanh", rng=None, dtype=None):
        cls = type(self).__name__
        input_size, hidden_size, bias, dtype = _check_sizes(cls, input_size, hidden_size, bias, dtype)
        self.num_layers = integer(cls, "num_layers", num_layers, minimum=1)
        self.batch_first = flag(cls, "batch_first", batch_first)
        self.dropout = real(cls, "dropout", dropout, minimum=0, maximum=1, open_maximum=True)
        self.nonlinearity = choice(cls, "nonlinearity", nonlinearity, ("tanh", "relu"))
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rng = as_generator(rng)
        self.rng = rng  # for the dropout between layers
        for k in range(self.num_layers):  # in PyTorch's order: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._l1
            size = input_size if k == 0 else hidden_size
            for name, p in _parameters(rng, GATES[self.mode], size, hidden_size, bias, dtype, f"_l{k}"):
                setattr(self, name, p)

    def layer_weights(self, k):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of layer k (the biases None without bias)."""
        return tuple(getattr(self, f"{name}_l{k}", None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def step(self, x, state, weights):
        return rnn_step(x, state, weights, self.nonlinearity)

    def initial_states(self, x, hx):
        """hx as one state per layer: (num_layers, N, H) -> a list of (N, H) (zeros when hx is None)."""
        shape = (self.num_layers,) + x.shape[1:-1] + (self.hidden_size,)
        if hx is None:
            return [_zeros(x, *shape[1:])] * self.num_layers
        hx = as_node(hx)
        if hx.shape != shape:
            raise ValueError(f"{type(self).__name__}: initial state of shape {hx.shape} does not fit input {x.shape}: expected {shape}")
        return list(unbind(hx, 0))

    def check_input(self, x):
        x = as_node(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(N, L, input_size)" if self.batch_first else "(L, N, input_size)"
            raise ValueError(f"{type(self).__name__}: expected input of shape {layout} or (L, input_size) with input_size={self.input_size}, got {x.shape}")
        if x.ndim == 3 and self.batch_first:
            x = x.transpose(1, 0, 2)  # time first inside
        return x

    def run(self, x, states):
        """Every layer over every time step. x (L, [N,] I) time first; states: one per layer. Returns (output, final states)."""
        finals = []
        for k in range(self.num_layers):
            weights, state, outputs = self.layer_weights(k), states[k], []
            for x_t in unbind(x, 0):
                state = self.step(x_t, state, weights)
                outputs.append(state[0] if isinstance(state, tuple) else state)
            x = stack(outputs, 0)
            if self.dropout and self.training and k < self.num_layers - 1:
                x = dropout(x, self.dropout, self.rng)
            finals.append(state)
        return x, finals

    def output(self, y):
        return y.transpose(1, 0, 2) if y.ndim == 3 and self.batch_first else y

    def forward(self, x, hx=None):
        x = self.check_input(x)
        if x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: the input sequence is empty (input {x.shape})")
        y, finals = self.run(x, self.initial_states(x, hx))
        return self.output(y), stack(finals, 0)

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            options.append(f"num_layers={self.num_layers}")
        if not self.bias:
            options.append("bias=False")
        if self.batch_first:
            options.append("batch_first=True")
        if self.dropout:
            options.append(f"dropout={self.dropout}")
        return ", ".join(options)


class RNN(_Recurrent):
    """An Elman RNN over sequences, ``num_layers`` deep: ``output, h_n = rnn(x, h_0)``.

    Args:
        input_size, hidden_size: I and H.
        num_layers: stacked layers, each reading the hidden states of the one below.
        nonlinearity: "tanh" or "relu".
        bias: learn bias_ih and bias_hh.
        batch_first: inputs and outputs (N, L, ·) instead of (L, N, ·).
        dropout: probability of dropout on the outputs of every layer but the last, in training.
        rng, dtype: as for Linear.

    x is (L, N, I) ((N, L, I) with batch_first) or unbatched (L, I); h_0 is
    (num_layers, N, H) or None (zeros). Returns the last layer's hidden state
    at every step, (L, N, H), and every layer's last one, h_n (num_layers, N, H).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0, rng=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, nonlinearity, rng, dtype)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTM(_Recurrent):
    """An LSTM over sequences: ``output, (h_n, c_n) = lstm(x, (h_0, c_0))``; the arguments are RNN's (without nonlinearity).

    The initial state (h_0, c_0), each (num_layers, N, H), is optional (zeros).
    """

    mode = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, rng=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, "tanh", rng, dtype)

    def step(self, x, state, weights):
        return lstm_step(x, state, weights)

    def forward(self, x, hx=None):
        x = self.check_input(x)
        if x.shape[0] == 0:
            raise ValueError(f"LSTM: the input sequence is empty (input {x.shape})")
        h0, c0 = (None, None) if hx is None else hx
        states = list(zip(self.initial_states(x, h0), self.initial_states(x, c0)))
        y, finals = self.run(x, states)
        return self.output(y), (stack([h for h, _ in finals], 0), stack([c for _, c in finals], 0))


class GRU(_Recurrent):
    """A GRU over sequences: ``output, h_n = gru(x, h_0)``; the arguments are RNN's (without nonlinearity)."""

    mode = "GRU"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, rng=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, "tanh", rng, dtype)

    def step(self, x, state, weights):
        return gru_step(x, state, weights)

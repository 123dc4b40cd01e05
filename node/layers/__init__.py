"""Layers: the Layer/Network machinery first, then each kind of layer."""
from .activation import ELU, GELU, SELU, LeakyReLU, LogSigmoid, LogSoftmax, PReLU, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .attention import MultiheadAttention
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .embedding import Embedding
from ..config import as_generator
from .layer import Layer, Network, Parameter, Sequential
from .linear import Linear
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, Flatten, GlobalAvgPool2d, Identity, MaxPool2d
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout", "Embedding", "Flatten", "GlobalAvgPool2d", "Identity",
    "GRU", "GRUCell", "GroupNorm", "LSTM", "LSTMCell", "Layer", "LayerNorm", "LeakyReLU", "Linear", "MultiheadAttention", "LogSoftmax", "MaxPool2d", "Network", "PReLU", "Parameter",
    "RNN", "RNNCell", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "as_generator",
    "ELU", "GELU", "LogSigmoid", "SELU", "SiLU", "Softplus",
]

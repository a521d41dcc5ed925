"""Keras-style layers as plain `torch.nn.Module`s (channels-first, PyTorch parameter layout).

Every layer with weights also reads and writes them in Keras's order and layout
(`get_keras_weights()` / `set_keras_weights()`) and reports Keras's parameter
counts (`keras_param_counts()`).

Example:
    >>> import torch
    >>> from fitorch.layers import Dense, Flatten
    >>> torch.nn.Sequential(Flatten(), Dense(3))(torch.zeros(2, 4, 5)).shape
    torch.Size([2, 3])
"""

from fitorch.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from fitorch.layers.conv import Conv1D, Conv2D
from fitorch.layers.core import Activation, Dense, Dropout, Flatten
from fitorch.layers.embedding import Embedding
from fitorch.layers.input_layer import Input
from fitorch.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)
from fitorch.layers.normalization import BatchNormalization, LayerNormalization
from fitorch.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from fitorch.layers.recurrent import GRU, LSTM
from fitorch.layers.reshaping import Reshape

__all__ = [
    "ELU",
    "GRU",
    "LSTM",
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "PReLU",
    "ReLU",
    "Reshape",
    "Softmax",
    "Subtract",
]

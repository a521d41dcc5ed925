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

from fitorch.layers.conv import Conv1D, Conv2D
from fitorch.layers.core import Activation, Dense, Dropout, Flatten
from fitorch.layers.embedding import Embedding
from fitorch.layers.input_layer import Input, InputLayer
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
    "GRU",
    "LSTM",
    "Activation",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "LayerNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "Reshape",
]

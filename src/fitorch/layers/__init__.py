"""Keras-style layers as plain `torch.nn.Module`s (channels-first, PyTorch parameter layout).

Example:
    >>> import torch
    >>> from fitorch.layers import Dense, Flatten
    >>> torch.nn.Sequential(Flatten(), Dense(3))(torch.zeros(2, 4, 5)).shape
    torch.Size([2, 3])
"""

from fitorch.layers.core import Activation, Dense, Dropout, Flatten
from fitorch.layers.input_layer import Input

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input"]

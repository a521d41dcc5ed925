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
from fitorch.layers.attention import MultiHeadAttention
from fitorch.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from fitorch.layers.category_encoding import CategoryEncoding
from fitorch.layers.conv import Conv1D, Conv2D, Conv3D
from fitorch.layers.conv_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from fitorch.layers.core import Activation, Dense, Dropout, Flatten
from fitorch.layers.depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from fitorch.layers.discretization import Discretization
from fitorch.layers.dot_attention import AdditiveAttention, Attention
from fitorch.layers.embedding import Embedding
from fitorch.layers.hashing import HashedCrossing, Hashing
from fitorch.layers.input_layer import Input, InputLayer
from fitorch.layers.lookup import IntegerLookup, StringLookup
from fitorch.layers.masking import Masking
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
from fitorch.layers.noise import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from fitorch.layers.normalization import BatchNormalization, LayerNormalization
from fitorch.layers.normalization_extra import GroupNormalization, UnitNormalization
from fitorch.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from fitorch.layers.preprocessing import Normalization, Rescaling
from fitorch.layers.recurrent import GRU, LSTM, SimpleRNN
from fitorch.layers.recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell
from fitorch.layers.reshaping import Reshape
from fitorch.layers.resizing import CenterCrop, RandomFlip, Resizing
from fitorch.layers.rnn import RNN, StackedRNNCells
from fitorch.layers.structure import (
    Cropping1D,
    Cropping2D,
    Identity,
    Lambda,
    Permute,
    RepeatVector,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from fitorch.layers.text_vectorization import TextVectorization
from fitorch.layers.wrappers import Bidirectional, TimeDistributed

__all__ = [
    "ELU",
    "GRU",
    "LSTM",
    "RNN",
    "Activation",
    "ActivityRegularization",
    "Add",
    "AdditiveAttention",
    "AlphaDropout",
    "Attention",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Bidirectional",
    "CategoryEncoding",
    "CenterCrop",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Discretization",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "HashedCrossing",
    "Hashing",
    "Identity",
    "Input",
    "InputLayer",
    "IntegerLookup",
    "LSTMCell",
    "Lambda",
    "LayerNormalization",
    "LeakyReLU",
    "Masking",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "MultiHeadAttention",
    "Multiply",
    "Normalization",
    "PReLU",
    "Permute",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Resizing",
    "SeparableConv1D",
    "SeparableConv2D",
    "SimpleRNN",
    "SimpleRNNCell",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "StackedRNNCells",
    "StringLookup",
    "Subtract",
    "TextVectorization",
    "TimeDistributed",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
]

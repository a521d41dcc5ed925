"""Keras 3 losses implemented in torch, numerically identical to ``keras.losses``.

Every loss has two forms, exactly as in Keras:

* a function ``fn(y_true, y_pred, ...)`` returning per-sample values (already reduced
  over the last axis where Keras does so), e.g. :func:`mean_squared_error`;
* a :class:`Loss` object whose ``__call__(y_true, y_pred, sample_weight=None)`` applies
  sample weights and the reduction, e.g. :class:`MeanSquaredError`.

Example:
    >>> import torch
    >>> loss = get("sparse_categorical_crossentropy")
    >>> loss(torch.tensor([1, 2]), torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
    tensor(1.1769)

The implementation is split by job: :mod:`~fitorch.losses.reduction` (masks, sample
weights and reductions), :mod:`~fitorch.losses.base` (:class:`Loss`,
:class:`LossFunctionWrapper`), :mod:`~fitorch.losses.regression`,
:mod:`~fitorch.losses.hinges`, :mod:`~fitorch.losses.crossentropy` and
:mod:`~fitorch.losses.registry` (:func:`get`).
"""

from fitorch.losses._utils import EPSILON as EPSILON
from fitorch.losses._utils import TensorLike as TensorLike
from fitorch.losses.base import Loss, LossFunctionWrapper
from fitorch.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from fitorch.losses.crossentropy import _bad_label_message as _bad_label_message
from fitorch.losses.hinges import Hinge, SquaredHinge, hinge, squared_hinge
from fitorch.losses.reduction import REDUCTIONS as REDUCTIONS
from fitorch.losses.reduction import (
    reduce_values,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
)
from fitorch.losses.reduction import standardize_reduction as standardize_reduction
from fitorch.losses.registry import _CLASSES as _CLASSES
from fitorch.losses.registry import get
from fitorch.losses.regression import (
    CosineSimilarity,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    cosine_similarity,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
)
from fitorch.losses.torch_losses import TorchLoss

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "TorchLoss",
    "binary_crossentropy",
    "categorical_crossentropy",
    "cosine_similarity",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "reduce_values",
    "reduce_weighted_values",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "squeeze_or_expand_to_same_rank",
]

"""`get`: resolve a loss identifier (name, config dict, Loss, torch.nn loss or callable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from fitorch.losses._utils import _type_name
from fitorch.losses.base import Loss, LossFunctionWrapper
from fitorch.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from fitorch.losses.hinges import Hinge, SquaredHinge, hinge, squared_hinge
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
from fitorch.losses.torch_losses import TorchLoss, is_torch_loss

_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        CosineSimilarity,
        Huber,
        LogCosh,
        Hinge,
        SquaredHinge,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}

_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    fn.__name__: fn
    for fn in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        cosine_similarity,
        huber,
        log_cosh,
        hinge,
        squared_hinge,
        kl_divergence,
        poisson,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
    )
}
_FUNCTIONS.update(
    {
        # Keras 3's aliases.
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
        # Keras 2 (tf.keras) aliases, kept so old code keeps working.
        "logcosh": log_cosh,
        "kullback_leibler_divergence": kl_divergence,
    }
)


def _valid_names() -> list[str]:
    return sorted([*_FUNCTIONS, *_CLASSES], key=str.lower)


def get(identifier: str | dict[str, Any] | Loss | Callable[..., Any]) -> Loss:
    """Resolve a loss identifier to a :class:`Loss`, as `keras.losses.get` + `compile` do.

    * a string: a Keras function name or alias (`"mse"`, `"bce"`, `"kld"`, ...) gives a
      :class:`LossFunctionWrapper` named after the string; a class name
      (`"MeanSquaredError"`) gives that class with its default name;
    * a dict `{"class_name": ..., "config": {...}}` builds that class from its config;
    * a :class:`Loss` is returned as is, a :class:`Loss` subclass is instantiated;
    * a `torch.nn` loss module (or class, or any `nn.Module`) and a `torch.nn.functional`
      loss are called in torch's order `module(y_pred, y_true)`, with per-sample weights
      (see :class:`~fitorch.losses.torch_losses.TorchLoss`);
    * any other callable `fn(y_true, y_pred)` is wrapped in :class:`LossFunctionWrapper`.

    Example:
        >>> get("mse").name, get("MeanSquaredError").name
        ('mse', 'mean_squared_error')
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier)
        if cls is not None:
            return cls()
        fn = _FUNCTIONS.get(identifier)
        if fn is not None:
            return LossFunctionWrapper(fn, name=identifier)
        raise ValueError(
            f"Unknown loss identifier {identifier!r}. Expected one of {_valid_names()}, a "
            "Loss instance or a callable fn(y_true, y_pred). Received: "
            f"identifier={identifier!r} (of type str)"
        )
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if isinstance(identifier, type):
        if issubclass(identifier, Loss):
            return identifier()
        if issubclass(identifier, torch.nn.Module):
            return TorchLoss(identifier())
    elif is_torch_loss(identifier):
        return TorchLoss(identifier)
    elif callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(
        "Could not interpret loss identifier. Expected a loss name (one of "
        f"{_valid_names()}), a config dict, a Loss instance or a callable "
        f"fn(y_true, y_pred). Received: identifier={identifier!r} "
        f"(of type {_type_name(identifier)})"
    )


def _from_dict(identifier: dict[str, Any]) -> Loss:
    class_name = identifier.get("class_name")
    config = identifier.get("config", {})
    cls = _CLASSES.get(class_name) if isinstance(class_name, str) else None
    if class_name == "LossFunctionWrapper":
        cls = LossFunctionWrapper
    if cls is None or not isinstance(config, dict):
        raise ValueError(
            "A loss config dict needs 'class_name' (one of "
            f"{sorted(_CLASSES)}) and a 'config' dict. Received: identifier={identifier!r} "
            "(of type dict)"
        )
    return cls.from_config(config)

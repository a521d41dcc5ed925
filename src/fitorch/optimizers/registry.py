"""Optimizer lookup: `get()` (names, configs, Keras and torch objects) and `instantiate()`."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

import torch

from fitorch.optimizers.adagrad import Adadelta, Adagrad
from fitorch.optimizers.adam import Adam, Adamax, AdamW, Nadam
from fitorch.optimizers.base import KerasOptimizer, _describe
from fitorch.optimizers.rmsprop import RMSprop
from fitorch.optimizers.sgd import SGD

_OPTIMIZERS: dict[str, type[KerasOptimizer]] = {
    cls.__name__.lower(): cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam)
}


def _from_keras_object(obj: Any) -> KerasOptimizer:
    """A fitorch optimizer with the config of a `keras.optimizers.*` instance."""
    cls = _OPTIMIZERS.get(type(obj).__name__.lower())
    if cls is None:
        raise ValueError(
            f"No fitorch equivalent of the Keras optimizer {type(obj).__name__}. Valid names: "
            f"{sorted(_OPTIMIZERS)}. Received: identifier={_describe(obj)}"
        )
    config = dict(obj.get_config())
    for key in ("loss_scale_factor", "gradient_accumulation_steps"):
        value = config.pop(key, None)
        if value is not None:
            raise ValueError(
                f"fitorch optimizers do not support `{key}`. Received: {key}={_describe(value)}"
            )
    learning_rate = config.get("learning_rate")
    if not isinstance(learning_rate, Real):
        raise TypeError(
            "Only Keras optimizers with a float learning rate can be converted. "
            f"Received: learning_rate={_describe(learning_rate)}"
        )
    config["learning_rate"] = float(learning_rate)
    return cls.from_config(config)


def get(identifier: Any, **kwargs: Any) -> type | torch.optim.Optimizer:
    """An optimizer from a Keras name, an instance or a torch optimizer class.

    Strings (`"adam"`, `"RMSprop"`, ...; case-insensitive) give a new, unbuilt
    optimizer with Keras's defaults (overridden by `kwargs`); `{"class_name": ...,
    "config": {...}}` dicts and `keras.optimizers` instances with a float learning
    rate are converted. Any `torch.optim.Optimizer` instance is returned as is;
    a `torch.optim.Optimizer` subclass is returned as is, for `instantiate()`.

    Example:
        >>> opt = get("adam", learning_rate=1e-2)
        >>> type(opt).__name__, opt.learning_rate
        ('Adam', 0.01)
        >>> get(torch.optim.SGD) is torch.optim.SGD
        True
    """
    if isinstance(identifier, str):
        cls = _OPTIMIZERS.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown optimizer name. Valid names: {sorted(_OPTIMIZERS)}. "
                f"Received: identifier={_describe(identifier)}"
            )
        return cls(**kwargs)
    if isinstance(identifier, Mapping) and "class_name" in identifier:
        optimizer = get(str(identifier["class_name"]), **dict(identifier.get("config", {})))
        return optimizer
    if kwargs:
        raise ValueError(
            "Keyword arguments are only used with a string identifier. "
            f"Received: identifier={_describe(identifier)}, kwargs={sorted(kwargs)}"
        )
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        return identifier
    if type(identifier).__module__.startswith("keras") and hasattr(identifier, "get_config"):
        return _from_keras_object(identifier)
    raise TypeError(
        "Could not interpret optimizer identifier: expected a name such as 'adam', a "
        "torch.optim.Optimizer instance or subclass, or a keras.optimizers instance. "
        f"Received: identifier={_describe(identifier)}"
    )


def _required_lr(cls: type) -> bool:
    try:
        parameter = inspect.signature(cls).parameters.get("lr")
    except (TypeError, ValueError):
        return False
    if parameter is None:
        return False
    default = parameter.default
    # Old torch marks a required lr with the `torch.optim.optimizer.required` sentinel.
    return default is inspect.Parameter.empty or type(default).__name__ == "_RequiredParameter"


def instantiate(
    cls_or_obj: Any, params: Iterable[Any], **kwargs: Any
) -> torch.optim.Optimizer:
    """A ready optimizer for `params` from anything `get()` accepts.

    Unbuilt fitorch optimizers are built on `params`; torch optimizer instances are
    returned unchanged; classes are instantiated with `params` (and Keras's default
    learning rate, 0.01 for SGD and 0.001 otherwise, when the class requires `lr`).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = instantiate("sgd", model.parameters())
        >>> opt.is_built
        True
        >>> type(instantiate(torch.optim.SGD, model.parameters())).__name__
        'SGD'
    """
    if isinstance(cls_or_obj, type) and issubclass(cls_or_obj, torch.optim.Optimizer):
        keras_class = issubclass(cls_or_obj, KerasOptimizer)
        if not keras_class and "lr" not in kwargs and _required_lr(cls_or_obj):
            kwargs["lr"] = 0.01 if issubclass(cls_or_obj, torch.optim.SGD) else 0.001
        return cls_or_obj(params, **kwargs)
    optimizer = get(cls_or_obj, **kwargs)
    if isinstance(optimizer, type):  # pragma: no cover - handled above
        return instantiate(optimizer, params)
    if isinstance(optimizer, KerasOptimizer) and not optimizer.is_built:
        optimizer.build(params)
    return optimizer

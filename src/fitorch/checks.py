"""Argument checks for the public `Model` methods: every bad value fails here, before any work."""

from __future__ import annotations

import numbers
from collections.abc import Collection, Mapping
from typing import Any

VERBOSE_VALUES = (0, 1, 2, "auto")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_count(value: Any) -> int | None:
    """`value` as an int when it is one, or a float with an integral value (None otherwise).

    Keras programs compute counts with float arithmetic (`np.ceil(len(x) / batch_size)`
    gives `np.float64(15.0)`), so integral floats count as integers.
    """
    if _is_int(value):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if number.is_integer():
            return int(number)
    return None


def _count_error(name: str, value: Any, expected: str) -> ValueError:
    hint = ""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        hint = " (a float must have an integral value, such as 15.0)"
    return ValueError(
        f"`{name}` must be {expected}{hint}. "
        f"Received: {name}={value!r} (of type {type(value).__name__})"
    )


def positive_int_or_none(name: str, value: Any) -> int | None:
    """`value` as a positive int (integral floats accepted), or None.

    Example:
        >>> positive_int_or_none("steps_per_epoch", 8.0)
        8
    """
    if value is None:
        return None
    count = _as_count(value)
    if count is None or count <= 0:
        raise _count_error(name, value, "a positive integer or None")
    return count


def non_negative_int(name: str, value: Any) -> int:
    """`value` as a non-negative int (integral floats accepted).

    Example:
        >>> non_negative_int("epochs", 3.0)
        3
    """
    count = _as_count(value)
    if count is None or count < 0:
        raise _count_error(name, value, "a non-negative integer")
    return count


def verbose(value: Any) -> int | str:
    if value not in VERBOSE_VALUES or isinstance(value, bool):
        raise ValueError(
            f"`verbose` must be one of 0, 1, 2 or 'auto'. Received: verbose={value!r}"
        )
    return value


def shuffle(value: Any) -> bool | str:
    if value == "batch" or isinstance(value, bool):
        return value
    raise ValueError(
        f"`shuffle` must be True, False or 'batch'. Received: shuffle={value!r} "
        f"(of type {type(value).__name__})"
    )


def validation_split(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(
            "`validation_split` must be a float in [0, 1): the fraction of the data kept "
            f"for validation. Received: validation_split={value!r}"
        )
    return float(value)


def _is_weight(value: Any) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def loss_weights(value: Any) -> Any:
    """Check `compile(loss_weights=...)`: a number, or a list/tuple/dict of numbers.

    Keras 2 (tf_keras) took `metrics` as `compile`'s third positional argument;
    Keras 3 and fitorch take `loss_weights` there, so metric names in it get an
    error that says so, at compile rather than at the first batch.

    Example:
        >>> loss_weights({"out_a": 1.0, "out_b": 0.5})
        {'out_a': 1.0, 'out_b': 0.5}
    """
    if isinstance(value, Mapping):
        entries = list(value.values())
    elif isinstance(value, (list, tuple)):
        entries = list(value)
    else:
        entries = [value]
    if all(_is_weight(entry) for entry in entries):
        return value
    hint = ""
    if any(isinstance(e, str) or callable(e) for e in entries):
        hint = (
            " It holds metrics: `compile`'s third positional argument is `loss_weights` "
            "(as in Keras 3; Keras 2 took `metrics` there). Pass them by name: "
            f"compile(optimizer, loss, metrics={value!r})."
        )
    raise ValueError(
        "`loss_weights` must be a number (single output), or a list/tuple/dict with one "
        f"number per output.{hint} Received: loss_weights={value!r} "
        f"(of type {type(value).__name__})"
    )


def validation_freq(value: Any) -> int | Collection[int]:
    if _is_int(value):
        if value < 1:
            raise ValueError(
                f"`validation_freq` must be >= 1 when an integer. Received: validation_freq={value}"
            )
        return int(value)
    if isinstance(value, Collection) and not isinstance(value, (str, bytes, dict)):
        if not all(_is_int(v) and v >= 1 for v in value):
            raise ValueError(
                "`validation_freq` as a collection must hold 1-based epoch numbers (ints >= 1). "
                f"Received: validation_freq={value!r}"
            )
        return {int(v) for v in value}
    raise ValueError(
        "`validation_freq` must be an integer (validate every N epochs) or a collection of "
        f"1-based epoch numbers. Received: validation_freq={value!r} "
        f"(of type {type(value).__name__})"
    )


def should_validate(epoch: int, freq: int | Collection[int]) -> bool:
    """`epoch` is 0-based; `freq` counts 1-based epochs (Keras)."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


def validation_data(value: Any) -> tuple[Any, Any, Any]:
    """Split `validation_data` into (x, y, sample_weight): 2 or 3 items, nothing else."""
    if not isinstance(value, (tuple, list)):
        raise ValueError(
            "`validation_data` must be a tuple `(x_val, y_val)` or "
            "`(x_val, y_val, val_sample_weight)`. "
            f"Received: validation_data of type {type(value).__name__}"
        )
    if len(value) == 2:
        return value[0], value[1], None
    if len(value) == 3:
        return value[0], value[1], value[2]
    raise ValueError(
        "When passing `validation_data`, it must contain 2 items (x_val, y_val) or 3 items "
        f"(x_val, y_val, val_sample_weight); however it contains {len(value)} items."
    )


def class_weight(value: Any) -> dict[Any, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(
            "`class_weight` must be a dict mapping class indices to weights. "
            f"Received: class_weight={value!r} (of type {type(value).__name__})"
        )
    return value


def resolve_batch_size(batch_size: Any, static_batch_size: int | None,
                       name: str = "batch_size") -> int | None:
    """A static batch size from `Input(batch_size=N)` wins; a different explicit one is an error.
    `name` is the argument's name in errors (`validation_batch_size`)."""
    batch_size = positive_int_or_none(name, batch_size)
    if static_batch_size is not None:
        if batch_size is not None and batch_size != static_batch_size:
            raise ValueError(
                f"The `{name}` argument value {batch_size} is incompatible with the batch "
                f"size of the model's Input: {static_batch_size}. Leave `batch_size` unset or "
                f"pass {static_batch_size}."
            )
        return static_batch_size
    return batch_size


def _class_index_loss(loss: Any, labels: Any, y_pred: Any) -> tuple[str, int, int | None] | None:
    """(loss name, class axis, ignored label) when `loss` takes class-index labels, whatever
    its spelling: "sparse_categorical_crossentropy", the class, the function, or a torch
    `CrossEntropyLoss`/`NLLLoss` given integer targets; None for any other loss."""
    import functools

    import torch
    import torch.nn.functional as F

    from fitorch.losses import TorchLoss, sparse_categorical_crossentropy
    from fitorch.losses.base import LossFunctionWrapper

    fn = getattr(loss, "fn", None) if isinstance(loss, (LossFunctionWrapper, TorchLoss)) \
        else loss
    kwargs = getattr(loss, "_fn_kwargs", {}) or {}
    if fn is sparse_categorical_crossentropy:
        return "sparse_categorical_crossentropy", int(kwargs.get("axis", -1)), \
            kwargs.get("ignore_class")
    if labels.is_floating_point() or labels.dim() != y_pred.dim() - 1:
        return None
    axis = 1 if y_pred.dim() > 1 else 0
    if isinstance(fn, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)):
        return type(fn).__name__, axis, int(fn.ignore_index)
    keywords = fn.keywords if isinstance(fn, functools.partial) else {}
    inner = fn.func if isinstance(fn, functools.partial) else fn
    if inner in (F.cross_entropy, F.nll_loss):  # torch's functions: ignore_index=-100
        return inner.__name__, axis, int(keywords.get("ignore_index", -100))
    return None


def class_labels(loss: Any, labels: Any, y_pred: Any, what: str = "y") -> None:
    """Fail before any step when `labels` (all of `what`) cannot be class indices for `loss`.

    Runs for every spelling of a loss that takes class indices (see `_class_index_loss`):
    float labels must be whole numbers, and every label must lie in `[0, classes)` (or be
    the ignored class). Other losses are left alone.

    Example:
        >>> class_labels("sparse_categorical_crossentropy", torch.tensor([3]),
        ...              torch.zeros(1, 3))  # ValueError: label 3 outside [0, 3)
    """
    import torch

    from fitorch.losses import get as get_loss

    if not isinstance(labels, torch.Tensor) or not isinstance(y_pred, torch.Tensor) \
            or y_pred.dim() < 1 or labels.numel() == 0:
        return
    resolved = get_loss(loss) if isinstance(loss, str) else loss
    found = _class_index_loss(resolved, labels, y_pred)
    if found is None:
        return
    name, axis, ignored = found
    num_classes = y_pred.shape[axis]
    if labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{name} needs integer class indices as labels; {what} has dtype {labels.dtype}. "
            f"Received: {what} of dtype {labels.dtype} (of type {type(labels).__name__})"
        )
    if labels.is_floating_point():
        fractional = labels[labels != labels.round()]  # NaN included
        if fractional.numel():  # sync: once per fit, on the labels
            shown = fractional.unique()[:5].tolist()
            raise ValueError(
                f"{name} needs whole-number class indices as labels, but {what} holds "
                f"fractional or NaN values {shown} (a float label would be truncated). Pass "
                "integer labels, or one-hot labels with categorical_crossentropy. "
                f"Received: {what} of dtype {labels.dtype} with values {shown}"
            )
    invalid = (labels < 0) | (labels >= num_classes)
    if ignored is not None:
        invalid &= labels != ignored
    bad = labels[invalid].unique()
    if bad.numel():  # sync: once per fit, on the labels
        values = bad.tolist()
        shown = values if len(values) <= 10 else [*values[:10], "..."]
        found_ = (f"a label value of {values[0]} which is" if len(values) == 1
                  else f"label values of {shown} which are")
        ignore = "" if ignored is None else f" (or the ignored class {ignored})"
        raise ValueError(
            f"Received {found_} outside the valid range of [0, {num_classes}) for "
            f"{num_classes} classes in {name}, in {what}. Labels must be integer class "
            f"indices{ignore}, checked on all the data before the first step. Received: "
            f"{what} with out-of-range values {shown} (of type {labels.dtype}) for "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )

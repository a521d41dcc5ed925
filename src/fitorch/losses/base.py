"""The :class:`Loss` base class and :class:`LossFunctionWrapper` (a function as a Loss)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from fitorch.losses._utils import TensorLike, _as_pred, _as_tensor, _to_snake_case, _type_name
from fitorch.losses.reduction import (
    _MEAN_REDUCTIONS,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
    standardize_reduction,
)

# Keras computes losses in float32 (its default loss dtype) even under mixed precision;
# half-precision predictions are upcast for the same numerical safety.
_LOW_PRECISION = (torch.float16, torch.bfloat16)


# Per loss function, filled in by the modules that define the functions:
# * `_FAST_MEAN`: `fast(y_true, y_pred, **kwargs)`, the fused mean-reduced loss for the
#   unweighted default case, or None to fall back (see `Loss._fast_mean`);
# * `_MASKS`: `mask(y_true, y_pred, kwargs)`, a bool mask of the entries that count, or
#   None (e.g. `ignore_class` of sparse categorical crossentropy).
_FAST_MEAN: dict[Callable[..., torch.Tensor], Callable[..., torch.Tensor | None]] = {}
_MASKS: dict[
    Callable[..., torch.Tensor],
    Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor | None],
] = {}


class Loss:
    """Base class of all losses: `call` gives per-sample values, `__call__` reduces them.

    Args:
        name: Name logged for this loss; defaults to the snake-cased class name.
        reduction: One of `"sum_over_batch_size"` (default), `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"` or `None`.

    Example:
        >>> class MyMSE(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return (y_pred - y_true).square().mean(dim=-1)
        >>> MyMSE()(torch.ones(2, 3), torch.zeros(2, 3))
        tensor(1.)
    """

    # Keras casts y_true to the loss dtype before `call`; sparse labels opt out.
    _cast_y_true: bool = True

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"Expected `name` to be a string or None. Received: name={name!r} "
                f"(of type {_type_name(name)})"
            )
        self.name: str = name or _to_snake_case(type(self).__name__)
        self.reduction: str | None = standardize_reduction(reduction)

    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike | None = None
    ) -> torch.Tensor:
        """Return the loss reduced with `self.reduction` (per-sample values for "none").

        A Keras mask on `y_pred` (`_keras_mask`, from `Embedding(mask_zero=True)` or
        `Masking` through the layers after them) leaves the masked time steps out, as Keras.
        """
        keras_mask = getattr(y_pred, "_keras_mask", None)
        pred = _as_pred(y_pred)
        if pred.dtype in _LOW_PRECISION:
            pred = pred.float()
        true = _as_tensor(y_true)
        if self._cast_y_true and true.dtype != pred.dtype:
            true = true.to(device=pred.device, dtype=pred.dtype)
        elif true.device != pred.device:
            true = true.to(pred.device)

        if sample_weight is None and keras_mask is None and self.reduction in _MEAN_REDUCTIONS \
                and pred.numel():
            fast = self._fast_mean(true, pred)
            if fast is not None:
                return fast
        values, mask = self._values_and_mask(true, pred)
        if keras_mask is not None and tuple(keras_mask.shape) == tuple(values.shape):
            mask = keras_mask if mask is None else mask & keras_mask.to(torch.bool)
        if sample_weight is not None and values.dim() == 0 and pred.dim() > 1:
            # Scaling the batch's loss by the mean weight would weight nothing per sample.
            raise ValueError(
                f"The loss {self.name!r} returns one value for the whole batch, so sample or "
                "class weights cannot weight each sample's loss. Make it return one value "
                "per sample (for a torch loss: give it a `reduction` argument, torch's "
                "convention), or drop `sample_weight` / `class_weight`. "
                f"Received: a loss value of shape {tuple(values.shape)} for targets of "
                f"shape {tuple(true.shape)}"
            )
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Per-sample loss values; to be implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement `call()`.")

    def _values_and_mask(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        values = self.call(y_true, y_pred)
        if not isinstance(values, torch.Tensor):
            values = _as_tensor(values, device=y_pred.device).to(y_pred.dtype)
        return values, None

    def _fast_mean(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        """Fused mean-reduced loss for the unweighted default case, or None to fall back."""
        return None

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, so that `type(loss).from_config(config)` rebuilds it."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuild a loss from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(Loss):
    """Wrap a function `fn(y_true, y_pred, **kwargs)` into a :class:`Loss`.

    `fn` may return per-sample values or a scalar; inputs are squeezed/expanded to the
    same rank first, as Keras does. The name defaults to the snake-cased `fn.__name__`.

    Example:
        >>> loss = LossFunctionWrapper(lambda t, p: (t - p).abs().max(dim=-1).values)
        >>> loss(torch.zeros(2, 3), torch.ones(2, 3)), loss.name
        (tensor(1.), 'lambda')
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        **kwargs: Any,
    ):
        if not callable(fn):
            raise TypeError(
                f"Expected `fn` to be a callable (y_true, y_pred) -> Tensor. "
                f"Received: fn={fn!r} (of type {_type_name(fn)})"
            )
        super().__init__(name=name or _object_name(fn), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs
        try:
            self._fast = _FAST_MEAN.get(fn)
            self._mask = _MASKS.get(fn)
        except TypeError:  # an unhashable callable object has no fast path (nor mask)
            self._fast = None
            self._mask = None

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _values_and_mask(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        values, _ = super()._values_and_mask(y_true, y_pred)
        if self._mask is None:
            return values, None
        return values, self._mask(y_true, y_pred, self._fn_kwargs)

    def _fast_mean(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        if self._fast is None:
            return None
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self._fast(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["fn"] = self.fn
        config.update(self._fn_kwargs)
        return config

    def __repr__(self) -> str:
        return f"<LossFunctionWrapper({self.fn!r}, kwargs={self._fn_kwargs})>"


def _object_name(obj: object) -> str:
    """The name Keras's `compile` logs for a loss object or function."""
    name = getattr(obj, "name", None)
    if isinstance(name, str):
        return name
    fn_name = getattr(obj, "__name__", None)
    if isinstance(fn_name, str):
        return _to_snake_case(fn_name)
    return _to_snake_case(type(obj).__name__)

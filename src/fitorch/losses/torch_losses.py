"""PyTorch losses as fitorch losses: torch's argument order, per-sample weights.

A `torch.nn` loss module (any `nn.Module` used as a loss) and a loss function from
`torch.nn.functional` take `(input, target)`, so fitorch calls them that way (Keras
losses and other callables take `(y_true, y_pred)`).

Without sample or class weights the loss is torch's own value (its reduction, its
`weight=` / `ignore_index` rules). With weights, each sample's loss is weighted, as
Keras does, and never the batch mean by the mean weight: the loss runs with
`reduction="none"` (a shallow copy of the module, or the function's `reduction`
argument), the values are reduced to one per sample (mean over the non-batch axes;
sum for a `reduction="sum"` loss), and the weighted values are reduced as Keras's
`sum_over_batch_size`: `sum(w_i * l_i) / N` (`sum(w_i * l_i)` for a sum loss). A loss
that cannot give per-sample values (no `reduction` argument, one value per batch)
raises when weights are given.

Example:
    >>> loss = TorchLoss(torch.nn.CrossEntropyLoss())
    >>> logits, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 0])
    >>> bool(torch.isclose(loss(labels, logits), torch.nn.functional.cross_entropy(logits, labels)))
    True
    >>> loss(labels, logits, sample_weight=torch.tensor([1.0, 0.0, 0.0, 0.0])).shape
    torch.Size([])
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from fitorch.losses._utils import _to_snake_case
from fitorch.losses.base import Loss
from fitorch.losses.reduction import squeeze_or_expand_to_same_rank


def _safe_parameters(fn: Callable[..., Any]) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return ()


def _unwrap(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def is_torch_functional(fn: Any) -> bool:
    """Whether `fn` (or the function under a `functools.partial`) is a public function of
    `torch.nn.functional`, called in torch's order `(input, target)`."""
    inner = _unwrap(fn)
    name = getattr(inner, "__name__", None)
    return isinstance(name, str) and not name.startswith("_") and getattr(F, name, None) is inner


def is_torch_loss(identifier: Any) -> bool:
    """Whether `identifier` is a torch loss: an `nn.Module` (instance) or a
    `torch.nn.functional` function."""
    return isinstance(identifier, torch.nn.Module) or is_torch_functional(identifier)


class TorchLoss(Loss):
    """A torch loss module or `torch.nn.functional` loss as a fitorch `Loss`.

    Called as `fn(y_pred, y_true)`; see the module docstring for sample weights.

    Example:
        >>> model.compile(optimizer="adam", loss=torch.nn.BCEWithLogitsLoss())
    """

    # Class-index targets (e.g. for nn.CrossEntropyLoss) must stay integers.
    _cast_y_true = False

    def __init__(self, fn: Any, name: str | None = None) -> None:
        if not is_torch_loss(fn):
            raise TypeError(
                "TorchLoss wraps a torch.nn loss module or a torch.nn.functional loss. "
                f"Received: fn={fn!r} (of type {type(fn).__name__})"
            )
        self.fn = fn
        inner = _unwrap(fn)
        default = type(fn).__name__ if isinstance(fn, torch.nn.Module) else inner.__name__
        self._torch_reduction = self._reduction_of(fn)
        super().__init__(name=name or _to_snake_case(default),
                         reduction="sum" if self._torch_reduction == "sum"
                         else "sum_over_batch_size")
        self._unreduced: Any = None

    @staticmethod
    def _reduction_of(fn: Any) -> str | None:
        """The loss's own reduction ("mean", "sum", "none"), or None if it has none."""
        if isinstance(fn, torch.nn.Module):
            value = getattr(fn, "reduction", None)
            return value if isinstance(value, str) else None
        if isinstance(fn, functools.partial) and "reduction" in fn.keywords:
            return str(fn.keywords["reduction"])
        return "mean" if "reduction" in _safe_parameters(_unwrap(fn)) else None

    def _unreduced_fn(self) -> Callable[..., torch.Tensor] | None:
        """The loss with `reduction="none"`, or None when it has no reduction argument."""
        if self._unreduced is None and self._torch_reduction is not None:
            if isinstance(self.fn, torch.nn.Module):
                # A shallow copy shares the module's parameters and buffers (`weight=`).
                unreduced = copy.copy(self.fn)
                unreduced.reduction = "none"  # type: ignore[assignment]
                self._unreduced = unreduced
            else:
                self._unreduced = functools.partial(self.fn, reduction="none")
        return self._unreduced

    @staticmethod
    def _targets(y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        # Integer targets shaped like y_pred are values (MSELoss, BCEWithLogitsLoss, ...),
        # not class indices, so they get y_pred's dtype like every Keras loss.
        if y_true.is_floating_point() or y_true.shape == y_pred.shape:
            y_true = y_true.to(y_pred.dtype)
        return y_true, y_pred

    def _fast_mean(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        # No weights: torch's own value, with its own reduction rules.
        y_true, y_pred = self._targets(y_true, y_pred)
        value = self.fn(y_pred, y_true)
        return value if value.dim() == 0 else value.mean()

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """One loss value per sample (the non-batch axes reduced)."""
        y_true, y_pred = self._targets(y_true, y_pred)
        unreduced = self._unreduced_fn()
        if unreduced is None:
            return self.fn(y_pred, y_true)  # one value: `Loss.__call__` refuses weights
        values = unreduced(y_pred, y_true)
        if values.dim() > 1:
            flat = values.flatten(1)
            values = flat.sum(1) if self._torch_reduction == "sum" else flat.mean(1)
        return values

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "fn": self.fn}

    def __repr__(self) -> str:
        return f"<TorchLoss({self.fn!r})>"


__all__ = ["TorchLoss", "is_torch_functional", "is_torch_loss"]

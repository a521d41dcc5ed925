"""Numeric precision of the steps: the only autocast and GradScaler code of the engine.

`compile(precision=...)` takes Lightning's names:

- `"32"` (the default): float32 throughout.
- `"bf16-mixed"` / `"16-mixed"`: the parameters stay float32; the forward pass runs
  under `torch.autocast` on the model's device type (matmuls and convolutions in
  bfloat16 / float16); its floating outputs are cast back, so the loss and the metrics
  are computed in float32. `"16-mixed"` scales the loss with `torch.amp.GradScaler`
  (dynamic loss scaling): a step whose gradients hold an inf or NaN is skipped and
  does not advance the optimizer's `iterations` (as Keras's `LossScaleOptimizer`), and
  clipping sees the unscaled gradients.
- `"bf16-true"` / `"64-true"`: the model itself is cast to bfloat16 / float64.

In every mode floating inputs are cast to the model's floating dtype, batch by batch
(a float64 model fed float32 arrays trains instead of failing in its first matmul).

Keras's policy names are aliases (`fitorch.mixed_precision.set_global_policy`):
`"mixed_bfloat16"`, `"mixed_float16"`, `"float32"`, `"bfloat16"`, `"float64"`.

Example:
    >>> model.compile(optimizer="adam", loss="mse", precision="bf16-mixed")
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from fitorch import nest

PRECISIONS = ("32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
# Keras's dtype-policy names and what they mean here.
POLICIES = {"float32": "32", "mixed_bfloat16": "bf16-mixed", "mixed_float16": "16-mixed",
            "bfloat16": "bf16-true", "float64": "64-true"}
_AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
_PARAMS = {"bf16-true": torch.bfloat16, "64-true": torch.float64}

_global_policy = "float32"


def set_global_policy(policy: str) -> None:
    """Keras's `set_global_policy`: the precision of models compiled without `precision=`."""
    global _global_policy
    if not isinstance(policy, str) or policy not in POLICIES:
        name = getattr(policy, "name", None)  # a Keras DTypePolicy object
        if isinstance(name, str) and name in POLICIES:
            policy = name
        else:
            raise ValueError(
                f"Unknown dtype policy: expected one of {sorted(POLICIES)}. "
                f"Received: policy={policy!r} (of type {type(policy).__name__})"
            )
    _global_policy = policy


def global_policy() -> str:
    """The name of the global policy (`"float32"` unless `set_global_policy` changed it)."""
    return _global_policy


def resolve(precision: Any) -> str:
    """A checked precision name; None means the global policy."""
    if precision is None:
        return POLICIES[_global_policy]
    if isinstance(precision, int) and not isinstance(precision, bool) and precision in (32, 64):
        precision = "32" if precision == 32 else "64-true"
    if not isinstance(precision, str) or precision not in PRECISIONS:
        if isinstance(precision, str) and precision in POLICIES:
            return POLICIES[precision]
        raise ValueError(
            f"Unknown precision: expected one of {list(PRECISIONS)} (or a Keras policy name "
            f"among {sorted(POLICIES)}). Received: precision={precision!r} "
            f"(of type {type(precision).__name__})"
        )
    return precision


def _float32(t: Any) -> Any:
    if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float32 \
            and t.dtype != torch.float64:
        return t.float()
    return t


class Precision:
    """How one model's steps handle dtypes: autocast, loss scaling, model and input casts.

    Built by the step for the model's device; `forward()` is the context the forward
    pass runs in, `outputs()` makes the predictions float32 for the loss and metrics.
    """

    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self.device_type = device.type
        self.autocast_dtype = _AUTOCAST.get(name)
        self.param_dtype = _PARAMS.get(name)
        self.active = name != "32"
        if self.autocast_dtype is not None:
            _check_autocast(name, self.device_type, self.autocast_dtype)

    def forward(self) -> contextlib.AbstractContextManager[Any]:
        """The context of the forward pass (and of a user's `self(x)` in `train_step`)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.autocast_dtype)

    def outputs(self, y_pred: Any) -> Any:
        """Predictions in float32 (autocast and bf16-true give half-precision outputs)."""
        if not self.active or self.param_dtype == torch.float64:
            return y_pred
        if isinstance(y_pred, torch.Tensor):
            return _float32(y_pred)
        return nest.map_structure(_float32, y_pred)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """`torch.amp.GradScaler` for "16-mixed" (float16 gradients underflow without it)."""
        if self.name != "16-mixed":
            return None
        return torch.amp.GradScaler(self.device_type)

    def convert_model(self, model: nn.Module) -> None:
        """Cast the model's floating parameters and buffers ("true" modes)."""
        if self.param_dtype is not None:
            model.to(self.param_dtype)


def _check_autocast(name: str, device_type: str, dtype: torch.dtype) -> None:
    works = torch.amp.autocast_mode.is_autocast_available(device_type)
    if works:
        # torch warns and disables autocast for a dtype the device does not support.
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            works = bool(torch.autocast(device_type, dtype=dtype)._enabled)
    if not works:
        usable = [p for p in PRECISIONS if p not in _AUTOCAST]
        raise ValueError(
            f"precision={name!r} needs {dtype} autocast, which the {device_type!r} device does "
            f"not have. Modes that work there: {usable}. Received: precision={name!r} on "
            f"device {device_type!r}"
        )


def floating_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating parameter (inputs are cast to it)."""
    for p in model.parameters():
        if p.is_floating_point() and not isinstance(p, nn.parameter.UninitializedParameter):
            return p.dtype
    return None


def input_caster(dtype: torch.dtype | None) -> Callable[[Any], Any] | None:
    """A function casting the floating tensors of a batch's inputs to `dtype`."""
    if dtype is None:
        return None

    def cast(t: Any) -> Any:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != dtype:
            return t.to(dtype)
        return t

    def cast_inputs(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return cast(x)
        return nest.map_structure(cast, x)

    return cast_inputs


__all__ = ["POLICIES", "PRECISIONS", "Precision", "floating_dtype", "global_policy",
           "input_caster", "resolve", "set_global_policy"]

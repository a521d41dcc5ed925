"""`RMSprop`, as `keras.optimizers.RMSprop`.

`_update` mirrors keras/src/optimizers/rmsprop.py. Scalars (bias corrections) are Python floats
computed on the host from the step counter, so no step ever waits for the device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fitorch.optimizers.base import (
    KerasOptimizer,
    _check_bool,
    _check_epsilon,
    _check_number,
    _GroupOption,
)


class RMSprop(KerasOptimizer):
    """RMSprop, as `keras.optimizers.RMSprop` (epsilon inside the square root).

    `v = rho * v + (1 - rho) * g**2`; the step is `lr * g / sqrt(v + epsilon)`
    (with `centered`, `v - mean_g**2 + epsilon`), optionally through a momentum
    accumulator `m = momentum * m + step`.

    Example:
        >>> opt = RMSprop(learning_rate=1e-3, momentum=0.9, centered=True)
    """

    rho = _GroupOption(check=lambda v: _check_number("rho", v, 0.0, 1.0))
    momentum = _GroupOption(check=lambda v: _check_number("momentum", v, 0.0, 1.0))
    epsilon = _GroupOption(check=_check_epsilon)
    centered = _GroupOption(check=lambda v: _check_bool("centered", v))

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        name: str | None = None,
        *,
        lr: float | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr, gradient_accumulation_steps=gradient_accumulation_steps,
            rho=_check_number("rho", rho, 0.0, 1.0),
            momentum=_check_number("momentum", momentum, 0.0, 1.0),
            epsilon=_check_epsilon(epsilon),
            centered=_check_bool("centered", centered),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        lr, rho, momentum = group["lr"], group["rho"], group["momentum"]
        v = self._state_list(params, "velocity")
        torch._foreach_mul_(v, rho)
        torch._foreach_addcmul_(v, grads, grads, 1.0 - rho)
        denom = torch._foreach_add(v, group["epsilon"])
        if group["centered"]:
            mean_g = self._state_list(params, "average_gradient")
            torch._foreach_lerp_(mean_g, grads, 1.0 - rho)
            torch._foreach_addcmul_(denom, mean_g, mean_g, -1.0)
        torch._foreach_sqrt_(denom)
        if momentum > 0:
            m = self._state_list(params, "momentum")
            torch._foreach_mul_(m, momentum)
            torch._foreach_addcdiv_(m, grads, denom, lr)
            torch._foreach_sub_(params, m)
        else:
            torch._foreach_addcdiv_(params, grads, denom, -lr)

"""The accumulator-based optimizers, as in Keras: `Adagrad` and `Adadelta`.

Each `_update` mirrors keras/src/optimizers/<name>.py. Scalars (bias corrections) are Python floats
computed on the host from the step counter, so no step ever waits for the device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fitorch.optimizers.base import KerasOptimizer, _check_epsilon, _check_number, _GroupOption


class Adagrad(KerasOptimizer):
    """Adagrad, as `keras.optimizers.Adagrad`: `w -= lr * g / sqrt(acc + epsilon)`.

    The accumulator starts at `initial_accumulator_value` (0.1).

    Example:
        >>> opt = Adagrad(learning_rate=0.01, initial_accumulator_value=0.1)
    """

    initial_accumulator_value = _GroupOption(
        check=lambda v: _check_number("initial_accumulator_value", v, 0.0)
    )
    epsilon = _GroupOption(check=_check_epsilon)

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
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
            initial_accumulator_value=_check_number(
                "initial_accumulator_value", initial_accumulator_value, 0.0
            ),
            epsilon=_check_epsilon(epsilon),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        acc = self._state_list(params, "accumulator", group["initial_accumulator_value"])
        torch._foreach_addcmul_(acc, grads, grads)
        denom = torch._foreach_add(acc, group["epsilon"])
        torch._foreach_sqrt_(denom)
        torch._foreach_addcdiv_(params, grads, denom, -group["lr"])


class Adadelta(KerasOptimizer):
    """Adadelta, as `keras.optimizers.Adadelta` (Keras scales the step by `learning_rate`).

    Example:
        >>> opt = Adadelta(learning_rate=1.0, rho=0.95)
    """

    rho = _GroupOption(check=lambda v: _check_number("rho", v, 0.0, 1.0))
    epsilon = _GroupOption(check=_check_epsilon)

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
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
            epsilon=_check_epsilon(epsilon),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        rho, eps = group["rho"], group["epsilon"]
        acc_grad = self._state_list(params, "accumulated_grad")
        acc_delta = self._state_list(params, "accumulated_delta_var")
        torch._foreach_mul_(acc_grad, rho)
        torch._foreach_addcmul_(acc_grad, grads, grads, 1.0 - rho)
        # delta = g * sqrt(acc_delta + eps) / sqrt(acc_grad + eps); w -= lr * delta
        delta = torch._foreach_add(acc_delta, eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_mul_(delta, grads)
        denom = torch._foreach_add(acc_grad, eps)
        torch._foreach_sqrt_(denom)
        torch._foreach_div_(delta, denom)
        torch._foreach_mul_(acc_delta, rho)
        torch._foreach_addcmul_(acc_delta, delta, delta, 1.0 - rho)
        torch._foreach_add_(params, delta, alpha=-group["lr"])

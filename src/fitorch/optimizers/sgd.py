"""`SGD`, as `keras.optimizers.SGD`.

`_update` mirrors keras/src/optimizers/sgd.py. Scalars (bias corrections) are Python floats
computed on the host from the step counter, so no step ever waits for the device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fitorch.optimizers.base import KerasOptimizer, _check_bool, _check_number, _GroupOption


class SGD(KerasOptimizer):
    """Gradient descent with optional (Nesterov) momentum, as `keras.optimizers.SGD`.

    Keras's momentum form: `m = momentum * m - lr * g`, then `w += m` (or, with
    Nesterov, `w += momentum * m - lr * g`).

    Example:
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = SGD(model.parameters(), learning_rate=0.01, momentum=0.9, nesterov=True)
    """

    _default_learning_rate = 0.01
    momentum = _GroupOption(check=lambda v: _check_number("momentum", v, 0.0, 1.0))
    nesterov = _GroupOption(check=lambda v: _check_bool("nesterov", v))

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
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
            momentum=_check_number("momentum", momentum, 0.0, 1.0),
            nesterov=_check_bool("nesterov", nesterov),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        lr = group["lr"]
        momentum = group["momentum"]
        if not momentum:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        bufs = self._state_list(params, "momentum")
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, bufs, alpha=momentum)
        else:
            torch._foreach_add_(params, bufs)

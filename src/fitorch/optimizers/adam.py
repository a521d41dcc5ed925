"""The Adam family, as in Keras: `Adam`, `AdamW`, `Adamax` and `Nadam`.

Each `_update` mirrors keras/src/optimizers/<name>.py. Scalars (bias corrections) are Python floats
computed on the host from the step counter, so no step ever waits for the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fitorch.optimizers.base import (
    KerasOptimizer,
    _check_beta,
    _check_bool,
    _check_epsilon,
    _GroupOption,
)


def _scalar_type(params: list[Tensor]) -> type[np.floating[Any]]:
    """NumPy scalar type in which Keras would compute a step's scalars for `params`.

    Keras computes bias corrections such as `1 - beta_2**t` in the variables' dtype.
    In float32 those carry a relative error of up to ~1e-5 (the rounding of
    `beta_2` is amplified by the subtraction), so matching Keras's trajectory means
    rounding the same way; host NumPy scalars do that without touching the device.
    """
    return np.float64 if params[0].dtype == torch.float64 else np.float32


try:  # private torch helper; the fallback lists the devices torch 2.4 supports
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    _FUSED_DEVICES = frozenset(_get_fused_kernels_supported_devices())
except ImportError:  # pragma: no cover
    _FUSED_DEVICES = frozenset({"cpu", "cuda"})
_FUSED_DTYPES = frozenset({torch.float32, torch.float64, torch.float16, torch.bfloat16})
# Betas this close to 1 round to 1.0 in float32, where `beta**step` would not vanish.
_MAX_FUSED_BETA = 0.99999


def _fusable(params: list[Tensor], grads: list[Tensor]) -> bool:
    """Whether torch's fused kernels can take these lists (one device and dtype)."""
    device, dtype = params[0].device, params[0].dtype
    if device.type not in _FUSED_DEVICES or dtype not in _FUSED_DTYPES:
        return False
    for p, g in zip(params, grads):
        if p.device != device or p.dtype != dtype or g.device != device or g.dtype != dtype:
            return False
    return True


class Adam(KerasOptimizer):
    """Adam, as `keras.optimizers.Adam`.

    Keras's form differs from `torch.optim.Adam` in where epsilon goes:
    `w -= alpha * m / (sqrt(v) + epsilon)` with
    `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`; `epsilon` defaults to 1e-7.
    Runs on torch's fused Adam kernel (one pass over the weights) where it can.

    Example:
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = Adam(model.parameters(), learning_rate=1e-3, amsgrad=True)
    """

    beta_1 = _GroupOption(check=_check_beta("beta_1"))
    beta_2 = _GroupOption(check=_check_beta("beta_2"))
    epsilon = _GroupOption(check=_check_epsilon)
    amsgrad = _GroupOption(check=lambda v: _check_bool("amsgrad", v))

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
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
        self._saturated_steps: dict[torch.device, Tensor] = {}
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr, gradient_accumulation_steps=gradient_accumulation_steps,
            beta_1=_check_beta("beta_1")(beta_1),
            beta_2=_check_beta("beta_2")(beta_2),
            epsilon=_check_epsilon(epsilon),
            amsgrad=_check_bool("amsgrad", amsgrad),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        f = _scalar_type(params)
        one, step = f(1.0), f(t)
        bias_1 = one - f(group["beta_1"]) ** step
        bias_2 = one - f(group["beta_2"]) ** step
        alpha = float(f(group["lr"]) * np.sqrt(bias_2) / bias_1)
        beta_1, beta_2, epsilon = group["beta_1"], group["beta_2"], group["epsilon"]
        amsgrad = group["amsgrad"]
        m = self._state_list(params, "momentum")
        v = self._state_list(params, "velocity")
        v_hat = self._state_list(params, "velocity_hat") if amsgrad else []
        if max(beta_1, beta_2) < _MAX_FUSED_BETA and _fusable(params, grads):
            # torch's fused Adam kernel does the whole update in one pass. It applies
            # its own bias corrections 1 - beta**step; with a huge step they are exactly
            # 1, which leaves Keras's update `alpha * m / (sqrt(v) + epsilon)`.
            steps = [self._saturated_step(params[0].device)] * len(params)
            torch._fused_adam_(
                params, grads, m, v, v_hat, steps, lr=alpha, beta1=beta_1, beta2=beta_2,
                weight_decay=0.0, eps=epsilon, amsgrad=amsgrad, maximize=False,
            )
            return
        # m + (g - m) * (1 - beta_1) is exactly a lerp: one pass.
        torch._foreach_lerp_(m, grads, 1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, grads, grads, 1.0 - beta_2)
        if amsgrad:
            torch._foreach_maximum_(v_hat, v)
            v = v_hat
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, epsilon)
        torch._foreach_addcdiv_(params, m, denom, -alpha)

    def _saturated_step(self, device: torch.device) -> Tensor:
        """A step count so large that `beta**step` is 0 in any precision (see `_update`)."""
        step = self._saturated_steps.get(device)
        if step is None:
            step = torch.full((), 2.0**100, dtype=torch.float32, device=device)
            self._saturated_steps[device] = step
        return step


class AdamW(Adam):
    """Adam with decoupled weight decay, as `keras.optimizers.AdamW` (`weight_decay=0.004`).

    Keras decays before the Adam update: `w -= w * weight_decay * lr`.

    Example:
        >>> opt = AdamW(learning_rate=1e-3, weight_decay=0.01)
    """

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
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
        if weight_decay is None:
            raise ValueError(
                "Argument `weight_decay` must be a float. Received: weight_decay=None"
            )
        super().__init__(
            params, learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr, gradient_accumulation_steps=gradient_accumulation_steps,
        )


class Adamax(KerasOptimizer):
    """Adamax (Adam with the infinity norm), as `keras.optimizers.Adamax`.

    `u = max(beta_2 * u, |g|)`; `w -= lr * m / ((1 - beta_1**t) * (u + epsilon))`.

    Example:
        >>> opt = Adamax(learning_rate=2e-3)
    """

    beta_1 = _GroupOption(check=_check_beta("beta_1"))
    beta_2 = _GroupOption(check=_check_beta("beta_2"))
    epsilon = _GroupOption(check=_check_epsilon)

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
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
            beta_1=_check_beta("beta_1")(beta_1),
            beta_2=_check_beta("beta_2")(beta_2),
            epsilon=_check_epsilon(epsilon),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        beta_1 = group["beta_1"]
        m = self._state_list(params, "momentum")
        u = self._state_list(params, "norm")
        torch._foreach_lerp_(m, grads, 1.0 - beta_1)
        torch._foreach_mul_(u, group["beta_2"])
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denom = torch._foreach_add(u, group["epsilon"])
        f = _scalar_type(params)
        bias_1 = f(1.0) - f(beta_1) ** f(t)
        torch._foreach_addcdiv_(params, m, denom, float(-f(group["lr"]) / bias_1))


class Nadam(KerasOptimizer):
    """Nadam (Adam with Nesterov momentum), as `keras.optimizers.Nadam`.

    Uses Keras's momentum schedule `u_t = beta_1 * (1 - 0.5 * 0.96**t)`.

    Example:
        >>> opt = Nadam(learning_rate=2e-3)
    """

    beta_1 = _GroupOption(check=_check_beta("beta_1"))
    beta_2 = _GroupOption(check=_check_beta("beta_2"))
    epsilon = _GroupOption(check=_check_epsilon)

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
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
        # prod_{i<=t} (1 - 0.5 * 0.96**i): Keras's running `u_product` divided by
        # beta_1**t, kept separately so param groups may use different beta_1.
        self._decay_product = 1.0
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr, gradient_accumulation_steps=gradient_accumulation_steps,
            beta_1=_check_beta("beta_1")(beta_1),
            beta_2=_check_beta("beta_2")(beta_2),
            epsilon=_check_epsilon(epsilon),
        )

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        u_t = beta_1 * (1.0 - 0.5 * 0.96**t)
        u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product = beta_1**t * self._decay_product * (1.0 - 0.5 * 0.96**t)
        u_product_next = u_product * u_next
        m = self._state_list(params, "momentum")
        v = self._state_list(params, "velocity")
        torch._foreach_lerp_(m, grads, 1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, grads, grads, 1.0 - beta_2)
        # w -= lr * m_hat / (sqrt(v / c2) + eps) with m_hat = a * m + b * g, rewritten
        # as lr * s * m_hat / (sqrt(v) + eps * s), s = sqrt(c2), to skip two passes.
        f = _scalar_type(params)
        s = float(np.sqrt(f(1.0) - f(beta_2) ** f(t)))
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, group["epsilon"] * s)
        scale = -group["lr"] * s
        torch._foreach_addcdiv_(params, m, denom, scale * u_next / (1.0 - u_product_next))
        torch._foreach_addcdiv_(params, grads, denom, scale * (1.0 - u_t) / (1.0 - u_product))

    def _after_update(self) -> None:
        self._decay_product *= 1.0 - 0.5 * 0.96 ** (self._iterations + 1)

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "decay_product": self._decay_product}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        super()._load_extra_state(extra)
        self._decay_product = float(extra.get("decay_product", self._decay_product))

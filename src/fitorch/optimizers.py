"""Keras 3's optimizers as `torch.optim.Optimizer` subclasses.

`SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`, `Adadelta`, `Adamax` and `Nadam`
take Keras 3's argument names and defaults and apply Keras 3's update rules, so
a model trained with them follows the trajectory Keras would. Like in Keras they
can be created before the model exists and bound to its parameters later with
`build()`; once built they are ordinary torch optimizers (`param_groups`,
`state_dict`, `zero_grad`, `step`, torch LR schedulers).

Keras's shared options live in `KerasOptimizer`: decoupled `weight_decay`,
`clipnorm` / `clipvalue` / `global_clipnorm` and an exponential moving average
of the weights (`use_ema`).

Example:
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = Adam(learning_rate=1e-3)       # no parameters yet, as in Keras
    >>> opt.build(model.parameters())        # what the training engine does
    >>> model(torch.randn(4, 3)).sum().backward()
    >>> opt.step()
"""

from __future__ import annotations

import inspect
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "KerasOptimizer",
    "Nadam",
    "RMSprop",
    "get",
    "instantiate",
]

# Key under which `state_dict()` stores the optimizer-wide counters that torch's
# per-parameter `state` has no place for (Keras keeps one global `iterations`).
_EXTRA_STATE_KEY = "keras_state"
# Options that only make sense for the whole optimizer, never per param group.
_GLOBAL_OPTIONS = (
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
)


def _describe(value: Any) -> str:
    return f"{value!r} (of type {type(value).__name__})"


def _check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """`value` as a float after checking it is a real number in the given range."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a float. Received: {name}={_describe(value)}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if math.isnan(number) or too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        bounds = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ValueError(
            f"`{name}` must be in {bounds}. Received: {name}={_describe(value)}"
        )
    return number


def _check_learning_rate(value: Any, name: str = "learning_rate") -> float:
    if isinstance(value, Tensor) or callable(value):
        raise TypeError(
            f"`{name}` must be a positive float (tensors and schedules are not supported "
            f"here). Received: {name}={_describe(value)}"
        )
    return _check_number(name, value, 0.0, None, low_open=True)


def _check_weight_decay(value: Any) -> float | None:
    return None if value is None else _check_number("weight_decay", value, 0.0)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool. Received: {name}={_describe(value)}")
    return value


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


class _GroupOption:
    """A hyper-parameter kept in `defaults` and in every param group (torch's convention).

    Reading gives the first group's value (the default before `build`); writing sets
    it everywhere, so `opt.beta_1 = 0.8` behaves like in Keras while per-group values
    set through `param_groups` keep working like in torch.
    """

    def __init__(self, key: str | None = None, check: Callable[[Any], Any] | None = None):
        self.key = key
        self.check = check

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if self.key is None:
            self.key = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        groups = obj.param_groups
        return groups[0][self.key] if groups else obj.defaults[self.key]

    def __set__(self, obj: Any, value: Any) -> None:
        if self.check is not None:
            value = self.check(value)
        obj.defaults[self.key] = value
        for group in obj.param_groups:
            group[self.key] = value


class KerasOptimizer(torch.optim.Optimizer):
    """Base class of fitorch's Keras-style optimizers.

    Handles what every Keras optimizer shares: deferred `build()`, the
    `learning_rate` property, decoupled weight decay, gradient clipping and the
    moving average of the weights. Subclasses set `_defaults()` and implement
    `_update()`, which updates one param group with fused `torch._foreach_*` ops.

    Gradients are clipped in place (like `torch.nn.utils.clip_grad_norm_`) to avoid
    allocating a second copy of them on every step.

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9, clipnorm=1.0)
        >>> opt.is_built
        False
        >>> opt.build([torch.nn.Parameter(torch.zeros(3))])
        >>> opt.is_built
        True
    """

    _default_learning_rate = 0.001

    learning_rate = _GroupOption("lr", _check_learning_rate)
    weight_decay = _GroupOption("weight_decay", _check_weight_decay)

    def __init__(
        self,
        params: Any = None,
        learning_rate: float = 0.001,
        *,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        name: str | None = None,
        lr: float | None = None,
        **hyperparameters: Any,
    ) -> None:
        # Keras code passes the learning rate as the first positional argument.
        if isinstance(params, Real) and not isinstance(params, bool):
            learning_rate, params = float(params), None
        if lr is not None:
            if learning_rate not in (lr, self._default_learning_rate):
                raise ValueError(
                    "Pass the learning rate once, as `learning_rate` or as its alias `lr`. "
                    f"Received: learning_rate={_describe(learning_rate)}, lr={_describe(lr)}"
                )
            learning_rate = lr
        learning_rate = _check_learning_rate(learning_rate)
        clip_args = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                     "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clip_args.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        for key, value in clip_args.items():
            if value is not None:
                _check_number(key, value, 0.0, None, low_open=True)
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = _check_bool("use_ema", use_ema)
        self.ema_momentum = _check_number("ema_momentum", ema_momentum, 0.0, 1.0)
        if ema_overwrite_frequency is not None and (
            isinstance(ema_overwrite_frequency, bool)
            or not isinstance(ema_overwrite_frequency, int)
            or ema_overwrite_frequency < 1
        ):
            raise ValueError(
                "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                f"Received: ema_overwrite_frequency={_describe(ema_overwrite_frequency)}"
            )
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.name = name if name is not None else type(self).__name__.lower()
        self._iterations = 0
        self._wd_exclude_ids: set[int] = set()
        self._wd_exclude_pattern: re.Pattern[str] | None = None
        self._wd_excluded: set[int] = set()

        defaults = {
            "lr": learning_rate,
            "weight_decay": _check_weight_decay(weight_decay),
            **hyperparameters,
        }
        # torch's constructor sets up hooks and profiling wrappers that later code
        # relies on; it refuses an empty parameter list, so a throw-away tensor stands
        # in until `build()` provides the real parameters.
        super().__init__([torch.empty(0)], defaults)
        self.param_groups = []
        self.state = defaultdict(dict)
        if params is not None:
            self.build(params)

    # ------------------------------------------------------------------ building
    @property
    def is_built(self) -> bool:
        """Whether the optimizer has parameters (`build()` was called)."""
        return len(self.param_groups) > 0

    @property
    def built(self) -> bool:
        """Keras's name for `is_built`."""
        return self.is_built

    def build(self, params: Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[Any]) -> None:
        """Binds the optimizer to `params` (tensors, `(name, tensor)` pairs or param groups).

        Does nothing when already built, as in Keras.

        Example:
            >>> opt = RMSprop()
            >>> opt.build(torch.nn.Linear(2, 2).named_parameters())
        """
        if self.is_built:
            return
        if isinstance(params, Tensor):
            raise TypeError(
                "`params` must be an iterable of tensors or of param-group dicts, not a "
                f"single tensor. Received: params of type {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("`build()` received an empty parameter list. Received: params=[]")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(dict(group))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's `add_param_group`, also accepting Keras's `learning_rate` key."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"A param group must be a dict. Received: param_group={_describe(param_group)}"
            )
        if "learning_rate" in param_group:
            if "lr" in param_group:
                raise ValueError(
                    "A param group may set `lr` or `learning_rate`, not both. "
                    f"Received keys: {sorted(param_group)}"
                )
            param_group["lr"] = param_group.pop("learning_rate")
        if "lr" in param_group:
            param_group["lr"] = _check_learning_rate(param_group["lr"], "lr")
        for key in _GLOBAL_OPTIONS:
            if key in param_group:
                raise ValueError(
                    f"`{key}` applies to the whole optimizer and cannot be set per param "
                    f"group. Received: param group with key {key!r}"
                )
        params = param_group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        params = list(params) if params is not None else []
        # `(name, tensor)` pairs (e.g. `named_parameters()`): keep the names for
        # `exclude_from_weight_decay(var_names=...)`, on every torch version.
        if params and all(isinstance(p, tuple) and len(p) == 2 for p in params):
            param_group.setdefault("param_names", [str(n) for n, _ in params])
            params = [p for _, p in params]
        param_group["params"] = params
        super().add_param_group(param_group)
        if self._wd_exclude_ids or self._wd_exclude_pattern is not None:
            self._resolve_weight_decay_exclusions()

    def _require_built(self, what: str) -> None:
        if not self.is_built:
            raise ValueError(
                f"Cannot call `{what}` on the unbuilt optimizer {type(self).__name__}: it has "
                "no parameters yet. Call `optimizer.build(model.parameters())` first, or "
                "pass the parameters when creating it. Received: optimizer with 0 param groups"
            )

    @property
    def iterations(self) -> int:
        """How many times `step()` ran (Keras's `optimizer.iterations`)."""
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"`iterations` must be an integer >= 0. Received: iterations={_describe(value)}"
            )
        self._iterations = value

    # -------------------------------------------------------------- weight decay
    def exclude_from_weight_decay(
        self,
        var_list: Iterable[Tensor] | None = None,
        var_names: Iterable[str] | None = None,
    ) -> None:
        """Excludes parameters (by identity, or by a regex search of their names) from decay.

        Must be called before `build()`, as in Keras. Names are only known when the
        parameters were given as `(name, tensor)` pairs, e.g. `model.named_parameters()`.

        Example:
            >>> opt = AdamW()
            >>> opt.exclude_from_weight_decay(var_names=["bias"])
            >>> opt.build(torch.nn.Linear(2, 2).named_parameters())
        """
        if self.is_built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before the optimizer "
                "is built. Received: a built optimizer"
            )
        self._wd_exclude_ids = {id(v) for v in var_list} if var_list else set()
        names = sorted(set(var_names)) if var_names else []
        self._wd_exclude_pattern = re.compile("|".join(names)) if names else None

    def _resolve_weight_decay_exclusions(self) -> None:
        excluded = set(self._wd_exclude_ids)
        if self._wd_exclude_pattern is not None:
            for group in self.param_groups:
                names = group.get("param_names")
                if names is None:
                    raise ValueError(
                        "`exclude_from_weight_decay(var_names=...)` needs parameter names: "
                        "build the optimizer with `model.named_parameters()`. Received: "
                        "parameters without names"
                    )
                for name, p in zip(names, group["params"], strict=True):
                    if self._wd_exclude_pattern.search(name):
                        excluded.add(id(p))
        self._wd_excluded = excluded

    # ---------------------------------------------------------------- the step
    def _state_list(self, params: list[Tensor], key: str, fill: float = 0.0) -> list[Tensor]:
        """The `key` state tensor of every param, created (filled with `fill`) on first use."""
        state = self.state
        out = []
        for p in params:
            st = state[p]
            buf = st.get(key)
            if buf is None:
                buf = torch.full_like(p, fill, memory_format=torch.preserve_format)
                st[key] = buf
            out.append(buf)
        return out

    def _clip_gradients(self, grads: list[Tensor]) -> None:
        """Keras's gradient clipping, in place; scales stay on the device (no sync)."""
        if self.clipnorm is not None:
            # Per-variable: g * clipnorm / max(||g||, clipnorm).
            scales = torch._foreach_norm(grads)
            torch._foreach_clamp_min_(scales, self.clipnorm)
            torch._foreach_reciprocal_(scales)
            torch._foreach_mul_(scales, self.clipnorm)
            torch._foreach_mul_(grads, scales)
        elif self.global_clipnorm is not None:
            norms = torch._foreach_norm(grads)
            device = grads[0].device
            total = torch.linalg.vector_norm(torch.stack([n.to(device) for n in norms]))
            clip = self.global_clipnorm
            # `+ (total - total)` turns the scale into NaN for an inf/NaN norm, as Keras.
            scale = clip / torch.clamp_min(total, clip) + (total - total)
            for dev in {g.device for g in grads}:
                dev_grads = [g for g in grads if g.device == dev]
                torch._foreach_mul_(dev_grads, scale.to(dev))
        elif self.clipvalue is not None:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)

    def _apply_weight_decay(self, group: dict[str, Any], params: list[Tensor]) -> None:
        wd = group["weight_decay"]
        if not wd:
            return
        if self._wd_excluded:
            params = [p for p in params if id(p) not in self._wd_excluded]
            if not params:
                return
        # Keras: var <- var - var * wd * lr, before the update.
        torch._foreach_mul_(params, 1.0 - wd * group["lr"])

    def _update_ema(self) -> None:
        params = [p for group in self.param_groups for p in group["params"]]
        averages = self._state_list(params, "ema")
        if self._iterations == 0:
            torch._foreach_copy_(averages, params)
        else:
            torch._foreach_lerp_(averages, params, 1.0 - self.ema_momentum)
        freq = self.ema_overwrite_frequency
        if freq and (self._iterations + 1) % freq == 0:
            torch._foreach_copy_(params, averages)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Applies one update to every parameter that has a gradient.

        Example:
            >>> p = torch.nn.Parameter(torch.ones(2))
            >>> opt = SGD([p], learning_rate=0.5)
            >>> p.grad = torch.ones(2)
            >>> opt.step()
            >>> p.data
            tensor([0.5000, 0.5000])
        """
        self._require_built("step()")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = []
        all_grads: list[Tensor] = []
        for group in self.param_groups:
            params = []
            grads = []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    if g.is_sparse:
                        raise TypeError(
                            f"{type(self).__name__} does not support sparse gradients. "
                            f"Received: a gradient with layout {g.layout}"
                        )
                    params.append(p)
                    grads.append(g)
            if params:
                work.append((group, params, grads))
                all_grads.extend(grads)
        if all_grads:
            if self.clipnorm or self.global_clipnorm or self.clipvalue:
                self._clip_gradients(all_grads)
            t = self._iterations + 1
            for group, params, grads in work:
                self._apply_weight_decay(group, params)
                self._update(group, params, grads, t)
        self._after_update()
        if self.use_ema:
            self._update_ema()
        self._iterations += 1
        return loss

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], t: int
    ) -> None:
        """Updates `params` of one group in place; `t` is the 1-based step number."""
        raise NotImplementedError

    def _after_update(self) -> None:
        """Hook for optimizer-wide counters updated once per step (Nadam)."""

    # --------------------------------------------------------------------- EMA
    def _ema_pairs(self, what: str) -> tuple[list[Tensor], list[Tensor]]:
        self._require_built(what)
        if not self.use_ema:
            raise ValueError(
                f"`{what}` needs an optimizer created with `use_ema=True`. "
                f"Received: use_ema={self.use_ema}"
            )
        params = [p for group in self.param_groups for p in group["params"]]
        with_average = [p for p in params if "ema" in self.state[p]]
        return with_average, [self.state[p]["ema"] for p in with_average]

    @torch.no_grad()
    def swap_ema_weights(self) -> None:
        """Exchanges the weights with their moving averages (call again to swap back).

        Example:
            >>> p = torch.nn.Parameter(torch.zeros(2))
            >>> opt = SGD([p], use_ema=True)
            >>> p.grad = torch.ones(2); opt.step()
            >>> opt.swap_ema_weights()   # evaluate with the averaged weights ...
            >>> opt.swap_ema_weights()   # ... then restore the trained ones
        """
        params, averages = self._ema_pairs("swap_ema_weights()")
        if params:
            saved = torch._foreach_mul(params, 1.0)
            torch._foreach_copy_(params, averages)
            torch._foreach_copy_(averages, saved)

    @torch.no_grad()
    def finalize_variable_values(self) -> None:
        """Overwrites the weights with their moving averages if `use_ema` (Keras, end of fit).

        Example:
            >>> opt = Adam([torch.nn.Parameter(torch.zeros(2))])
            >>> opt.finalize_variable_values()   # no-op without use_ema
        """
        if self.use_ema and self.is_built:
            params, averages = self._ema_pairs("finalize_variable_values()")
            if params:
                torch._foreach_copy_(params, averages)

    # ---------------------------------------------------------- serialization
    def _extra_state(self) -> dict[str, Any]:
        return {"iterations": self._iterations}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._iterations = int(extra["iterations"])

    def state_dict(self) -> dict[str, Any]:
        """torch's `state_dict()` plus Keras's optimizer-wide counters."""
        self._require_built("state_dict()")
        state_dict = super().state_dict()
        state_dict[_EXTRA_STATE_KEY] = self._extra_state()
        return state_dict

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Loads a `state_dict()`, continuing exactly where it was saved."""
        self._require_built("load_state_dict()")
        state_dict = dict(state_dict)
        extra = state_dict.pop(_EXTRA_STATE_KEY, None)
        super().load_state_dict(state_dict)
        if extra is not None:
            self._load_extra_state(extra)

    def __getstate__(self) -> dict[str, Any]:
        # torch pickles only defaults/state/param_groups; keep the Keras options too.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_optimizer_")}

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras's `get_config`), without the parameters."""
        config = {k: v for k, v in self.defaults.items() if k not in ("lr", "differentiable")}
        config = {"name": self.name, "learning_rate": self.learning_rate, **config}
        config.update({key: getattr(self, key) for key in _GLOBAL_OPTIONS})
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KerasOptimizer:
        """Creates an unbuilt optimizer from `get_config()` output."""
        return cls(**config)

    def __repr__(self) -> str:
        if self.is_built:
            return super().__repr__()
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options}) (unbuilt)"


# ---------------------------------------------------------------------------
# The eight optimizers. Each `_update` mirrors keras/src/optimizers/<name>.py;
# scalars (bias corrections) are Python floats computed on the host from the
# step counter, so no step ever waits for the device.
# ---------------------------------------------------------------------------


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
    ) -> None:
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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


def _check_beta(name: str) -> Callable[[Any], float]:
    return lambda v: _check_number(name, v, 0.0, 1.0, high_open=True)


def _check_epsilon(value: Any) -> float:
    return _check_number("epsilon", value, 0.0)


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
    ) -> None:
        self._saturated_steps: dict[torch.device, Tensor] = {}
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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
            name=name, lr=lr,
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
    ) -> None:
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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
    ) -> None:
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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
    ) -> None:
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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
    ) -> None:
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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
    ) -> None:
        # prod_{i<=t} (1 - 0.5 * 0.96**i): Keras's running `u_product` divided by
        # beta_1**t, kept separately so param groups may use different beta_1.
        self._decay_product = 1.0
        super().__init__(
            params, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            name=name, lr=lr,
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


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

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

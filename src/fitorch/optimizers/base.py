"""`KerasOptimizer`, the base of fitorch's optimizers, and the argument checks they share.

The base class handles what every Keras optimizer shares: deferred `build()`, the
`learning_rate` property, decoupled weight decay, gradient clipping, the moving
average of the weights (EMA) and `state_dict()` with Keras's global counters.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from fitorch.optimizers.clipping import check_clip_args, clip_gradients

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
    "gradient_accumulation_steps",
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
    # 0.0 is allowed, as by Keras and torch.optim: a frozen run, or a warm-up's first rate.
    if isinstance(value, Tensor) or callable(value):
        raise TypeError(
            f"`{name}` must be a non-negative float (tensors and schedules are not supported "
            f"here). Received: {name}={_describe(value)}"
        )
    return _check_number(name, value, 0.0, None)


def _check_weight_decay(value: Any) -> float | None:
    return None if value is None else _check_number("weight_decay", value, 0.0)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool. Received: {name}={_describe(value)}")
    return value


def _check_beta(name: str) -> Callable[[Any], float]:
    return lambda v: _check_number(name, v, 0.0, 1.0, high_open=True)


def _check_epsilon(value: Any) -> float:
    return _check_number("epsilon", value, 0.0)


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
        gradient_accumulation_steps: int | None = None,
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
        check_clip_args(clipnorm, clipvalue, global_clipnorm)
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
        if gradient_accumulation_steps is not None and (
            isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, int)
            or gradient_accumulation_steps < 1
        ):
            raise ValueError(
                "`gradient_accumulation_steps` must be an int >= 1 or None. Received: "
                f"gradient_accumulation_steps={_describe(gradient_accumulation_steps)}"
            )
        # Applied by the model's train step (the same mechanism as
        # `compile(gradient_accumulation_steps=N)`): `iterations` counts updates.
        self.gradient_accumulation_steps = gradient_accumulation_steps
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
        clip_gradients(grads, self.clipnorm, self.clipvalue, self.global_clipnorm)

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

    def apply(self, grads: Sequence[Tensor | None],
              trainable_variables: Sequence[Tensor] | None = None) -> None:
        """Keras 3's `optimizer.apply(grads, trainable_variables)`: one update with these
        gradients (None: that variable is not updated). The first call builds an unbuilt
        optimizer on `trainable_variables`, as Keras does.

        Example:
            >>> grads = [p.grad for p in model.trainable_weights]
            >>> optimizer.apply(grads, model.trainable_weights)
        """
        variables = list(trainable_variables) if trainable_variables is not None else [
            p for group in self.param_groups for p in group["params"]]
        grads = list(grads)
        if len(grads) != len(variables):
            raise ValueError(
                f"`apply` takes one gradient per variable: {len(grads)} gradients for "
                f"{len(variables)} variables. Received: len(grads)={len(grads)}"
            )
        if not self.is_built:
            self.build(variables)
        known = {id(p) for group in self.param_groups for p in group["params"]}
        unknown = [i for i, v in enumerate(variables) if id(v) not in known]
        if unknown:
            raise ValueError(
                f"`apply` got variables the optimizer was not built with (positions "
                f"{unknown[:5]}): an optimizer updates the variables it was built on. "
                f"Received: {len(unknown)} unknown variable(s)"
            )
        with torch.no_grad():
            # Exactly these gradients: every other parameter of the optimizer sits out.
            held = [(p, p.grad) for group in self.param_groups for p in group["params"]]
            for p, _ in held:
                p.grad = None
            for v, g in zip(variables, grads):
                v.grad = g
            try:
                self.step()
            finally:
                for p, grad in held:
                    p.grad = grad

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Tensor | None, Tensor]]) -> None:
        """Keras's `apply_gradients(zip(grads, vars))`.

        Example:
            >>> optimizer.apply_gradients(zip(grads, model.trainable_weights))
        """
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

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

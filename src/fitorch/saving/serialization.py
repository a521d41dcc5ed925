"""Configs as JSON: a `Sequential` or functional model of fitorch layers, and `compile()`'s
arguments.

Only names that fitorch itself defines are ever turned back into objects
(layers from `fitorch.layers`, losses, metrics and optimizers from fitorch's
registries, optimizer classes from `torch.optim`); a file cannot name a
module to import or a function to call, which keeps loading free of code
execution.

Example:
    >>> config = compile_config(model)           # after model.compile(...)
    >>> other.compile(**compile_kwargs(config, other))
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fitorch import losses as losses_module
from fitorch import optimizers as optimizers_module

__all__ = ["NotSerializable", "compile_config", "compile_kwargs", "layer_class",
           "model_config", "model_from_config", "to_json_value"]

_TORCH_PREFIX = "torch.optim."


class NotSerializable(TypeError):
    """A compile argument or layer option that cannot be written as JSON (a custom object)."""


def to_json_value(value: Any, what: str) -> Any:
    """`value` if it survives a JSON round trip unchanged in meaning, else NotSerializable."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise NotSerializable(f"{what} is not JSON data ({e})") from None
    return value


# ------------------------------------------------------------------- layers
def layer_class(class_name: Any) -> type[nn.Module]:
    """The fitorch layer class called `class_name` (only `fitorch.layers`' public classes)."""
    from fitorch import layers

    if class_name in ("Input", "InputLayer"):  # `Input` is a function making an InputLayer
        return layers.InputLayer
    cls = getattr(layers, class_name, None) if isinstance(class_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or class_name.startswith("_"):
        raise ValueError(
            "The saved model config names a layer that is not a fitorch layer. Only classes "
            "of `fitorch.layers` can be rebuilt from a file; for other models pass the model: "
            f"`ft.load_model(path, model=...)`. Received: class_name={class_name!r}"
        )
    return cls


def layer_config(layer: nn.Module) -> dict[str, Any]:
    """`{"class_name", "config"}` of a fitorch layer; NotSerializable for any other module."""
    name = type(layer).__name__
    from fitorch import layers

    if getattr(layers, name, None) is not type(layer) or not callable(
            getattr(layer, "get_config", None)):
        raise NotSerializable(f"layer {getattr(layer, 'name', name)!r} ({name}) is not a "
                              "fitorch layer with get_config()")
    config = layer.get_config()  # type: ignore[operator]
    return {"class_name": name,
            "config": to_json_value(config, f"the config of layer {name}")}


def model_config(model: nn.Module) -> dict[str, Any] | None:
    """The model's architecture as JSON data, or None when it cannot be rebuilt from JSON."""
    from fitorch.functional.functional_model import Functional
    from fitorch.sequential import Sequential

    if type(model) not in (Sequential, Functional):
        return None
    try:
        return {"class_name": type(model).__name__,
                "config": model.get_config()}  # type: ignore[operator]
    except NotSerializable:
        return None


def model_from_config(config: dict[str, Any]) -> nn.Module:
    """The model `model_config` described (a Sequential or a functional model), new weights."""
    if config.get("class_name") == "Functional":
        from fitorch.functional.config import functional_from_config

        return functional_from_config(config.get("config"))
    from fitorch.sequential import Sequential

    return Sequential.from_config(config["config"])


# ------------------------------------------------------------------ compile
def _optimizer_config(model: Any) -> Any:
    spec = getattr(model, "_optimizer_spec", None)
    optimizer = model.optimizer if model.optimizer is not None else spec
    if optimizer is None:
        return None
    if isinstance(optimizer, optimizers_module.KerasOptimizer):
        return {"class_name": type(optimizer).__name__,
                "config": to_json_value(optimizer.get_config(), "the optimizer's config")}
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    if getattr(torch.optim, cls.__name__, None) is not cls:
        raise NotSerializable(f"optimizer {cls.__name__} is not a fitorch or torch.optim class")
    config: dict[str, Any] = {}
    if isinstance(optimizer, torch.optim.Optimizer):
        group = optimizer.param_groups[0] if optimizer.param_groups else optimizer.defaults
        # Only what the constructor takes: `defaults` may hold derived flags (AdamW's
        # `decoupled_weight_decay`) that the class does not accept back.
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
        config = {k: v for k, v in optimizer.defaults.items() if k in accepted}
        config.update({k: group[k] for k in config if k in group})
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}
    return {"class_name": _TORCH_PREFIX + cls.__name__,
            "config": to_json_value(config, f"the config of {cls.__name__}")}


def _loss_config(spec: Any) -> Any:
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_loss_config(s) for s in spec]
    if isinstance(spec, Mapping):
        return {str(k): _loss_config(v) for k, v in spec.items()}
    if isinstance(spec, losses_module.Loss) and type(spec) is getattr(
            losses_module, type(spec).__name__, None) and type(spec) not in (
            losses_module.LossFunctionWrapper, losses_module.TorchLoss):
        return {"class_name": type(spec).__name__,
                "config": to_json_value(spec.get_config(), f"the config of {type(spec).__name__}")}
    fn_name = getattr(spec, "__name__", None)
    if isinstance(fn_name, str) and getattr(losses_module, fn_name, None) is spec:
        return fn_name  # a fitorch loss function: its name resolves to it
    if isinstance(spec, losses_module.TorchLoss):
        spec = spec.fn
    torch_loss = _torch_loss_config(spec)
    if torch_loss is not None:
        return torch_loss
    raise NotSerializable(f"loss {spec!r} is not a name, a fitorch loss or a fitorch function, "
                          "nor a torch.nn loss")


# torch.nn losses: the class (or torch.nn.functional function) by name from torch's own
# namespace, its constructor arguments read back from the module; tensors (`weight=`,
# `pos_weight=`) as nested lists with their dtype.
_TORCH_LOSS_PREFIX = "torch.nn."
_TORCH_FUNCTION_PREFIX = "torch.nn.functional."
_DEPRECATED_LOSS_ARGS = ("size_average", "reduce")


def _torch_value(value: Any, what: str) -> Any:
    if isinstance(value, torch.Tensor):
        return {"__tensor__": value.detach().cpu().tolist(), "dtype": str(value.dtype)[6:]}
    return to_json_value(value, what)


def _torch_loss_config(spec: Any) -> dict[str, Any] | None:
    import functools

    from fitorch.losses.torch_losses import is_torch_functional

    if isinstance(spec, torch.nn.Module):
        cls = type(spec)
        if getattr(torch.nn, cls.__name__, None) is not cls:
            raise NotSerializable(f"loss {spec!r} is a {cls.__name__}, not a torch.nn class")
        config = {}
        for name in inspect.signature(cls.__init__).parameters:
            if name in ("self", *_DEPRECATED_LOSS_ARGS) or not hasattr(spec, name):
                continue
            config[name] = _torch_value(getattr(spec, name), f"argument {name!r} of {spec!r}")
        return {"class_name": _TORCH_LOSS_PREFIX + cls.__name__, "config": config}
    if is_torch_functional(spec):
        keywords = spec.keywords if isinstance(spec, functools.partial) else {}
        if isinstance(spec, functools.partial) and spec.args:
            raise NotSerializable(f"loss {spec!r} binds positional arguments")
        inner = spec.func if isinstance(spec, functools.partial) else spec
        return {"class_name": _TORCH_FUNCTION_PREFIX + inner.__name__,
                "config": {k: _torch_value(v, f"argument {k!r} of {spec!r}")
                           for k, v in keywords.items()}}
    return None


def _decode_torch_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__tensor__", "dtype"}:
        dtype = getattr(torch, str(value["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"Unknown tensor dtype in the saved loss config. "
                             f"Received: dtype={value['dtype']!r}")
        return torch.tensor(value["__tensor__"], dtype=dtype)
    return value


def _decode_torch_loss(name: str, config: Mapping[str, Any]) -> Any:
    """A torch.nn loss class or torch.nn.functional loss named in a file (nothing else)."""
    import functools

    from fitorch.losses.torch_losses import is_torch_functional

    kwargs = {str(k): _decode_torch_value(v) for k, v in config.items()}
    if name.startswith(_TORCH_FUNCTION_PREFIX):
        fn = getattr(torch.nn.functional, name[len(_TORCH_FUNCTION_PREFIX):], None)
        if fn is None or not is_torch_functional(fn):
            raise ValueError(f"Unknown torch.nn.functional loss in the saved compile config. "
                             f"Received: class_name={name!r}")
        return functools.partial(fn, **kwargs) if kwargs else fn
    cls = getattr(torch.nn, name[len(_TORCH_LOSS_PREFIX):], None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.modules.loss._Loss)):
        raise ValueError(f"Unknown torch.nn loss in the saved compile config. "
                         f"Received: class_name={name!r}")
    return cls(**kwargs)


def _metric_config(spec: Any) -> Any:
    from fitorch.metrics import registry

    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_metric_config(s) for s in spec]
    if isinstance(spec, Mapping):
        return {str(k): _metric_config(v) for k, v in spec.items()}
    cls = type(spec)
    if registry._BY_NAME.get(cls.__name__) is cls and callable(getattr(spec, "get_config", None)):
        return {"class_name": cls.__name__,
                "config": to_json_value(spec.get_config(), f"the config of {cls.__name__}")}
    raise NotSerializable(f"metric {spec!r} is not a name or a fitorch metric with get_config()")


def compile_config(model: Any) -> dict[str, Any] | None:
    """The arguments `model.compile(...)` was called with, as JSON data (None if not compiled).

    Raises NotSerializable when one of them is a custom object (a lambda loss, say).
    """
    if not getattr(model, "compiled", False):
        return None
    loss = model._compiled_loss
    metrics = model._compiled_metrics
    return {
        "optimizer": _optimizer_config(model),
        "loss": _loss_config(loss._user_loss) if loss is not None else None,
        "loss_weights": to_json_value(loss._user_weights, "loss_weights")
        if loss is not None else None,
        "metrics": _metric_config(metrics._user_metrics) if metrics is not None else None,
        "weighted_metrics": _metric_config(metrics._user_weighted) if metrics is not None
        else None,
        "steps_per_execution": int(model._steps_per_execution),
        "jit_compile": bool(model._jit_compile),
        "precision": model._precision,
        "gradient_accumulation_steps": int(model._gradient_accumulation_steps),
        **(model._clip_options or {}),
    }


def _decode_loss(doc: Any) -> Any:
    if isinstance(doc, list):
        return [_decode_loss(d) for d in doc]
    if isinstance(doc, dict) and "class_name" in doc and set(doc) <= {"class_name", "config"}:
        name, config = doc["class_name"], doc.get("config", {})
        if isinstance(name, str) and name.startswith(_TORCH_LOSS_PREFIX) \
                and isinstance(config, Mapping):
            return _decode_torch_loss(name, config)
        return losses_module.get({"class_name": name, "config": config})
    if isinstance(doc, dict):
        return {k: _decode_loss(v) for k, v in doc.items()}
    return doc


def _decode_metric(doc: Any) -> Any:
    from fitorch.metrics import registry

    if isinstance(doc, list):
        return [_decode_metric(d) for d in doc]
    if isinstance(doc, dict) and "class_name" in doc and set(doc) <= {"class_name", "config"}:
        cls = registry._BY_NAME.get(doc["class_name"])
        if not isinstance(cls, type):
            raise ValueError(f"Unknown metric class in the saved compile config. "
                             f"Received: class_name={doc['class_name']!r}")
        return cls(**doc.get("config", {}))
    if isinstance(doc, dict):
        return {k: _decode_metric(v) for k, v in doc.items()}
    return doc


def _decode_optimizer(doc: Any, model: nn.Module) -> Any:
    if doc is None:
        return None
    name = doc.get("class_name") if isinstance(doc, dict) else None
    config = dict(doc.get("config") or {}) if isinstance(doc, dict) else {}
    if isinstance(name, str) and name.startswith(_TORCH_PREFIX):
        cls = getattr(torch.optim, name[len(_TORCH_PREFIX):], None)
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise ValueError(f"Unknown torch optimizer in the saved compile config. "
                             f"Received: class_name={name!r}")
        if "betas" in config and isinstance(config["betas"], list):
            config["betas"] = tuple(config["betas"])
        params = [p for p in model.parameters() if p.requires_grad]
        return cls(params, **config)
    return optimizers_module.get({"class_name": name, "config": config})


def compile_kwargs(config: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """Arguments for `model.compile(**...)` from `compile_config`'s output.

    A torch optimizer is created on the model's (built) parameters at once.
    """
    return {
        "optimizer": _decode_optimizer(config.get("optimizer"), model),
        "loss": _decode_loss(config.get("loss")),
        "loss_weights": config.get("loss_weights"),
        "metrics": _decode_metric(config.get("metrics")),
        "weighted_metrics": _decode_metric(config.get("weighted_metrics")),
        "steps_per_execution": int(config.get("steps_per_execution", 1)),
        "jit_compile": bool(config.get("jit_compile", False)),
        "precision": str(config.get("precision", "32")),
        **{key: config[key] for key in ("clipnorm", "clipvalue", "global_clipnorm")
           if config.get(key) is not None},
        **({"gradient_accumulation_steps": int(config["gradient_accumulation_steps"])}
           if config.get("gradient_accumulation_steps", 1) != 1 else {}),
    }

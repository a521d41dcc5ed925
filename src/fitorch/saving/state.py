"""All-or-nothing loading of a `state_dict` read from a file.

torch's `load_state_dict` copies tensor after tensor and reports shape errors at
the end, so a bad file can leave a model half-loaded. Here every key, shape and
dtype is checked first and the values are converted before the first copy.

Example:
    >>> load_state(model, safetensors.torch.load_file("w.safetensors"), "w.safetensors")
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["load_state", "portable_state", "state_tensors"]

_SHOW = 8  # keys listed in an error message


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else "")


def state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's `state_dict` as detached tensors; an error if some are not created yet.

    A model sharded with FSDP2 gives its whole state while `saving.gathered` holds it."""
    whole = model.__dict__.get("_gathered_state")
    if whole is not None:
        return {k: v.detach() for k, v in whole.items()}
    state = model.state_dict(keep_vars=True)
    unbuilt = [k for k, v in state.items()
               if isinstance(v, (nn.parameter.UninitializedParameter,
                                 nn.parameter.UninitializedBuffer))]
    if unbuilt:
        raise ValueError(
            "The model's weights are not created yet (their sizes come from the first batch): "
            "build it first, with an `Input`, by calling it on data, or with `model.build(...)`. "
            f"Received: a model with uninitialized weights {_listing(unbuilt)}"
        )
    return {k: v.detach() for k, v in state.items()}


def portable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """`state_tensors`, with the keys of the wrapped module for `Model(module)`: a file that
    `module.load_state_dict(...)` takes in plain torch (loading accepts both spellings).

    Example:
        >>> ft.Model(net).save_weights("w.safetensors")
        >>> net.load_state_dict(safetensors.torch.load_file("w.safetensors"))
    """
    tensors = state_tensors(model)
    wrapped = getattr(model, "module", None)
    if isinstance(wrapped, nn.Module) and tensors and all(k.startswith("module.")
                                                          for k in tensors):
        return {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def _owner(model: nn.Module, key: str) -> str:
    """`key` with the layer that holds it: `stack.0.weight (layer "dense_3", Dense)`."""
    try:
        module = model.get_submodule(key.rpartition(".")[0])
    except AttributeError:
        return key
    name = getattr(module, "name", None)
    label = f'"{name}", ' if isinstance(name, str) else ""
    return f"{key} (layer {label}{type(module).__name__})"


def _align_keys(tensors: Mapping[str, torch.Tensor], expected: set[str]
                ) -> Mapping[str, torch.Tensor]:
    """Accept the state of the bare module for `Model(module)` and of a DDP-wrapped one."""
    if set(tensors) == expected:
        return tensors
    added = {f"module.{k}": v for k, v in tensors.items()}
    if set(added) == expected:
        return added
    if all(k.startswith("module.") for k in tensors):
        stripped = {k[len("module."):]: v for k, v in tensors.items()}
        if set(stripped) == expected:
            return stripped
    return tensors


def load_state(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Load `tensors` into `model` after checking every key and shape; nothing changes on error.

    Lazily-sized parameters that are not created yet take the file's shapes.
    """
    target = model.state_dict(keep_vars=True)
    tensors = _align_keys(tensors, set(target))
    missing = sorted(set(target) - set(tensors))
    unexpected = sorted(set(tensors) - set(target))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"the model's weights missing from the file: {_listing(missing)}")
        if unexpected:
            parts.append(f"weights in the file that the model does not have: "
                         f"{_listing(unexpected)}")
        raise ValueError(
            f"The weights in {source!r} do not match the model ({type(model).__name__}): "
            + "; ".join(parts) + f". Received: filepath={source!r}"
        )
    mismatched = []
    converted: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        current = target[key]
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"Entry {key!r} of {source!r} is not a tensor. "
                f"Received: {key}={type(value).__name__}"
            )
        lazy = isinstance(current, (nn.parameter.UninitializedParameter,
                                    nn.parameter.UninitializedBuffer))
        if not lazy and tuple(current.shape) != tuple(value.shape):
            mismatched.append(f"{_owner(model, key)}: model {tuple(current.shape)}, "
                              f"file {tuple(value.shape)}")
            continue
        if current.is_floating_point() != value.is_floating_point() and not lazy:
            mismatched.append(f"{_owner(model, key)}: model dtype {current.dtype}, "
                              f"file dtype {value.dtype}")
            continue
        converted[key] = value if lazy else value.to(dtype=current.dtype)
    if mismatched:
        raise ValueError(
            f"The weights in {source!r} do not fit the model ({type(model).__name__}): "
            f"{_listing(mismatched)}. Received: filepath={source!r}"
        )
    # Every check passed: the copies below cannot fail on shapes or keys.
    model.load_state_dict(converted, strict=True)

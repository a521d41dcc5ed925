"""Free what Dynamo keeps for a compiled code object once its model is gone.

`compiled_step.compile_for` compiles a per-model copy of a function's code object.
When the model is collected, that code object's cache entries would stay alive (they
reference themselves), and so would the guards' `weakref.finalize` callbacks that
Dynamo registers on long-lived objects (modules, types): ~1.5 MiB per compiled model.
`release_code` drops both.

Example:
    >>> weakref.finalize(model, release_code, code)
"""

from __future__ import annotations

import types
import weakref
from typing import Any

import torch

__all__ = ["release_code"]


def _guard_finalizers(out_codes: set[int]) -> list[weakref.finalize]:
    """The finalizers Dynamo's guard managers registered for the cache entries whose
    compiled code is in `out_codes` (by id)."""
    found = []
    registry: dict[Any, Any] = getattr(weakref.finalize, "_registry", {})
    for finalizer, info in list(registry.items()):
        manager = getattr(getattr(info.func, "func", None), "__self__", None)
        if type(manager).__name__ != "CheckFunctionManager":
            continue
        entry = getattr(getattr(manager, "guard_manager", None), "cache_entry", None)
        if entry is not None and id(getattr(entry, "code", None)) in out_codes:
            found.append(finalizer)
    return found


def release_code(code: types.CodeType) -> None:
    """Drop Dynamo's cache entries of `code` and the guard finalizers that keep them."""
    try:
        from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list

        out_codes = {id(entry.code) for entry in _debug_get_cache_entry_list(code)}
        finalizers = _guard_finalizers(out_codes) if out_codes else []
    except (ImportError, AttributeError, TypeError):  # another torch: its internals differ
        finalizers = []
    for finalizer in finalizers:
        finalizer.detach()
    torch._dynamo.reset_code(code)

"""Keras's gradient clipping (`clipnorm`, `clipvalue`, `global_clipnorm`), in place.

fitorch's optimizers clip inside their `step()`; `compile(clipnorm=...)` applies the
same clipping to any torch optimizer from the train step (after unscaling, before the
update). Scales stay on the device: no host-device sync.

Example:
    >>> clip_gradients([p.grad for p in params], clipnorm=1.0)
"""

from __future__ import annotations

import torch
from torch import Tensor

CLIP_ARGS = ("clipnorm", "clipvalue", "global_clipnorm")


def check_clip_args(clipnorm: float | None, clipvalue: float | None,
                    global_clipnorm: float | None) -> None:
    """At most one of the three, each a number > 0 (Keras's rule)."""
    from fitorch.optimizers.base import _check_number

    if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
        raise ValueError(
            "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
            f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
            f"global_clipnorm={global_clipnorm}"
        )
    for key, value in zip(CLIP_ARGS, (clipnorm, clipvalue, global_clipnorm), strict=True):
        if value is not None:
            _check_number(key, value, 0.0, None, low_open=True)


def clip_gradients(grads: list[Tensor], clipnorm: float | None = None,
                   clipvalue: float | None = None,
                   global_clipnorm: float | None = None) -> None:
    """Clip `grads` in place as Keras does (like `torch.nn.utils.clip_grad_norm_`)."""
    if not grads:
        return
    if clipnorm is not None:
        # Per-variable: g * clipnorm / max(||g||, clipnorm).
        scales = torch._foreach_norm(grads)
        torch._foreach_clamp_min_(scales, clipnorm)
        torch._foreach_reciprocal_(scales)
        torch._foreach_mul_(scales, clipnorm)
        torch._foreach_mul_(grads, scales)
    elif global_clipnorm is not None:
        norms = torch._foreach_norm(grads)
        device = grads[0].device
        total = torch.linalg.vector_norm(torch.stack([n.to(device) for n in norms]))
        # `+ (total - total)` turns the scale into NaN for an inf/NaN norm, as Keras.
        scale = global_clipnorm / torch.clamp_min(total, global_clipnorm) + (total - total)
        for dev in {g.device for g in grads}:
            dev_grads = [g for g in grads if g.device == dev]
            torch._foreach_mul_(dev_grads, scale.to(dev))
    elif clipvalue is not None:
        torch._foreach_clamp_min_(grads, -clipvalue)
        torch._foreach_clamp_max_(grads, clipvalue)


__all__ = ["CLIP_ARGS", "check_clip_args", "clip_gradients"]

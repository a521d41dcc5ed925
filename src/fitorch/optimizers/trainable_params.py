"""Keep an optimizer's parameters in step with what the model trains.

Freezing or unfreezing after `compile()` (`layer.trainable = False`,
`p.requires_grad_(True)`) must never train a stale parameter set in silence.
At the start of every `fit` the optimizer is brought up to date:

- a parameter that became trainable is added, with fresh optimizer state: to the
  only param group (so it shares the current learning rate, also one a callback
  changed), or, when the optimizer has several groups, as a new group with the
  optimizer's defaults (a warning says so);
- a parameter that was frozen stays in the optimizer with its state: it gets no
  gradient, so torch's optimizers and fitorch's skip it, and unfreezing it again
  continues from its state (Keras re-creates the optimizer's variables on
  re-compile; keeping them is the torch convention).

Example:
    >>> model.module.backbone.requires_grad_(True)   # unfreeze after the first fit
    >>> model.fit(x, y)                              # the backbone trains now
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch


def add_new_trainable(optimizer: torch.optim.Optimizer,
                      named: Sequence[tuple[str, torch.Tensor]]) -> list[str]:
    """Add the parameters of `named` that `optimizer` does not hold; returns their names.

    Example:
        >>> add_new_trainable(opt, [(n, p) for n, p in model.named_parameters()
        ...                         if p.requires_grad])
        ['backbone.weight']
    """
    groups = optimizer.param_groups
    known = {id(p) for group in groups for p in group["params"]}
    new = [(name, p) for name, p in named if id(p) not in known]
    if not new:
        return []
    names = [name for name, _ in new]
    if len(groups) == 1:
        group = groups[0]
        group["params"].extend(p for _, p in new)
        if "param_names" in group:
            group["param_names"].extend(names)
        resolve = getattr(optimizer, "_resolve_weight_decay_exclusions", None)
        if callable(resolve):  # fitorch's optimizers: `exclude_from_weight_decay` by name
            resolve()
    else:
        with_names = "param_names" in groups[0]
        optimizer.add_param_group({"params": list(new) if with_names
                                   else [p for _, p in new]})
        warnings.warn(
            f"{len(new)} parameter(s) became trainable after `compile()` "
            f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}). The optimizer "
            f"has {len(groups) - 1} param groups, so they were added as a new group with the "
            "optimizer's default hyper-parameters. To choose them, build the optimizer with "
            "these parameters and compile again.", stacklevel=3,
        )
    return names


__all__ = ["add_new_trainable"]

"""The benchmark variants: one small module per framework, one registry entry per variant.

`VARIANTS` maps a variant's name to how to run it: the module and keyword arguments,
the packages it needs (checked before a subprocess starts, so a missing peer is
reported as "not installed"), and the environment its subprocess needs (Keras's
backend must be chosen before `import keras`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Variant:
    name: str
    module: str  # a module of this package with `run(w, x, y, epochs, **kwargs)`
    requires: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    compiled: bool = False  # its first epoch includes compilation, reported apart
    seeded: bool = False  # `run` takes `seed` (frameworks with their own seeding helper)


REFERENCE = "torch"

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("torch", "torch_loop", ("torch",)),
        Variant("torch-compile", "torch_loop", ("torch",), {"compiled": True}, compiled=True),
        Variant("fitorch", "fitorch_peer", ("fitorch",)),
        Variant("fitorch-jit", "fitorch_peer", ("fitorch",), {"jit_compile": True},
                compiled=True),
        Variant("fitorch-spe8", "fitorch_peer", ("fitorch",), {"steps_per_execution": 8}),
        Variant("fitorch-adam", "fitorch_peer", ("fitorch",), {"keras_adam": True}),
        Variant("fitorch-jit-adam", "fitorch_peer", ("fitorch",),
                {"jit_compile": True, "keras_adam": True}, compiled=True),
        Variant("keras-torch", "keras_peer", ("keras",), env={"KERAS_BACKEND": "torch"},
                seeded=True),
        Variant("keras-jax", "keras_peer", ("keras", "jax", "jaxlib"),
                env={"KERAS_BACKEND": "jax"}, compiled=True, seeded=True),
        Variant("lightning", "lightning_peer", ("lightning",), seeded=True),
        Variant("poutyne", "poutyne_peer", ("poutyne",)),
    )
}

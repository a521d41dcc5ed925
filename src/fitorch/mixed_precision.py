"""Keras's `keras.mixed_precision` names for `compile(precision=...)`.

A policy set here applies to models compiled afterwards without `precision=`:
`"mixed_bfloat16"` is `"bf16-mixed"`, `"mixed_float16"` is `"16-mixed"`, `"float32"`
is `"32"`, `"bfloat16"` is `"bf16-true"` and `"float64"` is `"64-true"` (see
`fitorch.precision` for what each does).

Example:
    >>> import fitorch as ft
    >>> ft.mixed_precision.set_global_policy("mixed_bfloat16")
    >>> model.compile(optimizer="adam", loss="mse")   # trains in bf16-mixed
    >>> ft.mixed_precision.global_policy()
    'mixed_bfloat16'
"""

from fitorch.precision import global_policy, set_global_policy

__all__ = ["global_policy", "set_global_policy"]

"""The channels-first guard: errors and warnings that catch channels-last data early.

fitorch's convolution and pooling layers read `(batch, channels, *spatial)`.
Keras code feeds `(batch, *spatial, channels)`; such a batch often runs without
an error (a 28x28x1 image becomes 28 channels of 28x1), so the layers check for
the signs of it and say what to do, showing the shape.

Example:
    >>> channels_last_hint((32, 28, 28, 1))
    ' fitorch layers are channels-first ...'
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

__all__ = ["channels_last_hint", "looks_channels_last", "warn_if_channels_last"]

_LAYOUTS = {3: "(batch, channels, steps)", 4: "(batch, channels, height, width)",
            5: "(batch, channels, depth, height, width)"}


def looks_channels_last(shape: Sequence[int | None]) -> bool:
    """Whether a rank-4 batch looks like channels-last images: a square `(N, S, S, C)` with
    `S >= 8` and 1, 3 or 4 channels last (grey, RGB, RGBA)."""
    if len(shape) != 4:
        return False
    _, a, b, c = shape
    return isinstance(a, int) and a == b and a >= 8 and c in (1, 3, 4)


def channels_last_hint(shape: Sequence[int | None]) -> str:
    """A sentence for error messages: the layout expected, and the fix for channels-last data.

    Example:
        >>> "permute(0, 3, 1, 2)" in channels_last_hint((8, 28, 28, 1))
        True
    """
    rank = len(shape)
    layout = _LAYOUTS.get(rank, "(batch, channels, *spatial)")
    order = ", ".join(str(i) for i in (0, rank - 1, *range(1, rank - 1)))
    perm = ", ".join(str(i) for i in (rank - 1, *range(1, rank - 1)))
    return (
        f" fitorch layers are channels-first: inputs are {layout}. If this batch is "
        f"channels-last, move the channels to axis 1 with `x.permute({order})` (or a "
        f"`Permute(({perm}))` layer)."
    )


def warn_if_channels_last(layer_name: str, shape: Sequence[int | None]) -> None:
    """Warn when a layer is built from a batch that looks channels-last (it would still run)."""
    if looks_channels_last(shape):
        warnings.warn(
            f'Layer "{layer_name}" is being built from inputs of shape {tuple(shape)}, which '
            f"look like channels-last images ({shape[-1]} channels last); it will read "
            f"{shape[1]} channels of {shape[2]}x{shape[3]}." + channels_last_hint(shape),
            UserWarning,
            stacklevel=3,
        )

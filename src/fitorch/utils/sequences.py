"""`pad_sequences`: a list of variable-length sequences as one `(n, maxlen, ...)` array.

Example:
    >>> pad_sequences([[1], [2, 3, 4]], maxlen=2)
    array([[0, 1],
           [3, 4]], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pad_sequences"]


def _check_side(value: Any, arg: str) -> str:
    if value not in ("pre", "post"):
        raise ValueError(
            f'Argument `{arg}` must be "pre" or "post". '
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return str(value)


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (or truncate) every sequence to `maxlen` steps, as Keras's `pad_sequences`.

    `maxlen=None` takes the longest sequence. `padding="pre"` (the default) puts
    `value` before each short sequence, `"post"` after it; `truncating="pre"`
    drops the first steps of a long sequence, `"post"` the last ones. Steps may
    themselves be arrays (all of one shape, that of the first non-empty
    sequence). Strings need `dtype=object` (or a string dtype).

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post")
        array([[1, 2],
               [4, 0]], dtype=int32)
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(
            "`sequences` must be a list of sequences (lists or arrays). "
            f"Received: sequences={sequences!r} (of type {type(sequences).__name__})"
        )
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0
    ):
        raise ValueError(
            "Argument `maxlen` must be a non-negative integer or None. "
            f"Received: maxlen={maxlen!r} (of type {type(maxlen).__name__})"
        )
    padding = _check_side(padding, "padding")
    truncating = _check_side(truncating, "truncating")
    lengths = []
    sample_shape: tuple[int, ...] = ()
    found_sample = False
    for i, seq in enumerate(sequences):
        try:
            lengths.append(len(seq))
        except TypeError:
            raise ValueError(
                "`sequences` must be a list of sequences (lists or arrays); item "
                f"{i} has no length. Received: sequences[{i}]={seq!r} "
                f"(of type {type(seq).__name__})"
            ) from None
        if not found_sample and len(seq):
            sample_shape = np.asarray(seq).shape[1:]
            found_sample = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    maxlen = int(maxlen)
    is_str_dtype = dtype is not object and (
        np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    )
    if isinstance(value, str) and dtype is not object and not is_str_dtype:
        raise ValueError(
            f"`dtype` {dtype} cannot hold the string padding value; use `dtype=object` for "
            f"variable-length strings. Received: value={value!r} (of type str)"
        )
    out = np.full((len(lengths), maxlen, *sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"Every step of every sequence must have one shape; steps of sequence {i} "
                f"have shape {kept.shape[1:]} but the first non-empty sequence's have "
                f"{sample_shape}. Received: sequences[{i}] of shape {kept.shape}"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out

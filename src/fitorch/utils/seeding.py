"""`set_random_seed`: one call seeds Python's `random`, NumPy and torch (every device).

Example:
    >>> set_random_seed(1337)
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_random_seed"]


def set_random_seed(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and torch (CPU and all GPUs).

    Keras's `keras.utils.set_random_seed` does the same for its torch backend:
    the weights a fitorch layer draws, dropout masks and `fit`'s shuffling all
    follow from the seed.

    Example:
        >>> set_random_seed(0); a = torch.rand(1)
        >>> set_random_seed(0); torch.equal(a, torch.rand(1))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            "Expected `seed` argument to be an integer. "
            f"Received: seed={seed!r} (of type {type(seed).__name__})"
        )
    if not 0 <= seed < 2**32:
        # NumPy's global seed is 32-bit; a larger or negative seed would fail there
        # after Python's and torch's generators were already changed.
        raise ValueError(
            "Argument `seed` must be in [0, 2**32) (NumPy's range). "
            f"Received: seed={seed!r} (of type {type(seed).__name__})"
        )
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device

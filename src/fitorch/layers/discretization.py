"""Keras's `Discretization`: bucket continuous values by bin boundaries, given or
learned as approximate quantiles with `adapt()` (Keras's summary algorithm, so the
learned boundaries are Keras's).

Example:
    >>> from fitorch.layers import Discretization
    >>> Discretization(bin_boundaries=[0.0, 1.0])(torch.tensor([[-0.5, 0.5, 1.5]]))
    tensor([[0, 1, 2]], dtype=torch.int32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fitorch.layers.categorical import OUTPUT_MODES, adapt_batches, encode_categorical
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Discretization"]


def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    values = np.sort(np.reshape(values, [-1]))
    step = max(values.size / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_percents, summary[0])
    cum_weights = np.interp(percents, cum_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def _merge(prev: np.ndarray, new: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((prev, new), axis=1)
    return _compress(np.take(merged, np.argsort(merged[0]), axis=1), epsilon)


class Discretization(LayerAPI, _NoWeights, nn.Module):
    """Bucket values by `bin_boundaries` (`x < b[0]` is bin 0, `b[i-1] <= x < b[i]` is
    bin i), or learn `num_bins` quantile bins from data with `adapt()`.

    `output_mode`: `"int"` (int32 bin indices, as Keras), `"one_hot"`, `"multi_hot"`
    or `"count"` (float vectors of `len(bin_boundaries) + 1`). `epsilon` is the
    quantile approximation error of `adapt()`.

    Example:
        >>> layer = Discretization(num_bins=2)
        >>> layer.adapt(np.array([0.0, 1.0, 2.0, 3.0]))
        >>> layer.bin_boundaries
        [1.0]
    """

    def __init__(self, bin_boundaries: Sequence[float] | None = None,
                 num_bins: int | None = None, epsilon: float = 0.01,
                 output_mode: str = "int", sparse: bool = False,
                 name: str | None = None) -> None:
        if sparse:
            raise ValueError(
                "`sparse=True` cannot be used with backend torch. "
                f"Received: sparse={sparse!r} (of type {type(sparse).__name__})"
            )
        if output_mode not in OUTPUT_MODES:
            raise ValueError(
                "Unknown value for `output_mode` argument of layer Discretization. Allowed "
                f"values are: {list(OUTPUT_MODES)}. "
                f"Received: output_mode={output_mode!r} (of type {type(output_mode).__name__})"
            )
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, int)
                                     or num_bins < 0):
            raise ValueError(
                "`num_bins` must be an integer greater than or equal to 0. "
                f"Received: num_bins={num_bins!r} (of type {type(num_bins).__name__})"
            )
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                "Both `num_bins` and `bin_boundaries` should not be set. "
                f"Received: num_bins={num_bins!r} and bin_boundaries={bin_boundaries!r} "
                f"(of type {type(bin_boundaries).__name__})"
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError(
                "You need to set either `num_bins` or `bin_boundaries`. "
                "Received: num_bins=None and bin_boundaries=None (of type NoneType)"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.bin_boundaries = None if bin_boundaries is None else [
            float(b) for b in np.asarray(bin_boundaries, dtype="float64").reshape(-1)]
        self.num_bins = num_bins
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = False
        self._summary = np.array([[], []], dtype="float32")

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn `num_bins - 1` quantile boundaries from `data` (an array, a tensor, a
        list, or an iterable of batches; at most `steps` batches of an iterable)."""
        if self.num_bins is None:
            raise ValueError(
                "Cannot adapt a Discretization layer that has been initialized with "
                "`bin_boundaries`, use `num_bins` instead. "
                f"Received: bin_boundaries={self.bin_boundaries!r} (of type list)"
            )
        summary = np.array([[], []], dtype="float32")
        for i, (_, batch) in enumerate(adapt_batches(data)):
            if steps is not None and i >= steps:
                break
            if isinstance(batch, Tensor):
                batch = batch.detach().cpu().numpy()  # sync: adapt reads the data on the host
            values = np.array(batch).astype("float32")
            summary = _merge(_summarize(values, self.epsilon), summary, self.epsilon)
        self._summary = summary
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def forward(self, inputs: Any) -> Tensor:
        if self.bin_boundaries is None:
            raise ValueError(
                "You need to either pass the `bin_boundaries` argument at construction "
                "time or call `adapt(dataset)` before you can start using the "
                f"`Discretization` layer. Received: layer {self.name!r} with neither"
            )
        x = inputs if isinstance(inputs, Tensor) else torch.as_tensor(np.asarray(inputs))
        # Keras compares in its float dtype (float32), whatever the input's dtype.
        x = x.to(torch.get_default_dtype())
        boundaries = torch.tensor(self.bin_boundaries, dtype=x.dtype, device=x.device)
        indices = torch.bucketize(x.contiguous(), boundaries, right=True)
        if self.output_mode == "int":
            return indices.to(torch.int32)
        return encode_categorical(indices, self.output_mode, len(self.bin_boundaries) + 1)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (learned boundaries included)."""
        return {"name": self.name, "bin_boundaries": self.bin_boundaries,
                "num_bins": self.num_bins, "epsilon": self.epsilon,
                "output_mode": self.output_mode, "sparse": self.sparse}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Discretization:
        """Create a layer from `get_config()`'s output (an adapted layer keeps its bins)."""
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = boundaries
            return layer
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, bin_boundaries={self.bin_boundaries}"

"""Keras's regularization layers, channels-first: SpatialDropout1D/2D, GaussianNoise,
GaussianDropout, AlphaDropout (active in training mode only) and
ActivityRegularization (adds a penalty on its inputs to the training loss).

Spatial dropout drops whole channels: axis 1 of `(batch, channels, steps)` or
`(batch, channels, height, width)` inputs. A `seed` gives the layer a generator
of its own, so its sequence of masks is reproducible.

Example:
    >>> import torch
    >>> from fitorch.layers import GaussianNoise, SpatialDropout2D
    >>> layer = SpatialDropout2D(0.5).train()
    >>> out = layer(torch.ones(1, 8, 3, 3))
    >>> bool(((out == 0).all(dim=(2, 3)) | (out == 2).all(dim=(2, 3))).all())
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from fitorch import regularizers
from fitorch.layers.conv import standardize_data_format
from fitorch.layers.core import Dropout, _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI

__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
]

# SELU's constants, which AlphaDropout keeps the mean and variance of.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _check_rate(value: Any, arg: str = "rate") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"Invalid value received for argument `{arg}`. Expected a float value in [0, 1). "
            f"Received: {arg}={value!r} (of type {type(value).__name__})"
        )
    return float(value)


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(
            f"Argument `seed` must be an int or None. "
            f"Received: seed={seed!r} (of type {type(seed).__name__})"
        )
    return seed


class _Spatial(Dropout):
    rank = 0

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None) -> None:
        super().__init__(rate, noise_shape=(None, None, *(1,) * self.rank), seed=seed, name=name)

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim != self.rank + 2:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected rank '
                f"{self.rank + 2} (batch, channels, *spatial), channels first. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        if not self.training or self.rate == 0.0:
            return inputs
        return self._masked(inputs)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "rate": self.rate, "seed": self.seed}


class SpatialDropout1D(_Spatial):
    """Drop whole channels of `(batch, channels, steps)` inputs (training mode only).

    Example:
        >>> SpatialDropout1D(0.3).eval()(torch.ones(2, 4, 5)).sum()
        tensor(40.)
    """

    rank = 1


class SpatialDropout2D(_Spatial):
    """Drop whole channels of `(batch, channels, height, width)` inputs (training mode only).

    Example:
        >>> SpatialDropout2D(0.3).eval()(torch.ones(2, 4, 5, 5)).shape
        torch.Size([2, 4, 5, 5])
    """

    rank = 2

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None,
                 name: str | None = None) -> None:
        standardize_data_format(data_format)
        super().__init__(rate, seed, name)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**super().get_config(), "data_format": "channels_first"}


class _Noise(LayerAPI, _NoWeights, nn.Module):
    """A weightless layer that draws random numbers in training mode."""

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    def __init__(self, seed: int | None, name: str | None) -> None:
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.seed = _check_seed(seed)
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        generator = self._generators.get(device)
        if generator is None:
            generator = torch.Generator(device=device).manual_seed(self.seed)
            self._generators[device] = generator
        return generator

    def _normal(self, inputs: Tensor, mean: float, std: float,
                shape: Sequence[int] | None = None) -> Tensor:
        noise = torch.empty(shape or inputs.shape, dtype=inputs.dtype, device=inputs.device)
        return noise.normal_(mean, std, generator=self._generator(inputs.device))

    def _config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, **self._config(), "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


class GaussianNoise(_Noise):
    """Add zero-mean Gaussian noise of `stddev` in training mode; identity otherwise.

    Example:
        >>> GaussianNoise(0.1).eval()(torch.zeros(2, 3)).sum()
        tensor(0.)
    """

    def __init__(self, stddev: float, seed: int | None = None, name: str | None = None) -> None:
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(
                "Invalid value received for argument `stddev`. Expected a float value >= 0. "
                f"Received: stddev={stddev!r} (of type {type(stddev).__name__})"
            )
        super().__init__(seed, name)
        self.stddev = float(stddev)

    def forward(self, inputs: Tensor) -> Tensor:
        if not self.training or self.stddev == 0:
            return inputs
        return inputs + self._normal(inputs, 0.0, self.stddev)

    def _config(self) -> dict[str, Any]:
        return {"stddev": self.stddev}


class GaussianDropout(_Noise):
    """Multiply by Gaussian noise of mean 1 and stddev `sqrt(rate / (1 - rate))` in
    training mode; identity otherwise.

    Example:
        >>> GaussianDropout(0.2).eval()(torch.ones(2, 3)).sum()
        tensor(6.)
    """

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None) -> None:
        rate = _check_rate(rate)
        super().__init__(seed, name)
        self.rate = rate

    def forward(self, inputs: Tensor) -> Tensor:
        if not self.training or self.rate == 0:
            return inputs
        return inputs * self._normal(inputs, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))

    def _config(self) -> dict[str, Any]:
        return {"rate": self.rate}


class AlphaDropout(_Noise):
    """Dropout that keeps SELU's self-normalization (mean and variance) in training mode.

    Dropped inputs are set to SELU's negative saturation value, then an affine
    map restores the mean and variance (Keras's formula). `noise_shape` as in
    `Dropout`.

    Example:
        >>> AlphaDropout(0.1).eval()(torch.ones(2, 3)).sum()
        tensor(6.)
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, name: str | None = None) -> None:
        rate = _check_rate(rate)
        shape = Dropout(0.0, noise_shape=noise_shape, name="_").noise_shape  # same checks
        super().__init__(seed, name)
        self.rate = rate
        self.noise_shape = shape

    def forward(self, inputs: Tensor) -> Tensor:
        if not self.training or self.rate == 0:
            return inputs
        shape = tuple(inputs.shape)
        if self.noise_shape is not None:
            if len(self.noise_shape) != inputs.ndim:
                raise ValueError(
                    f"`noise_shape` must have one entry per input axis ({inputs.ndim}). "
                    f"Received: noise_shape={self.noise_shape} for inputs.shape={shape} "
                    "(of type tuple)"
                )
            shape = tuple(s if d is None else d for d, s in zip(self.noise_shape, shape))
        uniform = torch.empty(shape, dtype=inputs.dtype, device=inputs.device)
        uniform.uniform_(generator=self._generator(inputs.device))
        kept = (uniform >= self.rate).to(inputs.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (inputs * kept + alpha_p * (1 - kept)) + b

    def _config(self) -> dict[str, Any]:
        shape = list(self.noise_shape) if self.noise_shape is not None else None
        return {"rate": self.rate, "noise_shape": shape}


class ActivityRegularization(LayerAPI, _NoWeights, nn.Module):
    """Pass inputs through unchanged and add `l1 * sum|x| + l2 * sum x^2`, divided by
    the batch size (Keras's activity penalty), to the training loss.

    The penalty of the last forward pass is reported by `regularization_losses()`,
    which `Model` adds to the loss like every layer's regularization penalties.

    Example:
        >>> layer = ActivityRegularization(l1=0.1)
        >>> _ = layer(torch.ones(2, 3))
        >>> layer.regularization_losses()
        [tensor(0.3000)]
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, name: str | None = None) -> None:
        for arg, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"Argument `{arg}` must be a non-negative number. "
                    f"Received: {arg}={value!r} (of type {type(value).__name__})"
                )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.l1, self.l2 = float(l1), float(l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)
        self._activity_loss: Tensor | None = None

    def forward(self, inputs: Tensor) -> Tensor:
        penalty = self.activity_regularizer(inputs)
        batch = inputs.shape[0] if inputs.ndim else 1
        # Keras divides by the batch size (0 for an empty batch: divide_no_nan).
        self._activity_loss = penalty / batch if batch else penalty * 0
        return inputs

    def regularization_losses(self) -> list[Tensor]:
        """The activity penalty of the last forward pass (empty before the first)."""
        return [] if self._activity_loss is None else [self._activity_loss]

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ActivityRegularization:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, l1={self.l1}, l2={self.l2}"

"""Keras's `Hashing` and `HashedCrossing`: strings or integers into a fixed number of
bins with TensorFlow's stable hashes (FarmHash64, or SipHash64 with a `salt`),
computed on the host in pure Python, so every value lands in Keras's bin.

Example:
    >>> from fitorch.layers import Hashing
    >>> Hashing(num_bins=3)([["A"], ["B"], ["C"]])
    tensor([[1],
            [0],
            [1]])
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fitorch.layers.categorical import (
    HostDevice,
    encode_categorical,
    is_string_input,
    to_strings,
)
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.fingerprint import fingerprint64, fingerprint_cat64, siphash24
from fitorch.layers.layer_api import LayerAPI

__all__ = ["HashedCrossing", "Hashing"]

_MASK64 = (1 << 64) - 1
_CROSS_KEY = 0xDECAFCAFFE  # TensorFlow's default key of `tf.sparse.cross_hashed`


@functools.lru_cache(maxsize=1 << 16)
def _fast_hash(value: str) -> int:
    return fingerprint64(value.encode("utf-8"))


@functools.lru_cache(maxsize=1 << 16)
def _strong_hash(key: tuple[int, int], value: str) -> int:
    return siphash24(key, value.encode("utf-8"))


def hash_strings(values: np.ndarray, num_bins: int,
                 salt: tuple[int, int] | None = None) -> np.ndarray:
    """Bins in `[0, num_bins)` of an object array of `str`, as TensorFlow's
    `to_hash_bucket_fast` (no salt) or `to_hash_bucket_strong` (salt) computes them."""
    flat = values.reshape(-1)
    if salt is None:
        bins = [_fast_hash(v) % num_bins for v in flat]
    else:
        bins = [_strong_hash(salt, v) % num_bins for v in flat]
    return np.asarray(bins, dtype=np.int64).reshape(values.shape)


def as_hashable_strings(inputs: Any, layer: str) -> np.ndarray:
    """Strings stay strings; numbers become their decimal text (floats truncated to
    integers first), as Keras's `tf.as_string` conversion does before hashing."""
    if is_string_input(inputs):
        return to_strings(inputs, layer)
    if isinstance(inputs, Tensor):
        array = inputs.detach().cpu().numpy()  # sync: hashing runs on the host
    else:
        array = np.asarray(inputs)
    if array.dtype.kind == "f":
        array = array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise TypeError(
            f'Layer "{layer}" takes strings or integers. '
            f"Received: inputs of dtype {array.dtype} (of type {type(inputs).__name__})"
        )
    out = np.empty(array.shape, dtype=object)
    out.reshape(-1)[:] = [str(int(v)) for v in array.reshape(-1)]
    return out


def _check_salt(salt: Any) -> tuple[int, int] | None:
    if salt is None:
        return None
    if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(
            isinstance(s, int) and not isinstance(s, bool) for s in salt):
        return int(salt[0]) & _MASK64, int(salt[1]) & _MASK64
    if isinstance(salt, int) and not isinstance(salt, bool):
        return salt & _MASK64, salt & _MASK64
    raise ValueError(
        "The `salt` argument can only be a tuple of size 2 integers, or a single integer. "
        f"Received: salt={salt!r} (of type {type(salt).__name__})"
    )


class Hashing(HostDevice, LayerAPI, _NoWeights, nn.Module):
    """Hash strings or integers into `num_bins` bins (Keras's `Hashing`).

    With `mask_value`, bin 0 is reserved for it and the others hash into
    `[1, num_bins)`. A `salt` (an int, or two) switches from FarmHash64 to keyed
    SipHash64. `output_mode` is `"int"` (int64 bins, the input's shape) or
    `"one_hot"`/`"multi_hot"`/`"count"` (float vectors of `num_bins`). Inputs: a
    str, nested lists, a NumPy array of strings or numbers, or an integer tensor;
    the hashing runs on the host.

    Example:
        >>> Hashing(num_bins=3, salt=133)([["A"], ["B"]])
        tensor([[0],
                [0]])
    """

    def __init__(self, num_bins: int, mask_value: Any = None, salt: Any = None,
                 output_mode: str = "int", sparse: bool = False,
                 name: str | None = None) -> None:
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins <= 0:
            raise ValueError(
                "The `num_bins` for `Hashing` cannot be `None` or non-positive values. "
                f"Received: num_bins={num_bins!r} (of type {type(num_bins).__name__})"
            )
        modes = ("int", "one_hot", "multi_hot", "count")
        if output_mode not in modes:
            raise ValueError(
                f"Invalid value for argument `output_mode`. Expected one of {modes}. "
                f"Received: output_mode={output_mode!r} (of type {type(output_mode).__name__})"
            )
        if sparse:
            raise ValueError(
                "`sparse=True` needs the TensorFlow backend (torch has no sparse output "
                f"here). Received: sparse={sparse!r} (of type {type(sparse).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.salt = None if salt is None else list(_check_salt(salt) or ())
        self._key = _check_salt(salt)
        self.output_mode = output_mode
        self.sparse = False

    def forward(self, inputs: Any) -> Tensor:
        device = inputs.device if isinstance(inputs, Tensor) else None
        values = as_hashable_strings(inputs, self.name)
        bins = self.num_bins
        if self.mask_value is not None and bins > 1:
            bins -= 1
        hashed = hash_strings(values, bins, self._key)
        if self.mask_value is not None and self.num_bins > 1:
            mask = values == as_hashable_strings(np.asarray([self.mask_value]), self.name)[0]
            hashed = np.where(mask, 0, hashed + 1)
        indices = torch.from_numpy(hashed)
        indices = indices.to(device) if device is not None else self._on_device(indices)
        return encode_categorical(indices, self.output_mode, self.num_bins)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode,
                "sparse": self.sparse}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Hashing:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_bins={self.num_bins}, output_mode={self.output_mode!r}"


def _cross_feature(values: Any, layer: str) -> list[int]:
    """Per-sample 64-bit features of one input: the fingerprint of a string, the
    two's-complement value of an integer (TensorFlow's `SparseCrossHashed`)."""
    if is_string_input(values):
        return [_fast_hash(v) for v in to_strings(values, layer).reshape(-1)]
    array = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ValueError(
            f'Layer "{layer}" takes integer or string features. '
            f"Received: a feature of dtype {array.dtype} (of type {type(values).__name__})"
        )
    return [int(v) & _MASK64 for v in array.reshape(-1)]


def _shape_of(value: Any) -> tuple[int, ...]:
    if isinstance(value, Tensor):
        return tuple(value.shape)
    return tuple(np.shape(value))


class HashedCrossing(HostDevice, LayerAPI, _NoWeights, nn.Module):
    """Cross two or more categorical features into `num_bins` bins (Keras's
    `HashedCrossing`): each sample's feature values are combined with TensorFlow's
    `FingerprintCat64` and binned, so a pair lands in Keras's bin.

    Inputs: a list or tuple of features of one shape, `()`, `(batch,)` or `(batch, 1)`;
    integers or strings. `output_mode` is `"int"` (int64) or `"one_hot"`.

    Example:
        >>> HashedCrossing(num_bins=5)([np.array([1, 2]), np.array(["a", "b"])]).shape
        torch.Size([2])
    """

    def __init__(self, num_bins: int, output_mode: str = "int", sparse: bool = False,
                 name: str | None = None) -> None:
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins <= 0:
            raise ValueError(
                "`num_bins` must be a positive integer. "
                f"Received: num_bins={num_bins!r} (of type {type(num_bins).__name__})"
            )
        if output_mode not in ("int", "one_hot"):
            raise ValueError(
                "Unknown value for `output_mode` argument of layer HashedCrossing. Allowed "
                "values are: ['int', 'one_hot']. "
                f"Received: output_mode={output_mode!r} (of type {type(output_mode).__name__})"
            )
        if sparse:
            raise ValueError(
                "`sparse=True` needs the TensorFlow backend. "
                f"Received: sparse={sparse!r} (of type {type(sparse).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = False

    def forward(self, inputs: Sequence[Any]) -> Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                "`HashedCrossing` should be called on a list or tuple of at least two "
                f"inputs. Received: inputs={inputs!r} (of type {type(inputs).__name__})"
            )
        shape = _shape_of(inputs[0])
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(
                "All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                f"`(batch_size, 1)`. Received: inputs of shape {shape}"
            )
        if any(_shape_of(x) != shape for x in inputs[1:]):
            raise ValueError(
                "All `HashedCrossing` inputs should have equal shape. "
                f"Received: shapes {[_shape_of(x) for x in inputs]}"
            )
        features = [_cross_feature(x, self.name) for x in inputs]
        crossed = []
        for sample in zip(*features):
            h = _CROSS_KEY
            for feature in sample:
                h = fingerprint_cat64(h, feature)
            crossed.append(h % self.num_bins)
        device = next((x.device for x in inputs if isinstance(x, Tensor)), None)
        indices = torch.tensor(crossed, dtype=torch.int64).reshape(shape)
        indices = indices.to(device) if device is not None else self._on_device(indices)
        return encode_categorical(indices, self.output_mode, self.num_bins)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name, "num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HashedCrossing:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_bins={self.num_bins}, output_mode={self.output_mode!r}"

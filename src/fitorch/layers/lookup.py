"""Keras's `StringLookup` and `IntegerLookup`: map tokens to vocabulary indices (or
back, with `invert=True`), with Keras's special tokens, OOV buckets, `adapt()`
ordering (most frequent first, ties by token, high to low) and output modes.

The vocabulary lives on the host (a dict); integer inputs that are tensors are
looked up on their device with `torch.searchsorted`. The vocabulary is part of the
layer's config, so a saved model rebuilds it.

Example:
    >>> from fitorch.layers import StringLookup
    >>> StringLookup(vocabulary=["a", "b"])([["a", "c"], ["b", "a"]])
    tensor([[1, 0],
            [2, 1]])
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fitorch.layers.categorical import (
    HostDevice,
    adapt_batches,
    encode_categorical,
    to_strings,
)
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.hashing import _check_salt, hash_strings
from fitorch.layers.layer_api import LayerAPI

__all__ = ["IntegerLookup", "StringLookup"]

_LOOKUP_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_MASKED = np.iinfo(np.int64).max  # Keras's index for masked tokens in encoded modes


class _IndexLookup(HostDevice, LayerAPI, _NoWeights, nn.Module):
    """The shared machinery of `StringLookup` and `IntegerLookup` (Keras's IndexLookup)."""

    _strings: bool

    def __init__(self, max_tokens: int | None, num_oov_indices: int, mask_token: Any,
                 oov_token: Any, vocabulary: Any = None, idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False,
                 pad_to_max_tokens: bool = False, oov_method: str = "floormod",
                 salt: Any = None, name: str | None = None) -> None:
        cls = type(self).__name__
        if max_tokens is not None and (isinstance(max_tokens, bool)
                                       or not isinstance(max_tokens, int) or max_tokens <= 1):
            raise ValueError(
                f"If set, `max_tokens` must be greater than 1. "
                f"Received: max_tokens={max_tokens!r} (of type {type(max_tokens).__name__})"
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                "If pad_to_max_tokens is True, must set `max_tokens`. "
                "Received: max_tokens=None (of type NoneType)"
            )
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, int) \
                or num_oov_indices < 0:
            raise ValueError(
                "`num_oov_indices` must be greater than or equal to 0. Received: "
                f"num_oov_indices={num_oov_indices!r} (of type {type(num_oov_indices).__name__})"
            )
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(
                f"Unknown value for `oov_method` argument of layer {cls}. Allowed values "
                f"are: ['floormod', 'farmhash']. Received: oov_method={oov_method!r} "
                f"(of type {type(oov_method).__name__})"
            )
        if salt is not None and not self._strings and oov_method != "farmhash":
            raise ValueError(
                "`salt` can only be used when `oov_method='farmhash'`. "
                f"Received: oov_method={oov_method!r} (of type {type(oov_method).__name__})"
            )
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _LOOKUP_MODES:
            raise ValueError(
                f"Unknown value for `output_mode` argument of layer {cls}. Allowed values "
                f"are: {list(_LOOKUP_MODES)}. Received: output_mode={output_mode!r} "
                f"(of type {type(output_mode).__name__})"
            )
        if invert and output_mode != "int":
            raise ValueError(
                "`output_mode` must be `'int'` when `invert` is true. "
                f"Received: output_mode={output_mode!r} (of type {type(output_mode).__name__})"
            )
        if sparse:
            raise ValueError(
                "`sparse=True` can only be used with the TensorFlow backend. "
                f"Received: sparse={sparse!r} (of type {type(sparse).__name__})"
            )
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                "`idf_weights` should only be set if `output_mode` is `'tf_idf'`. "
                f"Received: output_mode={output_mode!r} (of type {type(output_mode).__name__})"
            )
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(
                "When specifying the `vocabulary` argument, in TF-IDF output mode, the "
                "`idf_weights` argument must also be provided. "
                "Received: idf_weights=None (of type NoneType)"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.oov_method = oov_method
        self.salt = None if salt is None else list(_check_salt(salt) or ())
        self._key = _check_salt(salt)
        self._tokens: list[Any] = []
        self._index: dict[Any, int] = {}
        self._idf: np.ndarray | None = None
        self._has_vocabulary = False
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # --- vocabulary -------------------------------------------------------------------

    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _as_tokens(self, values: Any) -> list[Any]:
        if self._strings:
            return list(to_strings(values, self.name).reshape(-1))
        array = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
        if array.dtype.kind not in "iu":
            raise TypeError(
                f'Layer "{self.name}" takes integer tokens. '
                f"Received: values of dtype {array.dtype} (of type {type(values).__name__})"
            )
        return [int(v) for v in array.reshape(-1)]

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the vocabulary (a sequence, array, or the path of a file with one token a
        line), with the special tokens at the start or without them; `idf_weights` for
        `"tf_idf"` mode."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(
                "`idf_weights` must be set if output_mode is 'tf_idf'. "
                "Received: idf_weights=None (of type NoneType)"
            )
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(
                "`idf_weights` should only be set if output_mode is `'tf_idf'`. "
                f"Received: output_mode={self.output_mode!r} (of type str)"
            )
        if isinstance(vocabulary, (str, Path)):
            path = Path(vocabulary)
            if not path.is_file():
                raise ValueError(
                    f"Vocabulary file {vocabulary} does not exist. "
                    f"Received: vocabulary={vocabulary!r} (of type {type(vocabulary).__name__})"
                )
            if self.output_mode == "tf_idf":
                raise ValueError(
                    "output_mode `'tf_idf'` does not support loading a vocabulary from file. "
                    f"Received: vocabulary={vocabulary!r} (of type {type(vocabulary).__name__})"
                )
            lines = path.read_text(encoding="utf-8").splitlines()
            vocabulary = lines if self._strings else [int(line) for line in lines]
        tokens = self._as_tokens(vocabulary)
        if not tokens:
            raise ValueError(
                "Cannot set an empty vocabulary. "
                f"Received: vocabulary={vocabulary!r} (of type {type(vocabulary).__name__})"
            )
        token_start = self._token_start_index()
        specials = [self.mask_token] * self._oov_start_index() + \
            [self.oov_token] * self.num_oov_indices
        found_specials = tokens[:token_start] == specials
        if found_specials:
            tokens = tokens[token_start:]
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(
                "The passed vocabulary has at least one repeated term. Please uniquify your "
                f"dataset. The repeated terms are: {repeated}"
            )
        for token, what in ((self.mask_token, "mask"), (self.oov_token if self.invert else None,
                                                         "OOV")):
            if token is not None and token in tokens:
                raise ValueError(
                    f"Found reserved {what} token at unexpected location in `vocabulary`. "
                    "Either remove all mask and OOV tokens, or include them only at the start "
                    f"of the vocabulary in precisely this order: {specials}. "
                    f"Received: {what.lower()}_token={token!r} at vocabulary index "
                    f"{tokens.index(token) + (token_start if found_specials else 0)}"
                )
        if self.max_tokens is not None and token_start + len(tokens) > self.max_tokens:
            raise ValueError(
                "Attempted to set a vocabulary larger than the maximum vocab size. Received "
                f"vocabulary size is {token_start + len(tokens)}; `max_tokens` is "
                f"{self.max_tokens}."
            )
        self._install(tokens)
        self._has_vocabulary = True
        if self.output_mode == "tf_idf":
            weights = np.asarray(idf_weights, dtype="float64")
            if weights.ndim != 1 or len(weights) != len(tokens) + (
                    token_start if found_specials else 0):
                raise ValueError(
                    "`idf_weights` must be a 1-D array as long as the vocabulary. "
                    f"Received: idf_weights of shape {weights.shape} for a vocabulary of "
                    f"{len(tokens)} terms"
                )
            front = 0 if found_specials else token_start
            self._set_idf(weights, front, float(np.average(weights)))

    def _set_idf(self, weights: np.ndarray, front: int, front_value: float) -> None:
        back = 0
        if self.pad_to_max_tokens and self.max_tokens is not None:
            back = self.max_tokens - front - len(weights)
        self._idf = np.pad(weights, (front, back), "constant",
                           constant_values=(front_value, 0)).astype("float32")

    def _install(self, tokens: list[Any]) -> None:
        start = self._token_start_index()
        self._tokens = list(tokens)
        self._index = {t: i + start for i, t in enumerate(tokens)}
        if not self._strings:
            keys = np.asarray(tokens, dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            self._sorted_keys = torch.from_numpy(keys[order])
            self._sorted_values = torch.from_numpy(order.astype(np.int64) + start)

    def vocabulary_size(self) -> int:
        """The vocabulary's size, special tokens included."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        """The vocabulary in index order (`include_special_tokens=False`: without mask
        and OOV tokens)."""
        vocab = [self.oov_token] * self._token_start_index() + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[self._token_start_index():]
        return vocab

    @property
    def idf_weights(self) -> Tensor | None:
        """The TF-IDF weights of each index (`"tf_idf"` mode), or None."""
        return None if self._idf is None else torch.from_numpy(self._idf)

    # --- adapt --------------------------------------------------------------------------

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Build the vocabulary from `data` (an array, list, tensor, or an iterable of
        batches): tokens by decreasing count, ties by token from high to low, at most
        `max_tokens` in all; in `"tf_idf"` mode also the inverse document frequencies."""
        if self._has_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' after setting a static vocabulary via "
                "`vocabulary` argument or `set_vocabulary()` method. "
                f"Received: data of type {type(data).__name__}"
            )
        counts: collections.Counter[Any] = collections.Counter()
        doc_counts: collections.Counter[Any] = collections.Counter()
        num_docs = 0
        for i, (whole, batch) in enumerate(adapt_batches(data)):
            if steps is not None and i >= steps:
                break
            for row in self._documents(batch, whole):
                counts.update(row)
                if self.output_mode == "tf_idf":
                    doc_counts.update(set(row))
                    num_docs += 1
        self._finalize(counts, doc_counts, num_docs)

    def _documents(self, batch: Any, whole: bool) -> list[list[Any]]:
        """Rows (documents) of tokens, with Keras's ranks: a whole rank-1 array is one
        token per document; a rank-1 batch of an iterable is one document."""
        if isinstance(batch, list) and batch and isinstance(batch[0], list) and len(
                {len(r) for r in batch}) > 1:
            return [self._as_tokens(np.asarray(r, dtype=object)) for r in batch]  # ragged
        array = batch if isinstance(batch, Tensor) else np.asarray(
            batch, dtype=object if self._strings else None)
        if array.ndim == 0:
            array = array.reshape(1, 1)
        elif array.ndim == 1:
            array = array.reshape(-1, 1) if whole else array.reshape(1, -1)
        rows = array.reshape(array.shape[0], -1)
        return [self._as_tokens(r) for r in rows]

    def _finalize(self, counts: collections.Counter[Any], doc_counts: collections.Counter[Any],
                  num_docs: int) -> None:
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        if not counts:
            return
        tokens = list(counts)
        sort_keys = [t.encode("utf-8") for t in tokens] if self._strings else tokens
        order = sorted(range(len(tokens)), key=lambda i: (counts[tokens[i]], sort_keys[i]),
                       reverse=True)
        if self.max_tokens:
            order = order[:self.max_tokens - self._token_start_index()]
        ordered = [tokens[i] for i in order]
        self._install(ordered)
        if self.output_mode == "tf_idf":
            df = np.asarray([doc_counts[t] for t in ordered], dtype="float64")
            idf = np.log(1 + num_docs / (1 + df)).astype("float32")
            self._set_idf(idf, self._token_start_index(), float(np.mean(idf)))

    # --- call ---------------------------------------------------------------------------

    def _lookup(self, inputs: Any) -> Tensor:
        """int64 indices, -1 for tokens out of the vocabulary, `_MASKED`/0 for the mask."""
        if (not self._strings and isinstance(inputs, Tensor)) or (
                not self._strings and np.asarray(inputs).dtype.kind in "iu"):
            x = inputs if isinstance(inputs, Tensor) else torch.as_tensor(np.asarray(inputs))
            if x.is_floating_point() or x.dtype == torch.bool:
                raise TypeError(
                    f'Layer "{self.name}" takes integer tokens. '
                    f"Received: inputs of dtype {x.dtype} (of type {type(inputs).__name__})"
                )
            x = x.long()
            if self._tokens:
                keys = self._sorted_keys.to(x.device)
                pos = torch.searchsorted(keys, x).clamp(max=len(keys) - 1)
                ids = torch.where(keys[pos] == x, self._sorted_values.to(x.device)[pos], -1)
            else:
                ids = torch.full_like(x, -1)
            if self.mask_token is not None:
                ids = torch.where(x == int(self.mask_token),
                                  0 if self.output_mode == "int" else _MASKED, ids)
            return ids
        values = to_strings(inputs, self.name) if self._strings else np.asarray(inputs)
        index = self._index
        ids_np = np.fromiter((index.get(v, -1) for v in values.reshape(-1)), dtype=np.int64,
                             count=values.size).reshape(values.shape)
        if self.mask_token is not None:
            ids_np[values == self.mask_token] = 0 if self.output_mode == "int" else _MASKED
        return self._on_device(torch.from_numpy(ids_np))

    def _fill_oov(self, inputs: Any, ids: Tensor) -> Tensor:
        missing = ids == -1
        if self.num_oov_indices == 0:
            if bool(missing.any()):  # sync: an OOV token is an error here
                flat = np.asarray(inputs if not isinstance(inputs, Tensor) else
                                  inputs.detach().cpu().numpy(), dtype=object).reshape(-1)
                found = flat[missing.cpu().numpy().reshape(-1)]
                raise ValueError(
                    "When `num_oov_indices=0` all inputs should be in vocabulary, found OOV "
                    f"values {list(found)[:10]}, consider setting `num_oov_indices=1`. "
                    f"Received: inputs of shape {tuple(ids.shape)}"
                )
            return ids
        start = self._oov_start_index()
        if self.num_oov_indices == 1:
            return torch.where(missing, start, ids)
        if not self._strings and self.oov_method != "farmhash":
            x = inputs if isinstance(inputs, Tensor) else torch.as_tensor(np.asarray(inputs))
            buckets = torch.remainder(x.long().to(ids.device), self.num_oov_indices)
        else:
            values = to_strings(inputs, self.name) if self._strings else np.vectorize(
                lambda v: str(int(v)), otypes=[object])(
                    inputs.detach().cpu().numpy() if isinstance(inputs, Tensor)
                    else np.asarray(inputs))
            buckets = torch.from_numpy(
                hash_strings(values, self.num_oov_indices, self._key)).to(ids.device)
        return torch.where(missing, buckets + start, ids)

    def _invert(self, inputs: Any) -> Any:
        x = inputs if isinstance(inputs, Tensor) else torch.as_tensor(np.asarray(inputs))
        indices = x.detach().cpu().numpy()  # sync: the vocabulary lives on the host
        vocab = self.get_vocabulary()
        size = len(vocab)
        out = np.empty(indices.shape, dtype=object)
        out.reshape(-1)[:] = [vocab[i] if 0 <= i < size and (i >= self._token_start_index()
                                                             or (i == 0 and self.mask_token
                                                                 is not None))
                              else self.oov_token for i in indices.reshape(-1).tolist()]
        if self._strings:
            return out
        # sync: the indices came to the host; the tokens go back to the input's device
        return torch.from_numpy(out.astype(np.int64)).to(x.device)

    def forward(self, inputs: Any) -> Any:
        if self.invert:
            return self._invert(inputs)
        if self.output_mode != "int" and not self.pad_to_max_tokens and not self._tokens:
            raise RuntimeError(
                f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, "
                "you must set the layer's vocabulary before calling it. Either pass a "
                "`vocabulary` argument to the layer, or call `adapt` with some sample data. "
                f"Received: layer {self.name!r} without a vocabulary"
            )
        scalar = not isinstance(inputs, Tensor) and np.ndim(inputs) == 0
        ids = self._fill_oov(inputs, self._lookup(inputs))
        if self.output_mode == "int":
            return ids
        if scalar:
            ids = ids.reshape(1)
        depth = int(self.max_tokens) if self.pad_to_max_tokens and self.max_tokens \
            else self.vocabulary_size()
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        encoded = encode_categorical(ids, mode, depth)
        if self.output_mode == "tf_idf":
            if self._idf is None:
                raise ValueError(
                    "When `output_mode` is `'tf_idf'`, `idf_weights` must be provided. "
                    f"Received: layer {self.name!r} without idf_weights"
                )
            encoded = encoded * torch.from_numpy(self._idf).to(encoded)
        return encoded

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments; the vocabulary (and IDF weights) are the
        current ones, so an adapted layer is rebuilt from its config."""
        config: dict[str, Any] = {
            "name": self.name, "invert": self.invert, "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
            "mask_token": self.mask_token, "output_mode": self.output_mode,
            "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary": self.get_vocabulary() if self._tokens else None,
            "idf_weights": None if self._idf is None else self._idf.tolist(),
            "salt": self.salt,
        }
        if config["idf_weights"] is not None and self.pad_to_max_tokens:
            config["idf_weights"] = config["idf_weights"][:self.vocabulary_size()]
        return config

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, vocabulary_size={self.vocabulary_size()}, "
                f"output_mode={self.output_mode!r}")


class StringLookup(_IndexLookup):
    """Map strings to integer indices (Keras's `StringLookup`).

    Index layout: the mask token (if `mask_token` is set, in `"int"` mode), then
    `num_oov_indices` OOV buckets (strings out of the vocabulary hash into them with
    FarmHash64, or SipHash64 with `salt`), then the vocabulary. `invert=True` maps
    indices back to strings (a NumPy array of `str`). Inputs: a str, nested lists, or
    a NumPy array of strings; outputs are int64 tensors (`"int"`) or float vectors.

    Example:
        >>> layer = StringLookup()
        >>> layer.adapt(["a", "b", "b"])
        >>> layer.get_vocabulary()
        ['[UNK]', 'b', 'a']
    """

    _strings = True

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: str | None = None, oov_token: str = "[UNK]",
                 vocabulary: Any = None, idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", pad_to_max_tokens: bool = False,
                 sparse: bool = False, encoding: str = "utf-8", name: str | None = None,
                 salt: Any = None) -> None:
        if encoding.lower().replace("-", "") != "utf8":
            raise ValueError(
                "Only UTF-8 text is read (Python strings are Unicode). "
                f"Received: encoding={encoding!r} (of type {type(encoding).__name__})"
            )
        self.encoding = encoding
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         idf_weights, invert, output_mode, sparse, pad_to_max_tokens,
                         "farmhash", salt, name)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**super().get_config(), "encoding": self.encoding}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StringLookup:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)


class IntegerLookup(_IndexLookup):
    """Map integers to contiguous indices (Keras's `IntegerLookup`).

    As `StringLookup`, for integer tokens: the default `oov_token` is -1, and with
    several OOV buckets a token goes to bucket `token % num_oov_indices`
    (`oov_method="floormod"`) or hashed (`"farmhash"`). Tensor inputs are looked up on
    their own device.

    Example:
        >>> IntegerLookup(vocabulary=[12, 36])(torch.tensor([12, 36, 5]))
        tensor([1, 2, 0])
    """

    _strings = False
    accepts_strings = False

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: int | None = None, oov_token: int = -1, vocabulary: Any = None,
                 vocabulary_dtype: str = "int64", idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", sparse: bool = False, pad_to_max_tokens: bool = False,
                 oov_method: str = "floormod", salt: Any = None,
                 name: str | None = None) -> None:
        if vocabulary_dtype != "int64":
            raise ValueError(
                "Only `vocabulary_dtype='int64'` is supported at this time. "
                f"Received: vocabulary_dtype={vocabulary_dtype!r} "
                f"(of type {type(vocabulary_dtype).__name__})"
            )
        super().__init__(max_tokens, num_oov_indices,
                         None if mask_token is None else int(mask_token),
                         None if oov_token is None else int(oov_token), vocabulary,
                         idf_weights, invert, output_mode, sparse, pad_to_max_tokens,
                         oov_method, salt, name)
        self.vocabulary_dtype = vocabulary_dtype

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**super().get_config(), "oov_method": self.oov_method,
                "vocabulary_dtype": self.vocabulary_dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IntegerLookup:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

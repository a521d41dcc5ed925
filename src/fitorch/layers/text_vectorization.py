"""Keras's `TextVectorization` on Python strings, without TensorFlow: standardize,
split, n-grams, then a `StringLookup` vocabulary (mask `""` at 0, `[UNK]` at 1).

Standardization and splitting follow TensorFlow's string ops: `"lower"` lowercases
ASCII letters only (as `tf.strings.lower`), punctuation is Keras's regex,
`"whitespace"` splits on ASCII whitespace and `"character"` on Unicode code points.
A callable `standardize` receives a NumPy array of `str` and returns one (as in
Keras on a non-TensorFlow backend); a callable `split` receives a 1-D NumPy array
of `str` and returns one list of tokens per string (there are no string tensors).

Example:
    >>> from fitorch.layers import TextVectorization
    >>> layer = TextVectorization(output_sequence_length=4)
    >>> layer.adapt(["The cat sat.", "the dog"])
    >>> layer(["the cat ran"])
    tensor([[2, 5, 1, 0]])
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fitorch.layers.categorical import HostDevice, adapt_batches, to_strings
from fitorch.layers.core import _NoWeights, _resolve_name
from fitorch.layers.layer_api import LayerAPI
from fitorch.layers.lookup import StringLookup

__all__ = ["TextVectorization"]

_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WHITESPACE = re.compile(r"[ \t\n\r\x0b\x0c]+")  # TensorFlow splits on ASCII whitespace
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _check_callable_or(value: Any, choices: tuple[str, ...], arg: str) -> Any:
    if value is None or callable(value) or (isinstance(value, str) and value in choices):
        return value
    raise ValueError(
        f"Unknown value for `{arg}` argument of layer TextVectorization. Allowed values are: "
        f"{[*choices, None]} or a callable. "
        f"Received: {arg}={value!r} (of type {type(value).__name__})"
    )


def _ngrams(tokens: list[str], widths: tuple[int, ...]) -> list[str]:
    out: list[str] = []
    for width in widths:
        out.extend(" ".join(tokens[i:i + width]) for i in range(len(tokens) - width + 1))
    return out


class TextVectorization(HostDevice, LayerAPI, _NoWeights, nn.Module):
    """Turn strings into token indices or bag-of-token vectors (Keras's
    `TextVectorization`).

    `output_mode`: `"int"` (int64 `(batch, length)`, padded with 0 to the longest row or
    to `output_sequence_length`), `"multi_hot"`, `"count"`, `"tf_idf"` (float
    `(batch, vocabulary_size)`, or `max_tokens` wide with `pad_to_max_tokens`).
    `ngrams`: an int n (all n-grams up to n) or a tuple of widths. Build the vocabulary
    with `adapt()` on a list or NumPy array of strings (or an iterable of batches), or
    pass `vocabulary`. Inputs: a list or NumPy array of strings, `(batch,)` or
    `(batch, 1)`; the layer runs on the host and returns tensors, so it can be the
    first layer of a model fed with string arrays.

    Example:
        >>> layer = TextVectorization(output_mode="count", vocabulary=["a", "b"])
        >>> layer(["a b a"])
        tensor([[0., 2., 1.]])
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: str | Callable[..., Any] | None = "lower_and_strip_punctuation",
        split: str | Callable[..., Any] | None = "whitespace",
        ngrams: int | tuple[int, ...] | None = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        vocabulary_size: int | None = None,
    ) -> None:
        _check_callable_or(standardize, _STANDARDIZE, "standardize")
        _check_callable_or(split, _SPLIT, "split")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _MODES:
            raise ValueError(
                "Unknown value for `output_mode` argument of layer TextVectorization. Allowed "
                f"values are: {list(_MODES)}. Received: output_mode={output_mode!r} "
                f"(of type {type(output_mode).__name__})"
            )
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool))
                or (isinstance(ngrams, tuple) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError(
                "`ngrams` must be None, an integer, or a tuple of integers. "
                f"Received: ngrams={ngrams!r} (of type {type(ngrams).__name__})"
            )
        if output_mode == "int" and not (output_sequence_length is None or (
                isinstance(output_sequence_length, int)
                and not isinstance(output_sequence_length, bool))):
            raise ValueError(
                "`output_sequence_length` must be either None or an integer when "
                "`output_mode` is 'int'. Received: output_sequence_length="
                f"{output_sequence_length!r} (of type {type(output_sequence_length).__name__})"
            )
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(
                "`output_sequence_length` must not be set if `output_mode` is not 'int'. "
                f"Received: output_sequence_length={output_sequence_length!r} "
                f"(of type {type(output_sequence_length).__name__})"
            )
        if ragged:
            raise ValueError(
                "`ragged=True` needs the TensorFlow backend (torch has no ragged tensors); "
                "use `output_sequence_length` or the padded output. "
                f"Received: ragged={ragged!r} (of type {type(ragged).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._has_input_vocabulary = vocabulary is not None
        # A tuple, not a submodule: TextVectorization stays one weightless layer.
        self._lookup = (StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            encoding=encoding, name=self.name + "_lookup"),)

    @property
    def _lookup_layer(self) -> StringLookup:
        return self._lookup[0]

    # --- text to tokens -------------------------------------------------------------

    def _standardized(self, texts: np.ndarray) -> np.ndarray:
        standardize = self._standardize
        if callable(standardize):
            result = standardize(texts.astype(str) if texts.size else texts.astype("<U1"))
            return to_strings(result, self.name)
        if standardize is None:
            return texts
        out = np.empty(texts.shape, dtype=object)
        flat = texts.reshape(-1)
        lower = standardize in ("lower_and_strip_punctuation", "lower")
        strip = standardize in ("lower_and_strip_punctuation", "strip_punctuation")
        values = []
        for text in flat:
            if lower:
                text = text.translate(_ASCII_LOWER)
            if strip:
                text = _PUNCTUATION.sub("", text)
            values.append(text)
        out.reshape(-1)[:] = values
        return out

    def _tokenize(self, inputs: Any) -> tuple[list[list[str]] | np.ndarray, bool]:
        """Rows of tokens (a list of lists) after splitting, or the standardized array
        itself when `split` is None; and whether the input was one string."""
        texts = to_strings(inputs, self.name)
        scalar = texts.ndim == 0
        if scalar:
            texts = texts.reshape(1)
        texts = self._standardized(texts)
        if self._split is None:
            if self._ngrams is not None:
                rows = [_ngrams([t], self._ngrams) for t in texts.reshape(-1)]
                return rows, scalar
            return texts, scalar
        if texts.ndim > 1:
            if texts.shape[-1] != 1:
                raise ValueError(
                    "When using `TextVectorization` to tokenize strings, the input rank must "
                    "be 1 or the last shape dimension must be 1. "
                    f"Received: inputs.shape={texts.shape} with rank={texts.ndim}"
                )
            texts = texts.reshape(texts.shape[:-1])
        flat = texts.reshape(-1)
        if self._split == "whitespace":
            rows = [[t for t in _WHITESPACE.split(text) if t] for text in flat]
        elif self._split == "character":
            rows = [list(text) for text in flat]
        else:
            split: Any = self._split
            rows = [[str(_decode(t)) for t in row] for row in split(flat.astype(str))]
        if self._ngrams is not None:
            rows = [_ngrams(row, self._ngrams) for row in rows]
        return rows, scalar

    # --- vocabulary -----------------------------------------------------------------

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Build the vocabulary from `data`: a list or NumPy array of strings, or an
        iterable of such batches (at most `steps` of them). Each string is a document
        for `"tf_idf"`."""
        lookup = self._lookup_layer
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' after setting a static vocabulary via "
                "`vocabulary` argument or `set_vocabulary()` method. "
                f"Received: data of type {type(data).__name__}"
            )
        counts: collections.Counter[str] = collections.Counter()
        doc_counts: collections.Counter[str] = collections.Counter()
        num_docs = 0
        for i, (whole, batch) in enumerate(adapt_batches(data)):
            if steps is not None and i >= steps:
                break
            texts = to_strings(batch, self.name)
            if texts.ndim == 1 and whole:
                texts = texts.reshape(-1, 1)
            rows, _ = self._tokenize(texts)
            if isinstance(rows, np.ndarray):  # no split: rows of the array are documents
                arr = rows if rows.ndim > 1 else rows.reshape(1, -1)
                rows = [list(r) for r in arr.reshape(arr.shape[0], -1)]
            for row in rows:
                counts.update(row)
                if self._output_mode == "tf_idf":
                    doc_counts.update(set(row))
                    num_docs += 1
        lookup._finalize(counts, doc_counts, num_docs)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the vocabulary (and IDF weights for `"tf_idf"`) instead of adapting."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)
        self._has_input_vocabulary = True

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The vocabulary in index order (mask `""` and `[UNK]` first unless excluded)."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The vocabulary's size, padding and OOV tokens included."""
        return self._lookup_layer.vocabulary_size()

    # --- call -----------------------------------------------------------------------

    def forward(self, inputs: Any) -> Tensor:
        return self._on_device(self._vectorize(inputs))

    def _vectorize(self, inputs: Any) -> Tensor:
        rows, scalar = self._tokenize(inputs)
        lookup = self._lookup_layer
        if isinstance(rows, np.ndarray):
            out = lookup(rows)
            if self._output_mode == "int" and self._output_sequence_length is not None:
                out = _fit_length(out, self._output_sequence_length)
            return out
        if self._output_mode == "int":
            length = self._output_sequence_length
            if length is None:
                length = max((len(r) for r in rows), default=0)
            ids = torch.zeros((len(rows), length), dtype=torch.int64)
            for i, row in enumerate(rows):
                if row:
                    found = lookup(np.asarray(row[:length], dtype=object))
                    ids[i, :found.shape[0]] = found
            return ids[0] if scalar else ids
        width = max((len(r) for r in rows), default=0)
        padded = np.full((len(rows), max(width, 1)), "", dtype=object)
        for i, row in enumerate(rows):
            padded[i, :len(row)] = row
        # The padding is the mask token "", which every encoding leaves out.
        out = lookup(padded)
        return out[0] if scalar else out

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (with the current vocabulary)."""
        lookup = self._lookup_layer
        vocab = lookup.get_vocabulary() if lookup._tokens else None
        idf = lookup.get_config()["idf_weights"]
        return {
            "name": self.name, "max_tokens": lookup.max_tokens,
            "standardize": self._standardize, "split": self._split, "ngrams": self._ngrams_arg,
            "output_mode": self._output_mode,
            "output_sequence_length": self._output_sequence_length,
            "pad_to_max_tokens": lookup.pad_to_max_tokens, "sparse": False, "ragged": False,
            "vocabulary": vocab, "idf_weights": idf, "encoding": self._encoding,
            "vocabulary_size": self.vocabulary_size(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextVectorization:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, vocabulary_size={self.vocabulary_size()}, "
                f"output_mode={self._output_mode!r}")


def _decode(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _fit_length(ids: Tensor, length: int) -> Tensor:
    ids = ids[..., :length]
    pad = length - ids.shape[-1]
    return torch.nn.functional.pad(ids, (0, pad)) if pad > 0 else ids



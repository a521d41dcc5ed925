"""Keras's `image_dataset_from_directory` and `text_dataset_from_directory`: files in
one subdirectory per class, as batches that `fit` takes (a `fitorch.utils.Sequence`).

Files are listed, labelled, shuffled (`RandomState(seed)`) and split exactly as
Keras does, so `file_paths` and the batches with `shuffle=False` are Keras's.
Images are channels first, `(batch, channels, height, width)` float32 in [0, 255],
read with Pillow (an RGB file read as grayscale gets Pillow's ITU-R 601 luma, which
can differ from TensorFlow's PNG decoder by one level); texts are Python strings.

Example:
    >>> train, val = image_dataset_from_directory("photos/", image_size=(64, 64),
    ...     validation_split=0.2, subset="both", seed=1)
    >>> model.fit(train, validation_data=val, epochs=5)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from typing import Any

import numpy as np
import torch

from fitorch.data.sequence import Sequence
from fitorch.layers.conv import standardize_data_format
from fitorch.layers.resizing import Resizing

__all__ = ["image_dataset_from_directory", "text_dataset_from_directory"]

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_LABEL_MODES = ("int", "categorical", "binary", None)
_COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def _iter_valid_files(directory: str, follow_links: bool,
                      formats: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda x: x[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                found.append((root, fname))
    return found


def index_directory(directory: str, labels: Any, formats: tuple[str, ...],
                    class_names: SequenceABC[str] | None = None, shuffle: bool = True,
                    seed: int | None = None, follow_links: bool = False,
                    verbose: bool = True) -> tuple[list[str], np.ndarray | None, list[str] | None]:
    """Keras's `index_directory`: file paths, int labels and class names."""
    if not os.path.isdir(directory):
        raise ValueError(
            f"`directory` must be an existing directory. Received: directory={directory!r} "
            f"(of type {type(directory).__name__})"
        )
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories "
                    f"of the target directory. Expected: {subdirs} (or a subset of it), "
                    f"but received: class_names={list(class_names)}"
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError(
                "When `labels=None` (no labels), argument `class_names` cannot be specified."
                if labels is None else
                "When argument `labels` is specified, argument `class_names` cannot be "
                f"specified (the `class_names` will be the sorted list of labels). "
                f"Received: class_names={list(class_names)}"
            )
    class_indices = {name: i for i, name in enumerate(subdirs)}
    filenames: list[str] = []
    found_labels: list[int] = []
    for subdir in subdirs:
        path = os.path.join(directory, subdir)
        dirname = os.path.basename(path)
        for root, fname in _iter_valid_files(path, follow_links, formats):
            found_labels.append(class_indices[dirname])
            filenames.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname),
                                                                   path)))
    names: list[str] | None = list(subdirs)
    label_array: np.ndarray | None
    if labels == "inferred":
        label_array = np.asarray(found_labels, dtype="int32")
    elif labels is None:
        label_array, names = None, None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target "
                f"directory. len(labels) is {len(labels)} while we found {len(filenames)} "
                f"files in directory {directory}."
            )
        label_array = np.asarray(labels)
        names = [str(label) for label in sorted(set(labels))]
    if verbose:
        print(f"Found {len(filenames)} files." if label_array is None else
              f"Found {len(filenames)} files belonging to {len(names or [])} classes.")
    paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(1_000_000))
        np.random.RandomState(seed).shuffle(paths)
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)
    return paths, label_array, names


def _check_split(validation_split: float | None, subset: str | None, shuffle: bool,
                 seed: int | None) -> None:
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            "`validation_split` must be between 0 and 1. "
            f"Received: validation_split={validation_split!r}"
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(
            "If `subset` is set, `validation_split` must be set, and inversely. "
            f"Received: validation_split={validation_split!r}, subset={subset!r}"
        )
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            '`subset` must be either "training", "validation" or "both". '
            f"Received: subset={subset!r}"
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` "
            f"argument, to make sure that there is no overlap between the training and "
            f"validation subset. Received: seed={seed!r}"
        )


def _split(paths: list[str], labels: np.ndarray | None, validation_split: float | None,
           subset: str, verbose: bool) -> tuple[list[str], np.ndarray | None]:
    if not validation_split:
        return paths, labels
    num_val = int(validation_split * len(paths))
    if subset == "training":
        if verbose:
            print(f"Using {len(paths) - num_val} files for training.")
        sl = slice(None, -num_val) if num_val else slice(None)
    else:
        if verbose:
            print(f"Using {num_val} files for validation.")
        sl = slice(-num_val, None) if num_val else slice(0, 0)
    return paths[sl], None if labels is None else labels[sl]


def _encode_labels(labels: np.ndarray, label_mode: str, num_classes: int) -> np.ndarray:
    if label_mode == "binary":
        return labels.astype("float32").reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels.astype("int32")


class DirectoryDataset(Sequence):
    """Batches of files read by `load` (one per path), with their encoded labels; made
    by `image_dataset_from_directory` / `text_dataset_from_directory`. `class_names`
    and `file_paths` are Keras's attributes."""

    def __init__(self, paths: list[str], labels: np.ndarray | None, label_mode: str | None,
                 class_names: list[str] | None, batch_size: int | None,
                 load: Callable[[str], Any], stack: Callable[[list[Any]], Any]) -> None:
        super().__init__()
        self.file_paths = paths
        self.class_names = class_names
        self.batch_size = batch_size
        self._labels = None if labels is None or label_mode is None else _encode_labels(
            labels, label_mode, len(class_names or []))
        self._load, self._stack = load, stack

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} out of range for {len(self)} batches.")
        size = self.batch_size or 1
        rows = slice(index * size, (index + 1) * size)
        x = [self._load(p) for p in self.file_paths[rows]]
        batch = x[0] if self.batch_size is None else self._stack(x)
        if self._labels is None:
            return batch
        y = self._labels[rows]
        return (batch, y[0]) if self.batch_size is None else (batch, y)


def _common_checks(labels: Any, label_mode: Any, class_names: Any, batch_size: Any) -> None:
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError(
            "`labels` argument should be a list/tuple of integer labels, of the same size "
            "as the number of files in the target directory. If you wish to infer the "
            'labels from the subdirectory names in the target directory, pass '
            f'`labels="inferred"`. Received: labels={labels!r} (of type {type(labels).__name__})'
        )
    if label_mode not in _LABEL_MODES:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", or None. '
            f"Received: label_mode={label_mode!r} (of type {type(label_mode).__name__})"
        )
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, int) or batch_size < 1):
        raise ValueError(
            "`batch_size` must be a positive integer or None. "
            f"Received: batch_size={batch_size!r} (of type {type(batch_size).__name__})"
        )


def _datasets(directory: str, labels: Any, label_mode: Any, class_names: Any,
              batch_size: Any, shuffle: bool, seed: Any, validation_split: Any, subset: Any,
              follow_links: bool, verbose: bool, formats: tuple[str, ...],
              load: Callable[[str], Any], stack: Callable[[list[Any]], Any]) -> Any:
    _common_checks(labels, label_mode, class_names, batch_size)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = int(np.random.randint(1_000_000))
    paths, label_array, names = index_directory(
        directory, labels, formats=formats, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(names or []) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
            f"Received: class_names={names}"
        )
    if not paths:
        raise ValueError(
            f"No files found in directory {directory}. Allowed formats: {formats}")

    def make(part: str) -> DirectoryDataset:
        p, lab = _split(paths, label_array, validation_split, part, verbose)
        if not p:
            raise ValueError(
                f"No {part} files left in directory {directory} after the split. "
                f"Received: validation_split={validation_split!r}")
        return DirectoryDataset(p, lab, label_mode, names, batch_size, load, stack)

    if subset == "both":
        return make("training"), make("validation")
    return make(subset or "training")


def _resize_with_pad(image: torch.Tensor, height: int, width: int,
                     interpolation: str) -> torch.Tensor:
    """TensorFlow's `resize_with_pad` (what Keras's loader uses for `pad_to_aspect_ratio`):
    resize keeping the aspect ratio to fit, then pad with zeros around it."""
    h, w = image.shape[-2:]
    ratio = max(w / width, h / height)
    new_h, new_w = math.floor(h / ratio), math.floor(w / ratio)
    top = max(0, math.floor((height - h / ratio) / 2))
    left = max(0, math.floor((width - w / ratio) / 2))
    if (new_h, new_w) != (h, w):
        image = Resizing(new_h, new_w, interpolation=interpolation, name="_")(image)
    return torch.nn.functional.pad(image, (left, width - new_w - left, top,
                                           height - new_h - top))


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "`image_dataset_from_directory` reads images with Pillow, which is not "
            "installed. Install it with `pip install pillow`."
        ) from error
    return Image


def image_dataset_from_directory(
    directory: str,
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: SequenceABC[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: tuple[int, int] = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    verbose: bool = True,
) -> Any:
    """Images from `directory/<class>/...` (bmp, gif, jpeg, png) as a `Sequence` of
    `(images, labels)` batches: float32 `(batch, channels, height, width)` resized to
    `image_size` (as Keras's loader: `Resizing`, or TensorFlow's `resize_with_pad` for
    `pad_to_aspect_ratio`, always float32); labels int32 (`"int"`), one-hot float32
    (`"categorical"`) or float32 `(batch, 1)` (`"binary"`). `subset="both"` returns
    `(training, validation)`.

    Example:
        >>> ds = image_dataset_from_directory("photos/", image_size=(32, 32), shuffle=False)
        >>> ds.class_names
        ['cats', 'dogs']
    """
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            '`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
            f"Received: color_mode={color_mode!r} (of type {type(color_mode).__name__})"
        )
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, int) and s > 0 for s in image_size)):
        raise ValueError(
            "`image_size` must be a tuple of two positive integers (height, width). "
            f"Received: image_size={image_size!r} (of type {type(image_size).__name__})"
        )
    standardize_data_format(data_format)
    height, width = int(image_size[0]), int(image_size[1])
    resize = Resizing(height, width, interpolation=interpolation,
                      crop_to_aspect_ratio=crop_to_aspect_ratio, name="_")
    image_module = _pil()
    mode, channels = _COLOR_MODES[color_mode]

    def load(path: str) -> np.ndarray:
        with image_module.open(path) as image:
            pixels = np.asarray(image.convert(mode), dtype="float32")
        pixels = pixels.reshape(*pixels.shape[:2], channels).transpose(2, 0, 1)
        image = torch.from_numpy(np.ascontiguousarray(pixels))
        if pad_to_aspect_ratio:
            image = _resize_with_pad(image, height, width, interpolation)
        elif tuple(image.shape[1:]) != (height, width):
            image = resize(image)
        return np.ascontiguousarray(image.numpy())

    return _datasets(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                     validation_split, subset, follow_links, verbose, IMAGE_FORMATS, load,
                     np.stack)


def text_dataset_from_directory(
    directory: str,
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: SequenceABC[str] | None = None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> Any:
    """Texts from `directory/<class>/*.txt` as a `Sequence` of `(texts, labels)` batches:
    a NumPy array of Python strings (the file read as UTF-8, its first `max_length`
    bytes when given, as Keras) and labels as in `image_dataset_from_directory`. A
    `TextVectorization` first layer takes the strings as they come.

    Example:
        >>> train = text_dataset_from_directory("reviews/train", batch_size=16, seed=1)
        >>> texts, labels = train[0]
    """
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(
            max_length, int) or max_length < 1):
        raise ValueError(
            "`max_length` must be a positive integer or None. "
            f"Received: max_length={max_length!r} (of type {type(max_length).__name__})"
        )

    def load(path: str) -> str:
        with open(path, "rb") as f:
            data = f.read()
        if max_length is not None:
            data = data[:max_length]
        return data.decode("utf-8", errors="replace")

    def stack(texts: list[str]) -> np.ndarray:
        out = np.empty(len(texts), dtype=object)
        out[:] = texts
        return out

    return _datasets(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                     validation_split, subset, follow_links, verbose, (".txt",), load, stack)

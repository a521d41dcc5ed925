"""Utilities: Keras's progress bar, `Sequence` (alias `PyDataset`), and array helpers
(`to_categorical`, `normalize`, `pad_sequences`, `set_random_seed`)."""

from fitorch.data.sequence import PyDataset, Sequence
from fitorch.utils.numerical import normalize, to_categorical
from fitorch.utils.progbar import Progbar
from fitorch.utils.seeding import set_random_seed
from fitorch.utils.sequences import pad_sequences

__all__ = [
    "Progbar",
    "PyDataset",
    "Sequence",
    "normalize",
    "pad_sequences",
    "set_random_seed",
    "to_categorical",
]

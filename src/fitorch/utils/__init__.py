"""Utilities: Keras's progress bar and `Sequence` (alias `PyDataset`) for batch datasets."""

from fitorch.data.sequence import PyDataset, Sequence
from fitorch.utils.progbar import Progbar

__all__ = ["Progbar", "PyDataset", "Sequence"]

"""Utilities: Keras's progress bar, `Sequence` (alias `PyDataset`), array helpers
(`to_categorical`, `normalize`, `pad_sequences`, `set_random_seed`), datasets that
`fit` takes (`timeseries_dataset_from_array`, `image_dataset_from_directory`,
`text_dataset_from_directory`), `get_file` for local files, and `plot_model`."""

from fitorch.data.sequence import PyDataset, Sequence
from fitorch.utils.directory_datasets import (
    image_dataset_from_directory,
    text_dataset_from_directory,
)
from fitorch.utils.file_utils import get_file
from fitorch.utils.model_visualization import model_to_dot, plot_model
from fitorch.utils.numerical import normalize, to_categorical
from fitorch.utils.progbar import Progbar
from fitorch.utils.seeding import set_random_seed
from fitorch.utils.sequences import pad_sequences
from fitorch.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "Progbar",
    "PyDataset",
    "Sequence",
    "get_file",
    "image_dataset_from_directory",
    "model_to_dot",
    "normalize",
    "pad_sequences",
    "plot_model",
    "set_random_seed",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
]

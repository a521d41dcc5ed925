"""Utilities: Keras's progress bar."""

from fitorch.utils.progbar import Progbar

__all__ = ["Progbar"]

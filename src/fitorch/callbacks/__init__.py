"""Keras's callback API: the base class, the list that dispatches it, and the built-ins."""

from fitorch.callbacks.callback import Callback
from fitorch.callbacks.callback_list import CallbackList
from fitorch.callbacks.history import History
from fitorch.callbacks.progbar_logger import ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]

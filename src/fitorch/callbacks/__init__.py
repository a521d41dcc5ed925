"""Keras's callback API: the base class, the list that dispatches it, and the built-ins."""

from fitorch.callbacks.backup_and_restore import BackupAndRestore
from fitorch.callbacks.callback import Callback
from fitorch.callbacks.callback_list import CallbackList
from fitorch.callbacks.csv_logger import CSVLogger
from fitorch.callbacks.early_stopping import EarlyStopping
from fitorch.callbacks.history import History
from fitorch.callbacks.lambda_callback import LambdaCallback
from fitorch.callbacks.learning_rate_scheduler import LearningRateScheduler
from fitorch.callbacks.model_checkpoint import ModelCheckpoint
from fitorch.callbacks.monitor_callback import MonitorCallback
from fitorch.callbacks.progbar_logger import ProgbarLogger
from fitorch.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from fitorch.callbacks.remote_monitor import RemoteMonitor
from fitorch.callbacks.swap_ema_weights import SwapEMAWeights
from fitorch.callbacks.tensorboard import TensorBoard
from fitorch.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]

"""`TensorBoard`: Keras's TensorBoard logs, written without TensorFlow.

Event files are written by `torch.utils.tensorboard.SummaryWriter` (the
`tensorboard` package, no TensorFlow) in Keras's layout and with Keras's tags,
so dashboards built for Keras runs read fitorch runs unchanged.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fitorch.callbacks.callback import Callback
from fitorch.callbacks.learning_rate_scheduler import get_learning_rate

_PROFILE_ERROR = (
    "profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of "
    "positive integers signifies a range of batches to profile."
)


def _non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer (0 turns it off). "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    return int(value)


def _update_freq(value: Any) -> str | int:
    if value == "batch":
        return 1
    if value == "epoch":
        return "epoch"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            "`update_freq` must be 'epoch', 'batch' or a positive integer (every N batches). "
            f"Received: update_freq={value!r} (of type {type(value).__name__})"
        )
    return int(value)


def _profile_range(value: Any) -> tuple[int, int]:
    """Keras's `profile_batch`: N, (start, stop) or "start,stop"; 0 turns profiling off."""
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"{_PROFILE_ERROR} Received: profile_batch={value!r}") from None
        if len(value) == 1:
            value = value[0]
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        start = stop = int(value)
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        start, stop = int(value[0]), int(value[1])
    else:
        raise ValueError(f"{_PROFILE_ERROR} Received: profile_batch={value!r} "
                         f"(of type {type(value).__name__})")
    if start < 0 or stop < start:
        raise ValueError(f"{_PROFILE_ERROR} Received: profile_batch={value!r}")
    return start, stop


def _weight_image(weight: torch.Tensor) -> torch.Tensor | None:
    """A weight as NHWC grey images in [0, 1] (Keras's shapes, PyTorch's channels-first
    layout), or None when it has no image form."""
    w = weight.detach().float().squeeze()
    if w.ndim == 1:  # bias
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:  # Dense kernel: the longer side across
        if w.shape[0] > w.shape[1]:
            w = w.t()
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:  # Conv1D kernel (out, in, k): one image per output channel
        w = w.reshape(w.shape[0], w.shape[1], w.shape[2], 1)
    elif w.ndim == 4:  # Conv2D kernel (out, in, kh, kw): one image per (out, in) pair
        w = w.reshape(w.shape[0] * w.shape[1], w.shape[2], w.shape[3], 1)
    else:
        return None
    # Images are bytes in [0, 255]: scale each weight to [0, 1] (TensorFlow would clip).
    low, high = w.min(), w.max()
    return ((w - low) / (high - low).clamp_min(1e-12)).cpu()


class _GraphInput(nn.Module):
    """Calls the model with the captured keyword arguments, tensors passed positionally
    (what `torch.jit.trace` needs to see them as inputs)."""

    def __init__(self, model: nn.Module, num_args: int, tensor_keys: list[str],
                 other_kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.num_args = num_args
        self.tensor_keys = tensor_keys
        self.other_kwargs = other_kwargs

    def forward(self, *inputs: Any) -> Any:
        kwargs = dict(zip(self.tensor_keys, inputs[self.num_args:]))
        return self.model(*inputs[:self.num_args], **kwargs, **self.other_kwargs)


class TensorBoard(Callback):
    """Write TensorBoard logs in Keras 3's layout, with `torch.utils.tensorboard`.

    Layout and tags, as Keras writes them:

    * `log_dir/train`: `epoch_<name>` for every training log (`epoch_loss`,
      `epoch_accuracy`, ...) and `epoch_learning_rate` (the first param
      group's rate, any torch optimizer), step = epoch (0-based);
      `epoch_steps_per_second` with `write_steps_per_second`.
    * `log_dir/validation`: `epoch_<name>` for every `val_` log (prefix
      dropped), step = epoch; after every evaluation (validation in `fit`, or
      `evaluate` given this callback) `evaluation_<name>_vs_iterations` with
      step = the optimizer's step count (`optimizer.iterations` for fitorch's
      optimizers, the training steps seen otherwise).
    * With `update_freq="batch"` or N: `batch_<name>` every N training
      batches, step = training batches since `on_train_begin` (1-based), and
      `batch_steps_per_second` with `write_steps_per_second`. Reading a
      batch's logs waits for the device: a sync every N batches.
    * `histogram_freq=N`: every N epochs, `<param/path>/histogram` for every
      floating parameter and buffer (`layers/0/weight` for `layers.0.weight`),
      and `<param/path>/image` with `write_images` (weights scaled to [0, 1]).
    * `write_graph`: the model's graph, traced by `add_graph` on the first
      training batch's inputs, in inference mode (so tracing changes neither
      batch-norm statistics nor the random stream). A model that cannot be
      traced gives one warning and training goes on. (Keras 3 writes a graph
      only with TensorFlow.)
    * `embeddings_freq=N`: every N epochs, the weights of every embedding layer
      (`torch.nn.Embedding` or a layer named `Embedding`) for the projector,
      with `embeddings_metadata` (one file for all, or layer name -> file) as
      labels. (Keras saves a weights checkpoint for the projector instead.)
    * `profile_batch`: N or `(start, stop)` (1-based training batches since
      `on_train_begin`; 0 turns it off) records those batches with
      `torch.profiler` and writes the trace to `log_dir/train` for the PyTorch
      profiler plugin of TensorBoard (Keras 3's torch backend refuses a
      non-zero value).

    Args:
        log_dir: Directory of the logs (not to be shared with another callback).
        histogram_freq: Epochs between weight histograms (0: none).
        write_graph: Write the model's graph.
        write_images: Write weights as images along with the histograms.
        write_steps_per_second: Log training steps per second.
        update_freq: `"epoch"`, `"batch"` or N (batch logs every N batches).
        profile_batch: Batches to profile (see above).
        embeddings_freq: Epochs between embedding snapshots (0: none).
        embeddings_metadata: Label file for all embedding layers, or a dict of
            layer name -> label file.

    Example:
        >>> tb = TensorBoard(log_dir="logs/run1", histogram_freq=1)
        >>> model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[tb])  # doctest: +SKIP
        >>> # then: tensorboard --logdir logs
    """

    rank_zero_only = True  # data-parallel runs: only rank 0 prints or writes

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int | tuple[int, int] | str = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(
                "`log_dir` must be a path (str or os.PathLike). "
                f"Received: log_dir={log_dir!r} (of type {type(log_dir).__name__})"
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _non_negative_int("histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = _update_freq(update_freq)
        self.embeddings_freq = _non_negative_int("embeddings_freq", embeddings_freq)
        if embeddings_metadata is not None and not isinstance(
                embeddings_metadata, (str, os.PathLike, Mapping)):
            raise TypeError(
                "`embeddings_metadata` must be a file path or a dict of layer name -> file "
                f"path. Received: embeddings_metadata={embeddings_metadata!r} "
                f"(of type {type(embeddings_metadata).__name__})"
            )
        self.embeddings_metadata = embeddings_metadata
        self._start_batch, self._stop_batch = _profile_range(profile_batch)
        self._should_trace = not (self._start_batch == 0 and self._stop_batch == 0)
        self._profiler: Any = None

        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._writers: dict[str, Any] = {}
        self._global_train_batch = 0
        self._global_test_batch = 0
        self._steps_seen = 0  # training steps, for optimizers without `iterations`
        self._epoch_steps = 0
        self._epoch_start_time = 0.0
        self._batch_start_time = 0.0
        self._graph_written = False
        self._graph_input: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._graph_hook: Any = None
        self._in_fit = False
        self._resumed = False

    # --- writers --------------------------------------------------------------
    def _writer(self, which: str) -> Any:
        """The SummaryWriter of `log_dir/train` or `log_dir/validation`, made on first use
        (so that no event file appears for what is never written)."""
        writer = self._writers.get(which)
        if writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:  # pragma: no cover - tensorboard is a test dependency
                raise ImportError(
                    "The TensorBoard callback needs the `tensorboard` package: "
                    "`pip install tensorboard` (TensorFlow is not needed)."
                ) from e
            writer = SummaryWriter(self._train_dir if which == "train" else self._val_dir)
            self._writers[which] = writer
        return writer

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self._close_writers()

    # --- fit --------------------------------------------------------------------
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = True
        if self._resumed:
            self._resumed = False
        else:
            self._global_train_batch = 0
        if self.write_graph and not self._graph_written and self._graph_hook is None:
            self._graph_hook = self.model.register_forward_pre_hook(
                self._capture_input, with_kwargs=True)
        if self.embeddings_freq:
            self._embedding_layers()  # fail early on unknown layer names in the metadata

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = False
        self._resumed = False
        self._remove_graph_hook()
        self._graph_input = None
        if self._profiler is not None:
            self._stop_profiler()
        self._close_writers()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch_steps = 0
        if self.write_steps_per_second:
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()
        if self._should_trace and self._global_train_batch == self._start_batch:
            self._start_profiler()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._steps_seen += batch + 1 - self._epoch_steps
        self._epoch_steps = batch + 1
        if self.write_graph and not self._graph_written:
            self._write_graph()
        step = self._global_train_batch
        if self.update_freq != "epoch" and step % int(self.update_freq) == 0:
            writer = self._writer("train")
            if self.write_steps_per_second:
                # Wall time of the hooks' interval: the device may still be working.
                elapsed = max(time.time() - self._batch_start_time, 1e-12)
                writer.add_scalar("batch_steps_per_second", 1.0 / elapsed, step)
            for name, value in (logs or {}).items():  # sync: reads the batch's logs
                if _is_scalar(value):
                    writer.add_scalar(f"batch_{name}", float(value), step)
        if self._profiler is not None and step >= self._stop_batch:
            self._stop_profiler()

    # --- evaluate ---------------------------------------------------------------
    def on_test_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._global_test_batch += 1

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not logs:
            return
        iterations = getattr(optimizer, "iterations", None)
        if not isinstance(iterations, int):
            iterations = self._steps_seen
        writer = self._writer("val")
        for name, value in logs.items():
            if _is_scalar(value):
                writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), iterations)
        if not self._in_fit:
            writer.flush()

    # --- epoch summaries --------------------------------------------------------
    def _log_epoch_metrics(self, epoch: int, logs: Mapping[str, Any] | None) -> None:
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if isinstance(optimizer, torch.optim.Optimizer):
            train_logs["learning_rate"] = get_learning_rate(optimizer)
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-12)
            train_logs["steps_per_second"] = self._epoch_steps / elapsed
        if train_logs:
            writer = self._writer("train")
            for name, value in train_logs.items():
                if _is_scalar(value):
                    writer.add_scalar(f"epoch_{name}", float(value), epoch)
        if val_logs:
            writer = self._writer("val")
            for name, value in val_logs.items():
                if _is_scalar(value):
                    writer.add_scalar(f"epoch_{name[4:]}", float(value), epoch)

    def _named_weights(self) -> list[tuple[str, torch.Tensor]]:
        named = [*self.model.named_parameters(), *self.model.named_buffers()]
        return [(n, t) for n, t in named if t.is_floating_point() and t.numel() > 0]

    def _log_weights(self, epoch: int) -> None:
        writer = self._writer("train")
        for name, weight in self._named_weights():
            tag = name.replace(".", "/")
            writer.add_histogram(f"{tag}/histogram", weight.detach().float().cpu(), epoch)
            if self.write_images:
                image = _weight_image(weight)
                if image is not None:
                    writer.add_images(f"{tag}/image", image, epoch, dataformats="NHWC")
        writer.flush()

    # --- embeddings -------------------------------------------------------------
    def _embedding_layers(self) -> list[tuple[str, torch.Tensor]]:
        layers = []
        for name, module in self.model.named_modules():
            weight = getattr(module, "weight", None)
            if weight is None:
                weight = getattr(module, "embeddings", None)
            if (isinstance(module, nn.Embedding) or type(module).__name__ == "Embedding") \
                    and isinstance(weight, torch.Tensor) and weight.ndim == 2:
                layers.append((name, weight))
        metadata = self.embeddings_metadata
        if isinstance(metadata, Mapping):
            unknown = sorted(set(metadata) - {n for n, _ in layers})
            if unknown:
                raise ValueError(
                    "Unrecognized embedding layer names passed to TensorBoard's "
                    f"`embeddings_metadata`: {unknown}. Embedding layers: "
                    f"{[n for n, _ in layers]}. Received: embeddings_metadata={metadata!r}"
                )
        return layers

    def _log_embeddings(self, epoch: int) -> None:
        writer = self._writer("train")
        metadata = self.embeddings_metadata
        for name, weight in self._embedding_layers():
            path = metadata.get(name) if isinstance(metadata, Mapping) else metadata
            labels = None
            if path is not None:
                with open(path, encoding="utf-8") as f:
                    labels = f.read().splitlines()
                if len(labels) != weight.shape[0]:
                    labels = None  # a header line or a mismatch: no labels rather than wrong
            writer.add_embedding(weight.detach().float().cpu(), metadata=labels,
                                 tag=name or "embedding", global_step=epoch)

    # --- graph ------------------------------------------------------------------
    def _capture_input(self, module: nn.Module, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> None:
        if torch.is_grad_enabled() and module.training:  # a training step's forward
            self._graph_input = (args, dict(kwargs))
            self._remove_graph_hook()

    def _remove_graph_hook(self) -> None:
        if self._graph_hook is not None:
            self._graph_hook.remove()
            self._graph_hook = None

    def _write_graph(self) -> None:
        self._graph_written = True
        self._remove_graph_hook()
        captured, self._graph_input = self._graph_input, None
        if captured is None:
            warnings.warn(
                "TensorBoard could not capture the model's input to write its graph (the "
                "training step did not call the model); the graph is not written.",
                UserWarning, stacklevel=3)
            return
        args, kwargs = captured
        if "training" in kwargs:
            kwargs["training"] = False
        tensor_keys = [k for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
        others = {k: v for k, v in kwargs.items() if k not in tensor_keys}
        wrapper = _GraphInput(self.model, len(args), tensor_keys, others)
        inputs = (*args, *(kwargs[k] for k in tensor_keys))
        modes = [(m, m.training) for m in self.model.modules()]
        devices = [t.device for t in inputs if isinstance(t, torch.Tensor) and t.is_cuda]
        try:
            # Inference mode (add_graph's own choice), the random stream put back after.
            with torch.random.fork_rng(devices=devices), torch.no_grad(), \
                    warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                self._writer("train").add_graph(wrapper, inputs, use_strict_trace=False)
        except Exception as e:
            warnings.warn(
                f"TensorBoard could not trace the model to write its graph "
                f"({type(e).__name__}: {e}); training goes on without it.",
                UserWarning, stacklevel=3)
        finally:
            # add_graph sets the train/eval mode of the whole tree back from the wrapper's:
            # put every module's own mode back (frozen batch norms stay frozen).
            for m, training in modes:
                m.training = training

    # --- profiler -------------------------------------------------------------
    def _start_profiler(self) -> None:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        try:
            self._profiler = torch.profiler.profile(
                activities=activities,
                on_trace_ready=torch.profiler.tensorboard_trace_handler(self._train_dir))
            self._profiler.start()
        except Exception as e:  # profiler errors are never fatal (Keras logs them too)
            self._profiler = None
            warnings.warn(f"TensorBoard could not start the profiler: {e}", UserWarning,
                          stacklevel=3)

    def _stop_profiler(self) -> None:
        profiler, self._profiler = self._profiler, None
        try:
            profiler.stop()
        except Exception as e:
            warnings.warn(f"TensorBoard could not stop the profiler: {e}", UserWarning,
                          stacklevel=3)

    # --- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The batch counters that give the steps of batch summaries.

        Example:
            >>> TensorBoard().state_dict()["global_train_batch"]
            0
        """
        return {"global_train_batch": self._global_train_batch,
                "global_test_batch": self._global_test_batch,
                "steps_seen": self._steps_seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`'s counters; the next `on_train_begin` keeps them.

        Example:
            >>> TensorBoard().load_state_dict({"global_train_batch": 10})
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        self._global_train_batch = int(state.get("global_train_batch", 0))
        self._global_test_batch = int(state.get("global_test_batch", 0))
        self._steps_seen = int(state.get("steps_seen", 0))
        self._resumed = True


def _is_scalar(value: Any) -> bool:
    if isinstance(value, (numbers.Real, torch.Tensor)) and not isinstance(value, bool):
        return not isinstance(value, torch.Tensor) or value.numel() == 1
    return hasattr(value, "size") and getattr(value, "size", 0) == 1

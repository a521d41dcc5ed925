"""`jit_compile=True`: the default train step as one `torch.compile` graph.

The graph holds the forward pass, the loss (with the layers' regularization
penalties), the backward pass (`torch.func.grad_and_value`, so autograd is traced
too and AOTAutograd/Inductor fuse forward and backward kernels), the loss tracker
and every compiled metric's update. The loss and the gradients come out of the graph
and the train step (`step.TrainStep.apply_gradients`, shared with the eager path)
applies them:

- fitorch's optimizers run their fused kernel (Adam: one `_fused_adam_` call) or a
  few `_foreach_` ops. Their scalars (Keras's bias corrections, a learning rate a
  schedule changes) are host numbers: traced, they would make Dynamo recompile on
  every step or read the device.
- a `torch.optim` optimizer's `step()` is compiled too (the PyTorch recipe for
  compiled optimizers). Its learning rate is a Python float that Dynamo specialises
  on, so after the rates changed twice (a per-batch schedule) it runs eagerly.

The graph is specialised to the input shapes of its first batch (`dynamic=False`):
batches of another shape (the last partial batch of an epoch, a ragged generator)
run the eager step, which gives the same numbers up to float rounding, so no shape
ever triggers a recompile. The first step of a fit runs eagerly as well: it builds
the loss and metrics (Python state that must not be traced) and checks the labels.

On CUDA the graph is compiled with `mode="reduce-overhead"`: its shapes are static,
so Inductor records it as a CUDA graph and each step is one replay instead of a
launch per kernel.

`jit_compile="auto"` compiles only fits that plan at least `AUTO_MIN_STEPS` steps
(`auto_jit`): compilation costs seconds and saves a fraction of a millisecond per
step, so shorter runs would lose time to it.

Example:
    >>> model.compile(optimizer="adam", loss="mse", jit_compile=True)
    >>> model.fit(x, y, epochs=3)  # steps 2.. of every full batch run compiled
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fitorch import nest
from fitorch.device import model_device
from fitorch.optimizers import KerasOptimizer

if TYPE_CHECKING:
    from fitorch.model import Model

# jit_compile="auto" compiles a fit that plans at least this many train steps. Measured
# on CPU (benchmarks/RESULTS.md): compiling costs 4-18 s and saves 0-0.2 ms per step
# (W3: 46%, W1: 18%, W4: 12%, W2: -4%), so only long runs repay it.
AUTO_MIN_STEPS = 50_000
# A torch.optim step compiled with float learning rates recompiles when they change;
# after this many changes (a per-batch schedule) it stays eager.
_MAX_RATE_CHANGES = 2


class _ForwardAndLoss(nn.Module):
    """The model's forward pass and loss as one module, for `torch.func.functional_call`.

    Regularization penalties read the layers' weights inside `compute_loss`; running it
    inside the module call makes them see the traced parameters too.
    """

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any, y: Any, sample_weight: Any
                ) -> tuple[Any, torch.Tensor, list[torch.Tensor]]:
        """`(y_pred, loss, per-output losses)`; the per-output loss trackers
        are updated by the caller, outside the gradient transform (which forbids
        in-place updates of tensors it did not receive as inputs)."""
        from fitorch import step

        model = self.model
        if model._overrides("compute_loss"):
            y_pred, loss = step.forward_and_loss(model, x, y, sample_weight)
            return y_pred, loss, []
        y_pred = model.__dict__["_train_step"].forward(x)
        assert model._compiled_loss is not None
        loss, values, _ = model._compiled_loss.compute(y, y_pred, sample_weight)
        return y_pred, model._with_regularization(loss), values


def compile_for(owner: Any, fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """`torch.compile(fn)` bound to `owner`, with a code object of its own.

    Dynamo keeps compiled graphs, and its limit of 8 recompilations, per code object.
    Shared by every model in a process (a hyper-parameter search, cross-validation),
    one code object would recompile for each new model and fall back to eager after the
    eighth; a copy per model keeps each model's graph apart.
    """
    code = fn.__code__.replace()  # an equal but distinct code object
    own = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    return torch.compile(types.MethodType(own, owner), **options)


def shape_signature(x: Any) -> Any:
    """The shapes of a batch's inputs: what the compiled graph is specialised to."""
    if isinstance(x, torch.Tensor):
        return x.shape
    return tuple(t.shape if isinstance(t, torch.Tensor) else None for t in nest.flatten(x))


class OptimizerStep:
    """`optimizer.step()` for the compiled path (see the module docstring)."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.compiled: Any = None
        if not isinstance(optimizer, KerasOptimizer) and isinstance(
                optimizer, torch.optim.Optimizer):
            self.compiled = torch.compile(optimizer.step)
        self.rates = self._rates()
        self.changes = 0

    def _rates(self) -> list[Any]:
        return [group.get("lr") for group in self.optimizer.param_groups]

    def __call__(self) -> None:
        if self.compiled is None:
            self.optimizer.step()
            return
        rates = self._rates()
        if rates != self.rates:
            self.rates = rates
            self.changes += 1
            if self.changes > _MAX_RATE_CHANGES:
                self.compiled = None
                self.optimizer.step()
                return
        self.compiled()


def auto_jit(model: Model, steps_per_epoch: int | None, epochs: int) -> bool:
    """The `jit_compile="auto"` rule: compile a fit of at least `AUTO_MIN_STEPS` planned
    steps (epochs x steps per epoch; unknown-length data counts as short) that uses the
    default train step."""
    if steps_per_epoch is None or model._overrides("train_step"):
        return False
    return steps_per_epoch * epochs >= AUTO_MIN_STEPS


class CompiledTrainStep:
    """The forward, loss and backward of `model`'s default train step as one graph.

    `accepts(x)` says whether a batch runs compiled (it has the graph's shapes);
    `__call__` runs the graph and returns the gradients (None when the step cannot be
    compiled: the caller runs it eagerly); the train step applies them. The metric
    values are read from the metric objects, lazily, as in the eager step. A model
    Dynamo cannot trace gets a warning and trains eagerly.
    """

    def __init__(self, model: Model, train_step: Any) -> None:
        self.model = model
        self.wrapper = _ForwardAndLoss(model)
        # Names as `functional_call` sees them on the wrapper ("model.<name>").
        self.trainable = [(f"model.{name}", p) for name, p in model.named_parameters()
                          if p.requires_grad]
        self.params = [p for _, p in self.trainable]
        self.device = model_device(model)
        # On CUDA the static-shape graph is replayed as a CUDA graph: one launch per step.
        self.cuda_graphs = self.device.type == "cuda"
        self.signature: Any = None
        for metric in model.metrics:
            prepare = getattr(metric, "prepare_for_tracing", None)
            if callable(prepare):
                prepare()
        # Metrics with Python state (torchmetrics, user classes that do not declare
        # `traceable`) are updated after the graph, from the predictions it returns.
        self.untraced_metrics = any(not getattr(m, "traceable", False) for m in model.metrics)
        self.graph = compile_for(self, CompiledTrainStep._graph, dynamic=False,
                                 mode="reduce-overhead" if self.cuda_graphs else None)
        self.calls = 0  # steps run through the graph (profiling, tests)
        self.failure: Exception | None = None  # why the step could not be compiled

    def accepts(self, x: Any) -> bool:
        """Whether the batch `x` runs compiled: it has the graph's shapes and no one-off
        check is pending (the label range check of a fit's first batch runs eagerly)."""
        loss = self.model._compiled_loss
        if self.failure is not None or (loss is not None and loss.labels_to_check is not None):
            return False
        signature = shape_signature(x)
        if self.signature is None:
            self.signature = signature
            return True
        return bool(signature == self.signature)

    def _loss(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: Any,
              y: Any, sample_weight: Any, factor: torch.Tensor | None
              ) -> tuple[torch.Tensor, Any]:
        # Buffers go in as inputs: a grad transform may update its inputs in place (batch
        # norm's moving statistics) but not tensors it captured.
        y_pred, loss, values = torch.func.functional_call(
            self.wrapper, (params, buffers), (x, y, sample_weight))
        # `factor`: n_i when accumulating, times the loss scale under "16-mixed".
        scaled = loss if factor is None else loss * factor
        return scaled, (loss.detach(), y_pred, [v.detach() for v in values])

    def _graph(self, x: Any, y: Any, sample_weight: Any, factor: torch.Tensor | None
               ) -> tuple[torch.Tensor, list[torch.Tensor], Any]:
        from fitorch.step import batch_size_of

        model = self.model
        params = {name: p.detach() for name, p in self.trainable}
        buffers = dict(self.wrapper.named_buffers())
        grads, (_, (loss, y_pred, per_output)) = torch.func.grad_and_value(
            self._loss, has_aux=True)(params, buffers, x, y, sample_weight, factor)
        with torch.no_grad():
            if per_output:
                assert model._compiled_loss is not None
                model._compiled_loss.track(per_output, batch_size_of(y_pred))
            # float32: a float64 ("64-true") Mean does not update inside a compiled graph.
            model._loss_tracker.update_state(loss.float(), sample_weight=batch_size_of(x))
            metrics = model._compiled_metrics
            if metrics is not None and metrics.built:
                metrics.update_state(y, y_pred, sample_weight,
                                     traceable=True if self.untraced_metrics else None)
        return (loss, [grads[name] for name, _ in self.trainable],
                y_pred if self.untraced_metrics else None)

    def __call__(self, x: Any, y: Any, sample_weight: Any, factor: torch.Tensor | None = None
                 ) -> list[torch.Tensor] | None:
        """One forward and backward: the gradients, or None (nothing done) when the step
        cannot be compiled: run it eagerly."""
        model = self.model
        if self.cuda_graphs:  # a new step: the previous replay's outputs may be overwritten
            torch.compiler.cudagraph_mark_step_begin()
        try:
            _, grads, y_pred = self.graph(x, y, sample_weight, factor)
        except (torch._dynamo.exc.TorchDynamoException, RuntimeError) as exc:
            if self.calls:  # the graph ran before: a genuine error of this batch
                raise
            # Tracing or compiling failed (before any state changed). The eager step gives
            # the same training, or raises the user's own error if that is what it was.
            self.failure = exc
            warnings.warn(
                "jit_compile: the train step could not be compiled into one graph, so "
                f"training goes on eagerly. Reason: {str(exc).splitlines()[0]}", stacklevel=4)
            return None
        self.calls += 1
        if y_pred is not None:  # the metrics kept out of the graph
            assert model._compiled_metrics is not None
            with torch.no_grad():
                model._compiled_metrics.update_state(y, y_pred, sample_weight, traceable=False)
        return list(grads)


__all__ = ["AUTO_MIN_STEPS", "CompiledTrainStep", "OptimizerStep", "auto_jit", "compile_for",
           "shape_signature"]

"""The train, test and predict steps: the one owner of everything a batch goes through.

`make_train_function()` builds one `TrainStep` per model (again only when the trainable
parameters, the device, the optimizer or the forward hooks change); `fit`,
`train_on_batch` and `Model.train_step` all run it. It owns, in nanoGPT's order:

    cast inputs -> autocast forward -> loss (x n_i / n_1 when accumulating) -> backward
    (scaled under "16-mixed") -> after the group's last micro-batch: average -> unscale ->
    `Model.on_after_backward()` -> clip -> optimizer step (skipped on overflow) ->
    scaler update -> zero_grad(set_to_none=True) -> weight constraints

and the choice between eager and compiled execution: under `jit_compile=True` the
forward, loss and backward run as one graph (`compiled_step.py`, the step's compiled
half) that returns the loss and the gradients, and both paths end in
`TrainStep.apply_gradients()`. These two modules are the only ones that call
`backward()` or `optimizer.step()`.

Gradient accumulation (`compile(gradient_accumulation_steps=N)`): the gradient applied
is that of the sample-weighted mean loss over the N micro-batches (micro-batch i
weighs n_i / sum n), so N batches of B equal one batch of N*B. Each micro-batch's loss
is scaled by n_i / n_1 (1 for equal sizes: gradients keep their usual magnitude, which
matters under float16) and the summed gradient divided by the sum of those factors
when the group is applied, which is also exact for a partial last group. Batch hooks
and logs run per micro-batch; the optimizer's iterations advance per update. The last
partial group of an epoch is applied at the epoch's end (`end_epoch`): epochs stay
self-contained.

A step returns metric values as tensors; they become floats only when a callback or
the progress bar reads them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fitorch import nest
from fitorch import precision as precision_module
from fitorch.compiled_step import CompiledTrainStep, OptimizerStep, compile_for
from fitorch.data import unpack_x_y_sample_weight
from fitorch.data.shard import StandIn
from fitorch.device import model_device
from fitorch.distributed import is_sharded
from fitorch.optimizers.clipping import clip_gradients
from fitorch.optimizers.trainable_params import add_new_trainable

if TYPE_CHECKING:
    from fitorch.model import Model


def optimizer_ready(optimizer: Any) -> bool:
    """Whether `optimizer` has its parameters (fitorch's optimizers can exist before them)."""
    return optimizer is not None and bool(getattr(optimizer, "is_built", True))


def forward_takes_training(module: nn.Module) -> bool:
    """The `training=` rule: pass it when the forward pass (of the wrapped module, for a
    `Model(module)`) declares it. Read once per module."""
    cached = module.__dict__.get("_step_takes_training")
    if cached is None:
        from fitorch.model import Model

        wrapped = module.__dict__.get("_modules", {}).get("module")
        fn = wrapped.forward if wrapped is not None and isinstance(module, Model) else \
            module.forward
        try:
            cached = "training" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            cached = False
        module.__dict__["_step_takes_training"] = cached
    return bool(cached)


def _forwards_only(module: nn.Module) -> bool:
    from fitorch.model import Model

    return isinstance(module, Model) and type(module).forward is Model.forward


def _hooked(model: nn.Module) -> bool:
    return bool(model._forward_hooks or model._forward_pre_hooks or model._backward_hooks
                or model._backward_pre_hooks)


def eager_target(model: nn.Module) -> Callable[..., Any]:
    """What the forward pass calls: `Model(module)` without hooks of its own only forwards
    to `module`, so the step calls the module and skips one `nn.Module.__call__`; any
    other model is called through `_call_impl` (its hooks run; the routing of
    `Model.__call__`, meant for a user's `self(x)`, is the step itself here)."""
    custom = getattr(type(model), "_eager_call_target", None)
    if custom is not None:  # a model that knows its own shortcut (a functional model)
        target = custom(model)
        return model._call_impl if target is model else target
    module = model.__dict__.get("_modules", {}).get("module")
    if module is None or _hooked(model) or not _forwards_only(model):
        return model._call_impl
    return module


def compiled_target(model: nn.Module) -> Callable[..., Any]:
    """The model's forward pass compiled (`jit_compile=True` evaluation and prediction)."""
    compiled = model.__dict__.get("_compiled_call")
    if compiled is None:
        from fitorch.model import Model

        # dynamic=None: the first shape is compiled static; a second one (the partial
        # last batch) makes the batch axis dynamic instead of recompiling per size.
        compiled = compile_for(model, Model.__call__, dynamic=None)
        model.__dict__["_compiled_call"] = compiled
    return compiled


def _call(target: Callable[..., Any], x: Any, kwargs: dict[str, Any]) -> Any:
    """Lists/tuples go positionally, dicts by name (multi-input), anything else as one."""
    if isinstance(x, torch.Tensor):
        return target(x, **kwargs)
    if isinstance(x, (list, tuple)):
        return target(*x, **kwargs)
    if isinstance(x, dict):
        return target(**x, **kwargs)
    return target(x, **kwargs)


def call_model(model: nn.Module, x: Any, training: bool, compiled: bool = True) -> Any:
    """One forward pass outside a step (building lazy weights, `summary()`)."""
    target = compiled_target(model) if compiled and getattr(model, "_jit_compile", False) \
        else eager_target(model)
    return _call(target, x, {"training": training} if forward_takes_training(model) else {})


def batch_size_of(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.shape[0])
    return int(next(t for t in nest.flatten(x) if t is not None).shape[0])


def forward_and_loss(model: Model, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
    """The forward pass and the loss (traced into the graph under `jit_compile=True`)."""
    train = model.__dict__["_train_step"]
    y_pred = train.forward(x)
    return y_pred, model.compute_loss(x, y, y_pred, sample_weight, training=True)


class _Forward:
    """The forward pass of a step: call target, `training=` argument, precision."""

    def __init__(self, model: Model, training: bool, compiled: bool) -> None:
        self.model = model
        self.target = compiled_target(model) if compiled else eager_target(model)
        # Calling the wrapped module skips the model's hooks: a hook registered later (a
        # callback's, at the start of training) switches the call back to the model.
        self.direct = not compiled and self.target != model._call_impl
        self.kwargs = {"training": training} if forward_takes_training(model) else {}
        self.precision = precision_module.Precision(model._precision, model_device(model))
        self.dtype = precision_module.floating_dtype(model)
        self.cast = precision_module.input_caster(self.dtype)

    def forward(self, x: Any) -> Any:
        """Inputs cast to the model's floating dtype, the call, its outputs in float32
        under mixed precision (the loss and metrics are computed in float32)."""
        if isinstance(x, torch.Tensor):
            if x.dtype is not self.dtype and self.cast is not None and x.is_floating_point():
                x = x.to(self.dtype)
        elif self.cast is not None:
            x = self.cast(x)
        target = self.target
        if self.direct and _hooked(self.model):
            target = self.model._call_impl
        precision = self.precision
        try:
            if not precision.active:
                return _call(target, x, self.kwargs)
            with precision.forward():
                y_pred = _call(target, x, self.kwargs)
        except RuntimeError as error:
            hint = _integer_input_hint(error, x, self.dtype)
            if hint is None:
                raise
            raise hint from error
        return precision.outputs(y_pred)

    def routed_call(self, *args: Any, **kwargs: Any) -> Any:
        """`Model.__call__` with gradients enabled (a user's `train_step` calling
        `self(x)`): the same casts and autocast as the default step."""
        if self.cast is not None:
            args, kwargs = self.cast(args), self.cast(kwargs)
        with self.precision.forward():
            y_pred = nn.Module.__call__(self.model, *args, **kwargs)
        return self.precision.outputs(y_pred)


def _integer_input_hint(error: RuntimeError, x: Any, dtype: torch.dtype | None
                        ) -> TypeError | None:
    """torch's dtype mismatch for integer data fed to a float module, said plainly (the
    forward pass fails before any update). None for any other error."""
    message = str(error)
    if "dtype" not in message and "scalar type" not in message:
        return None
    integer = [t.dtype for t in nest.flatten(x)
               if isinstance(t, torch.Tensor) and not t.is_floating_point()
               and not t.is_complex() and t.dtype is not torch.bool]
    if not integer:
        return None
    return TypeError(
        f"The model's input is integer data ({integer[0]}) but its weights are "
        f"{dtype}: torch does not mix them ({message.splitlines()[0]}). Convert the data "
        "(e.g. `x.astype('float32')`); integers that are indices need a first layer that "
        "takes them (an Embedding). No weights were changed. "
        f"Received: x of dtype {integer[0]}"
    )


class TrainStep(_Forward):
    """The default training step of one model (see the module docstring).

    Example:
        >>> train = model.make_train_function()   # a TrainStep unless train_step is overridden
        >>> logs = train((xb, yb))
    """

    def __init__(self, model: Model) -> None:
        super().__init__(model, training=True, compiled=False)
        self.optimizer = model.optimizer
        self.key = _step_key(model)
        self.jit = False
        self.scaler = self.precision.make_scaler()
        self.accumulation = model._gradient_accumulation_steps
        self.micro_batches = 0  # of the group being accumulated
        self.first_size = 0  # n_1, the size of its first micro-batch
        self.weights = 0.0  # sum of n_i / n_1 over the group
        self.samples = 0  # samples since the last update (weights a rank's gradient)
        self.parallel = model._parallel()  # data-parallel context, None in one process
        # FSDP2 (`distribution="fsdp"`): its backward sums the gradients over the ranks;
        # each rank's loss is scaled by its sample count, the update divides by the total.
        self.sharded = is_sharded(model)
        self.clip = model._clip_options
        self.hook = model._overrides("on_after_backward")
        self.constrained = model._constrained is None or bool(model._constrained)
        # A user's own autocast context around fit: autocast caches its casts of the
        # weights until the outermost context exits, so every step would see the weights
        # of the first one (training stays flat). Clearing the cache per update fixes it.
        self.outer_autocast = torch.is_autocast_enabled(model_device(model).type)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self._graph: CompiledTrainStep | None = None
        self._optimizer_step: OptimizerStep | None = None
        if optimizer_ready(self.optimizer):
            self.optimizer.zero_grad(set_to_none=True)  # no stale gradients from before
        model.__dict__["_call_route"] = self.routed_call if self.precision.active else None
        pending = model.__dict__.pop("_pending_step_state", None)
        if pending:  # loaded by `load_model` before this step existed
            self.load_state_dict(pending)

    # ----------------------------------------------------------------- one batch
    def __call__(self, data: Any) -> Any:
        model = self.model
        if isinstance(data, StandIn):
            return self._empty_share(data.batch)
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        if self.jit:
            graph = self.graph()
            if graph is not None and graph.accepts(x):
                out = graph(x, y, sample_weight, self._loss_factor(batch_size_of(x)))
                if out is not None:  # the step ran as one graph
                    self._add_gradients(out)
                    self.samples += batch_size_of(x)
                    if self.accumulation == 1 or self._group_complete(batch_size_of(x)):
                        self.apply_gradients(compiled=True)
                    return model.get_metrics_result()
        # Eager: also the first step under jit_compile (it builds the loss and metrics) and
        # batches whose shapes differ from the compiled graph's (the last partial batch).
        y_pred = self.forward(x)
        loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
        n = batch_size_of(x)
        if optimizer_ready(self.optimizer):  # not built: nothing to train, report the loss
            self.backward(loss, n)
            self.samples += n
            if self.accumulation == 1 or self._group_complete(n):
                self.apply_gradients()
        with torch.no_grad():
            # float32 as under jit_compile (a float64 Mean does not update in a graph).
            model._loss_tracker.update_state(loss.detach().float(), sample_weight=n)
            return model.compute_metrics(x, y, y_pred, sample_weight)

    def _empty_share(self, stand_in: Any) -> Any:
        """A data-parallel step in which this rank has no samples (`StandIn`): nothing to
        compute, but the update (and its gradient all-reduce) runs with every rank. A
        sharded model runs the stand-in batch with a zero loss: its forward and backward
        passes are collectives."""
        if self.sharded:
            x, y, sample_weight = unpack_x_y_sample_weight(stand_in)
            loss = self.model.compute_loss(x, y, self.forward(x), sample_weight, training=True)
            if optimizer_ready(self.optimizer):
                (loss * 0.0).backward()
        if optimizer_ready(self.optimizer) and (
                self.accumulation == 1 or self._group_complete(0)):
            self.apply_gradients()
        return self.model.get_metrics_result()

    def backward(self, loss: torch.Tensor, n: int) -> None:
        """Gradients of `loss` (x n / n_1 when accumulating, x the loss scale under
        "16-mixed") added to the parameters' `.grad`."""
        if self.sharded:
            loss = loss * n  # FSDP sums over ranks; `apply_gradients` divides by the total
        elif self.accumulation > 1 and self.first_size and n != self.first_size:
            loss = loss * (n / self.first_size)
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()

    def _loss_factor(self, n: int) -> torch.Tensor | None:
        """What the compiled graph multiplies the loss by before differentiating."""
        factor: Any = None
        if self.accumulation > 1:  # always a tensor: no recompile for a partial batch
            factor = n / (self.first_size or n)
        if self.scaler is not None:
            scale = self.scaler._scale if self.scaler._scale is not None else None
            if scale is None:  # the scaler makes its scale tensor lazily
                self.scaler.scale(torch.zeros((), device=model_device(self.model)))
                scale = self.scaler._scale
            factor = scale if factor is None else scale * factor
        if factor is None:
            return None
        return torch.as_tensor(factor, dtype=torch.float32, device=model_device(self.model))

    def _add_gradients(self, grads: list[torch.Tensor]) -> None:
        graph = self._graph
        assert graph is not None
        for p, g in zip(graph.params, grads, strict=True):
            if p.grad is None:
                # The gradients of a CUDA graph live in its memory, reused next replay.
                p.grad = g.clone() if graph.cuda_graphs and self.accumulation > 1 else g
            else:
                p.grad.add_(g)

    def _group_complete(self, n: int) -> bool:
        """Count a micro-batch of `n` samples; True when its group is full."""
        if not self.first_size:
            self.first_size = n  # 0 for an empty data-parallel share: the next one sets it
        self.micro_batches += 1
        if n:
            self.weights += n / self.first_size
        return self.micro_batches == self.accumulation

    # --------------------------------------------------------------- the update
    def apply_gradients(self, compiled: bool = False) -> None:
        """The update from the gradients in `.grad`: average the accumulated group,
        unscale, `on_after_backward`, clip, step (skipped on overflow), zero_grad."""
        optimizer, scaler = self.optimizer, self.scaler
        if self.sharded:
            grads = [p.grad for p in self.trainable if p.grad is not None]
            total = self.parallel.sum_int(self.samples)  # a CPU collective: no device sync
            if grads and total:
                torch._foreach_div_(grads, float(total))
            self.micro_batches, self.first_size, self.weights = 0, 0, 0.0
        elif self.accumulation > 1:
            grads = [p.grad for p in self.trainable if p.grad is not None]
            if grads and self.weights:
                torch._foreach_div_(grads, self.weights)
            self.micro_batches, self.first_size, self.weights = 0, 0, 0.0
        if self.parallel is not None and not self.sharded:
            # The global-batch gradient: each rank's mean weighted by its sample count.
            self.parallel.all_reduce_gradients(self.trainable, self.samples)
            if "_fitorch_share" in optimizer.__dict__:  # a UserTrainStep's hook: skip it
                optimizer.__dict__["_fitorch_grads_reduced"] = True
        self.samples = 0
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.hook:
            self.model.on_after_backward()
        if self.clip is not None:
            clip_gradients([p.grad for p in self.trainable if p.grad is not None], **self.clip)
        if scaler is not None:
            scaler.step(optimizer)  # sync: reads whether a gradient overflowed
            scaler.update()
        elif compiled:
            if self._optimizer_step is None:
                self._optimizer_step = OptimizerStep(optimizer)
            self._optimizer_step()
        else:
            optimizer.step()
        if self.parallel is not None:  # a flag left by a step the scaler skipped
            optimizer.__dict__.pop("_fitorch_grads_reduced", None)
        optimizer.zero_grad(set_to_none=True)
        if self.outer_autocast:
            torch.clear_autocast_cache()
        if self.constrained:  # usually no constrained layer: skip the call
            self.model.apply_constraints()
            self.constrained = bool(self.model._constrained)

    def end_epoch(self) -> None:
        """Apply the last, partial group of micro-batches (epochs stay self-contained)."""
        if self.micro_batches:
            self.apply_gradients()

    # ------------------------------------------------------------ compiled half
    def graph(self) -> CompiledTrainStep | None:
        """With `jit_compile=True`: the step's forward, loss and backward as one graph
        (see `fitorch.compiled_step`). None until the first (eager) step has built the
        loss and metrics, and for models whose step cannot be traced as a whole."""
        if self._graph is not None:
            return self._graph
        model = self.model
        loss, metrics = model._compiled_loss, model._compiled_metrics
        if (loss is None or not loss.built or (metrics is not None and not metrics.built)
                or not optimizer_ready(self.optimizer)
                or model._overrides("compute_metrics")):
            return None
        self._graph = CompiledTrainStep(model, self)
        return self._graph

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The loss scaler and the gradients accumulated so far (exact resume)."""
        state: dict[str, Any] = {}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()  # sync: the scale as a float
        if self.micro_batches:
            state["accumulated"] = {
                "micro_batches": self.micro_batches, "first_size": self.first_size,
                "weights": self.weights, "samples": self.samples,
                "grads": {str(i): p.grad for i, p in enumerate(self.trainable)
                          if p.grad is not None}}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        accumulated = state.get("accumulated")
        if self.optimizer is not None and optimizer_ready(self.optimizer):
            self.optimizer.zero_grad(set_to_none=True)
        self.micro_batches, self.first_size, self.weights, self.samples = 0, 0, 0.0, 0
        if accumulated:
            self.micro_batches = int(accumulated["micro_batches"])
            self.first_size = int(accumulated["first_size"])
            self.weights = float(accumulated["weights"])
            self.samples = int(accumulated.get("samples", 0))
            for i, p in enumerate(self.trainable):
                grad = accumulated["grads"].get(str(i))
                p.grad = None if grad is None else grad.to(p.device, p.dtype).clone()


class UserTrainStep:
    """A subclass's own `train_step` in a data-parallel run.

    Every optimizer step it takes (through `self(x)`, a sub-model, a second optimizer,
    `optimizer.apply`) first replaces the gradients with the global-batch gradient:
    each rank's weighted by its batch size. On an empty share (`StandIn`) the step runs
    on a stand-in batch that weighs nothing, and its metric updates are undone.

    Example:
        >>> train = model.make_train_function()   # under torchrun, with train_step overridden
        >>> logs = train((xb, yb))
    """

    def __init__(self, model: Model, parallel: Any) -> None:
        self.model = model
        self.parallel = parallel
        self.count = 1
        if is_sharded(model):
            # FSDP2 reduces a user's gradients itself: the plain average over the ranks.
            average_sharded_gradients(model, parallel.world_size)
            return
        for optimizer in optimizers_of(model):
            if "_fitorch_share" not in optimizer.__dict__:
                optimizer.register_step_pre_hook(_reduce_before_step)
            optimizer.__dict__["_fitorch_share"] = self

    def __call__(self, data: Any) -> Any:
        model = self.model
        if isinstance(data, StandIn):
            saved = model._metric_states()
            self.count = 0
            try:
                return model.train_step(data.batch)
            finally:
                model._load_metric_states(saved)
                self.count = 1
        x, _, _ = unpack_x_y_sample_weight(data)
        self.count = batch_size_of(x)
        return model.train_step(data)


def follow_new_parameters(model: nn.Module, before: Mapping[str, torch.Tensor],
                          after: Mapping[str, torch.Tensor]) -> None:
    """Point every optimizer of `model` at the parameters that replaced `before` (FSDP2
    shards them into new parameters); a train step built before is rebuilt."""
    new = {id(p): after[name] for name, p in before.items() if name in after}
    for optimizer in optimizers_of(model):
        if optimizer.state:
            raise ValueError(
                "distribution='fsdp' shards the parameters when training starts, but the "
                f"optimizer {type(optimizer).__name__} already holds state for the unsharded "
                "ones. Compile with a fresh optimizer (or by name). Received: an optimizer "
                f"with state for {len(optimizer.state)} parameter(s)"
            )
        for group in optimizer.param_groups:
            group["params"] = [new.get(id(p), p) for p in group["params"]]
    model.__dict__["_train_step"] = None


def average_sharded_gradients(model: nn.Module, world_size: int) -> None:
    from torch.distributed.fsdp import FSDPModule

    for m in model.modules():
        if isinstance(m, FSDPModule):
            m.set_gradient_divide_factor(float(world_size))


def optimizers_of(model: nn.Module) -> list[torch.optim.Optimizer]:
    """`model.optimizer` and every other optimizer the model holds (a GAN's two)."""
    found = [v for v in vars(model).values() if isinstance(v, torch.optim.Optimizer)]
    opt = getattr(model, "optimizer", None)
    if isinstance(opt, torch.optim.Optimizer) and all(o is not opt for o in found):
        found.insert(0, opt)
    return found


def _reduce_before_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    if optimizer.__dict__.pop("_fitorch_grads_reduced", False):
        return  # the default step reduced these gradients already
    share = optimizer.__dict__.get("_fitorch_share")
    if share is None:
        return
    params = [p for group in optimizer.param_groups for p in group["params"]]
    share.parallel.all_reduce_gradients(params, share.count)


class TestStep(_Forward):
    """The default evaluation step (forward, loss, metrics; no gradients)."""

    def __init__(self, model: Model) -> None:
        super().__init__(model, training=False, compiled=model._jit_compile)

    def __call__(self, data: Any) -> Any:
        model = self.model
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self.forward(x)
        loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
        model._loss_tracker.update_state(loss.float(), sample_weight=batch_size_of(x))
        return model.compute_metrics(x, y, y_pred, sample_weight)


class PredictStep(_Forward):
    """The default prediction step: the model's outputs for a batch."""

    def __init__(self, model: Model) -> None:
        super().__init__(model, training=False, compiled=model._jit_compile)

    def __call__(self, data: Any) -> Any:
        x, _, _ = unpack_x_y_sample_weight(data)
        return self.forward(x)


def _step_key(model: Model) -> tuple[Any, ...]:
    """What a built TrainStep depends on: trainable parameters, device, dtype, optimizer,
    hooks (the call target)."""
    return (tuple(id(p) for p in model.parameters() if p.requires_grad), model_device(model),
            precision_module.floating_dtype(model), id(model.optimizer), _hooked(model))


def train_step_of(model: Model, check: bool = True) -> TrainStep:
    """The model's TrainStep, built (again) when missing or, with `check`, out of date."""
    train = model.__dict__.get("_train_step")
    if train is not None and (not check or train.key == _step_key(model)):
        return train
    if train is not None:
        train.end_epoch()
    if optimizer_ready(model.optimizer):
        # The trainable set changed (or is new): parameters unfrozen since compile() join
        # the optimizer now, so no fit trains a stale set.
        add_new_trainable(model.optimizer, [(n, p) for n, p in model.named_parameters()
                                            if p.requires_grad])
    train = TrainStep(model)
    model.__dict__["_train_step"] = train
    return train


def test_step_of(model: Model, fresh: bool = False) -> TestStep:
    test = model.__dict__.get("_test_step")
    if test is None or fresh:
        test = model.__dict__["_test_step"] = TestStep(model)
    return test


def predict_step_of(model: Model, fresh: bool = False) -> PredictStep:
    predict = model.__dict__.get("_predict_step")
    if predict is None or fresh:
        predict = model.__dict__["_predict_step"] = PredictStep(model)
    return predict


def prepare(model: Model) -> None:
    """Cast the model to its precision's dtype ("true" modes), before the optimizer
    exists (its state then has the parameters' dtype)."""
    dtype = precision_module.Precision(model._precision, model_device(model)).param_dtype
    if dtype is not None and precision_module.floating_dtype(model) != dtype:
        model.to(dtype)


def step_state(model: nn.Module) -> dict[str, Any]:
    """The train step's state for `save()` and `BackupAndRestore`: the loss scaler's
    and the gradients accumulated so far."""
    train = model.__dict__.get("_train_step")
    return train.state_dict() if train is not None else {}


def load_step_state(model: nn.Module, state: dict[str, Any]) -> None:
    """Restore `step_state()`, now or when the train step is built."""
    train = model.__dict__.get("_train_step")
    if train is not None:
        train.load_state_dict(state)
    else:
        model.__dict__["_pending_step_state"] = state


def updated_weights(model: nn.Module) -> bool:
    """Whether the last train step ended with an update (False between the micro-batches
    of an accumulation group): per-batch LR schedules advance per update."""
    train = model.__dict__.get("_train_step")
    return train is None or train.micro_batches == 0


def end_epoch(model: Model) -> None:
    """Apply a partial group of accumulated gradients at an epoch's end."""
    train = model.__dict__.get("_train_step")
    if train is not None and train.micro_batches:
        train.end_epoch()


__all__ = ["PredictStep", "TestStep", "TrainStep", "batch_size_of", "call_model", "end_epoch",
           "forward_takes_training", "load_step_state", "optimizer_ready", "predict_step_of",
           "prepare", "step_state", "test_step_of", "train_step_of", "updated_weights"]

"""`Model`: a `torch.nn.Module` with Keras's `compile` / `fit` / `evaluate` / `predict`.

This file holds the public methods and their argument checks; the loops live
in `trainer.py`, the steps (forward routing, precision, backward, the optimizer
update) in `step.py`, data handling in `data/`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from fitorch import checks, distributed, nest, step, trainer
from fitorch import distribution as distribution_module
from fitorch import metrics as metrics_module
from fitorch import optimizers as optimizers_module
from fitorch import precision as precision_module
from fitorch.callbacks.history import History
from fitorch.compile_config import CompiledLoss, CompiledMetrics, CompileMetrics
from fitorch.compiled_step import CompiledTrainStep, auto_jit
from fitorch.data import (
    get_adapter,
    is_batch_source,
    makes_own_batches,
    pack_x_y_sample_weight,
)
from fitorch.data.arrays import (
    check_text_inputs,
    class_weight_to_sample_weight,
    is_array_like,
    num_samples_of,
    split_validation,
    to_tensor_structure,
)
from fitorch.data.parallel import epoch_iterator, shard_of
from fitorch.device import model_device
from fitorch.layers.layer_api import LayerAPI, apply_trainable_attributes
from fitorch.logs import MetricResults, materialize
from fitorch.modes import ModuleModes, call_mode, eval_mode, example_run
from fitorch.optimizers.clipping import check_clip_args
from fitorch.prediction_buffer import concatenate_outputs

NOT_COMPILED = "You must compile your model before using it."
# Runtime objects rebuilt on use, never pickled (they hold closures and graphs).
_TRANSIENT = ("_train_step", "_test_step", "_predict_step", "_call_route", "_compiled_call",
              "_fit_state", "_results_view")


class _DefaultInt(int):
    """An int default that knows it was not passed: a `Sequence`'s own `workers` /
    `max_queue_size` apply unless fit/evaluate/predict are given values explicitly
    (SPEC.md), and `workers=1` typed by the user still counts as explicit."""

    __slots__ = ()


DEFAULT_WORKERS = _DefaultInt(1)
DEFAULT_QUEUE = _DefaultInt(10)


class Model(LayerAPI, nn.Module):
    """A torch module you can `compile()` and `fit()` the Keras way.

    Wrap any module, or subclass and write `forward()` as in PyTorch.

    Example:
        >>> model = Model(torch.nn.Sequential(torch.nn.Linear(4, 3)))
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
        ...               metrics=["accuracy"])
        >>> history = model.fit(x, y, epochs=2, validation_split=0.2)
        >>> probs = model.predict(x)
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # `Model(inputs, outputs)` with symbolic tensors is Keras's functional form; so is a
        # subclass called that way (Keras's "customizing fit" guide: `CustomModel(inputs,
        # outputs)` keeps the subclass's train_step and runs the graph).
        if args or kwargs:
            from fitorch.functional.functional_model import Functional, is_functional_call

            if is_functional_call(args, kwargs) and not issubclass(cls, Functional):
                return super().__new__(Functional if cls is Model else _functional_of(cls))
        return super().__new__(cls)

    def __init__(self, module: nn.Module | None = None, *args: Any, name: str | None = None,
                 output_names: Sequence[str] | None = None, **kwargs: Any) -> None:
        if args or kwargs:
            # `super().__init__(inputs, outputs)` in a subclass's own __init__ (Keras's
            # "subclass a functional model"): this instance becomes a functional model.
            from fitorch.functional.functional_model import init_as_functional

            init_as_functional(self, module, args, name, output_names, kwargs)
            return
        super().__init__()
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(
                "`Model(module)` wraps a torch.nn.Module. "
                f"Received: module={module!r} (of type {type(module).__name__})"
            )
        self.module = module
        self.name = name or type(self).__name__.lower()
        self.output_names = list(output_names) if output_names is not None else None
        self.stop_training = False
        self.history: History | None = None
        self.optimizer: Any = None
        self.compiled = False
        self._optimizer_spec: Any = None
        self._compiled_loss: CompiledLoss | None = None
        self._compiled_metrics: CompiledMetrics | None = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._steps_per_execution = 1
        self._jit_compile: bool = False
        self._jit_auto = False  # jit_compile="auto": decided per fit (compiled_step.auto_jit)
        self._results_view: MetricResults | None = None
        self._regularized: list[nn.Module] | None = None
        self._constrained: list[nn.Module] | None = None
        self._precision = "32"
        self._distribution: Any = distribution_module.DataParallel()
        self._gradient_accumulation_steps = 1
        self._clip_options: dict[str, float] | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.module is None:
            raise NotImplementedError(
                "A fitorch Model needs a forward pass: subclass `fitorch.Model` and define "
                "`forward()`, or wrap a module with `fitorch.Model(module)`."
            )
        if "training" in kwargs and not self._forward_takes_training:
            # Keras's `model(x, training=False)` on a module whose forward has no such
            # argument: this one call runs in that mode.
            training = kwargs.pop("training")
            if training is not None and bool(training) != self.training:
                with call_mode(self, bool(training)):
                    return self.module(*args, **kwargs)
        return self.module(*args, **kwargs)

    @property
    def _forward_takes_training(self) -> bool:
        """Whether the wrapped module's forward (this model's own, when nothing is wrapped)
        declares `training`; the rule is the step's (`step.forward_takes_training`)."""
        return step.forward_takes_training(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "training" in kwargs and type(self).forward is not Model.forward \
                and not _forward_accepts_training(type(self)):
            # Keras's `self(x, training=True)` on a subclass whose forward has no such
            # argument (Keras drops it when `call` does not take it): this one call runs in
            # that mode.
            training = kwargs.pop("training")
            if training is not None and bool(training) != self.training:
                with call_mode(self, bool(training)):
                    return self.__call__(*args, **kwargs)
        # While gradients are enabled (a user's `train_step` calling `self(x)`), the train
        # step routes the call: input casts and autocast of `compile(precision=...)`.
        route = self.__dict__.get("_call_route")
        if route is not None and torch.is_grad_enabled():
            return route(*args, **kwargs)
        return nn.Module.__call__(self, *args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (`torch.save(model)`, `copy.deepcopy`) keeps the model, its compile
        settings and its optimizer; the built steps and compiled graphs are rebuilt on
        next use."""
        state = dict(super().__getstate__())
        for key in _TRANSIENT:
            if key in state:
                state[key] = None
        return state

    def __setattr__(self, name: str, value: Any) -> None:
        # Metrics assigned as attributes are tracked, as Keras does.
        if isinstance(value, metrics_module.Metric) and not name.startswith("_"):
            tracked = self.__dict__.setdefault("_attribute_metrics", {})
            tracked[name] = value
            self.__dict__["_results_view"] = None
        super().__setattr__(name, value)

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
        *,
        precision: str | None = None,
        gradient_accumulation_steps: int | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        distribution: Any = None,
    ) -> None:
        """Configure the model for training.

        `jit_compile=True` compiles the whole train step (forward, loss, backward, metric
        updates; the optimizer's update right after it) into one `torch.compile` graph,
        numerically the eager step; `"auto"` does so only for fits that plan at least
        `fitorch.compiled_step.AUTO_MIN_STEPS` (50,000) steps, where the compile time
        (4-20 s on CPU) is repaid; `run_eagerly=True` forces eager. Evaluation and
        prediction run the compiled forward pass under `True`.
        `steps_per_execution=N` runs N steps between batch hooks (Keras).

        `precision`: `"32"`, `"bf16-mixed"`, `"16-mixed"`, `"bf16-true"` or `"64-true"`
        (see `fitorch.precision`; None: `fitorch.mixed_precision.global_policy()`).
        `gradient_accumulation_steps=N` applies one update per N batches, with the
        gradient of their sample-weighted mean loss (N batches of B equal one of N*B; an
        epoch's last partial group is applied at its end). `clipnorm` / `clipvalue` /
        `global_clipnorm` clip the gradients as Keras's optimizers do, for any optimizer.
        `distribution`: how the model is spread over the processes of a torchrun launch
        (see `fitorch.distribution`): replicated (default) or `"fsdp"` (sharded).

        Example:
            >>> model.compile(optimizer="adam", loss="mse", metrics=["mae"])
            >>> model.compile(optimizer=torch.optim.AdamW(model.parameters()), loss="mse",
            ...               precision="bf16-mixed", gradient_accumulation_steps=4,
            ...               global_clipnorm=1.0)
        """
        optimizer_spec = None if optimizer is None else optimizers_module.get(optimizer)
        checks.loss_weights(loss_weights)
        compiled_loss = (
            CompiledLoss(loss, loss_weights, self.output_names) if loss is not None else None
        )
        compiled_metrics = CompiledMetrics(metrics, weighted_metrics, self.output_names)
        spe = checks.positive_int_or_none("steps_per_execution", steps_per_execution)
        if jit_compile not in (True, False, "auto"):
            raise ValueError(
                "`jit_compile` must be True, False or 'auto'. "
                f"Received: jit_compile={jit_compile!r}"
            )
        precision = precision_module.resolve(precision)
        strategy = distribution_module.get(distribution)
        if isinstance(strategy, distribution_module.FullyShardedDataParallel) \
                and jit_compile is True:
            raise ValueError(
                "`jit_compile=True` compiles the train step as one graph, which FSDP2's "
                "sharded parameters cannot enter. Use jit_compile=False (or 'auto') with "
                "distribution='fsdp'. Received: jit_compile=True, distribution='fsdp'"
            )
        accumulation = _accumulation_steps(gradient_accumulation_steps, optimizer_spec)
        check_clip_args(clipnorm, clipvalue, global_clipnorm)
        clip = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                  ("global_clipnorm", global_clipnorm)) if v is not None}
        own_clip = {k: getattr(optimizer_spec, k) for k in ("clipnorm", "clipvalue",
                                                             "global_clipnorm")
                    if getattr(optimizer_spec, k, None) is not None}
        if clip and own_clip:
            own = ", ".join(f"{k}={v}" for k, v in own_clip.items())
            raise ValueError(
                "Gradient clipping is set twice: by `compile()` and by the optimizer "
                f"{type(optimizer_spec).__name__}({own}). Set it in one place. Received: "
                + ", ".join(f"{k}={v}" for k, v in clip.items())
            )
        self._precision = precision
        self._distribution = strategy
        self._gradient_accumulation_steps = accumulation
        self._clip_options = clip or None
        self._optimizer_spec = optimizer_spec
        # An optimizer object is `model.optimizer` at once (Keras code reads and sets its
        # learning rate right after compile); it gets the parameters when they exist.
        self.optimizer = optimizer_spec if isinstance(optimizer_spec, torch.optim.Optimizer) \
            else None
        if compiled_loss is not None:
            compiled_loss.on_build = self._apply_pending_metric_states
        self._compiled_loss = compiled_loss
        self._compiled_metrics = compiled_metrics
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._steps_per_execution = spe or 1
        # "auto" is decided per fit (compiled_step.auto_jit): compile only long runs.
        self._jit_compile = bool(jit_compile is True and not run_eagerly)
        self._jit_auto = jit_compile == "auto" and not run_eagerly and not isinstance(
            strategy, distribution_module.FullyShardedDataParallel)
        # Kept out of `_modules` (plain __dict__ entry): registering the compiled wrapper
        # as a submodule would make the model contain itself.
        self.__dict__["_compiled_call"] = None
        for key in ("_train_step", "_test_step", "_predict_step", "_call_route"):
            self.__dict__[key] = None
        self._results_view = None
        self.compiled = True
        if not self._needs_build():
            self._build_optimizer()

    # --------------------------------------------------------------- building
    def _device(self) -> torch.device:
        return model_device(self)

    def _parallel(self) -> Any:
        """The data-parallel context under torchrun (made at first use), else None."""
        if not distributed.launched():
            return None
        return distributed.context(self._device())

    def _needs_build(self) -> bool:
        return any(isinstance(p, nn.parameter.UninitializedParameter) for p in self.parameters())

    def _input_batch_size(self) -> int | None:
        """The static batch size from `Input(batch_size=N)`, if the model has one."""
        return None

    def _check_input_names(self, x: Any) -> None:
        """Inputs given by name (a dict) must be parameters of `forward`: fail before any step,
        naming the key and what `forward` takes (not torch's "unexpected keyword")."""
        if not isinstance(x, Mapping):
            return
        fn = self.module.forward if self.module is not None else self.forward
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        names = [n for n, p in params.items()
                 if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                               inspect.Parameter.KEYWORD_ONLY)]
        unknown = [k for k in x if k not in names]
        if unknown:
            owner = type(self.module if self.module is not None else self).__name__
            raise ValueError(
                f"The inputs are given by name, but {owner}.forward() has no parameter "
                f"{', '.join(repr(k) for k in unknown)}: it takes ({', '.join(names)}). Drop "
                "or rename those keys (e.g. in the DataLoader's collate_fn); a target under "
                "'y' or 'labels' and weights under 'sample_weight' are taken out of the "
                f"inputs by fit. Received: input keys {list(x)}"
            )

    def _build(self, x: Any) -> None:
        """Create lazily-sized parameters by one forward pass (inference mode, no RNG use)."""
        self._check_input_names(x)
        sample = nest.map_structure(lambda t: t[:2], to_tensor_structure(x, "x"))
        check_text_inputs(sample, self)
        # What summary() shows as the input when the model has no `Input`.
        self.__dict__["_build_input_spec"] = nest.map_structure(
            lambda t: ((None, *t.shape[1:]), t.dtype), sample)
        if self._needs_build():
            # Two samples are enough to size every layer; never move the whole dataset.
            with eval_mode(self), torch.no_grad(), example_run():
                step.call_model(self, _to_device(sample, self), False, compiled=False)

    def _share_across_ranks(self) -> None:
        """Under torchrun: every rank starts from rank 0's weights, and the model is
        spread as `compile(distribution=...)` says (once; again for new parameters)."""
        parallel = self._parallel()
        if parallel is None or distributed.is_sharded(self):
            return
        params = tuple(id(p) for p in self.parameters())
        if self.__dict__.get("_shared_weights") == params:
            return
        strategy = getattr(self, "_distribution", None) or distribution_module.DataParallel()
        before = dict(self.named_parameters())
        parallel.shard_model(self, strategy)
        if distributed.is_sharded(self):  # FSDP2 replaced the parameters
            step.follow_new_parameters(self, before, dict(self.named_parameters()))
        self.__dict__["_shared_weights"] = tuple(id(p) for p in self.parameters())

    def _build_optimizer(self) -> None:
        if self._optimizer_spec is not None and not (
                self.optimizer is not None and step.optimizer_ready(self.optimizer)):
            named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
            if not named:
                return  # nothing to train: the default step reports the loss only
            # fitorch's optimizers take names (for `exclude_from_weight_decay(var_names=...)`).
            params: list[Any] = (named if isinstance(self._optimizer_spec,
                                                     optimizers_module.KerasOptimizer)
                                 else [p for _, p in named])
            self.optimizer = optimizers_module.instantiate(self._optimizer_spec, params)

    def _prepare(self, x: Any, training: bool) -> None:
        """Everything that must exist before the first step: parameters and the optimizer."""
        if not self.compiled:
            raise RuntimeError(NOT_COMPILED)
        self._build(x)
        step.prepare(self)  # "true" precisions cast the model before the optimizer exists
        if training:
            apply_trainable_attributes(self)  # `module.trainable = False` on torch modules
        self._share_across_ranks()
        if training:
            self._build_optimizer()
            if self._optimizer_spec is None and not self._overrides("train_step"):
                raise ValueError(
                    "The model has no optimizer: compile it with one, e.g. "
                    "`model.compile(optimizer='adam', ...)`. Received: optimizer=None"
                )

    def _compiled_train_step(self) -> CompiledTrainStep | None:
        """With `jit_compile=True`: the train step's compiled graph (`TrainStep.graph`)."""
        train = self.__dict__.get("_train_step")
        if train is None or not (self._jit_compile or self.__dict__.get("_jit_auto_on")):
            return None
        return train.graph()

    def _overrides(self, method: str) -> bool:
        return getattr(type(self), method) is not getattr(Model, method)

    # ------------------------------------------------------------ step bodies
    def train_step(self, data: Any) -> Any:
        """One training step on a batch `data` = `x`, `(x, y)` or `(x, y, sample_weight)`.

        Override it for custom training (it must return a dict of metric values).

        Example:
            >>> class GAN(fitorch.Model):
            ...     def train_step(self, data):
            ...         ...  # two optimizers, two losses
            ...         return {"d_loss": d_loss, "g_loss": g_loss}
        """
        return step.train_step_of(self, check=False)(data)

    def test_step(self, data: Any) -> Any:
        """One evaluation step; returns a dict of metric values."""
        return step.test_step_of(self)(data)

    def predict_step(self, data: Any) -> Any:
        """One prediction step; returns the model's outputs for the batch."""
        return step.predict_step_of(self)(data)

    def on_after_backward(self) -> None:
        """Override to see or change the gradients before each optimizer update.

        Called by the default train step once per update, after the backward pass, with
        the final gradients in each parameter's `.grad`: accumulated over
        `gradient_accumulation_steps` and unscaled under "16-mixed", before `compile()`'s
        clipping and the optimizer step. Gradient inspection or a custom clipping rule
        then needs no `train_step` rewrite.

        Example:
            >>> class Logged(ft.Model):
            ...     def on_after_backward(self):
            ...         self.grad_norm = torch.nn.utils.get_total_norm(
            ...             [p.grad for p in self.parameters() if p.grad is not None])
        """

    def make_train_function(self) -> Callable[[Any], Any]:
        """The function `fit` runs per batch: the model's `TrainStep`, or `train_step`
        when a subclass overrides it."""
        train = step.train_step_of(self)
        train.jit = bool(self._jit_compile or self.__dict__.get("_jit_auto_on"))
        if not self._overrides("train_step"):
            return train
        parallel = self._parallel()
        return self.train_step if parallel is None else step.UserTrainStep(self, parallel)

    def make_test_function(self) -> Callable[[Any], Any]:
        test = step.test_step_of(self, fresh=True)
        return self.test_step if self._overrides("test_step") else test

    def make_predict_function(self) -> Callable[[Any], Any]:
        predict = step.predict_step_of(self, fresh=True)
        return self.predict_step if self._overrides("predict_step") else predict

    # ------------------------------------------------------------ loss & metrics
    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> torch.Tensor:
        """The total loss: the compiled loss(es) plus the layers' regularization losses."""
        del x, training
        if self._compiled_loss is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        if y is None:
            raise ValueError(
                "Target data is missing: the model was compiled with a loss, so it needs "
                "`y`. Received: y=None"
            )
        return self._with_regularization(self._compiled_loss(y, y_pred, sample_weight))

    def _with_regularization(self, loss: torch.Tensor) -> torch.Tensor:
        """`loss` plus the layers' regularization penalties (Keras adds them to the loss)."""
        # Most models have no regularizers: after the first step that costs one check.
        extra = self.losses if self._regularized is None or self._regularized else None
        if extra:
            loss = loss + torch.stack([t.sum() for t in extra]).sum()
        return loss

    def apply_constraints(self) -> None:
        """Project constrained weights (e.g. `Dense(kernel_constraint="non_neg")`) after a step."""
        if self._constrained is None:
            self._constrained = [m for m in self.modules() if m is not self and _has_constraint(m)]
        for m in self._constrained:
            m.apply_constraints()  # type: ignore[operator]

    @property
    def losses(self) -> list[torch.Tensor]:
        """Regularization penalties of the layers, added to the training loss as Keras does."""
        if self._regularized is None:
            self._regularized = [
                m for m in self.modules()
                if m is not self and callable(getattr(m, "regularization_losses", None))
                and _has_regularizer(m)
            ]
        out: list[torch.Tensor] = []
        for m in self._regularized:
            out.extend(m.regularization_losses())  # type: ignore[operator]
        return out

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
                        ) -> Mapping[str, Any]:
        """Update the compiled metrics with a batch; returns the (lazy) metric results."""
        del x
        cm = self._compiled_metrics
        if cm is not None and y is not None:
            if not cm.built:
                cm.build(y_pred, self._compiled_loss)
                self._results_view = None
                self._apply_pending_metric_states()
            cm.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    @property
    def metrics(self) -> list[Any]:
        """All metrics: the loss tracker, per-output losses, compiled metrics, attribute metrics."""
        out: list[Any] = []
        if self.compiled:
            out.append(self._loss_tracker)
            if self._compiled_loss is not None:
                out.extend(self._compiled_loss.trackers)
            cm = self._compiled_metrics
            if cm is not None and cm.requested:
                # Keras 3's `compile_metrics` container, from compile on: a custom
                # train_step that updates `self.metrics` builds and fills them as Keras does.
                out.append(CompileMetrics(self))
        out.extend(self.__dict__.get("_attribute_metrics", {}).values())
        return out

    @property
    def metrics_names(self) -> list[str]:
        """`["loss", <metric names>]` (tf_keras)."""
        return list(self._metric_getters())

    def _metric_getters(self) -> dict[str, Callable[[], Any]]:
        return {key: m.result for key, m in self._named_metrics().items()}

    def _named_metrics(self) -> dict[str, Any]:
        """The metrics by log key (compiled metrics carry their `<output>_` prefixes)."""
        named: dict[str, Any] = {}
        for m in self.metrics:
            if isinstance(m, CompileMetrics):
                named.update(m.named_metrics())
            else:
                named[m.name] = m
        return named

    def _metric_states(self) -> dict[str, Any]:
        """Every metric's state by log key (exact resume: the epoch's running sums)."""
        return {key: m.state_dict() for key, m in self._named_metrics().items()
                if callable(getattr(m, "state_dict", None))}

    def _load_metric_states(self, states: Mapping[str, Any]) -> None:
        """Restore `_metric_states()`; metrics created on the first batch get theirs then."""
        pending = dict(states)
        for key, m in self._named_metrics().items():
            if key in pending and callable(getattr(m, "load_state_dict", None)):
                m.load_state_dict(pending.pop(key))
        self.__dict__["_pending_metric_states"] = pending

    def _apply_pending_metric_states(self) -> None:
        pending = self.__dict__.get("_pending_metric_states")
        if pending:
            self._load_metric_states(pending)

    def get_metrics_result(self) -> Mapping[str, Any]:
        """The current metric values as a lazy mapping (name -> tensor on read)."""
        if self._overrides("metrics"):
            return MetricResults(self._metric_getters())
        if self._results_view is None:
            self._results_view = MetricResults(self._metric_getters())
        return self._results_view

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    # ---------------------------------------------------------------------- fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool | str = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | Collection[int] = 1,
        max_queue_size: int = DEFAULT_QUEUE,
        workers: int = DEFAULT_WORKERS,
        use_multiprocessing: bool = False,
    ) -> History:
        """Train the model for `epochs` epochs; returns the `History`.

        Example:
            >>> history = model.fit(x, y, batch_size=64, epochs=5, validation_split=0.1)
            >>> history.history["val_loss"]
        """
        if not self.compiled:
            raise RuntimeError(NOT_COMPILED)
        epochs = checks.non_negative_int("epochs", epochs)
        initial_epoch = checks.non_negative_int("initial_epoch", initial_epoch)
        verbose = checks.verbose(verbose)
        shuffle = checks.shuffle(shuffle)
        split = checks.validation_split(validation_split)
        freq = checks.validation_freq(validation_freq)
        steps_per_epoch = checks.positive_int_or_none("steps_per_epoch", steps_per_epoch)
        validation_steps = checks.positive_int_or_none("validation_steps", validation_steps)
        # Data that makes its own batches takes no batch size (an explicit one is an error in
        # get_adapter); the Input's static batch size applies to arrays and torch Datasets.
        batch_size = checks.resolve_batch_size(
            batch_size, None if makes_own_batches(x) else self._input_batch_size())
        class_weight = checks.class_weight(class_weight)
        loader = _worker_args(max_queue_size, workers, use_multiprocessing)
        parallel = self._parallel()
        shard = shard_of(parallel)

        val: tuple[Any, Any, Any] | None = None
        if validation_data is not None:
            # A generator, Sequence, torch Dataset or DataLoader is validation data on its own.
            val = ((validation_data, None, None) if is_batch_source(validation_data)
                   else checks.validation_data(validation_data))
        elif split > 0:
            if not all(is_array_like(a) for a in nest.flatten((x, y, sample_weight))
                       if a is not None):
                raise ValueError(
                    "`validation_split` is only supported for arrays (NumPy, torch, pandas), "
                    "which can be sliced. Pass `validation_data` instead. "
                    f"Received: x={nest.describe(x)}"
                )
            # Raw arrays: split_validation keeps on-disk arrays (memmap, HDF5) lazy.
            num_samples_of(x, y, sample_weight)
            (x, y, sample_weight), val = split_validation((x, y, sample_weight), split)

        if val is not None and makes_own_batches(val[0]):
            validation_batch_size = checks.positive_int_or_none(
                "validation_batch_size", validation_batch_size)
        else:
            validation_batch_size = checks.resolve_batch_size(
                validation_batch_size, self._input_batch_size(),
                "validation_batch_size") or batch_size
        adapter = get_adapter(x, y, sample_weight, batch_size=batch_size,
                              steps=steps_per_epoch, shuffle=shuffle, class_weight=class_weight,
                              shard=shard, **loader)
        val_adapter = None
        try:
            self._check_can_train(adapter.has_targets)
            if val is not None:
                val_adapter = get_adapter(val[0], val[1], val[2],
                                          batch_size=validation_batch_size,
                                          steps=validation_steps, shuffle=False, shard=shard,
                                          **loader)
            self._check_labels_once(adapter.targets(),
                                    val_adapter.targets() if val_adapter is not None else None)
            self._prepare(adapter.sample_x(), training=True)
            iterator = epoch_iterator(adapter, steps_per_epoch, self._device(), parallel)
            val_iterator = (epoch_iterator(val_adapter, validation_steps, self._device(),
                                           parallel) if val_adapter is not None else None)
            self.__dict__["_jit_auto_on"] = self._jit_auto and auto_jit(
                self, iterator.num_batches, epochs - initial_epoch)
            return trainer.run_fit(
                self, iterator, epochs=epochs, initial_epoch=initial_epoch, verbose=verbose,
                callbacks=callbacks, val_iterator=val_iterator, validation_freq=freq,
            )
        finally:
            # Workers (threads or processes) never outlive the call, whatever happened.
            adapter.close()
            if val_adapter is not None:
                val_adapter.close()

    def _check_labels_once(self, y: Any, val_y: Any = None) -> None:
        """Have the first step check all in-memory labels (training and validation)."""
        sources = [(what, labels) for what, labels in (("y", y), ("validation_data's y", val_y))
                   if labels is not None]
        if self._compiled_loss is not None and sources:
            self._compiled_loss.labels_to_check = sources

    def _check_can_train(self, has_targets: bool | None) -> None:
        """Fail before any step when the default training step cannot run."""
        if self._overrides("train_step"):
            return
        if self._compiled_loss is None and not self._overrides("compute_loss"):
            raise ValueError(
                "No loss to compute: the model was compiled without a loss. Provide a `loss` "
                "argument in `compile()`, e.g. `model.compile(optimizer='adam', loss='mse')`."
            )
        if has_targets is False and not self._overrides("compute_loss"):
            raise ValueError(
                "Target data is missing: the model was compiled with a loss, so `fit()` needs "
                "targets. Pass `y` (or `(x, y)` batches). Received: y=None"
            )

    # ------------------------------------------------------------------ evaluate
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        return_dict: bool = False,
        max_queue_size: int = DEFAULT_QUEUE,
        workers: int = DEFAULT_WORKERS,
        use_multiprocessing: bool = False,
    ) -> Any:
        """The loss and metrics on `x, y`: a float, a list in `metrics_names` order, or a dict.

        Example:
            >>> loss, acc = model.evaluate(x_test, y_test)
        """
        if not self.compiled:
            raise RuntimeError(NOT_COMPILED)
        verbose = checks.verbose(verbose)
        steps = checks.positive_int_or_none("steps", steps)
        batch_size = checks.resolve_batch_size(
            batch_size, None if makes_own_batches(x) else self._input_batch_size())
        loader = _worker_args(max_queue_size, workers, use_multiprocessing)
        if (not self._overrides("test_step") and self._compiled_loss is None
                and not self._overrides("compute_loss")):
            raise ValueError(
                "No loss to compute: the model was compiled without a loss. Provide a "
                "`loss` argument in `compile()`."
            )
        parallel = self._parallel()
        adapter = get_adapter(x, y, sample_weight, batch_size=batch_size, steps=steps,
                              shard=shard_of(parallel), **loader)
        try:
            self._check_labels_once(adapter.targets())
            self._prepare(adapter.sample_x(), training=False)
            iterator = epoch_iterator(adapter, steps, self._device(), parallel)
            cbs = trainer.make_callbacks(self, callbacks, verbose=verbose, epochs=1,
                                         steps=iterator.num_batches, add_history=False)
            logs = trainer.run_evaluate(self, iterator, cbs)
        finally:
            adapter.close()
        if return_dict:
            return logs
        return trainer.step_logs_to_list(logs, self.metrics_names)

    # ------------------------------------------------------------------- predict
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        max_queue_size: int = DEFAULT_QUEUE,
        workers: int = DEFAULT_WORKERS,
        use_multiprocessing: bool = False,
    ) -> Any:
        """The model's outputs for `x` as NumPy arrays (the output structure kept).

        Works before `compile()`, as in Keras.

        Example:
            >>> probs = model.predict(x_test, batch_size=256)
        """
        verbose = checks.verbose(verbose)
        steps = checks.positive_int_or_none("steps", steps)
        batch_size = checks.resolve_batch_size(
            batch_size, None if makes_own_batches(x) else self._input_batch_size())
        loader = _worker_args(max_queue_size, workers, use_multiprocessing)
        parallel = self._parallel()
        adapter = get_adapter(x, batch_size=batch_size, steps=steps, shard=shard_of(parallel),
                              **loader)
        try:
            self._build(adapter.sample_x())
            self._share_across_ranks()
            iterator = epoch_iterator(adapter, steps, self._device(), parallel)
            cbs = trainer.make_callbacks(self, callbacks, verbose=verbose, epochs=1,
                                         steps=iterator.num_batches, add_history=False)
            return trainer.run_predict(self, iterator, cbs)
        finally:
            adapter.close()

    # ----------------------------------------------------------------- on_batch
    def _batch_data(self, x: Any, y: Any, sample_weight: Any, class_weight: Any = None) -> Any:
        x, y, sample_weight = (to_tensor_structure(x, "x"), to_tensor_structure(y, "y"),
                               to_tensor_structure(sample_weight, "sample_weight"))
        num_samples_of(x, y, sample_weight)
        if class_weight is not None:
            class_weight = checks.class_weight(class_weight)
            if sample_weight is not None:
                raise ValueError(
                    "`class_weight` and `sample_weight` cannot be given together. "
                    f"Received: class_weight={class_weight} and a sample_weight array."
                )
            if y is None or nest.is_nested(y):
                raise ValueError(
                    "`class_weight` needs a single target array `y`. "
                    f"Received: y={nest.describe(y)}"
                )
            sample_weight = class_weight_to_sample_weight(y, class_weight)
        return _to_device(pack_x_y_sample_weight(x, y, sample_weight), self)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Mapping[int, float] | None = None,
                       reset_metrics: bool = True, return_dict: bool = False) -> Any:
        """One gradient update on one batch; returns the loss and metrics for it.

        With `reset_metrics=True` the values are for this batch alone; with False they
        accumulate over consecutive calls (tf_keras).

        Example:
            >>> loss, acc = model.train_on_batch(xb, yb)
        """
        if not self.compiled:
            raise RuntimeError(NOT_COMPILED)
        data = self._batch_data(x, y, sample_weight, class_weight)
        self._prepare(data if not isinstance(data, tuple) else data[0], training=True)
        if reset_metrics:
            self.reset_metrics()
        modes = ModuleModes(self)  # frozen (eval-mode) submodules stay frozen
        modes.train()
        try:
            logs = materialize(self.make_train_function()(data))  # sync: the caller gets floats
        finally:
            modes.restore()
        return logs if return_dict else trainer.step_logs_to_list(logs, self.metrics_names)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      reset_metrics: bool = True, return_dict: bool = False) -> Any:
        """The loss and metrics on one batch, without updating the weights.

        Example:
            >>> loss, acc = model.test_on_batch(xb, yb)
        """
        if not self.compiled:
            raise RuntimeError(NOT_COMPILED)
        data = self._batch_data(x, y, sample_weight)
        self._prepare(data if not isinstance(data, tuple) else data[0], training=False)
        if reset_metrics:
            self.reset_metrics()
        with eval_mode(self), torch.no_grad():
            logs = materialize(self.test_step(data))
        return logs if return_dict else trainer.step_logs_to_list(logs, self.metrics_names)

    def predict_on_batch(self, x: Any) -> Any:
        """The model's outputs for one batch, as NumPy.

        Example:
            >>> probs = model.predict_on_batch(xb)
        """
        data = self._batch_data(x, None, None)
        self._build(data if not isinstance(data, tuple) else data[0])
        with eval_mode(self), torch.inference_mode():
            out = self.predict_step(data)
        return concatenate_outputs([out])

    # ------------------------------------------------------- Keras 2 aliases
    def fit_generator(
        self,
        generator: Any,
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        verbose: int | str = 1,
        callbacks: Sequence[Any] | None = None,
        validation_data: Any = None,
        validation_steps: int | None = None,
        validation_freq: int | Collection[int] = 1,
        class_weight: Mapping[int, float] | None = None,
        max_queue_size: int = DEFAULT_QUEUE,
        workers: int = DEFAULT_WORKERS,
        use_multiprocessing: bool = False,
        shuffle: bool = True,
        initial_epoch: int = 0,
    ) -> History:
        """Deprecated Keras 2 spelling of `fit(generator, ...)`; same results.

        Example:
            >>> model.fit_generator(batches(), steps_per_epoch=100, epochs=5)
        """
        _deprecated("fit_generator", "fit")
        return self.fit(
            generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
            callbacks=callbacks, validation_data=validation_data,
            validation_steps=validation_steps, validation_freq=validation_freq,
            class_weight=class_weight, max_queue_size=max_queue_size, workers=workers,
            use_multiprocessing=use_multiprocessing, shuffle=shuffle,
            initial_epoch=initial_epoch,
        )

    def evaluate_generator(
        self,
        generator: Any,
        steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        max_queue_size: int = DEFAULT_QUEUE,
        workers: int = DEFAULT_WORKERS,
        use_multiprocessing: bool = False,
        verbose: int | str = 0,
    ) -> Any:
        """Deprecated Keras 2 spelling of `evaluate(generator, ...)`."""
        _deprecated("evaluate_generator", "evaluate")
        return self.evaluate(
            generator, steps=steps, callbacks=callbacks, max_queue_size=max_queue_size,
            workers=workers, use_multiprocessing=use_multiprocessing, verbose=verbose,
        )

    def predict_generator(
        self,
        generator: Any,
        steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        max_queue_size: int = DEFAULT_QUEUE,
        workers: int = DEFAULT_WORKERS,
        use_multiprocessing: bool = False,
        verbose: int | str = 0,
    ) -> Any:
        """Deprecated Keras 2 spelling of `predict(generator, ...)`."""
        _deprecated("predict_generator", "predict")
        return self.predict(
            generator, steps=steps, callbacks=callbacks, max_queue_size=max_queue_size,
            workers=workers, use_multiprocessing=use_multiprocessing, verbose=verbose,
        )

    # ------------------------------------------------------------------ weights
    # ------------------------------------------------------------- layers
    @property
    def layers(self) -> list[nn.Module]:
        """The model's layers, as in Keras: a Sequential's stack, a wrapped module's
        children (or the module itself), a subclass's direct children."""
        from fitorch.summary import top_level_layers

        return [module for _, module in top_level_layers(self)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> nn.Module:
        """A layer by its name (its `name`, or its attribute name for a torch module) or by
        its index in `model.layers` (Keras).

        Example:
            >>> model.get_layer("dense_1").trainable = False
        """
        from fitorch.summary import top_level_layers

        if (name is None) == (index is None):
            raise ValueError(
                "Provide exactly one of `name` or `index` to `get_layer()`. "
                f"Received: name={name!r}, index={index!r}"
            )
        layers = top_level_layers(self)
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) \
                    or not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but the model only has "
                    f"{len(layers)} layers. Received: index={index!r}"
                )
            return layers[index][1]
        for layer_name, module in layers:
            if layer_name == name:
                return module
        raise ValueError(
            f"No such layer: {name}. Existing layers are: {[n for n, _ in layers]}. "
            f"Received: name={name!r}"
        )

    # ------------------------------------------------------- summary & saving
    def build(self, input_shape: Any, dtype: torch.dtype | str | None = None) -> None:
        """Create every lazily-sized weight from an input shape, as Keras's `model.build`.

        `input_shape` includes the batch axis (`None` allowed): `(None, 784)`, or a
        list / dict of shapes for several inputs. `summary()` then shows output shapes.

        Example:
            >>> model = ft.Model(torch.nn.Sequential(ft.layers.Dense(8), ft.layers.Dense(1)))
            >>> model.build((None, 4))
            >>> model.summary()
        """
        from fitorch.layers.input_layer import _dtype
        from fitorch.summary import _zeros_like_spec

        def spec(shape: Any) -> Any:
            if isinstance(shape, dict):
                return {k: spec(v) for k, v in shape.items()}
            if isinstance(shape, (list, tuple)) and shape and all(
                    isinstance(s, (list, tuple, dict)) for s in shape):
                return [spec(s) for s in shape]
            if not isinstance(shape, (list, tuple)) or not shape or not all(
                    d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                    for d in shape):
                raise ValueError(
                    "`input_shape` must be a tuple of positive ints (None for unknown sizes, "
                    "the batch axis first), or a list/dict of them. "
                    f"Received: input_shape={input_shape!r} (of type {type(input_shape).__name__})"
                )
            return (tuple(shape), _dtype(dtype))

        input_spec = spec(input_shape)
        sample = nest.map_structure(lambda t: t.to(self._device()), _zeros_like_spec(input_spec))
        with eval_mode(self), torch.no_grad(), example_run():
            step.call_model(self, sample, False, compiled=False)
        self._build_input_spec = input_spec
        if self.compiled:
            self._build_optimizer()

    def summary(self, line_length: int | None = None, positions: Sequence[float] | None = None,
                print_fn: Callable[..., Any] | None = None, expand_nested: bool = False,
                show_trainable: bool = False) -> None:
        """Print Keras 3's summary table: layers, output shapes, parameter counts, totals.

        Output shapes come from the `Input` (or `build()`), "?" before they are known.
        `print_fn` receives the whole text at once, as in Keras 3.

        Example:
            >>> model.summary()
            >>> model.summary(print_fn=lambda text: log.info(text), show_trainable=True)
        """
        from fitorch.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable)

    def save(self, filepath: Any, overwrite: bool = True) -> None:
        """Save the model; the suffix picks the format (atomic write, no pickle).

        `.fitorch` (or any other suffix): architecture (Sequential of fitorch layers),
        weights, `compile()` arguments and optimizer state, for `ft.load_model`.
        `.safetensors`, `.weights.h5`, `.h5`, `.pt`: the weights only.

        Example:
            >>> model.save("model.fitorch")
            >>> restored = ft.load_model("model.fitorch")
        """
        from fitorch.saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath: Any, overwrite: bool = True,
                     data_format: str = "channels_last") -> None:
        """Save the weights: `.safetensors`, `.weights.h5` / `.h5` (Keras's HDF5 layouts,
        readable by `keras.Model.load_weights`), `.pt`, or any other suffix (fitorch file).

        `data_format` (Keras files only): the order of the reading Keras model's Flatten
        output (see `load_weights`); a Dense after a Flatten gets its kernel rows in it.

        Example:
            >>> model.save_weights("model.weights.h5")
        """
        from fitorch.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite, data_format=data_format)

    def load_weights(self, filepath: Any, data_format: str | None = None) -> None:
        """Load weights saved by fitorch, by Keras (`.weights.h5`, `.h5`) or torch (`.pt`).

        Every shape is checked before anything is assigned: a file that does not fit
        leaves the model unchanged. Torch files load with `weights_only=True`. For Keras
        files, the kernel of a Dense after a Flatten is permuted into fitorch's
        channels-first order, so predictions match Keras's: `data_format` is the order of
        the Keras Flatten's output, `"channels_last"` (height-width-channel: Keras 3's Flatten
        emits it for every input layout) or `"channels_first"` (a Keras model with
        channels-first convolutions and its Flatten left at "channels_last"); None reads it
        from the model config in `.keras` and full-model `.h5` files, else "channels_last".

        Example:
            >>> model.load_weights("keras_model.weights.h5")
        """
        from fitorch.saving import load_weights

        load_weights(self, filepath, data_format=data_format)

    def get_compile_config(self) -> dict[str, Any] | None:
        """The `compile()` arguments as JSON data (None before `compile`), as Keras 3.

        Example:
            >>> other.compile_from_config(model.get_compile_config())
        """
        from fitorch.saving.serialization import compile_config

        return compile_config(self)

    def compile_from_config(self, config: Mapping[str, Any]) -> None:
        """Compile with the arguments recorded by `get_compile_config()` (Keras 3).

        Example:
            >>> clone.compile_from_config(model.get_compile_config())
        """
        from fitorch.saving.serialization import compile_kwargs

        if not isinstance(config, Mapping):
            raise TypeError(
                "`config` must be the dict returned by `get_compile_config()`. "
                f"Received: config={config!r} (of type {type(config).__name__})"
            )
        self.compile(**compile_kwargs(config, self))


_ACCEPTS_TRAINING: dict[type, bool] = {}


def _forward_accepts_training(cls: type) -> bool:
    """Whether `cls.forward` takes a `training` argument (by name or through **kwargs)."""
    known = _ACCEPTS_TRAINING.get(cls)
    if known is None:
        try:
            params = inspect.signature(cls.forward).parameters  # type: ignore[attr-defined]
            known = "training" in params or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        except (TypeError, ValueError):
            known = True
        _ACCEPTS_TRAINING[cls] = known
    return known


_FUNCTIONAL_SUBCLASSES: dict[type, type] = {}


def _functional_of(cls: type) -> type:
    """`cls` (a Model subclass) mixed with `Functional`, made once per class."""
    from fitorch.functional.functional_model import Functional

    made = _FUNCTIONAL_SUBCLASSES.get(cls)
    if made is None:
        made = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__,
                                                      "__qualname__": cls.__qualname__})
        _FUNCTIONAL_SUBCLASSES[cls] = made
    return made


def _accumulation_steps(value: Any, optimizer: Any) -> int:
    """`compile(gradient_accumulation_steps=)` or the optimizer's own (Keras's argument)."""
    own = getattr(optimizer, "gradient_accumulation_steps", None)
    for name, n in (("gradient_accumulation_steps", value),
                    ("optimizer.gradient_accumulation_steps", own)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(
                f"`{name}` must be an int >= 1. Received: {name}={n!r} (of type "
                f"{type(n).__name__})"
            )
    if value is not None and own is not None and value != own:
        raise ValueError(
            "Gradient accumulation is set twice with different values: "
            f"compile(gradient_accumulation_steps={value}) and the optimizer "
            f"{type(optimizer).__name__}(gradient_accumulation_steps={own}). Set it in one "
            f"place. Received: gradient_accumulation_steps={value!r} (of type int)"
        )
    return value if value is not None else (own or 1)


def _has_constraint(module: nn.Module) -> bool:
    # Any `<weight>_constraint` attribute: kernel_, bias_, gamma_, embeddings_, recurrent_...
    return callable(getattr(module, "apply_constraints", None)) and any(
        name.endswith("_constraint") and value is not None
        for name, value in vars(module).items()
    )


def _has_regularizer(module: nn.Module) -> bool:
    return any(
        name.endswith("_regularizer") and value is not None
        for name, value in vars(module).items()
    )


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"`Model.{old}` is deprecated: use `Model.{new}`, which accepts generators and "
        "Sequences directly.", DeprecationWarning, stacklevel=3,
    )


def _to_device(data: Any, model: nn.Module) -> Any:
    device = model_device(model)
    if device.type == "cpu":
        return data
    return nest.map_structure(
        lambda t: t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t, data)


def _worker_args(max_queue_size: Any, workers: Any, use_multiprocessing: Any
                 ) -> dict[str, Any]:
    """Checked loader arguments for `get_adapter` (tf_keras's fit/evaluate/predict options).

    Values left at their defaults become None ("not given"), so a `Sequence`'s own
    settings apply; `use_multiprocessing=False` cannot be told from the default and
    counts as not given.
    """
    explicit_workers = not isinstance(workers, _DefaultInt)
    explicit_queue = not isinstance(max_queue_size, _DefaultInt)
    max_queue_size = checks.positive_int_or_none("max_queue_size", max_queue_size)
    workers = checks.positive_int_or_none("workers", workers)
    if not isinstance(use_multiprocessing, bool):
        raise ValueError(
            "`use_multiprocessing` must be True or False. "
            f"Received: use_multiprocessing={use_multiprocessing!r}"
        )
    return {"workers": workers if explicit_workers else None,
            "use_multiprocessing": use_multiprocessing or None,
            "max_queue_size": max_queue_size if explicit_queue else None}

"""What `compile()` was given, resolved once: the optimizer, the loss and the metrics.

`CompiledLoss` and `CompiledMetrics` line up the user's loss / metric specs
with the model's outputs (one tensor, a list/tuple, or a dict) on the first
batch, when the outputs are first seen. Single-output models take a short path
with no structure walking per step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from fitorch import checks, nest
from fitorch import losses as losses_module
from fitorch import metrics as metrics_module
from fitorch.losses.crossentropy import warn_if_logits


def output_names_of(y_pred: Any, user_names: Sequence[str] | None) -> list[str] | None:
    """Names of the model's outputs: dict keys (sorted, as Keras 3), `output_names`, or output_N."""
    if isinstance(y_pred, Mapping):
        return sorted(y_pred)
    if isinstance(y_pred, (list, tuple)):
        if user_names is not None:
            if len(user_names) != len(y_pred):
                raise ValueError(
                    f"The model returned {len(y_pred)} outputs but `output_names` has "
                    f"{len(user_names)} names. Received: output_names={list(user_names)}"
                )
            return list(user_names)
        return [f"output_{i + 1}" for i in range(len(y_pred))]
    return None


def flat_outputs(y_pred: Any, names: list[str] | None) -> list[Any]:
    if names is None:
        return [y_pred]
    if isinstance(y_pred, Mapping):
        return [y_pred[n] for n in names]
    return list(y_pred)


def align(value: Any, names: list[str] | None, what: str, y_pred: Any,
          single_index: int | None = None) -> list[Any]:
    """Line `value` (targets or sample weights) up with the flat outputs.

    `single_index`: the one output that has a loss, when only one has; a single array
    `value` then belongs to it (`loss=[nn.CrossEntropyLoss(), None]` with `y=labels`).
    """
    if names is None:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return [value[0]]
        if nest.is_nested(value):
            raise ValueError(
                f"The model has a single output but `{what}` is a structure of "
                f"{len(nest.flatten(value))} arrays. Received: {what}={nest.describe(value)}"
            )
        return [value]
    if value is None:
        return [None] * len(names)
    if isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(
                f"`{what}` has keys {sorted(unknown)} that are not outputs of the model. "
                f"Expected keys among the output names {names}."
            )
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"The model has {len(names)} outputs ({names}) but `{what}` holds "
                f"{len(value)} items. Received: {what}={nest.describe(value)}, "
                f"model outputs={nest.describe(y_pred)}"
            )
        return list(value)
    if what == "sample_weight":
        return [value] * len(names)  # one weight array shared by every output (Keras)
    if single_index is not None:
        return [value if i == single_index else None for i in range(len(names))]
    raise ValueError(
        f"The model has {len(names)} outputs ({names}) but `{what}` is a single array. "
        f"Pass a list or a dict with one entry per output. Received: {what}={nest.describe(value)}"
    )


def _per_output(spec: Any, names: list[str] | None, what: str) -> list[Any]:
    """A loss / loss-weight spec as one entry per output (None where an output has none)."""
    if names is None:
        if isinstance(spec, (list, tuple)) and len(spec) == 1:
            return [spec[0]]
        if isinstance(spec, Mapping) and len(spec) == 1:
            return list(spec.values())
        return [spec]
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(
                f"`{what}` has keys {sorted(unknown)} that are not outputs of the model. "
                f"Expected keys among {names}. Received: {what}={spec!r}"
            )
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(
                f"`{what}` must have one entry per output: the model has {len(names)} outputs "
                f"({names}) but {len(spec)} were given. Received: {what}={spec!r}"
            )
        return list(spec)
    return [spec] * len(names)  # one loss (or weight) for every output, as Keras 3


class CompiledLoss:
    """The compiled loss: per-output losses, `loss_weights`, and per-output loss trackers."""

    def __init__(self, loss: Any, loss_weights: Any, output_names: Sequence[str] | None) -> None:
        self._user_loss = loss
        self._user_weights = loss_weights
        self._user_names = output_names
        self.built = False
        self.single_index: int | None = None
        self.trackers: list[metrics_module.Mean] = []
        self.losses: list[Any] = []
        # All the labels of the data about to be used (training and validation, as
        # (name, y) pairs), checked once against the number of classes on the first batch
        # (so a bad label in the last batch fails before step 1).
        self.labels_to_check: list[tuple[str, Any]] | None = None
        self.on_build: Callable[[], None] | None = None
        # Validate the specs now so a bad loss fails in compile(), not on the first batch.
        for spec in nest.flatten(loss):
            if spec is not None and not _is_crossentropy_alias(spec):
                losses_module.get(spec)

    def build(self, y_true: Any, y_pred: Any) -> None:
        self.names = output_names_of(y_pred, self._user_names)
        specs = _per_output(self._user_loss, self.names, "loss")
        with_loss = [i for i, spec in enumerate(specs) if spec is not None]
        self.single_index = with_loss[0] if len(with_loss) == 1 and self.names else None
        y_trues = align(y_true, self.names, "y", y_pred, self.single_index)
        y_preds = flat_outputs(y_pred, self.names)
        self.losses = [
            None if s is None else _resolve_loss(s, yt, yp)
            for s, yt, yp in zip(specs, y_trues, y_preds)
        ]
        weights = (_per_output(self._user_weights, self.names, "loss_weights")
                   if self._user_weights is not None else [None] * len(self.losses))
        self.weights = [None if w is None else float(w) for w in weights]
        for fn, yp in zip(self.losses, y_preds):
            warn_if_logits(fn, yp)
        if all(fn is None for fn in self.losses):
            raise ValueError(
                "`loss` gives no loss for any output of the model. "
                f"Received: loss={self._user_loss!r}"
            )
        active = [i for i, fn in enumerate(self.losses) if fn is not None]
        if len(active) > 1:
            assert self.names is not None
            self.trackers = [metrics_module.Mean(name=f"{self.names[i]}_loss") for i in active]
        self._active = active
        self._single = self.names is None
        self.built = True
        if self.on_build is not None:
            self.on_build()  # e.g. restore the per-output loss trackers of a resumed run

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        if self.built and self._single:  # the common case, on every step: no tracker
            return self._single_loss(y_true, y_pred, sample_weight)
        total, values, batch = self.compute(y_true, y_pred, sample_weight)
        self.track(values, batch)
        return total

    def track(self, values: Sequence[torch.Tensor], batch: int) -> None:
        """Update the per-output loss trackers with `compute`'s per-output values (Keras
        tracks them when several outputs have a loss)."""
        if not self.trackers:
            return
        for tracker, value in zip(self.trackers, values, strict=True):
            tracker.update_state(value.detach(), sample_weight=batch)

    def compute(self, y_true: Any, y_pred: Any, sample_weight: Any = None
                ) -> tuple[torch.Tensor, list[torch.Tensor], int]:
        """The total loss, the per-output losses (for the trackers) and the batch size.

        Nothing is updated: a compiled step runs this inside a gradient transform and
        updates the trackers afterwards (`track`).
        """
        if not self.built:
            self.build(y_true, y_pred)
        if self._single:
            return self._single_loss(y_true, y_pred, sample_weight), [], 0
        if self.labels_to_check is not None:
            self._check_labels(y_pred)
        names = self.names
        y_preds = flat_outputs(y_pred, names)
        y_trues = align(y_true, names, "y", y_pred, self.single_index)
        sws = align(sample_weight, names, "sample_weight", y_pred)
        total: torch.Tensor | None = None
        batch = nest.flatten(y_preds[self._active[0]])[0].shape[0]
        values = []
        for i in self._active:
            if y_trues[i] is None:
                raise ValueError(
                    f"Output {names[i]!r} has a loss but no target was given for it. "  # type: ignore[index]
                    f"Received: y={nest.describe(y_true)}"
                )
            value = self.losses[i](y_trues[i], y_preds[i], sws[i])
            values.append(value)
            if self.weights[i] is not None:
                value = value * self.weights[i]
            total = value if total is None else total + value
        assert total is not None
        return total, values, batch

    def _single_loss(self, y_true: Any, y_pred: Any, sample_weight: Any) -> torch.Tensor:
        fn, w = self.losses[0], self.weights[0]
        if type(y_true) is not torch.Tensor and isinstance(y_true, (list, tuple)) \
                and len(y_true) == 1:
            y_true = y_true[0]
        if self.labels_to_check is not None:
            self._check_labels(y_pred)
        if isinstance(sample_weight, (list, tuple)) and len(sample_weight) == 1:
            sample_weight = sample_weight[0]
        value = fn(y_true, y_pred, sample_weight)
        return value if w is None else value * w

    def _check_labels(self, y_pred: Any) -> None:
        """Check every label source (training and validation `y`) against this batch's
        `y_pred`, for every output whose loss takes class indices (`checks.class_labels`)."""
        sources, self.labels_to_check = self.labels_to_check, None
        for what, labels in sources or ():
            if self._single:
                if isinstance(labels, (list, tuple)) and len(labels) == 1:
                    labels = labels[0]
                pairs = [(self.losses[0], labels, y_pred)]
            else:
                pairs = list(zip(self.losses, align(labels, self.names, "y", y_pred,
                                                    self.single_index),
                                 flat_outputs(y_pred, self.names)))
            for fn, yt, yp in pairs:
                if fn is not None:
                    checks.class_labels(fn, yt, yp, what)

    def loss_for(self, index: int) -> Any:
        return self.losses[index] if self.losses else None


class CompiledMetrics:
    """`metrics` and `weighted_metrics` as named metric objects, one set per output."""

    def __init__(self, metrics: Any, weighted_metrics: Any,
                 output_names: Sequence[str] | None) -> None:
        for arg, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ValueError(
                    f"`{arg}` must be a list, tuple or dict of metrics. "
                    f"Received: {arg}={value!r} (of type {type(value).__name__})"
                )
            # Validate names now (accuracy is resolved later, from the loss and shapes).
            for spec in nest.flatten(value):
                if spec is not None and not _is_accuracy(spec):
                    metrics_module.get(spec)
        self._user_metrics = metrics
        self._user_weighted = weighted_metrics
        self._user_names = output_names
        self.built = False
        self.unweighted: list[list[Any]] = []
        self.weighted: list[list[Any]] = []
        self.empty = True  # no metric to update (known once built)
        self.requested = bool(nest.flatten(metrics)) or bool(nest.flatten(weighted_metrics))

    def build(self, y_pred: Any, compiled_loss: CompiledLoss | None) -> None:
        self.names = output_names_of(y_pred, self._user_names)
        self._single_index = getattr(compiled_loss, "single_index", None)
        n = 1 if self.names is None else len(self.names)
        self.unweighted = self._resolve(self._user_metrics, n, compiled_loss)
        self.weighted = self._resolve(self._user_weighted, n, compiled_loss)
        self.empty = not any(self.unweighted) and not any(self.weighted)
        # Per output, the metrics a compiled step updates in its graph (True) or after it.
        self._by_traceable = {
            flag: tuple([[m for m in ms if bool(getattr(m, "traceable", False)) == flag]
                         for ms in lists] for lists in (self.unweighted, self.weighted))
            for flag in (True, False)
        }
        self._name_metrics()
        self.built = True

    def _resolve(self, spec: Any, n: int, compiled_loss: CompiledLoss | None) -> list[list[Any]]:
        if not spec:
            return [[] for _ in range(n)]
        if n == 1:
            per_output = [nest.flatten(spec)]
        elif isinstance(spec, Mapping):
            per_output = [_as_list(v) for v in _per_output(spec, self.names, "metrics")]
        elif len(spec) == n and all(s is None or isinstance(s, (list, tuple)) for s in spec):
            per_output = [_as_list(s) for s in spec]  # one list per output (Keras 3)
        else:
            # A flat list applies to every output; metric objects are copied per output so
            # that each keeps its own state.
            per_output = [list(spec)] + [[copy.deepcopy(s) for s in spec] for _ in range(n - 1)]
        return [
            [self._make(s, compiled_loss.loss_for(i) if compiled_loss else None) for s in specs]
            for i, specs in enumerate(per_output)
        ]

    @staticmethod
    def _make(spec: Any, loss: Any) -> Any:
        # The loss is a hint for "accuracy" (binary / categorical / sparse), as Keras.
        return metrics_module.get(spec, loss=loss)

    def _name_metrics(self) -> None:
        """Keras 3 names: `<output>_<metric>` for several outputs; `weighted_`/`_N` on clashes."""
        seen: dict[str, int] = {}
        self.entries: list[tuple[str, Any, int, bool]] = []  # (log key, metric, output, weighted)
        for weighted, groups in ((False, self.unweighted), (True, self.weighted)):
            for i, group in enumerate(groups):
                prefix = "" if self.names is None else f"{self.names[i]}_"
                for m in group:
                    key = prefix + m.name
                    if key in seen:
                        if weighted and prefix + "weighted_" + m.name not in seen:
                            key = prefix + "weighted_" + m.name
                        else:
                            seen[key] += 1
                            key = f"{key}_{seen[key] - 1}"
                    seen.setdefault(key, 1)
                    self.entries.append((key, m, i, weighted))

    @property
    def metrics(self) -> list[Any]:
        return [m for _, m, _, _ in self.entries] if self.built else []

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                     traceable: bool | None = None) -> None:
        """Update every metric with a batch; `traceable=True`/`False`: only the metrics
        whose `traceable` flag says so (a compiled step updates those in its graph and
        the others after it)."""
        if self.empty:
            return
        unweighted, weighted = (self.unweighted, self.weighted) if traceable is None \
            else self._by_traceable[traceable]
        if self.names is None:
            if isinstance(y_true, (list, tuple)) and len(y_true) == 1:
                y_true = y_true[0]
            for m in unweighted[0]:
                m.update_state(y_true, y_pred)
            for m in weighted[0]:
                m.update_state(y_true, y_pred, sample_weight)
            return
        y_preds = flat_outputs(y_pred, self.names)
        y_trues = align(y_true, self.names, "y", y_pred, self._single_index)
        sws = align(sample_weight, self.names, "sample_weight", y_pred)
        for i, (yt, yp, sw) in enumerate(zip(y_trues, y_preds, sws)):
            if yt is None:
                continue
            for m in unweighted[i]:
                m.update_state(yt, yp)
            for m in weighted[i]:
                m.update_state(yt, yp, sw)

    def reset_state(self) -> None:
        for m in self.metrics:
            m.reset_state()


class CompileMetrics:
    """The compiled metrics as the one `compile_metrics` entry of `model.metrics` (Keras 3's
    container), from compile on. `update_state(y, y_pred, sample_weight)` builds them on
    first use and updates them as the default step does: `metrics` unweighted,
    `weighted_metrics` with the sample weights. A custom `train_step` written as in Keras's
    guide (`for m in self.metrics: m.update_state(y, y_pred, sample_weight=sw)`) thus
    fills every compiled metric with Keras's numbers; `result()` gives their values by log
    key, which the logs flatten (History has `mae`, not `compile_metrics`).

    Example:
        >>> [m.name for m in model.metrics]      # after compile, before and after fit
        ['loss', 'compile_metrics']
    """

    name = "compile_metrics"

    def __init__(self, model: Any) -> None:
        self.model = model

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.model.compute_metrics(None, y_true, y_pred, sample_weight)

    def result(self) -> dict[str, Any]:
        return {key: m.result() for key, m in self.named_metrics().items()}

    def reset_state(self) -> None:
        cm = self.model._compiled_metrics
        if cm is not None:
            cm.reset_state()

    def named_metrics(self) -> dict[str, Any]:
        """The built metrics by log key (`<output>_mae`, ...); empty before the first batch."""
        cm = self.model._compiled_metrics
        if cm is None or not cm.built:
            return {}
        return {key: m for key, m, _, _ in cm.entries}

    @property
    def metrics(self) -> list[Any]:
        """The metric objects inside (Keras's `compile_metrics.metrics`)."""
        return list(self.named_metrics().values())

    @property
    def traceable(self) -> bool:
        """Whether a compiled step can update every metric inside in its graph."""
        cm = self.model._compiled_metrics
        return cm is not None and cm.built and all(
            bool(getattr(m, "traceable", False)) for m in cm.metrics)

    def prepare_for_tracing(self) -> None:
        for m in self.metrics:
            prepare = getattr(m, "prepare_for_tracing", None)
            if callable(prepare):
                prepare()


def _is_crossentropy_alias(spec: Any) -> bool:
    return isinstance(spec, str) and spec.lower() in ("crossentropy", "ce")


def _resolve_loss(spec: Any, y_true: Any, y_pred: Any) -> Any:
    """`losses.get`, plus Keras 3's "crossentropy"/"ce", picked from the shapes."""
    if not _is_crossentropy_alias(spec):
        return losses_module.get(spec)
    yt_shape = tuple(getattr(y_true, "shape", ()))
    yp_shape = tuple(getattr(y_pred, "shape", ()))
    if yp_shape and yp_shape[-1] == 1:
        return losses_module.get("binary_crossentropy")
    if len(yt_shape) < len(yp_shape) or (yt_shape and yt_shape[-1] == 1):
        return losses_module.get("sparse_categorical_crossentropy")
    return losses_module.get("categorical_crossentropy")


def _is_accuracy(spec: Any) -> bool:
    return isinstance(spec, str) and spec.lower() in ("accuracy", "acc")


def _as_list(spec: Any) -> list[Any]:
    if spec is None:
        return []
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]

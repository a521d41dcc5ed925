"""The loops: `run_fit`, `run_evaluate`, `run_predict`.

The data flow of `fit()` reads top to bottom in `run_fit`:
user data -> adapter -> epoch iterator (batches on the model's device) ->
train step (tensors) -> metric state (tensors) -> callbacks with lazy logs ->
epoch logs (one sync per epoch) -> validation -> History.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch

from fitorch import checks, nest
from fitorch.callbacks.callback_list import CallbackList
from fitorch.data import EpochIterator
from fitorch.data.arrays import unpack_x_y_sample_weight
from fitorch.data.shard import StandIn, merge_predictions
from fitorch.device import sync_fn
from fitorch.distributed import is_sharded, is_writer
from fitorch.fit_state import FitState, set_rng_state
from fitorch.logs import Logs, as_logs, materialize
from fitorch.modes import ModuleModes, eval_mode
from fitorch.prediction_buffer import PredictionBuffer
from fitorch.step import call_model, end_epoch

if TYPE_CHECKING:
    from fitorch.model import Model


def make_callbacks(model: Model, callbacks: Any, *, verbose: Any, epochs: int,
                   steps: int | None, add_history: bool) -> CallbackList:
    if isinstance(callbacks, CallbackList):
        return callbacks
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise ValueError(
            "`callbacks` must be a list of fitorch.callbacks.Callback instances. "
            f"Received: callbacks={callbacks!r} (of type {type(callbacks).__name__})"
        )
    # In a data-parallel run only rank 0 prints a progress bar.
    return CallbackList(
        callbacks, add_history=add_history, add_progbar=verbose != 0 and is_writer(),
        model=model,
        sync=sync_fn(model._device()), verbose=verbose, epochs=epochs, steps=steps,
    )


def executions(batches: Iterator[tuple[int, Any]], steps_per_execution: int
               ) -> Iterator[tuple[int, int, list[Any]]]:
    """Group an epoch's batches into executions of `steps_per_execution` steps (Keras)."""
    if steps_per_execution == 1:
        for step, batch in batches:
            yield step, step, [batch]
        return
    group: list[Any] = []
    begin = 0
    for step, batch in batches:
        if not group:
            begin = step
        group.append(batch)
        if len(group) == steps_per_execution:
            yield begin, step, group
            group = []
    if group:
        yield begin, begin + len(group) - 1, group


def run_fit(
    model: Model,
    train_iterator: EpochIterator,
    *,
    epochs: int,
    initial_epoch: int,
    verbose: Any,
    callbacks: Any,
    val_iterator: EpochIterator | None,
    validation_freq: int | Collection[int],
) -> Any:
    cbs = make_callbacks(model, callbacks, verbose=verbose, epochs=epochs,
                         steps=train_iterator.num_batches, add_history=True)
    train_function = model.make_train_function()
    spe = model._steps_per_execution
    model.stop_training = False
    parallel = model._parallel()  # None in a single process
    vote = parallel.stop_vote() if parallel is not None else None
    training_logs: dict[str, Any] | None = None
    state = FitState(model, cbs, train_iterator, epochs)
    modes = ModuleModes(model)  # modules the user put in eval mode stay there (SPEC.md)
    model.__dict__["_fit_state"] = state  # read by BackupAndRestore; never a submodule
    cbs.on_train_begin()
    try:
        # A restoring callback (BackupAndRestore) may have set where to continue.
        resume, state.resume = state.resume, None
        for epoch in range(resume["epoch"] if resume else initial_epoch, epochs):
            state.epoch, state.step = epoch, -1
            model.reset_metrics()
            cbs.on_epoch_begin(epoch)
            modes.train()
            first_step = 0
            resumed_logs: dict[str, Any] = {}
            if resume is not None:
                first_step = resume["step"] + 1
                train_iterator.resume(resume["data"])
                model._load_metric_states(resume["metrics"])
                resumed_logs = resume.get("logs") or {}
                if resume["rng"] is not None:  # None: resumed on another world size
                    set_rng_state(resume["rng"])
                resume = None
            logs: Logs | None = None
            for begin, end, batches in executions(train_iterator.epoch(first_step), spe):
                cbs.on_train_batch_begin(begin)
                for batch in batches:
                    logs = as_logs(train_function(batch))
                state.step, state.logs = end, logs
                cbs.on_train_batch_end(end, logs)
                if vote is not None:
                    # A stop asked on any rank is agreed at the next batch end.
                    if vote.batch_end(model.stop_training):
                        model.stop_training = True
                        break
                elif model.stop_training:
                    break
            end_epoch(model)  # a partial group of accumulated gradients is applied now
            if parallel is not None and not is_sharded(model):
                parallel.ensure_same_weights(model)
            # Restored metric state not claimed by this epoch's training steps is dropped
            # here, before validation resets and reuses the metrics (see fit_state).
            model._load_metric_states({})
            if logs is None and resumed_logs:
                logs = as_logs(resumed_logs)  # resumed after the epoch's last step
            train_iterator.on_epoch_end()
            if train_iterator.data_exhausted(epoch, epochs):
                model.stop_training = True  # a one-shot generator ran out (SPEC.md)
            # sync: once per epoch, the epoch's metric values become floats.
            epoch_logs = epoch_results(model, logs, parallel)
            modes.eval()
            if val_iterator is not None and checks.should_validate(epoch, validation_freq):
                val_logs = run_evaluate(model, val_iterator, cbs)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                epoch_logs = dict(sorted(epoch_logs.items()))  # Keras 3 sorts every log dict
            cbs.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if vote is not None and vote.final(model.stop_training):
                model.stop_training = True
            if model.stop_training:
                break
        # Keras: with `use_ema`, the trained model ends with the averaged weights.
        finalize = getattr(model.optimizer, "finalize_variable_values", None)
        if callable(finalize) and epochs > initial_epoch:
            finalize()
        state.completed = True
    finally:
        modes.restore()
        # `on_train_end` always fires, also when a step or a callback raised.
        cbs.on_train_end(training_logs)
    if parallel is not None:
        # What rank 0 wrote during fit (checkpoints, logs) is complete when fit returns on
        # any rank: a rank may read it next.
        parallel.barrier()
    return model.history


def run_evaluate(model: Model, iterator: EpochIterator, callbacks: CallbackList) -> dict[str, Any]:
    test_function = model.make_test_function()
    spe = model._steps_per_execution
    parallel = model._parallel()
    iterator.restart()
    with eval_mode(model):
        callbacks.on_test_begin()
        model.reset_metrics()
        logs: Logs | None = None
        with torch.no_grad():
            for begin, end, batches in executions(iterator.epoch(), spe):
                callbacks.on_test_batch_begin(begin)
                for batch in batches:
                    if isinstance(batch, StandIn):  # an empty share: nothing to count
                        run_stand_in(model, batch)
                    else:
                        logs = as_logs(test_function(batch))
                callbacks.on_test_batch_end(end, logs)
    iterator.on_epoch_end()
    result = epoch_results(model, logs, parallel)  # sync
    callbacks.on_test_end(result)
    return result


def run_predict(model: Model, iterator: EpochIterator, callbacks: CallbackList) -> Any:
    predict_function = model.make_predict_function()
    spe = model._steps_per_execution
    parallel = model._parallel()
    lengths: list[int] = []  # per step: this rank's rows (data-parallel reassembly)
    with eval_mode(model):
        callbacks.on_predict_begin()
        outputs = PredictionBuffer(iterator.num_batches)  # preallocated host arrays
        batch_outputs: Any = None
        with torch.inference_mode():
            for begin, end, batches in executions(iterator.epoch(), spe):
                callbacks.on_predict_batch_begin(begin)
                for batch in batches:
                    if isinstance(batch, StandIn):  # an empty share: no rows of its own
                        run_stand_in(model, batch)
                        lengths.append(0)
                        continue
                    batch_outputs = predict_function(batch)
                    lengths.append(len(nest.flatten(batch_outputs)[0]))
                    outputs.add(batch_outputs)
                callbacks.on_predict_batch_end(end, {"outputs": batch_outputs})
    callbacks.on_predict_end()
    if parallel is None:
        return outputs.result()
    return gather_predictions(parallel, iterator.adapter, outputs, lengths)


def run_stand_in(model: Model, stand_in: StandIn) -> None:
    """A sharded model's forward pass is a collective: an empty share still runs it
    (on the stand-in batch, output discarded)."""
    if is_sharded(model):
        x, _, _ = unpack_x_y_sample_weight(stand_in.batch)
        call_model(model, x, training=False, compiled=False)


def gather_predictions(parallel: Any, adapter: Any, outputs: PredictionBuffer,
                       lengths: list[int]) -> Any:
    """Every rank's predictions, in input order, on every rank (data-parallel)."""
    kind = getattr(adapter, "shard_kind", None)
    local = outputs.result() if lengths and any(lengths) else None
    if kind is None:
        return local  # each rank read its own data: its own predictions
    leaves = nest.flatten(local) if local is not None else None
    parts = parallel.all_gather_object((leaves, lengths))
    template = next(p[0] for p in parts if p[0] is not None)
    filled = [(p[0] if p[0] is not None else [leaf[:0] for leaf in template], p[1])
              for p in parts]
    total = len(adapter.loader.dataset) if kind == "strided" else None
    merged = merge_predictions(filled, kind, total)
    if local is None:  # this rank predicted nothing: the leaves as they come
        return merged[0] if len(merged) == 1 else merged
    return nest.pack_as(local, merged)


def epoch_results(model: Model, logs: Logs | None, parallel: Any) -> dict[str, Any]:
    """The logs at the end of an epoch or evaluation, as floats (one sync).

    In a data-parallel run the metric state is summed across ranks first, so every
    sample counts once and every rank gets the same logs; values a custom step
    returned that are not metrics are averaged across ranks."""
    if parallel is None:
        return materialize(logs if logs is not None else model.get_metrics_result())
    parallel.reduce_metric_states(model)
    parallel.average_buffers(model)
    results = materialize(model.get_metrics_result())
    own = materialize(logs) if logs is not None else dict(results)
    others = {k: v for k, v in own.items() if k not in results}
    merged = {k: results[k] for k in own if k in results}
    if parallel.any_true(bool(others)):
        merged.update(parallel.mean_of(others))
    return merged if own else results


def step_logs_to_list(logs: Mapping[str, Any], names: list[str]) -> Any:
    """Keras's ordering of results: the model's metric names first, then other keys sorted."""
    values = [logs[n] for n in names if n in logs]
    values += [logs[k] for k in sorted(logs) if k not in names]
    return values[0] if len(values) == 1 else values


__all__ = ["make_callbacks", "run_evaluate", "run_fit", "run_predict"]

"""The default step bodies: the only place that calls `backward()` and `optimizer.step()`.

`Model.train_step` / `test_step` / `predict_step` call these; users override the
methods on their model (a GAN with two optimizers, say) and keep everything
else. A step returns metric values as tensors; they become floats only when a
callback or the progress bar reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from fitorch import nest
from fitorch.data import unpack_x_y_sample_weight

if TYPE_CHECKING:
    from fitorch.model import Model


def optimizer_ready(optimizer: Any) -> bool:
    """Whether `optimizer` has its parameters (fitorch's optimizers can exist before them)."""
    return optimizer is not None and bool(getattr(optimizer, "is_built", True))


def call_model(model: Model, x: Any, training: bool, compiled: bool = True) -> Any:
    """Run the forward pass: lists/tuples go positionally, dicts by name (multi-input)."""
    call = model._call_target() if compiled else model._eager_call_target()
    kwargs = {"training": training} if model._forward_takes_training else {}
    if isinstance(x, torch.Tensor):
        return call(x, **kwargs)
    if isinstance(x, (list, tuple)):
        return call(*x, **kwargs)
    if isinstance(x, dict):
        return call(**x, **kwargs)
    return call(x, **kwargs)


def batch_size_of(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.shape[0])
    return int(next(t for t in nest.flatten(x) if t is not None).shape[0])


def forward_and_loss(model: Model, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
    """The forward pass and the loss (traced into the graph under `jit_compile=True`)."""
    y_pred = call_model(model, x, training=True, compiled=False)
    return y_pred, model.compute_loss(x, y, y_pred, sample_weight, training=True)


def train_step(model: Model, data: Any) -> Any:
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    compiled = model._compiled_train_step()
    if compiled is not None and compiled.accepts(x) and compiled(x, y, sample_weight):
        return model.get_metrics_result()  # jit_compile=True: the step ran as one graph
    # Eager: also the first step under jit_compile (it builds the loss and metrics) and
    # batches whose shapes differ from the compiled graph's (the last partial batch).
    y_pred = call_model(model, x, training=True, compiled=False)
    loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
    optimizer = model.optimizer
    if optimizer_ready(optimizer):  # not built: nothing to train, the step still reports the loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if model._constrained is None or model._constrained:  # usually empty: skip the call
            model.apply_constraints()
    with torch.no_grad():
        model._loss_tracker.update_state(loss.detach(), sample_weight=batch_size_of(x))
        return model.compute_metrics(x, y, y_pred, sample_weight)


def test_step(model: Model, data: Any) -> Any:
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    y_pred = call_model(model, x, training=False)
    loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
    model._loss_tracker.update_state(loss, sample_weight=batch_size_of(x))
    return model.compute_metrics(x, y, y_pred, sample_weight)


def predict_step(model: Model, data: Any) -> Any:
    x, _, _ = unpack_x_y_sample_weight(data)
    return call_model(model, x, training=False)

"""`TorchMetricsWrapper`: a torchmetrics metric behind this package's metric API."""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import Tensor

from fitorch.metrics._utils import _prepare, _to_snake_case, _zero_result
from fitorch.metrics.base import Metric


class TorchMetricsWrapper(Metric):
    """Adapts a `torchmetrics.Metric` (which takes predictions first) to this API.

    It is moved to the device of `y_pred` on the first update. Sample weights are
    not supported: torchmetrics has no notion of them.

    Example:
        >>> from torchmetrics.classification import MulticlassAccuracy
        >>> m = TorchMetricsWrapper(MulticlassAccuracy(num_classes=3, average="micro"))
        >>> m.update_state(torch.tensor([0, 2]), torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.1, 0.1]]))
        >>> m.name, m.result()
        ('multiclass_accuracy', tensor(0.5000))
    """

    traceable = False  # torchmetrics keeps Python counters: updated outside compiled graphs

    def __init__(self, metric: Any, name: str | None = None) -> None:
        if not _is_torchmetrics_metric(metric):
            raise TypeError(
                "Expected a torchmetrics.Metric instance. "
                f"Received: metric={metric!r} (of type {type(metric).__name__})"
            )
        super().__init__(name=name if name is not None else _to_snake_case(type(metric).__name__))
        self.metric = metric
        self._device: torch.device | None = None
        self._updated = False

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if sample_weight is not None:
            raise ValueError(
                f"Metric {self.name!r} wraps a torchmetrics metric, which does not support "
                "sample weights; use it in `metrics`, not `weighted_metrics`. "
                f"Received: sample_weight of type {type(sample_weight).__name__}"
            )
        y_true, y_pred = _prepare(y_true, y_pred)
        if self._device != y_pred.device:
            self.metric.to(y_pred.device)
            self._device = y_pred.device
        self.metric.update(y_pred, y_true)
        self._updated = True

    def result(self) -> Tensor:
        if not self._updated:
            return _zero_result()
        value = self.metric.compute()
        return value if isinstance(value, Tensor) else torch.as_tensor(value)

    def reset_state(self) -> None:
        self.metric.reset()
        self._updated = False

    def state_dict(self) -> dict[str, Any]:
        states = {
            key: value.detach().clone()
            if isinstance(value, Tensor)
            else [v.detach().clone() for v in value]
            for key, value in ((k, getattr(self.metric, k)) for k in self.metric._defaults)
        }
        return {"updated": self._updated, "states": states}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"updated", "states"}:
            raise ValueError(
                "Expected a state dict of TorchMetricsWrapper with keys ['states', 'updated']. "
                f"Received: state_dict={state_dict!r} (of type {type(state_dict).__name__})"
            )
        for key, value in state_dict["states"].items():
            setattr(self.metric, key, value)
        self._device = None  # the restored states may live elsewhere: move on next update
        self._updated = bool(state_dict["updated"])
        # torchmetrics caches compute() and warns when compute precedes update.
        self.metric._computed = None
        self.metric._update_count = int(self._updated)


def _is_torchmetrics_metric(obj: Any) -> bool:
    # torchmetrics is optional: only a module already imported can own `obj`.
    module = sys.modules.get("torchmetrics")
    return module is not None and isinstance(obj, module.Metric)

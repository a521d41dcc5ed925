"""`get`: metric objects from the names, objects and functions `compile` accepts."""

from __future__ import annotations

import inspect
from typing import Any

from fitorch.metrics._utils import _object_name, _to_snake_case
from fitorch.metrics.accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    InferredAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from fitorch.metrics.base import MeanMetricWrapper, Metric
from fitorch.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from fitorch.metrics.hinge import CategoricalHinge, Hinge, SquaredHinge
from fitorch.metrics.probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
)
from fitorch.metrics.regression import (
    CosineSimilarity,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
)
from fitorch.metrics.wrappers import TorchMetricsWrapper, _is_torchmetrics_metric

_BUILTIN_CLASSES: tuple[type[Metric], ...] = (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    CosineSimilarity,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Poisson,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    AUC,
    Precision,
    Recall,
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
)

_BY_NAME: dict[str, type[Metric]] = {cls.__name__: cls for cls in _BUILTIN_CLASSES}
_BY_NAME.update({_to_snake_case(cls.__name__): cls for cls in _BUILTIN_CLASSES})
_BY_NAME.update(
    {
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
        # Not in Keras 3 (which rejects "rmse"), but the obvious spelling.
        "rmse": RootMeanSquaredError,
        "RMSE": RootMeanSquaredError,
    }
)


def get(identifier: Any, loss: Any = None) -> Metric:
    """A metric object from a name, a metric, a function or a torchmetrics metric.

    Strings resolve as Keras 3's `compile(metrics=[...])` does, and the metric is
    named by the string (its log key): "mae" logs "mae", "MeanAbsoluteError" logs
    "MeanAbsoluteError". "accuracy"/"acc" give an `InferredAccuracy` that picks its
    kind from `loss` or from the shapes. Metric instances are returned as they are,
    `Metric` subclasses are instantiated, functions `fn(y_true, y_pred)` are wrapped
    in `MeanMetricWrapper` named after them, and torchmetrics metrics in
    `TorchMetricsWrapper`.

    Example:
        >>> get("mae").name
        'mae'
        >>> type(get("acc", loss="sparse_categorical_crossentropy")).__name__
        'InferredAccuracy'
    """
    if identifier is None:
        raise ValueError(
            "Expected a metric (a name, a Metric, or a function). Received: identifier=None"
        )
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return InferredAccuracy(name=identifier, loss=loss)
        cls = _BY_NAME.get(identifier)
        if cls is None:
            valid = ["accuracy", "acc", *sorted(_BY_NAME, key=str.lower)]
            raise ValueError(
                f"Unknown metric name. Expected one of {valid}. "
                f"Received: identifier={identifier!r} (of type str)"
            )
        return cls(name=identifier)
    if isinstance(identifier, Metric):
        return identifier
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if _is_torchmetrics_metric(identifier):
        return TorchMetricsWrapper(identifier)
    if callable(identifier) and not inspect.isclass(identifier):
        return MeanMetricWrapper(identifier, name=_object_name(identifier))
    raise TypeError(
        "Expected a metric name, a Metric, a function fn(y_true, y_pred) or a "
        f"torchmetrics.Metric. Received: identifier={identifier!r} "
        f"(of type {type(identifier).__name__})"
    )

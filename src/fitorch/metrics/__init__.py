"""Keras 3's stateful metrics, in torch, with their state kept in tensors.

A metric accumulates statistics with `update_state(y_true, y_pred, sample_weight=None)`
and reports them with `result()`. Both run inside every training step, so neither
ever waits for the device: state lives in tensors created on the first update, on
the device of `y_pred`, and `result()` is computed from them with tensor ops. The
numbers are Keras 3's (keras/src/metrics/), including its sample-weight and
shape handling.

Example:
    >>> m = MeanAbsoluteError()
    >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    >>> m.result()
    tensor(0.5000)
"""

from fitorch.metrics.accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    InferredAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from fitorch.metrics.base import Mean, MeanMetricWrapper, Metric, Sum
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
from fitorch.metrics.registry import get
from fitorch.metrics.regression import (
    CosineSimilarity,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
)
from fitorch.metrics.wrappers import TorchMetricsWrapper

__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "InferredAccuracy",
    "KLDivergence",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "Poisson",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TorchMetricsWrapper",
    "TrueNegatives",
    "TruePositives",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

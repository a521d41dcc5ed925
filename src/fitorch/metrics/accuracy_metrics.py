"""Accuracy metrics and their per-sample functions, and the accuracy inferred from the task."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fitorch.metrics._utils import _prepare, _squeeze_or_expand, _zero_result
from fitorch.metrics.base import MeanMetricWrapper, Metric


def _float_dtype() -> torch.dtype:
    """Keras returns matches in floatx; torch's default float dtype is its equivalent."""
    return torch.get_default_dtype()


def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per-element 1.0 where `y_pred == y_true`, else 0.0."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = _squeeze_or_expand(y_true.to(y_pred.dtype), y_pred)
    return (y_true == y_pred).to(_float_dtype())


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """Per-element 1.0 where `(y_pred > threshold)` equals the binary label `y_true`.

    Example:
        >>> binary_accuracy(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.9], [0.7]]))
        tensor([[1.],
                [0.]])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true, y_pred = _squeeze_or_expand(y_true, y_pred)
    return ((y_pred > threshold).to(y_true.dtype) == y_true).to(_float_dtype())


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample 1.0 where the argmax of `y_pred` is the argmax of the one-hot `y_true`.

    Example:
        >>> categorical_accuracy(torch.tensor([[0, 1], [1, 0]]), torch.tensor([[0.2, 0.8]] * 2))
        tensor([1., 0.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    labels = y_true.argmax(dim=-1)
    shape = labels.shape
    if labels.ndim == y_pred.ndim:  # y_true had a trailing unit axis: (N, C, 1)
        labels = labels.squeeze(-1)
    matches = (labels == y_pred.argmax(dim=-1)).to(_float_dtype())
    return matches.reshape(shape) if matches.shape != shape else matches


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample 1.0 where the argmax of `y_pred` is the integer label `y_true`.

    Labels may be `(N,)` or `(N, 1)`; the result is `(N,)`.

    Example:
        >>> sparse_categorical_accuracy(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8]] * 2))
        tensor([1., 0.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    # Comparing the labels (any dtype) with the int64 argmax promotes both exactly.
    matches = (y_true == y_pred.argmax(dim=-1)).to(_float_dtype())
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def _in_top_k(labels: Tensor, scores: Tensor, k: int) -> Tensor:
    """Whether each label's score is among the `k` largest of its row (ties count in)."""
    k = min(k, scores.shape[-1])  # Keras errors for k > num_classes; every label is in then
    kth_largest = torch.topk(scores, k, dim=-1, sorted=False).values.amin(dim=-1)
    label_scores = scores.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return label_scores >= kth_largest


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """Per-sample 1.0 where the one-hot target is among the `k` top predictions."""
    y_true, y_pred = _prepare(y_true, y_pred)
    labels = y_true.argmax(dim=-1)
    shape = labels.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    matches = _in_top_k(labels.reshape(-1), y_pred, k).to(_float_dtype())
    return matches.reshape(shape)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> Tensor:
    """Per-sample 1.0 where the integer target is among the `k` top predictions.

    With `from_sorted_ids=True`, `y_pred` holds class ids sorted by decreasing score.

    Example:
        >>> y_pred = torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]])
        >>> sparse_top_k_categorical_accuracy(torch.tensor([2, 1]), y_pred, k=1)
        tensor([0., 1.])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        labels = y_true.reshape(-1).to(y_pred.dtype)
        matches = (y_pred[:, :k] == labels.unsqueeze(-1)).any(dim=-1)
    else:
        matches = _in_top_k(y_true.reshape(-1).long(), y_pred, k)
    return matches.to(_float_dtype()).reshape(shape)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly.

    Example:
        >>> m = Accuracy()
        >>> m.update_state(torch.tensor([[1], [2], [3], [4]]), torch.tensor([[0], [2], [3], [4]]))
        >>> m.result()
        tensor(0.7500)
    """

    def __init__(self, name: str = "accuracy", dtype: torch.dtype | str | None = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `(y_pred > threshold)` matches binary labels.

    Example:
        >>> m = BinaryAccuracy()
        >>> m.update_state(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.9], [0.7]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self,
        name: str = "binary_accuracy",
        dtype: torch.dtype | str | None = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of predictions matches the argmax of one-hot labels.

    Example:
        >>> m = CategoricalAccuracy()
        >>> m.update_state(torch.tensor([[0, 0, 1], [0, 1, 0]]),
        ...                torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self, name: str = "categorical_accuracy", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of predictions matches integer labels.

    Example:
        >>> m = SparseCategoricalAccuracy()
        >>> m.update_state(torch.tensor([[2], [1]]),
        ...                torch.tensor([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self, name: str = "sparse_categorical_accuracy", dtype: torch.dtype | str | None = None
    ) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often one-hot targets are among the `k` top predictions.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m.update_state(torch.tensor([[0, 0, 1], [0, 1, 0]]),
        ...                torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "top_k_categorical_accuracy",
        dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often integer targets are among the `k` top predictions.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=1)
        >>> m.update_state(torch.tensor([2, 1]), torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: torch.dtype | str | None = None,
        from_sorted_ids: bool = False,
    ) -> None:
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=k,
            from_sorted_ids=from_sorted_ids,
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids


# ------------------------------------------------------------ accuracy by inference

_BINARY_LOSSES = {"binarycrossentropy", "binaryfocalcrossentropy", "bceloss", "bce"}
_BINARY_LOGIT_LOSSES = {"bcewithlogitsloss"}
_SPARSE_LOSSES = {"sparsecategoricalcrossentropy", "nllloss"}
_CATEGORICAL_LOSSES = {"categoricalcrossentropy", "categoricalfocalcrossentropy"}


def _accuracy_kind_from_loss(loss: Any) -> tuple[str, bool] | None:
    """("binary" | "sparse_categorical" | "categorical", from_logits) for crossentropy losses."""
    if loss is None:
        return None
    names = set()
    for candidate in (
        loss if isinstance(loss, str) else None,
        getattr(loss, "name", None),
        getattr(loss, "__name__", None),
        type(loss).__name__,
    ):
        if isinstance(candidate, str):
            names.add(candidate.replace("_", "").lower())
    from_logits = bool(getattr(loss, "from_logits", False))
    if names & _BINARY_LOGIT_LOSSES:
        return "binary", True
    if names & _BINARY_LOSSES:
        return "binary", from_logits
    if names & _SPARSE_LOSSES:
        return "sparse_categorical", from_logits
    if names & _CATEGORICAL_LOSSES:
        return "categorical", from_logits
    return None


def _accuracy_kind_from_shapes(y_true: Tensor, y_pred: Tensor) -> str:
    """Keras 3's rule (compile_utils.is_binary_or_sparse_categorical)."""
    true_last = y_true.shape[-1] if y_true.ndim else 1
    pred_last = y_pred.shape[-1] if y_pred.ndim else 1
    if pred_last == 1:
        return "binary"
    if y_true.ndim < y_pred.ndim or (true_last == 1 and pred_last > 1):
        return "sparse_categorical"
    return "categorical"


class InferredAccuracy(Metric):
    """The accuracy that fits the task, chosen on the first update ("accuracy"/"acc").

    The loss decides when it is a crossentropy: binary crossentropy -> binary
    accuracy (threshold 0 on logits), sparse categorical -> sparse categorical
    accuracy, categorical -> categorical accuracy. Otherwise the shapes decide,
    by Keras 3's rule: `y_pred` with a last axis of 1 -> binary; labels of lower
    rank, or a last axis of 1 against several classes -> sparse; else categorical.

    Example:
        >>> m = InferredAccuracy("acc")
        >>> m.update_state(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
        >>> m.kind, m.result()
        ('sparse_categorical', tensor(0.5000))
    """

    def __init__(self, name: str = "accuracy", loss: Any = None) -> None:
        super().__init__(name=name)
        self.loss = loss
        self.kind: str | None = None
        self.metric: MeanMetricWrapper | None = None

    def _build(self, kind: str, from_logits: bool = False) -> MeanMetricWrapper:
        metric: MeanMetricWrapper
        if kind == "binary":
            metric = BinaryAccuracy(name=self.name, threshold=0.0 if from_logits else 0.5)
        elif kind == "sparse_categorical":
            metric = SparseCategoricalAccuracy(name=self.name)
        elif kind == "categorical":
            metric = CategoricalAccuracy(name=self.name)
        else:
            raise ValueError(
                "Unknown accuracy kind. Expected one of "
                "['binary', 'sparse_categorical', 'categorical']. "
                f"Received: kind={kind!r} (of type {type(kind).__name__})"
            )
        self.kind, self.metric = kind, metric
        return metric

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        metric = self.metric
        if metric is None:
            hint = _accuracy_kind_from_loss(self.loss)
            if hint is not None:
                metric = self._build(*hint)
            else:
                metric = self._build(_accuracy_kind_from_shapes(*_prepare(y_true, y_pred)))
        # The given y_pred, not a converted copy: it may carry a Keras mask.
        metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self) -> Tensor:
        return _zero_result() if self.metric is None else self.metric.result()

    def prepare_for_tracing(self) -> None:
        if self.metric is not None:
            self.metric.prepare_for_tracing()

    def reset_state(self) -> None:
        if self.metric is not None:
            self.metric.reset_state()

    def state_dict(self) -> dict[str, Any]:
        if self.metric is None:
            return {"kind": None, "threshold": None, "state": None}
        threshold = getattr(self.metric, "threshold", None)
        return {"kind": self.kind, "threshold": threshold, "state": self.metric.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"kind", "threshold", "state"}:
            raise ValueError(
                "Expected a state dict of InferredAccuracy with keys "
                "['kind', 'state', 'threshold']. "
                f"Received: state_dict={state_dict!r} (of type {type(state_dict).__name__})"
            )
        if state_dict["kind"] is None:
            self.kind, self.metric = None, None
            return
        metric = self._build(state_dict["kind"], from_logits=state_dict["threshold"] == 0.0)
        metric.load_state_dict(state_dict["state"])

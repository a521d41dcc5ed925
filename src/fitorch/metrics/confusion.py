"""Metrics built on confusion counts at thresholds: TP/FP/TN/FN, Precision, Recall, AUC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor

from fitorch.metrics._confusion_counts import (
    _NEG_INF,
    _check_thresholds,
    _is_evenly_distributed,
    _parse_thresholds,
    _update_confusion,
)
from fitorch.metrics._utils import _EPSILON, _divide_no_nan, _prepare, _zero_result
from fitorch.metrics.base import Metric

# State attribute -> key of `_update_confusion`.
_COUNT_KEYS = {
    "true_positives": "tp",
    "false_positives": "fp",
    "true_negatives": "tn",
    "false_negatives": "fn",
}


class _ConfusionMetric(Metric):
    """Shared state handling of metrics built on confusion counts at thresholds."""

    _counts: tuple[str, ...] = ()

    def __init__(self, name: str | None, dtype: torch.dtype | str | None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._state_attrs = self._counts
        for key in self._counts:
            setattr(self, key, None)
        self._thresholds_list: list[float] = []
        self._thresholds_t: Tensor | None = None

    def _num_labels_for(self, y_pred: Tensor) -> int | None:
        return None

    def _counters(self, y_pred: Tensor) -> dict[str, Tensor]:
        """The count tensors, created on `y_pred`'s device at the first update."""
        first = getattr(self, self._counts[0])
        if first is None:
            dtype = self._state_dtype(y_pred)
            labels = self._num_labels_for(y_pred)
            shape = (len(self._thresholds_list),) + (() if labels is None else (labels,))
            for key in self._counts:
                setattr(self, key, torch.zeros(shape, dtype=dtype, device=y_pred.device))
        elif first.device != y_pred.device:
            self._move_state(y_pred.device)
        return {self._count_key(key): getattr(self, key) for key in self._counts}

    def _count_key(self, attr: str) -> str:
        return _COUNT_KEYS[attr]

    def _thresholds_on(self, like: Tensor) -> Tensor:
        t = self._thresholds_t
        if t is None or t.device != like.device or t.dtype != like.dtype:
            t = self._thresholds_t = torch.tensor(
                self._thresholds_list, dtype=like.dtype, device=like.device
            )
        return t

    def _count(self, key: str) -> Tensor:
        value = getattr(self, key)
        if value is None:
            return torch.zeros(len(self._thresholds_list))
        return value


class _ConditionCount(_ConfusionMetric):
    _counts = ("accumulator",)
    _condition = "tp"

    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self._thresholds_list = _parse_thresholds(thresholds, 0.5)
        self._evenly = _is_evenly_distributed(self._thresholds_list)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds_list)

    def _count_key(self, attr: str) -> str:
        return self._condition

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _prepare(y_true, y_pred)
        counts = self._counters(y_pred)
        _update_confusion(
            counts,
            y_true,
            y_pred,
            self._thresholds_on(counts[self._condition]),
            evenly=self._evenly,
            with_epsilon=False,
            sample_weight=sample_weight,
        )

    def result(self) -> Tensor:
        value = self._count("accumulator")
        return value[0].clone() if value.shape[0] == 1 else value.clone()


class TruePositives(_ConditionCount):
    """The (weighted) number of true positives at each threshold (default 0.5).

    Example:
        >>> m = TruePositives()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(2.)
    """

    _condition = "tp"


class FalsePositives(_ConditionCount):
    """The (weighted) number of false positives at each threshold (default 0.5)."""

    _condition = "fp"


class TrueNegatives(_ConditionCount):
    """The (weighted) number of true negatives at each threshold (default 0.5)."""

    _condition = "tn"


class FalseNegatives(_ConditionCount):
    """The (weighted) number of false negatives at each threshold (default 0.5)."""

    _condition = "fn"


class _PrecisionRecall(_ConfusionMetric):
    def __init__(
        self,
        thresholds: float | Sequence[float] | None = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # With top_k, everything kept counts as predicted positive.
        default = 0.5 if top_k is None else _NEG_INF
        self._thresholds_list = _parse_thresholds(thresholds, default)
        self._evenly = _is_evenly_distributed(self._thresholds_list)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds_list)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _prepare(y_true, y_pred)
        counts = self._counters(y_pred)
        _update_confusion(
            counts,
            y_true,
            y_pred,
            self._thresholds_on(counts["tp"]),
            evenly=self._evenly,
            with_epsilon=False,
            top_k=self.top_k,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )

    def result(self) -> Tensor:
        tp = self._count("true_positives")
        other = self._count(self._counts[1])
        value = _divide_no_nan(tp, tp + other)
        return value[0] if value.shape[0] == 1 else value


class Precision(_PrecisionRecall):
    """Precision `tp / (tp + fp)` at each threshold (default 0.5), or within the top k.

    Returns a scalar for one threshold, else one value per threshold.

    Example:
        >>> m = Precision()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(0.6667)
    """

    _counts = ("true_positives", "false_positives")


class Recall(_PrecisionRecall):
    """Recall `tp / (tp + fn)` at each threshold (default 0.5), or within the top k.

    Returns a scalar for one threshold, else one value per threshold.

    Example:
        >>> m = Recall()
        >>> m.update_state(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> m.result()
        tensor(0.6667)
    """

    _counts = ("true_positives", "false_negatives")


_AUC_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_AUC_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_ConfusionMetric):
    """Area under the ROC, PR or PR-gain curve, from confusion counts at thresholds.

    With `multi_label=True`, `y_pred` is `(N, L)` and the AUC is computed per label
    and averaged (weighted by `label_weights` if given); otherwise all entries are
    pooled (weighted by `label_weights` along the last axis if given).

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0.0, 0.5, 0.3, 0.9]))
        >>> m.result()
        tensor(0.7500)
    """

    _counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: torch.dtype | str | None = None,
        thresholds: Sequence[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        curve_key = curve.lower() if isinstance(curve, str) else curve
        if curve_key not in _AUC_CURVES:
            raise ValueError(
                f"Unknown AUC curve. Expected one of {list(_AUC_CURVES.values())}. "
                f"Received: curve={curve!r} (of type {type(curve).__name__})"
            )
        method = summation_method.lower() if isinstance(summation_method, str) else None
        if method not in _AUC_SUMMATIONS:
            raise ValueError(
                f"Unknown AUC summation method. Expected one of {list(_AUC_SUMMATIONS)}. "
                f"Received: summation_method={summation_method!r} "
                f"(of type {type(summation_method).__name__})"
            )
        if thresholds is not None:
            given = sorted(float(t) for t in thresholds)
            _check_thresholds(given)
            self.num_thresholds = len(given) + 2
            self._evenly = _is_evenly_distributed([0.0, *given, 1.0])
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(
                    "Expected `num_thresholds` to be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds!r} "
                    f"(of type {type(num_thresholds).__name__})"
                )
            self.num_thresholds = num_thresholds
            given = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._init_from_thresholds = thresholds is not None
        # End points just outside [0, 1] so that predictions of exactly 0 or 1 are
        # placed consistently despite floating point error.
        self._thresholds_list = [0.0 - _EPSILON, *given, 1.0 + _EPSILON]
        self.curve = _AUC_CURVES[curve_key]
        self.summation_method = method
        if num_labels is not None and not multi_label:
            raise ValueError(
                "`num_labels` is needed only when `multi_label` is True. "
                f"Received: num_labels={num_labels!r}, multi_label={multi_label!r}"
            )
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights: Tensor | None = (
            None if label_weights is None else torch.as_tensor(label_weights, dtype=torch.float32)
        )
        self.from_logits = from_logits

    @property
    def thresholds(self) -> list[float]:
        """The thresholds at which the confusion counts are taken."""
        return list(self._thresholds_list)

    def _num_labels_for(self, y_pred: Tensor) -> int | None:
        if not self.multi_label:
            return None
        if y_pred.ndim != 2:
            raise ValueError(
                "`y_pred` must have rank 2 when `multi_label=True`. "
                f"Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        return self.num_labels if self.num_labels else y_pred.shape[1]

    def _label_weights_on(self, like: Tensor) -> Tensor | None:
        lw = self.label_weights
        if lw is not None and (lw.device != like.device or lw.dtype != like.dtype):
            lw = self.label_weights = lw.to(device=like.device, dtype=like.dtype)
        return lw

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _prepare(y_true, y_pred)
        counts = self._counters(y_pred)
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        # Label weights weigh the pooled counts; with multi_label they weigh the
        # per-label AUCs in `result` instead.
        _update_confusion(
            counts,
            y_true,
            y_pred,
            self._thresholds_on(counts["tp"]),
            evenly=self._evenly,
            with_epsilon=True,
            sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self._label_weights_on(counts["tp"]),
        )

    def _average_labels(self, by_threshold: Tensor) -> Tensor:
        """Sum over thresholds; with multi_label, then average over labels."""
        if not self.multi_label:
            return by_threshold.sum()
        by_label = by_threshold.sum(dim=0)
        lw = self._label_weights_on(by_label)
        if lw is None:
            return by_label.mean()
        return _divide_no_nan((by_label * lw).sum(), lw.sum())

    def _interpolate_pr_auc(self, tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        """PR AUC interpolating TP and FP linearly between thresholds (Davis & Goadrich 2006).

        Between thresholds A and B precision is `(TP_A + slope * (P - P_A)) / P` with
        P = TP + FP; integrating over P gives
        `slope * (dTP + intercept * log(P_A / P_B)) / (TP_B + FN_B)` per interval.
        """
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, dp.clamp(min=0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = torch.where(
            both_positive, _divide_no_nan(p[:-1], p[1:].clamp(min=0)), torch.ones_like(p[1:])
        )
        increments = _divide_no_nan(
            slope * (dtp + intercept * ratio.log()), (tp[1:] + fn[1:]).clamp(min=0)
        )
        return self._average_labels(increments)

    def result(self) -> Tensor:
        if getattr(self, self._counts[0]) is None:
            return _zero_result()
        tp, fp, tn, fn = (cast(Tensor, getattr(self, attr)) for attr in self._counts)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN, with Keras's fixes: no TP -> recall gain 0, precision gain 1
            scale = _divide_no_nan(tp + fn, tn + fp)
            no_tp = tp == 0
            recall_gain = 1.0 - scale * _divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * _divide_no_nan(fp, tp)
            x = torch.where(no_tp, 0.0, recall_gain).clamp(min=0.0)
            y = torch.where(no_tp, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return self._average_labels((x[:-1] - x[1:]) * heights)

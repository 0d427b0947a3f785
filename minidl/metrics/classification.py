"""Classification metrics from labels: accuracy, top-k accuracy, confusion matrix, precision/recall/F1.

All take ``(y_true, y_pred_or_score)`` in scikit-learn's order and return plain floats or numpy
arrays, and match ``sklearn.metrics`` (``accuracy_score``, ``top_k_accuracy_score``,
``confusion_matrix``, ``precision_recall_fscore_support``) on the cases both define.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from minidl.metrics._inputs import as_array, check_not_empty, check_same_length, labels_1d, scores_2d

__all__ = ["UndefinedMetricWarning", "accuracy", "confusion_matrix", "precision_recall_f1", "top_k_accuracy"]


class UndefinedMetricWarning(UserWarning):
    """A metric divided by zero and was set to ``zero_division`` (as scikit-learn warns)."""


def _pair(op: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = labels_1d(op, "y_true", y_true)
    p = labels_1d(op, "y_pred", y_pred)
    check_same_length(op, "y_true", t, "y_pred", p)
    check_not_empty(op, "y_true", t)
    return t, p


def _labels(op: str, labels: Any, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The given labels (checked), or the sorted union of the labels in ``y_true`` and ``y_pred``."""
    if labels is None:
        return np.union1d(t, p)
    lab = labels_1d(op, "labels", labels)
    if len(lab) == 0:
        raise ValueError(f"{op}: labels is empty; give at least one label")
    if len(np.unique(lab)) != len(lab):
        raise ValueError(f"{op}: labels must be unique, got {lab.tolist()}")
    return lab


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples with ``y_pred == y_true``.

    ``y_true``: (N,) labels. ``y_pred``: (N,) labels, or (N, C) scores whose row-wise argmax is
    the prediction (so a model's logits can be passed directly).
    """
    op = "accuracy"
    pred = as_array(y_pred)
    if pred.ndim == 2 and pred.shape[1] > 1:
        pred = scores_2d(op, "y_pred", pred).argmax(axis=1)
    t, p = _pair(op, y_true, pred)
    return float(np.mean(t == p))


def top_k_accuracy(y_true: Any, y_score: Any, k: int = 5, labels: Any = None) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores.

    ``y_true``: (N,) labels; ``y_score``: (N, C) scores, column ``j`` belonging to ``labels[j]``
    (default ``labels = 0..C-1``). Ties are broken as scikit-learn's ``top_k_accuracy_score``
    breaks them: among equal scores the class with the larger column index ranks first.
    ``k >= C`` gives 1.
    """
    op = "top_k_accuracy"
    t = labels_1d(op, "y_true", y_true)
    s = scores_2d(op, "y_score", y_score)
    check_same_length(op, "y_true", t, "y_score", s)
    check_not_empty(op, "y_true", t)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{op}: k must be a positive int, got {k!r}")
    n_classes = s.shape[1]
    lab = np.arange(n_classes) if labels is None else labels_1d(op, "labels", labels)
    if len(lab) != n_classes:
        raise ValueError(f"{op}: labels has {len(lab)} entries but y_score has {n_classes} columns")
    if len(np.unique(lab)) != len(lab):
        raise ValueError(f"{op}: labels must be unique, got {lab.tolist()}")
    column = {v: j for j, v in enumerate(lab.tolist())}
    unknown = [v for v in np.unique(t).tolist() if v not in column]
    if unknown:
        raise ValueError(f"{op}: y_true holds labels {unknown} that are not among labels {lab.tolist()}")
    true_col = np.array([column[v] for v in t.tolist()])
    # stable ascending sort reversed: ties rank the larger column first, as scikit-learn does
    ranked = np.argsort(s, axis=1, kind="stable")[:, ::-1][:, :k]
    return float(np.mean((ranked == true_col[:, None]).any(axis=1)))


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    labels: Any = None,
    normalize: Literal["true", "pred", "all"] | None = None,
) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true class ``labels[i]`` predicted as ``labels[j]``.

    Rows are true classes, columns predictions, in the order of ``labels`` (default: the sorted
    union of the labels seen). Samples whose true or predicted label is not in ``labels`` are
    left out. ``normalize``: None (int64 counts), ``'true'`` (rows sum to 1: recall per class),
    ``'pred'`` (columns sum to 1: precision per class) or ``'all'`` (everything sums to 1);
    an empty row/column gives zeros, as in scikit-learn.
    """
    op = "confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{op}: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    t, p = _pair(op, y_true, y_pred)
    lab = _labels(op, labels, t, p)
    n = len(lab)
    order = np.argsort(lab, kind="stable")
    sorted_lab = lab[order]

    def index_of(v: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(sorted_lab, v), 0, n - 1)
        return np.where(sorted_lab[pos] == v, order[pos], -1)

    ti, pi = index_of(t), index_of(p)
    keep = (ti >= 0) & (pi >= 0)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (ti[keep], pi[keep]), 1)
    if normalize is None:
        return cm
    with np.errstate(divide="ignore", invalid="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float, what: str, warn: bool) -> np.ndarray:
    zero = den == 0
    out = num / np.where(zero, 1, den)
    if zero.any():
        out[zero] = zero_division
        if warn:
            warnings.warn(
                f"precision_recall_f1: {what} is ill-defined (no samples) for some labels and set to 0.0; "
                "pass zero_division to choose the value and silence this",
                UndefinedMetricWarning,
                stacklevel=3,
            )
    return out


def _nan_average(values: np.ndarray, weights: np.ndarray | None) -> float:
    """Average ignoring nan entries (as scikit-learn's ``_nanaverage``); zero total weight means
    an unweighted average."""
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    v = values[keep]
    if weights is None or weights[keep].sum() == 0:
        return float(np.mean(v))
    return float(np.average(v, weights=weights[keep]))


def precision_recall_f1(
    y_true: Any,
    y_pred: Any,
    average: Literal["macro", "micro", "weighted", "binary"] | None = "macro",
    labels: Any = None,
    pos_label: Any = 1,
    zero_division: Literal["warn"] | float = "warn",
) -> tuple[Any, Any, Any]:
    """Precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)`` and F1 ``2 tp / (2 tp + fp + fn)``.

    Per label (``average=None``: three arrays in the order of ``labels``, default the sorted
    union of the labels seen), or averaged to three floats: ``'macro'`` (plain mean over labels),
    ``'weighted'`` (mean weighted by each label's support, the count in ``y_true``), ``'micro'``
    (from tp/fp/fn summed over labels; equals accuracy when every label is counted), or
    ``'binary'`` (the scores of ``pos_label`` alone).

    ``zero_division``: the value of a score whose denominator is 0: ``'warn'`` (0 with an
    :class:`UndefinedMetricWarning`), 0, 1 or ``np.nan`` (nan entries are left out of the
    averages), as in scikit-learn's ``precision_recall_fscore_support``.
    """
    op = "precision_recall_f1"
    if average not in (None, "macro", "micro", "weighted", "binary"):
        raise ValueError(f"{op}: average must be None, 'macro', 'micro', 'weighted' or 'binary', got {average!r}")
    warn = isinstance(zero_division, str) and zero_division == "warn"
    if warn:
        zd = 0.0
    elif isinstance(zero_division, (int, float)) and not isinstance(zero_division, bool) and (
        zero_division in (0, 1) or np.isnan(zero_division)
    ):
        zd = float(zero_division)
    else:
        raise ValueError(f"{op}: zero_division must be 'warn', 0, 1 or np.nan, got {zero_division!r}")
    t, p = _pair(op, y_true, y_pred)
    if average == "binary":
        present = np.union1d(t, p)
        if len(present) > 2:
            raise ValueError(
                f"{op}: average='binary' needs at most 2 labels, got {present.tolist()}; "
                "choose average='macro', 'micro', 'weighted' or None"
            )
        lab = np.array([pos_label])
    else:
        lab = _labels(op, labels, t, p)
    is_l_true = t[None, :] == lab[:, None]  # (L, N)
    is_l_pred = p[None, :] == lab[:, None]
    tp = (is_l_true & is_l_pred).sum(axis=1).astype(np.float64)
    pred_sum = is_l_pred.sum(axis=1).astype(np.float64)
    true_sum = is_l_true.sum(axis=1).astype(np.float64)
    if average == "micro":
        tp, pred_sum, true_sum = tp.sum(keepdims=True), pred_sum.sum(keepdims=True), true_sum.sum(keepdims=True)
    precision = _divide(tp, pred_sum, zd, "precision", warn)
    recall = _divide(tp, true_sum, zd, "recall", warn)
    f1 = _divide(2 * tp, true_sum + pred_sum, zd, "F1", False)
    if average is None:
        return precision, recall, f1
    weights = true_sum if average == "weighted" else None
    return (_nan_average(precision, weights), _nan_average(recall, weights), _nan_average(f1, weights))

"""ROC curves and areas: ``roc_curve``, ``auc`` (trapezoid rule) and ``roc_auc`` (binary, one-vs-rest).

They match ``sklearn.metrics.roc_curve`` (with its default ``drop_intermediate=True``),
``auc`` and ``roc_auc_score``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from minidl.metrics._inputs import (
    as_array,
    check_not_empty,
    check_same_length,
    labels_1d,
    scores_1d,
    scores_2d,
)

__all__ = ["auc", "roc_auc", "roc_curve"]


def _positive_mask(op: str, t: np.ndarray, pos_label: Any) -> np.ndarray:
    classes = np.unique(t)
    if len(classes) > 2:
        raise ValueError(
            f"{op}: y_true must be binary, got {len(classes)} labels {classes.tolist()}; "
            "for multiclass scores use roc_auc (one-vs-rest) or one curve per class"
        )
    if pos_label is None:
        as_list = set(classes.tolist())
        if not (as_list <= {0, 1} or as_list <= {-1, 1}):
            raise ValueError(
                f"{op}: y_true has labels {classes.tolist()}; pass pos_label to say which is positive "
                "(it is 1 by default only for labels in {0, 1} or {-1, 1})"
            )
        pos_label = 1
    return t == pos_label


def roc_curve(
    y_true: Any, y_score: Any, pos_label: Any = None, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic of a binary classifier.

    ``y_true``: (N,) binary labels; ``y_score``: (N,) scores, higher meaning more positive.
    Returns ``fpr, tpr, thresholds`` where ``(fpr[i], tpr[i])`` are the rates when predicting
    positive for ``y_score >= thresholds[i]``; thresholds decrease, the first is ``inf`` (the
    point (0, 0)). ``drop_intermediate`` drops thresholds on straight segments of the curve
    (collinear points), which leaves the area unchanged. A rate whose class has no sample is nan.
    """
    op = "roc_curve"
    t = labels_1d(op, "y_true", y_true)
    s = scores_1d(op, "y_score", y_score)
    check_same_length(op, "y_true", t, "y_score", s)
    check_not_empty(op, "y_true", t)
    positive = _positive_mask(op, t, pos_label)

    order = np.argsort(s, kind="stable")[::-1]
    s_sorted, pos_sorted = s[order], positive[order].astype(np.float64)
    # the last index of each run of equal scores: one point per distinct threshold
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tps = np.cumsum(pos_sorted)[last_of_run]
    fps = 1 + last_of_run - tps
    thresholds = s_sorted[last_of_run]
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        tps, fps, thresholds = tps[corner], fps[corner], thresholds[corner]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, thresholds]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def auc(x: Any, y: Any) -> float:
    """Area under the curve through the points ``(x[i], y[i])`` by the trapezoid rule.

    ``x`` must be monotonic (increasing or decreasing); at least two points.
    """
    op = "auc"
    xa = scores_1d(op, "x", x)
    ya = scores_1d(op, "y", y)
    check_same_length(op, "x", xa, "y", ya)
    if len(xa) < 2:
        raise ValueError(f"{op}: needs at least 2 points to compute an area, got {len(xa)}")
    dx = np.diff(xa)
    direction = 1.0
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1.0
        else:
            raise ValueError(f"{op}: x is neither increasing nor decreasing: {xa.tolist()}")
    return float(direction * np.sum(dx * (ya[1:] + ya[:-1]) / 2))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(positive.astype(np.int64), score)
    return auc(fpr, tpr)


def roc_auc(
    y_true: Any,
    y_score: Any,
    average: Literal["macro", "weighted", "micro"] | None = "macro",
    labels: Any = None,
) -> float | np.ndarray:
    """Area under the ROC curve.

    Binary (``y_true`` with two labels): ``y_score`` is (N,) scores for the larger label, or
    (N, 2) scores of which column 1 is used. Multiclass (``y_true`` with more labels, or
    ``labels`` given with more than 2): ``y_score`` is (N, C), column ``j`` scoring class
    ``labels[j]`` (default: the sorted labels of ``y_true``, which must then number C), and the
    area is one-vs-rest per class, then averaged: ``'macro'`` (plain mean), ``'weighted'`` (by
    class support), ``'micro'`` (one curve over all the (sample, class) pairs) or None (the
    per-class array). Scores need not sum to 1. A class absent from ``y_true`` has area nan and is
    left out of the averages.
    """
    op = "roc_auc"
    t = labels_1d(op, "y_true", y_true)
    s = as_array(y_score)
    check_same_length(op, "y_true", t, "y_score", s)
    check_not_empty(op, "y_true", t)
    classes = np.unique(t) if labels is None else labels_1d(op, "labels", labels)
    if labels is not None and len(np.unique(classes)) != len(classes):
        raise ValueError(f"{op}: labels must be unique, got {classes.tolist()}")
    if s.ndim == 1 or (s.ndim == 2 and s.shape[1] in (1, 2) and len(classes) <= 2):
        if s.ndim == 2:
            s = s[:, -1]
        s = scores_1d(op, "y_score", s)
        present = np.unique(t)
        if len(present) != 2:
            raise ValueError(
                f"{op}: y_true has only the label(s) {present.tolist()}; ROC AUC needs both classes present"
            )
        return _binary_auc(t == present[1], s)

    if average not in (None, "macro", "weighted", "micro"):
        raise ValueError(f"{op}: average must be None, 'macro', 'weighted' or 'micro', got {average!r}")
    s = scores_2d(op, "y_score", s)
    if len(classes) != s.shape[1]:
        raise ValueError(
            f"{op}: there are {len(classes)} classes {classes.tolist()} but y_score has {s.shape[1]} columns"
            + ("; pass labels= to name the columns" if labels is None else "")
        )
    unknown = np.setdiff1d(t, classes)
    if len(unknown):
        raise ValueError(f"{op}: y_true holds labels {unknown.tolist()} that are not among labels")
    onehot = t[:, None] == classes[None, :]  # (N, C)
    if average == "micro":
        return _binary_auc(onehot.ravel(), s.ravel())
    support = onehot.sum(axis=0)
    per_class = np.array(
        [_binary_auc(onehot[:, j], s[:, j]) if 0 < support[j] < len(t) else np.nan for j in range(len(classes))]
    )
    if average is None:
        return per_class
    keep = ~np.isnan(per_class)
    if not keep.any():
        return float("nan")
    weights = support[keep] if average == "weighted" else None
    return float(np.average(per_class[keep], weights=weights))

"""Average precision of ranked detections, and mean average precision over classes and IoU thresholds.

Input format of :func:`mean_average_precision` (as torchmetrics' ``MeanAveragePrecision``):
one dict per image, in the same order in both lists::

    preds   = [{"boxes": (D, 4) xyxy, "scores": (D,), "labels": (D,)}, ...]
    targets = [{"boxes": (G, 4) xyxy, "labels": (G,)}, ...]

Values may be numpy arrays, lists or minidl tensors; an image without boxes has empty arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from minidl.metrics._inputs import as_array, check_same_length, labels_1d, scores_1d
from minidl.metrics.boxes import _iou, check_boxes

__all__ = ["COCO_IOU_THRESHOLDS", "average_precision", "average_precision_from_curve", "mean_average_precision"]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
"""0.50, 0.55, ..., 0.95: the thresholds COCO's "AP@[.5:.95]" averages over."""

Method = Literal["all", "11point", "101point"]


def average_precision_from_curve(recall: Any, precision: Any, method: Method = "all") -> float:
    """Area under an interpolated precision-recall curve.

    ``recall`` (non-decreasing) and ``precision`` (K,) are the points after each ranked
    detection. The interpolated precision at recall r is ``p_interp(r) = max(precision[recall >= r])``
    (0 when no point reaches r). ``method``:

    - ``'all'``: all-point interpolation (PASCAL VOC 2010 and later),
      ``sum_i (r_i - r_{i-1}) * p_interp(r_i)`` over the recalls where the curve steps;
    - ``'11point'``: VOC 2007, ``mean(p_interp(r) for r in 0, 0.1, ..., 1)``;
    - ``'101point'``: COCO, ``mean(p_interp(r) for r in 0, 0.01, ..., 1)``.
    """
    op = "average_precision_from_curve"
    r = scores_1d(op, "recall", recall) if as_array(recall).size else np.zeros(0)
    p = scores_1d(op, "precision", precision) if as_array(precision).size else np.zeros(0)
    check_same_length(op, "recall", r, "precision", p)
    if np.any(np.diff(r) < 0):
        raise ValueError(f"{op}: recall must be non-decreasing (points in ranked order)")
    if method == "all":
        mrec = np.r_[0.0, r, 1.0]
        mpre = np.r_[0.0, p, 0.0]
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the precision envelope
        step = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))
    if method in ("11point", "101point"):
        # i / 10 rather than VOC's np.arange(0, 1.1, 0.1): 0.1 * 3 > 0.3 in floats would miss a
        # recall of exactly 0.3; recall k / n and i / 10 are both correctly rounded, so they compare exactly
        steps = 10 if method == "11point" else 100
        points = np.arange(steps + 1) / steps
        envelope = np.maximum.accumulate(np.r_[p, 0.0][::-1])[::-1]  # envelope[k] = max(p[k:]), 0 past the end
        first_reaching = np.searchsorted(r, points, side="left")
        return float(np.mean(envelope[first_reaching]))
    raise ValueError(f"{op}: method must be 'all', '11point' or '101point', got {method!r}")


def average_precision(y_true: Any, y_score: Any, num_positives: int | None = None, method: Method = "all") -> float:
    """Average precision of detections ranked by score.

    ``y_true``: (D,) 1 for a true positive detection, 0 for a false one; ``y_score``: (D,) their
    scores (ranked highest first, equal scores in input order). ``num_positives``: how many
    ground-truth objects there are (default ``sum(y_true)``; objects never detected lower the
    recall). Recall after rank k is ``tp_k / num_positives``, precision ``tp_k / k``; the area
    is taken as :func:`average_precision_from_curve` says for ``method``.

    With ``num_positives`` left out and ``method='all'`` this is the interpolated AP of a ranking,
    which is at least ``sklearn.metrics.average_precision_score`` (that one does not interpolate).
    """
    op = "average_precision"
    t = labels_1d(op, "y_true", y_true) if as_array(y_true).size else np.zeros(0)
    s = scores_1d(op, "y_score", y_score) if as_array(y_score).size else np.zeros(0)
    check_same_length(op, "y_true", t, "y_score", s)
    if not np.all(np.isin(t, (0, 1))):
        raise ValueError(f"{op}: y_true must hold 0 (false positive) or 1 (true positive), got {np.unique(t).tolist()}")
    tp = t.astype(np.float64)
    n_tp = int(tp.sum())
    if num_positives is None:
        num_positives = n_tp
    if num_positives < n_tp:
        raise ValueError(f"{op}: num_positives = {num_positives} is less than the {n_tp} true positives in y_true")
    if num_positives == 0:
        raise ValueError(f"{op}: there are no positives (num_positives = 0); average precision is undefined")
    order = np.argsort(-s, kind="stable")
    cum_tp = np.cumsum(tp[order])
    recall = cum_tp / num_positives
    precision = cum_tp / np.arange(1, len(t) + 1)
    return average_precision_from_curve(recall, precision, method)


def _image(op: str, kind: str, i: int, d: Any, with_scores: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(d, dict):
        raise TypeError(f"{op}: {kind}[{i}] must be a dict with 'boxes', 'labels'"
                        + (", 'scores'" if with_scores else "") + f", got {type(d).__name__}")
    need = ("boxes", "scores", "labels") if with_scores else ("boxes", "labels")
    missing = [k for k in need if k not in d]
    if missing:
        raise KeyError(f"{op}: {kind}[{i}] lacks the key(s) {missing}; it has {sorted(d)}")
    where = f"{kind}[{i}]"
    boxes = check_boxes(op, f"{where}['boxes']", d["boxes"])
    labels = labels_1d(op, f"{where}['labels']", d["labels"]) if as_array(d["labels"]).size else np.zeros(0, int)
    check_same_length(op, f"{where}['boxes']", boxes, f"{where}['labels']", labels)
    if with_scores:
        scores = scores_1d(op, f"{where}['scores']", d["scores"]) if as_array(d["scores"]).size else np.zeros(0)
        check_same_length(op, f"{where}['boxes']", boxes, f"{where}['scores']", scores)
    else:
        scores = np.zeros(len(boxes))
    return boxes, scores, labels


def _match(det_boxes: np.ndarray, gt_boxes: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """True-positive flags (T, D) of one image's detections of one class, already ranked.

    COCO's greedy rule: each detection in turn takes the still unmatched ground truth with the
    highest IoU, if that IoU is >= the threshold (the first such ground truth on equal IoU).
    """
    flags = np.zeros((len(thresholds), len(det_boxes)), dtype=bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return flags
    iou = _iou(det_boxes, gt_boxes)
    for ti, thr in enumerate(thresholds):
        taken = np.zeros(len(gt_boxes), dtype=bool)
        for di in range(len(det_boxes)):
            candidates = np.where(taken, -1.0, iou[di])
            g = int(np.argmax(candidates))
            if candidates[g] >= thr:
                taken[g] = True
                flags[ti, di] = True
    return flags


def mean_average_precision(
    preds: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    iou_thresholds: float | Sequence[float] | Literal["coco"] = 0.5,
    method: Method = "all",
) -> dict[str, Any]:
    """Mean average precision of object detections over classes and IoU thresholds.

    ``preds``/``targets``: one dict per image (see the module docstring). For each class and IoU
    threshold, the class's detections from all images are ranked by score (equal scores in
    image order, then box order); in its own image a detection is a true positive when it
    matches a not yet matched ground truth box of its class with IoU >= threshold (the one with
    the highest IoU, as COCO matches), otherwise a false positive. AP is then
    :func:`average_precision` with ``num_positives`` the class's ground-truth count.

    ``iou_thresholds``: a number (0.5 gives PASCAL VOC's mAP@0.5), a sequence, or ``'coco'``
    (0.50:0.05:0.95). ``method``: ``'all'`` (VOC 2010+), ``'11point'`` (VOC 2007) or
    ``'101point'`` (COCO's sampling; with ``'coco'`` thresholds this is COCO's AP, without its
    area ranges, crowd boxes and 100-detection cap).

    Classes are those with at least one ground-truth box; a class with ground truth and no
    detection has AP 0; detections of a class without ground truth are ignored. Returns a dict:

    - ``'map'``: float, the mean over classes and thresholds (nan when there is no ground truth);
    - ``'map_per_threshold'``: ``{threshold: mean over classes}``, plus ``'map_50'``/``'map_75'``
      when 0.5/0.75 are among the thresholds;
    - ``'ap_per_class'``: ``{label: mean over thresholds}``;
    - ``'ap'``: the (n_classes, n_thresholds) array, rows in the order of ``'classes'``;
    - ``'classes'`` and ``'iou_thresholds'``: the arrays the rows and columns stand for.
    """
    op = "mean_average_precision"
    if isinstance(preds, dict) or isinstance(targets, dict):
        raise TypeError(f"{op}: preds and targets must be lists with one dict per image, not a single dict")
    if len(preds) != len(targets):
        raise ValueError(f"{op}: preds has {len(preds)} images but targets has {len(targets)}; they must match")
    if isinstance(iou_thresholds, str):
        if iou_thresholds != "coco":
            raise ValueError(f"{op}: iou_thresholds must be a number, a sequence or 'coco', got {iou_thresholds!r}")
        thresholds = COCO_IOU_THRESHOLDS.copy()
    else:
        thresholds = np.atleast_1d(as_array(iou_thresholds, dtype=np.float64))
        if thresholds.ndim != 1 or len(thresholds) == 0 or np.any((thresholds < 0) | (thresholds > 1)):
            raise ValueError(f"{op}: iou_thresholds must be numbers in [0, 1], got {thresholds.tolist()}")
    if method not in ("all", "11point", "101point"):
        raise ValueError(f"{op}: method must be 'all', '11point' or '101point', got {method!r}")

    dets = [_image(op, "preds", i, d, True) for i, d in enumerate(preds)]
    gts = [_image(op, "targets", i, d, False) for i, d in enumerate(targets)]
    classes = np.unique(np.concatenate([g[2] for g in gts])) if gts else np.zeros(0)
    ap = np.zeros((len(classes), len(thresholds)))
    for ci, c in enumerate(classes):
        flags, scores, n_gt = [], [], 0
        for (db, ds, dl), (gb, _, gl) in zip(dets, gts):
            mine, theirs = dl == c, gl == c
            n_gt += int(theirs.sum())
            order = np.argsort(-ds[mine], kind="stable")
            flags.append(_match(db[mine][order], gb[theirs], thresholds))
            scores.append(ds[mine][order])
        all_flags, all_scores = np.concatenate(flags, axis=1), np.concatenate(scores)
        for ti in range(len(thresholds)):
            ap[ci, ti] = average_precision(all_flags[ti].astype(np.int64), all_scores, n_gt, method)

    per_threshold = ap.mean(axis=0) if len(classes) else np.full(len(thresholds), np.nan)
    result: dict[str, Any] = {
        "map": float(ap.mean()) if len(classes) else float("nan"),
        "map_per_threshold": {round(float(t), 4): float(m) for t, m in zip(thresholds, per_threshold)},
        "ap_per_class": {c.item(): float(a) for c, a in zip(classes, ap.mean(axis=1))},
        "ap": ap,
        "classes": classes,
        "iou_thresholds": thresholds,
    }
    for name, thr in (("map_50", 0.5), ("map_75", 0.75)):
        hit = np.flatnonzero(np.isclose(thresholds, thr))
        if len(hit):
            result[name] = float(per_threshold[hit[0]])
    return result

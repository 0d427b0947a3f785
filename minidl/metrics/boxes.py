"""Boxes: intersection over union and non-maximum suppression, as ``torchvision.ops`` has them.

Boxes are ``(x1, y1, x2, y2)`` rows ("xyxy") with ``x1 <= x2`` and ``y1 <= y2``. Arithmetic is in
float64, so the ``IoU > threshold`` comparisons are exact for integer coordinates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.metrics._inputs import as_array, check_same_length, labels_1d, scores_1d

__all__ = ["batched_nms", "box_area", "box_iou", "check_boxes", "nms"]


def check_boxes(op: str, name: str, boxes: Any) -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` xyxy array, or a clear error naming ``op`` and ``name``.

    An empty input (``[]``) is a ``(0, 4)`` array.
    """
    b = as_array(boxes)
    if b.size == 0 and b.ndim <= 2:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{op}: {name} must have shape (N, 4) as rows (x1, y1, x2, y2), got {b.shape}")
    try:
        b = b.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must hold numbers, got dtype {b.dtype}") from None
    if not np.all(np.isfinite(b)):
        row = int(np.flatnonzero(~np.isfinite(b).all(axis=1))[0])
        raise ValueError(f"{op}: {name}[{row}] = {b[row].tolist()} is not finite")
    bad = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{op}: {name}[{row}] = {b[row].tolist()} has x2 < x1 or y2 < y1 "
            f"({int(bad.sum())} such boxes); boxes must be (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2"
        )
    return b


def box_area(boxes: Any) -> np.ndarray:
    """(N,) areas ``(x2 - x1) * (y2 - y1)`` of (N, 4) xyxy boxes."""
    b = check_boxes("box_area", "boxes", boxes)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of checked boxes (N, 4) and (M, 4) -> (N, M); 0 where the union has no area."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """Intersection over union of every pair: (N, 4) and (M, 4) xyxy boxes -> (N, M) in [0, 1].

    ``iou[i, j] = |A_i ∩ B_j| / (|A_i| + |B_j| - |A_i ∩ B_j|)``; a pair of zero-area boxes (union 0)
    has IoU 0 (torchvision gives nan there).
    """
    return _iou(check_boxes("box_iou", "boxes1", boxes1), check_boxes("box_iou", "boxes2", boxes2))


def _nms_checked(op: str, boxes: Any, scores: Any, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    b = check_boxes(op, "boxes", boxes)
    s = scores_1d(op, "scores", scores) if as_array(scores).size else np.zeros(0)
    check_same_length(op, "boxes", b, "scores", s)
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: iou_threshold must be a number, got {iou_threshold!r}")
    if np.isnan(iou_threshold):
        raise ValueError(f"{op}: iou_threshold must be a number, got nan")
    return b, s


def _nms(b: np.ndarray, s: np.ndarray, iou_threshold: float) -> np.ndarray:
    order = np.argsort(-s, kind="stable")  # highest score first; equal scores keep input order
    sorted_boxes = b[order]
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        if i + 1 < len(order):
            iou = _iou(sorted_boxes[i : i + 1], sorted_boxes[i + 1 :])[0]
            suppressed[i + 1 :] |= iou > iou_threshold
    return order[np.asarray(keep, dtype=np.int64)].astype(np.int64)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``.

    Repeatedly keep the highest-scoring box left and drop every remaining box whose IoU with it
    is strictly greater than ``iou_threshold``. Equal scores are taken in input order.
    ``boxes``: (N, 4) xyxy; ``scores``: (N,). Returns the int64 indices of the kept boxes, in
    decreasing score order.
    """
    b, s = _nms_checked("nms", boxes, scores, iou_threshold)
    return _nms(b, s, float(iou_threshold))


def batched_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> np.ndarray:
    """Non-maximum suppression within each category, as ``torchvision.ops.batched_nms``.

    Boxes with different ``idxs`` (N,) (class labels, or image indices) never suppress each
    other. Returns int64 indices of the kept boxes in decreasing score order (equal scores in
    input order), the same as :func:`nms` run on each category with the results merged.
    """
    op = "batched_nms"
    b, s = _nms_checked(op, boxes, scores, iou_threshold)
    ids = labels_1d(op, "idxs", idxs) if as_array(idxs).size else np.zeros(0, dtype=np.int64)
    check_same_length(op, "boxes", b, "idxs", ids)
    kept = [np.flatnonzero(ids == c)[_nms(b[ids == c], s[ids == c], float(iou_threshold))] for c in np.unique(ids)]
    keep = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    return keep[np.argsort(-s[keep], kind="stable")].astype(np.int64)

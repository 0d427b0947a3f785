"""Metrics the courses report: classification scores, ROC, and detection (IoU, NMS, mAP).

Every metric takes ``(y_true, y_pred_or_score)`` in scikit-learn's order, accepts numpy arrays,
lists or minidl tensors, and returns plain floats or numpy arrays::

    from minidl import metrics as M

    M.accuracy(y, logits)                           # argmax of (N, C) scores, or (N,) labels
    M.confusion_matrix(y, pred, normalize="true")   # rows: true classes
    p, r, f1 = M.precision_recall_f1(y, pred, average="macro")
    fpr, tpr, thr = M.roc_curve(y, score); M.auc(fpr, tpr); M.roc_auc(y, probs)
    keep = M.nms(boxes, scores, 0.5)                # as torchvision.ops.nms
    M.mean_average_precision(preds, targets, iou_thresholds="coco")["map"]
"""

from minidl.metrics.boxes import batched_nms, box_area, box_iou, nms
from minidl.metrics.classification import (
    UndefinedMetricWarning,
    accuracy,
    confusion_matrix,
    precision_recall_f1,
    top_k_accuracy,
)
from minidl.metrics.detection import (
    COCO_IOU_THRESHOLDS,
    average_precision,
    average_precision_from_curve,
    mean_average_precision,
)
from minidl.metrics.roc import auc, roc_auc, roc_curve

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "UndefinedMetricWarning",
    "accuracy",
    "auc",
    "average_precision",
    "average_precision_from_curve",
    "batched_nms",
    "box_area",
    "box_iou",
    "confusion_matrix",
    "mean_average_precision",
    "nms",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
    "top_k_accuracy",
]

"""minidl.metrics: classification and ROC metrics against scikit-learn over hypothesis-drawn labels
and scores (ties included); IoU, NMS, AP and mAP against hand-worked cases and plain-Python reference
implementations over hypothesis-drawn boxes; minidl tensors as inputs; clear errors for bad inputs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl import metrics as M

# ---------------------------------------------------------------------------------------------
# strategies: values from a numpy generator seeded by hypothesis


@st.composite
def label_pairs(draw: Any, min_classes: int = 1, max_classes: int = 5) -> tuple[np.ndarray, np.ndarray, int]:
    n_classes = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y_true = rng.integers(0, n_classes, n)
    # predictions right about half of the time, so every count of the confusion matrix shows up
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, n_classes, n))
    return y_true, y_pred, n_classes


@st.composite
def binary_scores(draw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels with both classes present, and scores with ties (rounded to few values)."""
    n = draw(st.integers(2, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    rng.shuffle(y)
    levels = draw(st.sampled_from([3, 10, 1000]))
    score = np.round(rng.random(n) * levels + y * draw(st.floats(0, 3)) * levels / 3) / levels
    return y, score


@st.composite
def multiclass_scores(draw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels with every one of C >= 3 classes present, and (N, C) probabilities (rows sum to 1)."""
    c = draw(st.integers(3, 5))
    n = draw(st.integers(c, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = np.r_[np.arange(c), rng.integers(0, c, n - c)]
    rng.shuffle(y)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y] * rng.random()
    if draw(st.booleans()):
        logits = np.round(logits)  # ties
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


@st.composite
def box_sets(draw: Any, max_n: int = 12, grid: int = 10) -> np.ndarray:
    """(N, 4) xyxy boxes on an integer grid (so IoUs such as exactly 0.5 occur), some zero-area."""
    n = draw(st.integers(0, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x1, y1 = rng.integers(0, grid, n), rng.integers(0, grid, n)
    w, h = rng.integers(0, grid // 2 + 1, n), rng.integers(0, grid // 2 + 1, n)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# plain-Python references


def ref_iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ref_nms(boxes: list[list[float]], scores: list[float], thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        if all(ref_iou(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


def ref_ap(flags: list[bool], n_gt: int, method: str) -> float:
    tp = 0
    recall, precision = [], []
    for k, f in enumerate(flags, start=1):
        tp += f
        recall.append(tp / n_gt)
        precision.append(tp / k)

    def p_interp(r: float) -> float:
        return max([p for rr, p in zip(recall, precision) if rr >= r], default=0.0)

    if method == "11point":
        return sum(p_interp(t / 10) for t in range(11)) / 11
    if method == "101point":
        return sum(p_interp(t / 100) for t in range(101)) / 101
    ap, prev = 0.0, 0.0
    for r in sorted(set(recall)):
        ap += (r - prev) * p_interp(r)
        prev = r
    return ap


def ref_map(preds: list[dict], targets: list[dict], thresholds: list[float], method: str) -> float:
    classes = sorted({int(c) for t in targets for c in t["labels"]})
    aps = []
    for c in classes:
        for thr in thresholds:
            dets = []  # (score, image, box index within the image, box)
            for i, p in enumerate(preds):
                rows = enumerate(zip(p["boxes"], p["scores"], p["labels"]))
                dets += [(float(s), i, j, list(b)) for j, (b, s, l) in rows if l == c]
            dets.sort(key=lambda d: (-d[0], d[1], d[2]))
            gts = {i: [list(b) for b, l in zip(t["boxes"], t["labels"]) if l == c] for i, t in enumerate(targets)}
            taken = {i: [False] * len(g) for i, g in gts.items()}
            flags = []
            for _, i, _, box in dets:
                best, best_iou = -1, -1.0
                for g, gbox in enumerate(gts[i]):
                    iou = ref_iou(box, gbox)
                    if not taken[i][g] and iou > best_iou:
                        best, best_iou = g, iou
                hit = best >= 0 and best_iou >= thr
                if hit:
                    taken[i][best] = True
                flags.append(hit)
            aps.append(ref_ap(flags, sum(len(g) for g in gts.values()), method))
    return sum(aps) / len(aps)


# ---------------------------------------------------------------------------------------------
# classification against scikit-learn


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")  # sklearn, on one-label data
@given(label_pairs())
def test_accuracy_and_confusion_matrix_match_sklearn(data: tuple) -> None:
    y, p, c = data
    assert M.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when a single label is seen
        expected = skm.confusion_matrix(y, p)
    np.testing.assert_array_equal(M.confusion_matrix(y, p), expected)
    labels = np.arange(c)[::-1]  # a chosen order, with labels perhaps absent from the data
    for normalize in (None, "true", "pred", "all"):
        ours = M.confusion_matrix(y, p, labels=labels, normalize=normalize)
        np.testing.assert_allclose(ours, skm.confusion_matrix(y, p, labels=labels, normalize=normalize))
    subset = labels[: max(1, c - 1)]  # samples outside the labels are left out
    if np.isin(y, subset).any():  # (sklearn refuses labels none of which is in y_true)
        expected = skm.confusion_matrix(y, p, labels=subset)
        np.testing.assert_array_equal(M.confusion_matrix(y, p, labels=subset), expected)


@given(label_pairs(), st.sampled_from(["macro", "micro", "weighted", None]), st.sampled_from([0, 1, np.nan, "warn"]))
def test_precision_recall_f1_match_sklearn(data: tuple, average: Any, zero_division: Any) -> None:
    y, p, c = data
    for labels in (None, np.arange(c + 1)):  # label c never occurs: zero divisions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = M.precision_recall_f1(y, p, average=average, labels=labels, zero_division=zero_division)
            theirs = skm.precision_recall_fscore_support(
                y, p, average=average, labels=labels, zero_division=zero_division
            )[:3]
            f1 = skm.f1_score(y, p, average=average, labels=labels, zero_division=zero_division)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, equal_nan=True)
            assert isinstance(a, float) if average else isinstance(a, np.ndarray)
        np.testing.assert_allclose(ours[2], f1, equal_nan=True)


def test_precision_recall_f1_binary_and_warning() -> None:
    y, p = [0, 1, 1, 0, 1], [0, 1, 0, 0, 0]
    ours = M.precision_recall_f1(y, p, average="binary")
    np.testing.assert_allclose(ours, skm.precision_recall_fscore_support(y, p, average="binary")[:3])
    with pytest.warns(M.UndefinedMetricWarning, match="precision"):
        M.precision_recall_f1([0, 0], [1, 1], average=None, labels=[0, 1])


@given(multiclass_scores(), st.integers(1, 6))
def test_top_k_accuracy_matches_sklearn(data: tuple, k: int) -> None:
    y, s = data
    labels = np.arange(s.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k >= C warns in sklearn
        expected = skm.top_k_accuracy_score(y, s, k=k, labels=labels)
    assert M.top_k_accuracy(y, s, k=k) == pytest.approx(expected)
    if k == 1:
        assert M.accuracy(y, s) == pytest.approx(skm.accuracy_score(y, s.argmax(axis=1)))


def test_top_k_accuracy_hand_worked() -> None:
    s = [[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]]
    assert M.top_k_accuracy([2, 1, 0], s, k=1) == 0.0
    assert M.top_k_accuracy([2, 1, 0], s, k=2) == pytest.approx(2 / 3)
    assert M.top_k_accuracy(["c", "b", "a"], s, k=2, labels=["a", "b", "c"]) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------
# ROC against scikit-learn


@given(binary_scores(), st.booleans())
def test_roc_curve_and_auc_match_sklearn(data: tuple, drop: bool) -> None:
    y, s = data
    fpr, tpr, thr = M.roc_curve(y, s, drop_intermediate=drop)
    efpr, etpr, ethr = skm.roc_curve(y, s, drop_intermediate=drop)
    np.testing.assert_allclose(fpr, efpr)
    np.testing.assert_allclose(tpr, etpr)
    np.testing.assert_array_equal(thr, ethr)
    assert M.auc(fpr, tpr) == pytest.approx(skm.auc(efpr, etpr))
    assert M.auc(fpr[::-1], tpr[::-1]) == pytest.approx(skm.auc(efpr, etpr))  # decreasing x
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    # other label values with pos_label, and (N, 2) scores
    fpr2, tpr2, _ = M.roc_curve(np.where(y == 1, "spam", "ham"), s, pos_label="spam", drop_intermediate=drop)
    np.testing.assert_allclose(fpr2, efpr)
    np.testing.assert_allclose(tpr2, etpr)
    assert M.roc_auc(y, np.stack([1 - s, s], axis=1)) == pytest.approx(skm.roc_auc_score(y, s))


@given(multiclass_scores(), st.sampled_from(["macro", "weighted", "micro", None]))
def test_roc_auc_one_vs_rest_matches_sklearn(data: tuple, average: Any) -> None:
    y, s = data
    expected = skm.roc_auc_score(y, s, multi_class="ovr", average=average)
    np.testing.assert_allclose(M.roc_auc(y, s, average=average), expected)


def test_roc_hand_worked() -> None:
    fpr, tpr, thr = M.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.8, 0.4, 0.35, 0.1])
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert M.auc([0, 1, 2], [0, 1, 0]) == 1.0


# ---------------------------------------------------------------------------------------------
# boxes: IoU and NMS


def test_box_iou_hand_worked() -> None:
    a = [[0, 0, 2, 2], [0, 0, 1, 1]]
    b = [[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [5, 5, 5, 5]]
    np.testing.assert_allclose(M.box_iou(a, b), [[1 / 7, 1, 0, 0], [0, 0.25, 0, 0]])
    assert M.box_iou(np.zeros((0, 4)), b).shape == (0, 4)
    assert M.box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0  # no union: 0, not nan


@given(box_sets(), box_sets())
def test_box_iou_matches_reference(a: np.ndarray, b: np.ndarray) -> None:
    iou = M.box_iou(a, b)
    assert iou.shape == (len(a), len(b))
    expected = [[ref_iou(list(x), list(y)) for y in b] for x in a]
    np.testing.assert_allclose(iou, np.array(expected).reshape(len(a), len(b)))
    np.testing.assert_allclose(M.box_iou(b, a), iou.T)


def test_nms_hand_worked() -> None:
    boxes = [[0, 0, 2, 1], [0, 0, 1, 1], [0, 0, 2, 1], [10, 10, 12, 12]]
    # IoU(0, 1) is exactly 0.5: suppressed only when the threshold is below it
    assert M.nms(boxes[:2], [0.9, 0.8], 0.5).tolist() == [0, 1]
    assert M.nms(boxes[:2], [0.9, 0.8], 0.49).tolist() == [0]
    # equal scores: the earlier box wins; the result is int64 in decreasing score order
    keep = M.nms(boxes, [0.5, 0.1, 0.5, 0.7], 0.5)
    assert keep.dtype == np.int64
    assert keep.tolist() == [3, 0, 1]
    assert M.nms(np.zeros((0, 4)), [], 0.5).tolist() == []
    # batched: the same boxes in different categories do not suppress each other
    assert M.batched_nms(boxes, [0.5, 0.1, 0.5, 0.7], [0, 0, 1, 1], 0.5).tolist() == [3, 0, 2, 1]


@given(box_sets(max_n=25), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
def test_nms_and_batched_nms_match_reference(boxes: np.ndarray, seed: int, thr: float) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(len(boxes)), 1)  # ties
    idxs = rng.integers(0, 3, len(boxes))
    keep = M.nms(boxes, scores, thr)
    assert keep.tolist() == ref_nms(boxes.tolist(), scores.tolist(), thr)
    per_class = [i for c in range(3) for i in np.flatnonzero(idxs == c)[
        ref_nms(boxes[idxs == c].tolist(), scores[idxs == c].tolist(), thr)]]
    expected = sorted(per_class, key=lambda i: (-scores[i], i))
    batched = M.batched_nms(boxes, scores, idxs, thr)
    assert batched.dtype == np.int64
    assert batched.tolist() == expected
    # the coordinate-offset trick torchvision uses gives the same answer
    offset = idxs[:, None] * (boxes.max(initial=0) + 1)
    assert M.nms(boxes + offset, scores, thr).tolist() == expected


# ---------------------------------------------------------------------------------------------
# average precision and mAP


def test_average_precision_hand_worked() -> None:
    # ranked: TP, FP, TP with 3 ground truths: recall 1/3, 1/3, 2/3; precision 1, 1/2, 2/3
    flags, scores = [1, 0, 1], [0.9, 0.8, 0.7]
    assert M.average_precision(flags, scores, num_positives=3) == pytest.approx(1 / 3 + (1 / 3) * (2 / 3))
    assert M.average_precision(flags, scores, 3, method="11point") == pytest.approx(6 / 11)
    assert M.average_precision(flags[::-1], scores[::-1], 3) == pytest.approx(5 / 9)  # ranked by score
    assert M.average_precision([1, 1], [0.2, 0.1]) == 1.0
    assert M.average_precision([], [], num_positives=2) == 0.0


@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.sampled_from(["all", "11point", "101point"]))
def test_average_precision_matches_reference(seed: int, n: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    flags = rng.random(n) < 0.5
    n_gt = int(flags.sum()) + int(rng.integers(0, 3))
    if n_gt == 0:
        return
    scores = np.sort(rng.random(n))[::-1]
    ours = M.average_precision(flags.astype(int), scores, n_gt, method=method)
    assert ours == pytest.approx(ref_ap(flags.tolist(), n_gt, method))
    if method == "all" and n_gt == flags.sum() and len(np.unique(scores)) == n:
        # interpolation only raises precision: never below sklearn's (uninterpolated) AP
        assert ours >= skm.average_precision_score(flags, scores) - 1e-12


def test_mean_average_precision_hand_worked() -> None:
    targets = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 1]}]
    preds = [{
        "boxes": [[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 25], [50, 50, 60, 60]],
        "scores": [0.9, 0.8, 0.7, 0.95],
        "labels": [0, 0, 1, 2],  # the duplicate is a false positive; class 2 has no ground truth
    }]
    out = M.mean_average_precision(preds, targets, iou_thresholds=[0.5, 0.75])
    np.testing.assert_allclose(out["ap"], [[1, 1], [1, 0]])  # the class-1 box has IoU exactly 0.5
    assert out["map"] == 0.75 and out["map_50"] == 1.0 and out["map_75"] == 0.5
    assert out["ap_per_class"] == {0: 1.0, 1: 0.5}
    assert out["classes"].tolist() == [0, 1]
    coco = M.mean_average_precision(preds, targets, iou_thresholds="coco", method="101point")
    assert len(coco["iou_thresholds"]) == 10
    # class 0 is perfect at every threshold; class 1 only at 0.5
    assert coco["map"] == pytest.approx((1 + 0.1) / 2)
    # a perfect detector scores 1; no detections score 0
    perfect = [{"boxes": t["boxes"], "scores": [1.0, 1.0], "labels": t["labels"]} for t in targets]
    assert M.mean_average_precision(perfect, targets, "coco")["map"] == 1.0
    empty = [{"boxes": np.zeros((0, 4)), "scores": [], "labels": []}]
    assert M.mean_average_precision(empty, targets)["map"] == 0.0


@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.sampled_from(["all", "11point"]))
def test_mean_average_precision_matches_reference(seed: int, n_images: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        n_gt, n_det = int(rng.integers(0, 5)), int(rng.integers(0, 8))
        g = rng.integers(0, 8, (n_gt, 2))
        gboxes = np.c_[g, g + rng.integers(1, 5, (n_gt, 2))].astype(float)
        # detections: jittered copies of ground truths and random boxes
        src = np.r_[gboxes, np.c_[rng.integers(0, 8, (3, 2)), rng.integers(8, 12, (3, 2))]]
        dboxes = src[rng.integers(0, len(src), n_det)] + rng.integers(-1, 2, (n_det, 4)) * [0, 0, 1, 1]
        dboxes[:, 2:] = np.maximum(dboxes[:, 2:], dboxes[:, :2])
        targets.append({"boxes": gboxes, "labels": rng.integers(0, 3, n_gt)})
        preds.append({"boxes": dboxes, "scores": np.round(rng.random(n_det), 1), "labels": rng.integers(0, 3, n_det)})
    thresholds = [0.3, 0.5, 0.75]
    out = M.mean_average_precision(preds, targets, thresholds, method=method)
    if not any(len(t["labels"]) for t in targets):
        assert np.isnan(out["map"])
        return
    assert out["map"] == pytest.approx(ref_map(preds, targets, thresholds, method))


# ---------------------------------------------------------------------------------------------
# inputs: tensors and lists; errors


def test_minidl_tensors_are_accepted() -> None:
    y = md.tensor([0, 1, 2, 1])
    logits = md.tensor([[2.0, 0.1, 0.0], [0.0, 1.0, 0.5], [0.1, 3.0, 0.2], [0.0, 2.0, 1.0]], requires_grad=True)
    assert M.accuracy(y, logits) == 0.75
    assert M.confusion_matrix(y, logits.detach().numpy().argmax(1)).sum() == 4
    assert M.top_k_accuracy(y, logits, k=2) == 1.0
    boxes = md.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    assert M.nms(boxes, md.tensor([0.2, 0.3]), 0.5).tolist() == [1]
    assert M.box_iou(boxes, [md.tensor([0.0, 0.0, 1.0, 1.0])]).tolist() == [[1.0], [1.0]]
    assert M.roc_auc(md.tensor([0, 1, 1]), md.tensor([0.1, 0.9, 0.8], requires_grad=True)) == 1.0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: M.box_iou([[0, 0, -1, 1]], [[0, 0, 1, 1]]), ValueError, r"boxes1\[0\].*x2 < x1"),
        (lambda: M.nms([[0, 0, 1, 1], [0, 2, 1, 1]], [1, 2], 0.5), ValueError, r"boxes\[1\].*y2 < y1"),
        (lambda: M.box_iou([[0, 0, 1]], [[0, 0, 1, 1]]), ValueError, r"shape \(N, 4\).*\(1, 3\)"),
        (lambda: M.box_iou([[0, 0, 1, np.nan]], [[0, 0, 1, 1]]), ValueError, "not finite"),
        (lambda: M.nms([[0, 0, 1, 1]] * 3, [1, 2], 0.5), ValueError, "boxes has 3 .* scores has 2"),
        (lambda: M.batched_nms([[0, 0, 1, 1]] * 2, [1, 2], [0], 0.5), ValueError, "boxes has 2 .* idxs has 1"),
        (lambda: M.accuracy([0, 1, 2], [0, 1]), ValueError, "y_true has 3 .* y_pred has 2"),
        (lambda: M.accuracy([], []), ValueError, "empty"),
        (lambda: M.confusion_matrix([[0, 1], [1, 0]], [0, 1]), ValueError, r"1-D.*\(2, 2\)"),
        (lambda: M.confusion_matrix([0], [0], normalize="rows"), ValueError, "normalize"),
        (lambda: M.precision_recall_f1([0], [0], average="samples"), ValueError, "average"),
        (lambda: M.precision_recall_f1([0], [0], zero_division=2), ValueError, "zero_division"),
        (lambda: M.precision_recall_f1([0, 1, 2], [0, 1, 2], average="binary"), ValueError, "at most 2"),
        (lambda: M.top_k_accuracy([0, 1], [0.1, 0.2], k=1), ValueError, r"2-D \(N, C\)"),
        (lambda: M.top_k_accuracy([0, 5], [[0.1, 0.2]] * 2, k=1), ValueError, r"\[5\]"),
        (lambda: M.top_k_accuracy([0], [[0.1, 0.2]], k=0), ValueError, "positive"),
        (lambda: M.roc_curve([0, 1, 2], [0.1, 0.2, 0.3]), ValueError, "binary"),
        (lambda: M.roc_curve([0, 1], [0.1, 0.2, 0.3]), ValueError, "y_true has 2 .* y_score has 3"),
        (lambda: M.roc_curve([0, 1], [0.1, np.inf]), ValueError, "finite"),
        (lambda: M.roc_auc([1, 1], [0.1, 0.2]), ValueError, "both classes"),
        (lambda: M.roc_auc([0, 1, 2], [[0.1, 0.9]] * 3), ValueError, "3 classes .* 2 columns"),
        (lambda: M.auc([0, 2, 1], [0, 1, 2]), ValueError, "neither increasing nor decreasing"),
        (lambda: M.auc([0], [1]), ValueError, "at least 2"),
        (lambda: M.average_precision([1, 2], [0.1, 0.2]), ValueError, "0 .* or 1"),
        (lambda: M.average_precision([1, 1], [0.1, 0.2], num_positives=1), ValueError, "less than"),
        (lambda: M.average_precision([0], [0.1]), ValueError, "no positives"),
        (lambda: M.average_precision([1], [0.1], method="voc"), ValueError, "method"),
        (lambda: M.mean_average_precision([{}], []), ValueError, "preds has 1 images but targets has 0"),
        (lambda: M.mean_average_precision([{"boxes": [], "labels": []}], [{"boxes": [], "labels": []}]),
         KeyError, r"preds\[0\].*\['scores'\]"),
        (lambda: M.mean_average_precision([{"boxes": [[0, 0, 1, 1]], "scores": [1], "labels": [0, 1]}],
                                          [{"boxes": [], "labels": []}]), ValueError, "boxes'] has 1 .* has 2"),
        (lambda: M.mean_average_precision([], [], iou_thresholds=1.5), ValueError, "in \\[0, 1\\]"),
        (lambda: M.mean_average_precision({"boxes": []}, {"boxes": []}), TypeError, "one dict per image"),
    ],
)
def test_errors(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()

"""Exercise 13 - IoU, non-maximum suppression and mAP on generated boxes (COURSEWORK.md section 5).

Section 5's prose questions (non-maximum suppression, IoU, mAP) computed on synthetic
detections, with ``minidl.metrics``:

* ground truth: a few random boxes of 3 classes per image;
* detections: each ground-truth box is found by a cluster of jittered copies (one tight,
  high-scoring, the others looser with lower scores), some objects are missed, and random
  false positives with low scores are added;
* IoU by hand for two boxes, checked with ``box_iou``;
* NMS (``batched_nms`` per class, IoU threshold 0.5): how many boxes before and after;
* AP at IoU 0.5 (PASCAL VOC) and COCO-style AP@[.5:.95] (``mean_average_precision``),
  before and after NMS - duplicates count as false positives, so NMS raises the AP;
* figures: the boxes of a few images before and after NMS, and AP per IoU threshold.

    python exercises/ex13_detection_metrics.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from minidl.metrics import average_precision, batched_nms, box_iou, mean_average_precision

CLASSES = ["cat", "dog", "car"]
COLORS = ["#e15759", "#4e79a7", "#59a14f"]
SIZE = 256  # image side, pixels


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    w = rng.uniform(30, 90, n)
    h = rng.uniform(30, 90, n)
    x0 = rng.uniform(0, SIZE - w)
    y0 = rng.uniform(0, SIZE - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def jitter(rng: np.random.Generator, box: np.ndarray, scale: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    d = rng.normal(0, scale, 4) * np.array([w, h, w, h])
    return np.clip(box + d, 0, SIZE)


def make_data(rng: np.random.Generator, n_images: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ground truth and raw (pre-NMS) detections, one dict per image."""
    targets, preds = [], []
    for _ in range(n_images):
        g = int(rng.integers(2, 6))
        gt = random_boxes(rng, g)
        labels = rng.integers(0, len(CLASSES), g)
        boxes, scores, plabels = [], [], []
        for b, lab in zip(gt, labels):
            if rng.random() < 0.1:  # a missed object
                continue
            k = int(rng.integers(3, 7))  # a cluster of overlapping detections
            for j in range(k):
                tight = j == 0
                boxes.append(jitter(rng, b, 0.04 if tight else 0.12))
                scores.append(rng.uniform(0.75, 0.99) if tight else rng.uniform(0.4, 0.9))
                # now and then the detector confuses the class
                plabels.append(lab if rng.random() > 0.05 else rng.integers(0, len(CLASSES)))
        n_fp = int(rng.integers(1, 4))  # false positives
        for b in random_boxes(rng, n_fp):
            boxes.append(b)
            scores.append(rng.uniform(0.05, 0.6))
            plabels.append(rng.integers(0, len(CLASSES)))
        targets.append({"boxes": gt, "labels": labels})
        preds.append({"boxes": np.array(boxes), "scores": np.array(scores),
                      "labels": np.array(plabels, dtype=np.int64)})  # fmt: skip
    return targets, preds


def iou_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    print(f"  A = {np.round(a, 1).tolist()}, B = {np.round(b, 1).tolist()}  (x0, y0, x1, y1)")
    ix0, iy0, ix1, iy1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    iw, ih = max(0.0, ix1 - ix0), max(0.0, iy1 - iy0)
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    print(f"  intersection = {iw:.1f} x {ih:.1f} = {inter:.1f};  |A| = {area_a:.1f}, |B| = {area_b:.1f}")
    print(f"  union = |A| + |B| - intersection = {union:.1f};  IoU = {inter:.1f} / {union:.1f} = {inter / union:.4f}")
    return inter / union


def apply_nms(preds: list[dict[str, Any]], thr: float) -> list[dict[str, Any]]:
    out = []
    for p in preds:
        keep = batched_nms(p["boxes"], p["scores"], p["labels"], thr)
        out.append({k: v[keep] for k, v in p.items()})
    return out


def draw_boxes(out_dir: str, targets: list[dict[str, Any]], raw: list[dict[str, Any]], kept: list[dict[str, Any]],
               n_show: int) -> str:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(2, n_show, figsize=(4.2 * n_show, 8.6), layout="constrained", squeeze=False)
    for col in range(n_show):
        for row, (preds, name) in enumerate(((raw, "before NMS"), (kept, "after NMS"))):
            ax = axes[row, col]
            ax.set_facecolor("#f4f4f4")
            for b in targets[col]["boxes"]:
                ax.add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec="black", lw=2.6, ls="--"))
            p = preds[col]
            for b, s, lab in zip(p["boxes"], p["scores"], p["labels"]):
                ax.add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec=COLORS[lab],
                                       lw=0.6 + 2.0 * s, alpha=0.35 + 0.65 * s))  # fmt: skip
                if row == 1:
                    ax.text(b[0] + 2, b[1] + 2, f"{CLASSES[lab]} {s:.2f}", fontsize=8, va="top", color="white",
                            bbox=dict(fc=COLORS[lab], ec="none", pad=1, alpha=0.9))  # fmt: skip
            ax.set_xlim(0, SIZE)
            ax.set_ylim(SIZE, 0)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"image {col}: {name}, {len(p['boxes'])} boxes", fontsize=11, fontweight="bold")
    handles = [Line2D([], [], color="black", ls="--", lw=2, label="ground truth")]
    handles += [Line2D([], [], color=c, lw=2, label=f"detection: {n}") for n, c in zip(CLASSES, COLORS)]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=10, frameon=False)
    fig.suptitle("Non-maximum suppression (per class, IoU > 0.5 suppressed): line width and opacity = score",
                 fontsize=13, fontweight="bold")  # fmt: skip
    path = os.path.join(out_dir, "nms_before_after.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def draw_ap(out_dir: str, before: dict[str, Any], after: dict[str, Any], pr: dict[str, tuple[np.ndarray, ...]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    for res, name, c in ((before, "before NMS", "#9c755f"), (after, "after NMS", "#4e79a7")):
        per = {k: v for k, v in res["map_per_threshold"].items() if not isinstance(k, str)}
        thr, vals = list(per), list(per.values())
        a1.plot(thr, vals, "o-", color=c, lw=2, label=f"{name}: AP@[.5:.95] = {res['map']:.3f}")
    a1.set_xlabel("IoU threshold")
    a1.set_ylabel("mAP over the 3 classes")
    a1.set_ylim(0, 1)
    a1.grid(alpha=0.3)
    a1.legend()
    a1.set_title("mAP per IoU threshold: a stricter match lowers AP", fontsize=12, fontweight="bold")
    for (name, (rec, prec, ap)), c in zip(pr.items(), ("#9c755f", "#4e79a7")):
        a2.step(rec, prec, where="post", color=c, lw=2, label=f"{name}: AP@0.5 = {ap:.3f}")
    a2.set_xlabel("recall")
    a2.set_ylabel("precision")
    a2.set_xlim(0, 1.02)
    a2.set_ylim(0, 1.05)
    a2.grid(alpha=0.3)
    a2.legend(loc="lower left")
    a2.set_title(f"Precision-recall, class '{CLASSES[0]}', IoU 0.5", fontsize=12, fontweight="bold")
    path = os.path.join(out_dir, "map_iou_thresholds.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pr_curve(preds: list[dict[str, Any]], targets: list[dict[str, Any]], cls: int, thr: float = 0.5):
    """Ranked true/false positives of one class (greedy matching, as mAP does), for a PR curve."""
    dets = [(s, i, b) for i, p in enumerate(preds) for b, s, lab in zip(p["boxes"], p["scores"], p["labels"])
            if lab == cls]  # fmt: skip
    dets.sort(key=lambda d: -d[0])
    gts = {i: t["boxes"][t["labels"] == cls] for i, t in enumerate(targets)}
    used = {i: np.zeros(len(g), bool) for i, g in gts.items()}
    tp = []
    for _, i, b in dets:
        g = gts[i]
        hit = 0
        if len(g):
            iou = box_iou(b[None], g)[0]
            iou[used[i]] = -1
            j = int(np.argmax(iou))
            if iou[j] >= thr:
                used[i][j] = True
                hit = 1
        tp.append(hit)
    tp = np.array(tp)
    n_pos = sum(len(g) for g in gts.values())
    rec = np.cumsum(tp) / n_pos
    prec = np.cumsum(tp) / np.arange(1, len(tp) + 1)
    ap = average_precision(tp, [d[0] for d in dets], num_positives=n_pos)
    return rec, prec, ap


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer images (CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex13"), help="output folder")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n_images = 40 if args.quick else 500
    targets, raw = make_data(rng, n_images)

    print("=== IoU by hand (a ground-truth box and its first detection) ===")
    a, b = targets[0]["boxes"][0], raw[0]["boxes"][0]
    hand = iou_by_hand(a, b)
    lib = float(box_iou(a[None], b[None])[0, 0])
    assert abs(hand - lib) < 1e-12
    print(f"  box_iou gives {lib:.4f}: OK")
    print(f"  two disjoint boxes: IoU = {float(box_iou([[0, 0, 10, 10]], [[20, 20, 30, 30]])[0, 0]):g}; "
          f"a box with itself: {float(box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10]])[0, 0]):g}")  # fmt: skip

    n_gt = sum(len(t["boxes"]) for t in targets)
    n_raw = sum(len(q["boxes"]) for q in raw)
    print(f"\n=== data: {n_images} images of {SIZE}x{SIZE}, {n_gt} ground-truth boxes, {n_raw} raw detections ===")
    print("\n=== non-maximum suppression (batched_nms per image, per class) ===")
    results = {}
    for thr in (0.3, 0.5, 0.7):
        kept = apply_nms(raw, thr)
        n_kept = sum(len(q["boxes"]) for q in kept)
        res = mean_average_precision(kept, targets, iou_thresholds="coco")
        results[thr] = (kept, res)
        print(f"  IoU threshold {thr}: {n_raw} -> {n_kept} boxes ({1 - n_kept / n_raw:.0%} suppressed);  "
              f"AP@0.5 = {res['map_50']:.3f}, AP@[.5:.95] = {res['map']:.3f}")  # fmt: skip
    kept, after = results[0.5]

    print("\n=== mAP (3 classes; 'all-point' interpolation as VOC 2010+) ===")
    before = mean_average_precision(raw, targets, iou_thresholds="coco")
    coco101 = mean_average_precision(kept, targets, iou_thresholds="coco", method="101point")
    print(f"  {'':<22}{'AP@0.5':>8}{'AP@0.75':>9}{'AP@[.5:.95]':>13}")
    for name, r in (("before NMS", before), ("after NMS (0.5)", after), ("after NMS, 101-point", coco101)):
        print(f"  {name:<22}{r['map_50']:>8.3f}{r['map_75']:>9.3f}{r['map']:>13.3f}")
    print("  AP per class after NMS (mean over IoU 0.5:0.95): "
          + ", ".join(f"{CLASSES[int(c)]} {v:.3f}" for c, v in after["ap_per_class"].items()))  # fmt: skip
    print(f"  -> NMS raises AP@0.5 from {before['map_50']:.3f} to {after['map_50']:.3f}: each duplicate of a found "
          f"object is a false positive")  # fmt: skip
    ap95 = [v for k, v in after["map_per_threshold"].items() if not isinstance(k, str)][-1]
    print(f"  -> a stricter IoU lowers AP: {after['map_50']:.3f} at 0.5, {after['map_75']:.3f} at 0.75, "
          f"{ap95:.3f} at 0.95")  # fmt: skip

    pr = {"before NMS": pr_curve(raw, targets, 0), "after NMS": pr_curve(kept, targets, 0)}
    files = [draw_boxes(args.out, targets, raw, kept, 3), draw_ap(args.out, before, after, pr)]
    print("\nfigures:\n" + "\n".join(f"  {f}" for f in files))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

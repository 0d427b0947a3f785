"""Training curves, confusion matrices, ROC curves and grids of labelled images."""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.vis._common import display_image, new_figure, save, to_numpy


def curves(history: Any, path: Any = None, title: str | None = None) -> Any:
    """Loss (left) and the other metrics (right) per epoch, train solid and validation dashed.

    ``history``: a ``minidl.train.History`` or a dict of lists (``loss``, ``val_loss``,
    ``accuracy``, ``val_accuracy``...). The best validation loss is marked.
    """
    logs = dict(getattr(history, "history", history))
    n = max((len(v) for v in logs.values()), default=0)
    epochs = list(getattr(history, "epochs", None) or range(1, n + 1))
    metrics = [k for k in logs if not k.startswith("val_") and k not in ("loss", "lr")]
    metrics += [k[4:] for k in logs if k.startswith("val_") and k != "val_loss" and k[4:] not in logs]
    ncols = 2 if metrics else 1
    fig = new_figure((5.5 * ncols, 4))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    ax = axes[0]
    for key, style, label in (("loss", "-o", "train"), ("val_loss", "--s", "validation")):
        if key in logs:
            ax.plot(epochs[: len(logs[key])], logs[key], style, ms=4, label=label)
    if "val_loss" in logs and np.isfinite(logs["val_loss"]).any():
        best = int(np.nanargmin(logs["val_loss"]))
        ax.axvline(epochs[best], color="gray", ls=":", lw=1)
        ax.annotate(f"best val loss\nepoch {epochs[best]}", (epochs[best], logs["val_loss"][best]),
                    textcoords="offset points", xytext=(6, 12), fontsize=8, color="dimgray")  # fmt: skip
    ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if metrics:
        ax = axes[1]
        for i, name in enumerate(metrics):
            color = f"C{i}"
            if name in logs:
                ax.plot(epochs[: len(logs[name])], logs[name], "-o", ms=4, color=color, label=f"train {name}")
            if f"val_{name}" in logs:
                v = logs[f"val_{name}"]
                ax.plot(epochs[: len(v)], v, "--s", ms=4, color=color, label=f"validation {name}")
        ax.set(xlabel="epoch", title=", ".join(metrics).capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def _confusion(y_true: Any, y_pred: Any, n: int | None) -> np.ndarray:
    t = to_numpy(y_true).astype(np.int64).ravel()
    p = to_numpy(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} and {p.size}")
    k = n or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def confusion_matrix_plot(cm_or_pair: Any, class_names: Any = None, normalize: bool = False, path: Any = None,
                          title: str | None = None, cmap: str = "Blues") -> Any:  # fmt: skip
    """A confusion matrix as a coloured table: rows are true classes, columns predictions.

    ``cm_or_pair``: a (K, K) matrix (array, list or tensor) or a *tuple* ``(y_true, y_pred)``
    of labels. ``normalize=True`` divides each row by its total (recall per class).
    Each cell shows its count (and the row percentage when normalised).
    """
    names = list(class_names) if class_names is not None else None
    if isinstance(cm_or_pair, tuple) and len(cm_or_pair) == 2:
        counts = _confusion(*cm_or_pair, len(names) if names else None)
    else:
        counts = to_numpy(cm_or_pair)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {counts.shape}")
    k = counts.shape[0]
    names = names or [str(i) for i in range(k)]
    rows = counts.sum(axis=1, keepdims=True)
    shown = counts / np.where(rows == 0, 1, rows) if normalize else counts
    size = max(4.0, 0.55 * k + 2.5)
    fig = new_figure((size + 1, size))
    ax = fig.subplots()
    im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).set_label("fraction of the true class" if normalize else "count")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class")
    ax.set_xticklabels(names, rotation=45 if max(len(n) for n in names) > 3 else 0, ha="right" if k > 1 else "center")
    ax.set_yticklabels(names)
    if k <= 30:
        threshold = shown.max() / 2 if shown.max() > 0 else 1
        font = 9 if k <= 10 else 6
        for i in range(k):
            for j in range(k):
                c = counts[i, j]
                text = f"{shown[i, j]:.2f}\n({int(c) if float(c).is_integer() else c})" if normalize else (
                    f"{int(c)}" if float(c).is_integer() else f"{c:.2g}")  # fmt: skip
                ax.text(j, i, text, ha="center", va="center", fontsize=font,
                        color="white" if shown[i, j] > threshold else "black")  # fmt: skip
    total = counts.sum()
    acc = np.trace(counts) / total if total else float("nan")
    ax.set_title(title or f"Confusion matrix{' (normalised by row)' if normalize else ''}\naccuracy {acc:.3f}"
                 f" on {int(total)} samples")  # fmt: skip
    fig.tight_layout()
    return save(fig, path)


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False and true positive rates at each distinct threshold (as sklearn), and the AUC."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # end of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    pos, neg = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps / pos] if pos else np.r_[0.0, np.full(tps.shape, np.nan)]
    fpr = np.r_[0.0, fps / neg] if neg else np.r_[0.0, np.full(fps.shape, np.nan)]
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return fpr, tpr, area if pos and neg else float("nan")


def roc_plot(y_true: Any, scores: Any, path: Any = None, class_names: Any = None, title: str | None = None) -> Any:
    """ROC curves with their AUC: binary (``scores`` of shape (N,)) or one-vs-rest (N, K).

    For K classes each class gets its own curve (that class against all others) and the
    title gives the macro-average AUC. The dotted diagonal is a random guess (AUC 0.5).
    """
    y = to_numpy(y_true).astype(np.int64).ravel()
    s = to_numpy(scores).astype(np.float64)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.shape[0] != y.size:
        raise ValueError(f"y_true has {y.size} samples but scores has {s.shape[0]}")
    fig = new_figure((5.6, 5))
    ax = fig.subplots()
    if s.ndim == 1:
        fpr, tpr, auc = _roc(y == 1, s)
        ax.plot(fpr, tpr, lw=2, label=f"AUC = {auc:.3f}")
        head = f"ROC curve (AUC {auc:.3f})"
    else:
        k = s.shape[1]
        names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
        aucs = []
        for c in range(k):
            fpr, tpr, auc = _roc(y == c, s[:, c])
            aucs.append(auc)
            ax.plot(fpr, tpr, lw=1.5, label=f"{names[c]} vs rest (AUC {auc:.3f})")
        head = f"ROC curves, one-vs-rest (macro AUC {np.nanmean(aucs):.3f})"
    ax.plot([0, 1], [0, 1], ":", color="gray", label="chance (AUC 0.5)")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="false positive rate (1 - specificity)",
           ylabel="true positive rate (recall)", title=title or head)  # fmt: skip
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def _name(i: Any, names: Any) -> str:
    i = int(to_numpy(i))
    return str(names[i]) if names is not None and 0 <= i < len(names) else str(i)


def image_grid(images: Any, labels: Any = None, predictions: Any = None, class_names: Any = None,
               path: Any = None, nrow: int = 8, max_images: int = 64, title: str | None = None) -> Any:  # fmt: skip
    """A grid of images with their labels, and predictions in green (right) or red (wrong).

    ``images``: NHWC or NCHW (C = 1 or 3) or NHW, uint8 or float, numpy or tensor; floats
    outside [0, 1] are min-max scaled per image.
    """
    arr = to_numpy(images)[:max_images]
    if arr.ndim == 4 and arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)
    n = arr.shape[0]
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    lab = to_numpy(labels).ravel() if labels is not None else None
    pred = to_numpy(predictions).ravel() if predictions is not None else None
    text_h = 0.35 * ((lab is not None) + (pred is not None))
    fig = new_figure((ncol * 1.4, rows * (1.4 + text_h) + 0.4))
    axes = fig.subplots(rows, ncol, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = display_image(arr[i])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        parts, color = [], "black"
        if lab is not None:
            parts.append(f"true: {_name(lab[i], class_names)}" if pred is not None else _name(lab[i], class_names))
        if pred is not None:
            parts.append(f"pred: {_name(pred[i], class_names)}")
            if lab is not None:
                color = "tab:green" if int(pred[i]) == int(lab[i]) else "tab:red"
        if parts:
            ax.set_title("\n".join(parts), fontsize=8, color=color)
    if title is None and pred is not None and lab is not None:
        right = int(np.sum(pred[:n].astype(np.int64) == lab[:n].astype(np.int64)))
        title = f"{right} of {n} right (green right, red wrong)"
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)

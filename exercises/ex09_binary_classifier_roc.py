"""Exercise 9 - binary classifier with BCE, RMSprop and a ROC curve (COURSEWORK.md section 4).

* ``minidl.models.CatsDogsNet``: conv 32, conv 64 + BatchNorm, conv 128 (each with 2x2
  max-pooling), flatten, dense 512, 64, 1 with a sigmoid - the report's cats-vs-dogs net
  (test accuracy about 0.71 on the real photos).
* ``nn.BCELoss`` on the sigmoid output, ``optim.RMSprop`` (lr 1e-3), batch 32.
* On the test set: accuracy at threshold 0.5, the ROC curve and its AUC
  (``minidl.metrics.roc_curve`` / ``roc_auc``), drawn with ``minidl.vis.roc_plot``; the
  training curves with ``minidl.vis.curves``.

Data: two classes of ``minidl.data.datasets.Shapes`` (32x32 RGB, default circle vs ring),
or ``--data PATH`` an ImageFolder with two class folders (e.g. cats/ and dogs/), resized
to ``--size`` pixels.

    python exercises/ex09_binary_classifier_roc.py [--quick] [--out DIR] [--data IMAGE_FOLDER] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minidl as md
from minidl import metrics, nn, optim, vis
from minidl.data import DataLoader, TensorDataset, random_split
from minidl.data import transforms as T
from minidl.data.datasets import ImageFolder, Shapes
from minidl.models import CatsDogsNet
from minidl.train import evaluate, fit

TWO_CLASSES = ["circle", "ring"]


def bce(output: md.Tensor, target: md.Tensor) -> md.Tensor:
    """BCELoss on the (N, 1) sigmoid output against the (N,) 0/1 labels."""
    return nn.BCELoss()(output.view(-1), target.float())


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Train and test images (N, 3, S, S) float32 in [0, 1] with 0/1 labels, and the class names."""
    if args.data:
        folder = ImageFolder(args.data, transform=T.Compose([T.Resize((args.size, args.size)), T.ToTensor()]))
        if len(folder.classes) != 2:
            raise SystemExit(f"--data needs exactly 2 class folders, found {folder.classes}")
        n_test = max(1, len(folder) // 5)
        tr, te = random_split(folder, [len(folder) - n_test, n_test], generator=md.Generator().manual_seed(0))

        def stack(ds: object) -> tuple[np.ndarray, np.ndarray]:
            items = [ds[i] for i in range(len(ds))]  # type: ignore[arg-type]
            return np.stack([x.numpy() for x, _ in items]), np.array([y for _, y in items], dtype=np.int64)

        return (*stack(tr), *stack(te), list(folder.classes))  # type: ignore[return-value]
    train = Shapes(n=args.n_train, size=args.size, train=True, classes=TWO_CLASSES)
    test = Shapes(n=args.n_test, size=args.size, train=False, classes=TWO_CLASSES)

    def arr(ds: Shapes) -> np.ndarray:
        return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2).astype(np.float32) / 255)

    return arr(train), train.targets, arr(test), test.targets, list(train.classes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny subsets and 1 epoch (CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex09"), help="output folder")
    p.add_argument("--data", default=None, help="an ImageFolder with two class folders (default: Shapes)")
    p.add_argument("--size", type=int, default=32, help="image side (a multiple of 8)")
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    if args.quick:
        args.n_train, args.n_test, epochs = 64, 64, args.epochs or 1
    else:
        args.n_train, args.n_test, epochs = 1500, 500, args.epochs or 6

    xtr, ytr, xte, yte, names = load(args)
    mean = xtr.mean(axis=(0, 2, 3), keepdims=True)
    std = xtr.std(axis=(0, 2, 3), keepdims=True) + 1e-3
    train_loader = DataLoader(TensorDataset(md.tensor((xtr - mean) / std), md.tensor(ytr)), batch_size=32,
                              shuffle=True)  # fmt: skip
    test_loader = DataLoader(TensorDataset(md.tensor((xte - mean) / std), md.tensor(yte)), batch_size=64)
    print(f"data: {'ImageFolder ' + args.data if args.data else 'Shapes'}, classes {names} "
          f"(label 1 = {names[1]}), {len(xtr)} train / {len(xte)} test images {args.size}x{args.size}x3")  # fmt: skip

    md.manual_seed(0)
    model = CatsDogsNet(image_size=args.size)
    print(f"CatsDogsNet: {sum(q.numel() for q in model.parameters()):,} parameters; BCELoss, RMSprop(lr=1e-3), "
          f"batch 32, {epochs} epoch(s)")  # fmt: skip
    hist = fit(model, bce, optim.RMSprop(model.parameters(), lr=1e-3), train_loader, epochs=epochs,
               val_loader=test_loader, verbose=False, progress=False)  # fmt: skip
    for e, (lo, vl, va) in enumerate(zip(hist["loss"], hist["val_loss"], hist["val_accuracy"]), 1):
        print(f"  epoch {e}: train loss {lo:.4f}, test loss {vl:.4f}, test accuracy {va:.3f}")

    model.eval()
    with md.no_grad():
        scores = np.concatenate([model(x).numpy().reshape(-1) for x, _ in test_loader])
    acc = float(((scores > 0.5).astype(np.int64) == yte).mean())
    fpr, tpr, _ = metrics.roc_curve(yte, scores)
    area = metrics.auc(fpr, tpr)
    assert abs(area - metrics.roc_auc(yte, scores)) < 1e-9
    assert abs(acc - evaluate(model, test_loader, bce)["accuracy"]) < 1e-9
    print(f"\ntest accuracy (threshold 0.5): {acc:.3f}   ROC AUC: {area:.3f}   (the report, cats vs dogs: about 0.71)")

    roc_path = os.path.join(args.out, "roc_curve.png")
    vis.roc_plot(yte, scores, path=roc_path, class_names=names,
                 title=f"CatsDogsNet on {'/'.join(names)}: test accuracy {acc:.3f}, AUC {area:.3f}")  # fmt: skip
    curves_path = os.path.join(args.out, "binary_curves.png")
    vis.curves(hist, path=curves_path, title="CatsDogsNet, BCE + RMSprop")
    print(f"\nfigures:\n  {roc_path}\n  {curves_path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

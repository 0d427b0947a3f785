"""Exercise 4 - the course CNN, weight decay, augmentation, early stopping (COURSEWORK.md section 2).

* ``minidl.models.CourseCNN``: five 3x3 convs 3->32->64->128->256->512 (a 2x2 max-pool
  after the first four), AdaptiveAvgPool2d(1), ``view(-1, 512)``, Linear(512, classes).
* Trained as the course did: cross-entropy, SGD with Nesterov momentum 0.9 and lr 0.1,
  batch 128, inputs normalised with the training set's per-channel mean and std.
* Weight decay 1e-4 / 1e-5 / 1e-6 compared, each run with ``EarlyStopping`` (monitor
  ``val_accuracy``, ``restore_best=True``) so the model keeps the state dict of its best
  validation epoch; then the best decay again with augmentation (random horizontal flip,
  random crop of a padded image with a chosen pad mode, random scaling by RandomAffine).
* Prints a table of the best validation accuracy per run, saves the curves.

Why two additions to the course's recipe, a linear lr warm-up and He initialisation:
lr 0.1 with momentum 0.9 is a large step for a deep net without BatchNorm. With torch's
default init (U(+-1/sqrt(fan_in))) each conv shrinks the signal, the logits start near
0.01 and the loss sits at ln 2 for dozens of steps; when the net finally starts to learn
at the full lr 0.1, one large step pushes most of the last conv's pre-activations below
zero (about half of its 512 ReLUs never fire again) and the net is back at chance for
good. He init (``kaiming_normal_``, fan_out, as torchvision does) keeps the signal's
scale through the five ReLU layers, and a linear warm-up per step (``LinearWarmup``: lr
0.1 x step / 128 over the first 4 epochs, then 0.1) lets the net leave the plateau at a
small lr; after that lr 0.1 trains stably. (A per-epoch staircase, ``LinearLR`` with
lr 0.01, 0.04, 0.07, 0.1, was not enough: one of its runs died once the lr had risen.) The other
difference from the course is the data size: 4,096 generated images (32 steps of 128
per epoch) instead of a few hundred, so a few minutes of CPU time hold enough steps for
the warm-up and the climb.

Data: by default two classes of ``minidl.data.datasets.Shapes`` (the generated CIFAR-like
32x32 RGB task; CourseCNN outputs 2 classes as in the course), ``--classes 10`` for all
ten; ``--data PATH`` reads the CIFAR-10 binary files (``data_batch_*.bin``) instead.

    python exercises/ex04_course_cnn_weight_decay.py [--quick] [--out DIR] [--data CIFAR10_DIR] [--n-train N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

import minidl as md
from minidl import nn, optim
from minidl.data import DataLoader, Dataset
from minidl.data import transforms as T
from minidl.data.datasets import CIFAR10, Shapes
from minidl.models import CourseCNN
from minidl.train import EarlyStopping, evaluate, fit

TWO_CLASSES = ["circle", "cross"]


class ArrayImages(Dataset):
    """(N, H, W, 3) uint8 images and (N,) labels, each image passed through ``transform``."""

    def __init__(self, data: np.ndarray, targets: np.ndarray, transform: T.Compose) -> None:
        self.data, self.targets, self.transform = data, np.asarray(targets, dtype=np.int64), transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[md.Tensor, int]:
        return self.transform(self.data[i]), int(self.targets[i])


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Train and validation images (N, 32, 32, 3) uint8 and labels, and the class names."""
    if args.data:
        train, test = CIFAR10(args.data, train=True), CIFAR10(args.data, train=False)
        keep = list(range(args.classes))
        names = [train.classes[k] for k in keep]

        def pick(ds: CIFAR10, n: int) -> tuple[np.ndarray, np.ndarray]:
            y = np.asarray(ds.targets)
            idx = np.flatnonzero(np.isin(y, keep))[:n]
            return np.asarray(ds.data)[idx], y[idx]

        xtr, ytr = pick(train, args.n_train)
        xva, yva = pick(test, args.n_val)
        return xtr, ytr, xva, yva, names
    classes = TWO_CLASSES if args.classes == 2 else args.classes
    train = Shapes(n=args.n_train, train=True, classes=classes, seed=0)
    val = Shapes(n=args.n_val, train=False, classes=classes, seed=0)
    return train.data, train.targets, val.data, val.targets, list(train.classes)


class LinearWarmup:
    """Wraps a training loader: before each batch sets the lr to ``lr * min(1, step / steps)`` (step = 1, 2, ...).

    A per-step linear warm-up (``fit`` steps a scheduler once per epoch, and an epoch-wise
    staircase jumps the lr by 75% at an epoch boundary, which is enough to kill this net).
    Iterates the batches of ``loader`` unchanged; ``len`` is the loader's.
    """

    def __init__(self, loader: DataLoader, optimizer: optim.Optimizer, lr: float, steps: int) -> None:
        self.loader, self.optimizer, self.lr, self.steps, self.step = loader, optimizer, lr, max(1, steps), 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[md.Tensor, md.Tensor]]:
        for batch in self.loader:
            self.step += 1
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr * min(1.0, self.step / self.steps)
            yield batch


def run(label: str, args: argparse.Namespace, weight_decay: float, train_loader: DataLoader,
        val_loader: DataLoader, num_classes: int) -> dict[str, object]:  # fmt: skip
    md.manual_seed(0)
    model = CourseCNN(num_classes=num_classes)
    for m in model.modules():  # He init (torchvision's choice): the default init stalls this BN-free net at lr 0.1
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    # lr 0.1 from the first step kills most ReLUs of this BN-free net: ramp up over the first epochs
    warm = LinearWarmup(train_loader, opt, args.lr, args.warmup * len(train_loader))
    stop = EarlyStopping(monitor="val_accuracy", patience=args.patience, restore_best=True)
    t0 = time.perf_counter()
    hist = fit(model, nn.CrossEntropyLoss(), opt, warm, epochs=args.epochs, val_loader=val_loader, callbacks=[stop],
               verbose=False, progress=False)  # fmt: skip
    seconds = time.perf_counter() - t0
    restored = evaluate(model, val_loader, nn.CrossEntropyLoss())  # the best epoch's weights are back
    best_epoch = hist.best_epoch("val_accuracy")
    print(f"  {label:<28} epochs run {len(hist.epochs):>2}, best epoch {best_epoch:>2}: "
          f"val acc {max(hist['val_accuracy']):.3f} (restored model: {restored['accuracy']:.3f}), "
          f"{seconds:.0f} s")  # fmt: skip
    return dict(label=label, hist=hist, best=max(hist["val_accuracy"]), restored=restored["accuracy"],
                best_epoch=best_epoch, epochs=len(hist.epochs))  # fmt: skip


def draw(out_dir: str, runs: list[dict[str, object]], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for i, r in enumerate(runs):
        h = r["hist"]
        c = f"C{i}"
        a1.plot(h.epochs, h["loss"], "-o", color=c, ms=3, label=f"{r['label']} train")
        a1.plot(h.epochs, h["val_loss"], "--", color=c, label=f"{r['label']} val")
        a2.plot(h.epochs, h["val_accuracy"], "-o", color=c, ms=3, label=r["label"])
        a2.plot([r["best_epoch"]], [r["best"]], "*", color=c, ms=14, mec="k")
    a1.set(xlabel="epoch", ylabel="cross-entropy", title="Loss (solid: train, dashed: validation)")
    a2.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (star: epoch kept)")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(title, fontweight="bold")
    path = os.path.join(out_dir, "course_cnn_curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw_augmented(out_dir: str, x: np.ndarray, aug: T.Compose) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 6, figsize=(9, 4.8), layout="constrained")
    for row in range(3):
        axes[row, 0].imshow(x[row])
        axes[row, 0].set_title("original" if row == 0 else "", fontsize=9)
        for col in range(1, 6):
            img = aug(x[row])
            axes[row, col].imshow(np.asarray(img))
            if row == 0:
                axes[row, col].set_title(f"augmented {col}", fontsize=9)
    for a in axes.flat:
        a.axis("off")
    fig.suptitle("flip + padded random crop + random scaling", fontweight="bold")
    path = os.path.join(out_dir, "augmentation_examples.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny subsets and 1 epoch (CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex04"), help="output folder")
    p.add_argument("--data", default=None, help="folder with the CIFAR-10 binary files (default: Shapes)")
    p.add_argument("--classes", type=int, default=2, help="2 (CourseCNN's default head) or up to 10")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--n-train", type=int, default=4096, help="generated training images (Shapes; default 4096)")
    p.add_argument("--pad-mode", default="reflect", choices=["constant", "edge", "reflect", "symmetric"],
                   help="padding mode of the random crop")  # fmt: skip
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    if args.quick:
        args.n_train, args.n_val, args.batch = 64, 32, 32
        args.epochs = args.epochs or 1
        decays = [1e-4, 1e-5]
    else:
        args.n_val, args.batch = 512, 128
        args.epochs = args.epochs or 6
        decays = [1e-4, 1e-5, 1e-6]
    args.patience, args.warmup = 3, 1 if args.quick else 4

    xtr, ytr, xva, yva, names = load(args)
    num_classes = len(names)
    mean = tuple(float(v) for v in xtr.reshape(-1, 3).mean(0) / 255)
    std = tuple(float(v) for v in xtr.reshape(-1, 3).std(0) / 255)
    print(f"data: {'CIFAR-10 ' + args.data if args.data else 'Shapes'}, classes {names}, "
          f"{len(xtr)} train / {len(xva)} validation images 32x32x3")  # fmt: skip
    print(f"input normalisation: mean {np.round(mean, 3).tolist()}, std {np.round(std, 3).tolist()}")
    plain = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
    geometric = T.Compose([
        T.RandomHorizontalFlip(),
        T.RandomCrop(32, padding=4, padding_mode=args.pad_mode),
        T.RandomAffine(0, scale=(0.85, 1.15)),
    ])  # fmt: skip
    augment = T.Compose([geometric, T.ToTensor(), T.Normalize(mean, std)])

    def loader(x: np.ndarray, y: np.ndarray, tf: T.Compose, shuffle: bool) -> DataLoader:
        return DataLoader(ArrayImages(x, y, tf), batch_size=args.batch, shuffle=shuffle)

    train_plain, val = loader(xtr, ytr, plain, True), loader(xva, yva, plain, False)
    steps = args.warmup * len(train_plain)
    print(f"\nSGD(lr={args.lr}, momentum=0.9, nesterov=True), He init, batch {args.batch}, up to {args.epochs} "
          f"epochs, EarlyStopping(monitor='val_accuracy', patience={args.patience}, restore_best=True)\n"
          f"linear lr warm-up per step: lr {args.lr} x step/{steps} over the first {args.warmup} epochs ({steps} "
          f"steps), then {args.lr} - lr {args.lr} from the first step kills most ReLUs of this BatchNorm-free net "
          "and it stays at chance")  # fmt: skip
    runs = [run(f"weight decay {wd:.0e}", args, wd, train_plain, val, num_classes) for wd in decays]
    best = max(runs, key=lambda r: r["best"])
    wd_best = decays[runs.index(best)]
    runs.append(run(f"{wd_best:.0e} + augmentation", args, wd_best, loader(xtr, ytr, augment, True), val,
                    num_classes))  # fmt: skip

    print("\n=== best validation accuracy (the state dict early stopping kept) ===")
    print(f"  {'run':<28} {'val acc':>8} {'best epoch':>11} {'epochs run':>11}")
    for r in runs:
        print(f"  {r['label']:<28} {r['best']:>8.3f} {r['best_epoch']:>11} {r['epochs']:>11}")
    print("  (the course, on real 2-class data: about 0.89; 0.92 with augmentation + weight decay 1e-5)")

    title = f"CourseCNN, SGD-Nesterov lr {args.lr}: weight decay and augmentation ({'/'.join(names)})"
    paths = [draw(args.out, runs, title), draw_augmented(args.out, xtr, geometric)]
    print("\nfigures:")
    for path in paths:
        print(f"  {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

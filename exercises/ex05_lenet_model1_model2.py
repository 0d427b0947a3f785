"""Exercise 5 - LeNet vs Model 1 vs Model 2, and strided convs instead of pooling (COURSEWORK.md section 3).

* ``minidl.models.LeNet``: three 5x5 'same' convs 3->32->64->128 with ReLU and 2x2
  max-pool, 2048 -> 64 -> 10 (390,410 parameters).
* ``minidl.models.Model1``: dropout 10% on the input, conv-relu, (conv-relu-conv-relu-
  BatchNorm2d-pool) x2, dense with BatchNorm1d, Xavier (glorot uniform) initialisation.
* ``minidl.models.Model2``: three conv-Dropout2d-BatchNorm2d-ReLU-maxpool blocks, dense 64,
  BatchNorm1d, ReLU, dense 10.
* Each also with ``strided=True``: stride-2 convolutions instead of max-pooling (the
  course found similar results).
* All trained the same way: Adam lr 1e-3, batch 64, cross-entropy; prints a table of test
  accuracies and parameter counts and saves the curves.

Data: ``minidl.data.datasets.Digits`` resized to 32x32 RGB (the default, offline), or
``--dataset shapes`` (the generated CIFAR-like task), or ``--data PATH`` (CIFAR-10
binary files).

    python exercises/ex05_lenet_model1_model2.py [--quick] [--out DIR] [--dataset digits|shapes] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from _common import subset, to_loader  # exercises/_common.py, beside this script

import minidl as md
from minidl import nn, optim
from minidl.data.datasets import CIFAR10, Digits, Shapes
from minidl.models import LeNet, Model1, Model2
from minidl.train import evaluate, fit

MODELS = {
    "LeNet": lambda strided: LeNet(strided=strided),
    "Model 1": lambda strided: Model1(strided=strided),
    "Model 2": lambda strided: Model2(strided=strided),
}


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Train and test images (N, 32, 32, 3) uint8 with labels, and the data's name."""
    if args.data:
        train, test = CIFAR10(args.data, train=True), CIFAR10(args.data, train=False)
        name = f"CIFAR-10 ({args.data})"
    elif args.dataset == "shapes":
        train, test = Shapes(n=args.n_train, train=True), Shapes(n=args.n_test, train=False)
        name = "Shapes (10 classes)"
    else:
        train, test = Digits(size=32, rgb=True, train=True), Digits(size=32, rgb=True, train=False)
        name = "Digits resized to 32x32 RGB"
    return (*subset(train, test, args.n_train, args.n_test), name)


def draw(out_dir: str, runs: list[dict[str, object]], data_name: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for i, r in enumerate(runs):
        h = r["hist"]
        c = f"C{i // 2}"
        ls = "--" if r["strided"] else "-"
        a1.plot(h.epochs, h["loss"], ls, marker="o", ms=3, color=c, label=r["label"])
        a2.plot(h.epochs, h["val_accuracy"], ls, marker="o", ms=3, color=c, label=f"{r['label']} ({r['test']:.3f})")
    a1.set(xlabel="epoch", ylabel="cross-entropy", title="Training loss")
    a2.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy per epoch (final in brackets)")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"LeNet vs Model 1 vs Model 2, Adam lr 1e-3, batch 64, on {data_name}\n"
                 "solid: max-pooling, dashed: strided convs instead", fontweight="bold")  # fmt: skip
    path = os.path.join(out_dir, "lenet_model1_model2_curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny subsets and 1 epoch, pooling variants only (CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex05"), help="output folder")
    p.add_argument("--dataset", default="digits", choices=["digits", "shapes"])
    p.add_argument("--data", default=None, help="folder with the CIFAR-10 binary files (overrides --dataset)")
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    if args.quick:
        args.n_train, args.n_test, epochs, variants = 32, 32, args.epochs or 1, (False,)
    else:
        args.n_train, args.n_test, epochs, variants = 768, 300, args.epochs or 4, (False, True)

    xtr, ytr, xte, yte, data_name = load(args)
    mean = xtr.reshape(-1, 3).mean(0).astype(np.float32) / 255
    std = xtr.reshape(-1, 3).std(0).astype(np.float32) / 255 + 1e-3
    train_loader = to_loader(xtr, ytr, mean, std, 64, True)
    test_loader = to_loader(xte, yte, mean, std, 64, False)
    print(f"data: {data_name}, {len(xtr)} train / {len(xte)} test images, {len(np.unique(ytr))} classes")
    print(f"Adam(lr=1e-3), batch 64, {epochs} epoch(s), cross-entropy\n")

    runs = []
    for name, make in MODELS.items():
        for strided in variants:
            md.manual_seed(0)
            model = make(strided)
            n_params = sum(q.numel() for q in model.parameters())
            label = f"{name}{' strided' if strided else ''}"
            t1 = time.perf_counter()
            hist = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), train_loader,
                       epochs=epochs, val_loader=test_loader, verbose=False, progress=False)  # fmt: skip
            test = evaluate(model, test_loader, nn.CrossEntropyLoss())["accuracy"]
            secs = time.perf_counter() - t1
            print(f"  {label:<18} {n_params:>9,} parameters  test accuracy {test:.3f}  ({secs:.0f} s)")
            runs.append(dict(label=label, strided=strided, hist=hist, test=test, params=n_params, secs=secs))

    print("\n=== test accuracy and parameters ===")
    print(f"  {'model':<18} {'parameters':>11} {'test acc':>9} {'train acc':>10} {'seconds':>8}")
    for r in runs:
        print(f"  {r['label']:<18} {r['params']:>11,} {r['test']:>9.3f} {r['hist']['accuracy'][-1]:>10.3f} "
              f"{r['secs']:>8.0f}")  # fmt: skip
    if len(variants) == 2:
        print(
            "  strided convs instead of pooling: test accuracy change "
            + ", ".join(f"{a['label']} {b['test'] - a['test']:+.3f}" for a, b in zip(runs[::2], runs[1::2]))
        )

    path = draw(args.out, runs, data_name)
    print(f"\nfigure: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Exercise 10 - fine-tuning AlexNet and VGG at small scale (COURSEWORK.md section 5).

* torchvision-style ``minidl.models.alexnet`` and ``vgg11``, the last Linear replaced
  (``replace_head``) to output the classes of the offline ``Shapes`` task (32x32 images
  upscaled: AlexNet needs inputs of at least 63x63, so it sees 64x64; VGG11 sees 32x32).
* SGD with momentum 0.9 and weight decay 5e-4, ``StepLR(step_size=1, gamma=0.5)``,
  cross-entropy; training augmentation (horizontal flip) as in the reports.
* Freezing the conv layers (``features``: only the classifier learns) vs freezing the
  classifier (only the conv layers learn) - the trainable-parameter counts show why the
  first is the cheap one (AlexNet's classifier holds 54.5M of its 57M parameters).
  ``--weights`` loads a converted torchvision state dict; without it the nets start from
  random weights (there is nothing to download here), so the comparison shows the
  mechanics, not the pretrained-feature benefit.
* TenCrop at test time: images upscaled a little more, the four corners, the centre and
  their mirror images each classified, the ten softmax outputs averaged.
* A learning-rate table (0.001 ... 0.05) for AlexNet with the conv layers frozen.

    python exercises/ex10_finetune_alexnet_vgg.py [--quick] [--out DIR] [--weights alexnet.npz]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minidl as md
import minidl.nn.functional as F
from minidl import models, nn, optim
from minidl.data import DataLoader, TensorDataset
from minidl.data import transforms as T
from minidl.data.datasets import Shapes
from minidl.optim.lr_scheduler import StepLR
from minidl.train import evaluate, fit


def upscale(x: md.Tensor, size: int) -> md.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False) if x.shape[-1] != size else x


def arrays(n: int, train: bool, classes: int) -> tuple[md.Tensor, md.Tensor]:
    ds = Shapes(n, 32, train=train, classes=classes)
    return md.tensor(ds.data.transpose(0, 3, 1, 2).astype(np.float32) / 255.0), md.tensor(ds.targets.astype(np.int64))


def flip_half(x: md.Tensor) -> md.Tensor:
    """Horizontal flip of a random half of the batch (augmentation, done once per epoch here)."""
    a = x.numpy().copy()
    pick = np.random.default_rng().random(len(a)) < 0.5
    a[pick] = a[pick, :, :, ::-1]
    return md.tensor(a)


def tencrop_accuracy(model: nn.Module, x: md.Tensor, y: md.Tensor, crop: int) -> float:
    """Classify the ten crops of each image (upscaled to crop * 9/8) and average the softmax outputs."""
    model.eval()
    big = upscale(x, round(crop * 9 / 8))
    tencrop = T.TenCrop(crop)
    correct = 0
    with md.no_grad():
        for i in range(len(big)):
            crops = md.stack(list(tencrop(big[i])))  # (10, C, crop, crop)
            probs = F.softmax(model(crops), dim=1).numpy().mean(axis=0)
            correct += int(np.argmax(probs) == int(y[i].item()))
    return correct / len(big)


def run(label: str, model: nn.Module, size: int, lr: float, epochs: int, data: dict[str, md.Tensor],
        freeze: str | None) -> dict[str, object]:  # fmt: skip
    if freeze == "features":
        models.freeze(model, lambda n: n.startswith("features"))
    elif freeze == "classifier":
        models.freeze(model, lambda n: n.startswith("classifier"))
    params = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in params)
    opt = optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    xtr, ytr = upscale(data["xtr"], size), data["ytr"]
    xte, yte = upscale(data["xte"], size), data["yte"]
    test = DataLoader(TensorDataset(xte, yte), batch_size=64)
    t0 = time.perf_counter()
    accs = []
    for _ in range(epochs):  # one fit epoch at a time, with freshly flipped images
        train = DataLoader(TensorDataset(flip_half(xtr), ytr), batch_size=32, shuffle=True)
        h = fit(model, nn.CrossEntropyLoss(), opt, train, 1, val_loader=test, scheduler=sched, verbose=False,
                progress=False)  # fmt: skip
        accs.append(h["val_accuracy"][-1])
    acc = evaluate(model, test)["accuracy"]
    ten = tencrop_accuracy(model, data["xte"], yte, size)
    print(f"  {label:<40} trainable {n_train:>11,}  lr {lr:<6g} test acc {acc:.3f}  TenCrop {ten:.3f}"
          f"   ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return dict(label=label, acc=acc, tencrop=ten, curve=accs, trainable=n_train, lr=lr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one epoch on a few images, AlexNet only (for CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex10"), help="output folder")
    p.add_argument("--weights", default=None, help="AlexNet state dict (.npz, torchvision names) to fine-tune from")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    md.manual_seed(0)
    q = args.quick
    classes = 4 if q else 6
    n_train, n_test, epochs = (32, 8, 1) if q else (480, 120, 3)
    xtr, ytr = arrays(n_train, True, classes)
    xte, yte = arrays(n_test, False, classes)
    data = dict(xtr=xtr, ytr=ytr, xte=xte, yte=yte)
    print(f"=== Shapes, {classes} classes: {n_train} training and {n_test} test images"
          " (32x32, upscaled for AlexNet) ===")

    def alexnet() -> nn.Module:
        md.manual_seed(0)
        net = models.alexnet(num_classes=1000)
        if args.weights:
            net.load_state_dict(md.load(args.weights))
        models.replace_head(net, classes)
        return net

    def vgg11() -> nn.Module:
        md.manual_seed(0)
        net = models.vgg11(num_classes=1000)
        models.replace_head(net, classes)
        return net

    a = models.alexnet(num_classes=classes)
    n_all = models.count_parameters(a)
    n_cls = sum(p.numel() for n, p in a.named_parameters() if n.startswith("classifier"))
    print(f"AlexNet with {classes} outputs: {n_all:,} parameters, {n_cls:,} ({n_cls / n_all:.0%}) in the classifier")
    del a

    print("\n=== freezing the conv layers vs freezing the classifier (SGD momentum 0.9, wd 5e-4, StepLR) ===")
    results = [run("AlexNet 64x64, conv layers frozen", alexnet(), 64, 0.01, epochs, data, "features")]
    if not q:
        results.append(run("AlexNet 64x64, classifier frozen", alexnet(), 64, 0.01, epochs, data, "classifier"))
        results.append(run("VGG11 32x32, conv layers frozen", vgg11(), 32, 0.01, epochs, data, "features"))
        results.append(run("VGG11 32x32, classifier frozen", vgg11(), 32, 0.01, epochs, data, "classifier"))

    print("\n=== learning-rate table: AlexNet, conv layers frozen ===")
    lrs = [0.01] if q else [0.001, 0.005, 0.01, 0.05]
    table = [r for r in results if r["label"] == "AlexNet 64x64, conv layers frozen"]
    for lr in lrs:
        if lr != 0.01:
            table.append(run("AlexNet 64x64, conv layers frozen", alexnet(), 64, lr, epochs, data, "features"))
    table.sort(key=lambda r: r["lr"])
    print(f"\n  {'lr':>6}  {'test acc':>8}  {'TenCrop':>8}")
    for r in table:
        print(f"  {r['lr']:>6g}  {r['acc']:>8.3f}  {r['tencrop']:>8.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for r in results:
        a1.plot(range(1, len(r["curve"]) + 1), r["curve"], "o-", label=f"{r['label']} ({r['trainable']:,} trainable)")
    a1.axhline(1 / classes, color="grey", ls=":", label="chance")
    a1.set_xlabel("epoch")
    a1.set_ylabel("test accuracy")
    a1.set_ylim(0, 1.02)
    a1.legend(fontsize=8)
    a1.set_title("Freezing the conv layers vs the classifier", fontweight="bold")
    x = np.arange(len(table))
    a2.bar(x - 0.2, [r["acc"] for r in table], 0.4, label="single centre image")
    a2.bar(x + 0.2, [r["tencrop"] for r in table], 0.4, label="TenCrop average")
    a2.set_xticks(x, [f"lr {r['lr']:g}" for r in table])
    a2.axhline(1 / classes, color="grey", ls=":")
    a2.set_ylim(0, 1.1)
    a2.set_ylabel("test accuracy")
    a2.legend()
    a2.set_title("AlexNet (conv frozen): learning rate, and TenCrop at test time", fontweight="bold")
    path = os.path.join(args.out, "finetune_alexnet_vgg.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"\nfigure: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
